"""`zoo train`: a thin command-line wrapper over `training.train`."""

from __future__ import annotations

import argparse
import sys

from training.cli_args import (
    add_validation_arguments,
    data_flag,
    error,
    key_value,
    non_negative_float,
    positive_float,
    positive_int,
    seed_number,
)

EPILOG = """\
Preset training settings are the defaults; flags override them. Batch sizes
are per replica (global batch = --batch-size x replicas). Gradient clipping
is on by default (the preset's clipnorm or global_clipnorm); --clipnorm 0 or
--global-clipnorm 0 turns it off.

RUN_DIR (--out) receives config.json, model.keras (best by validation
accuracy / loss), last.keras, backup/, vocab.txt (language models),
history.csv, metrics.json, curves.png and tensorboard/. An existing non-empty
RUN_DIR is an error unless --resume (continue it from backup/) or --overwrite
(replace it: only a run directory, and only once the new run has loaded its
data and built its model, so a failed start leaves the old run as it was).

examples:
  zoo train ptb_small --data ../shared/data/ptb --out runs/ptb
  zoo train sst2_bigru_highway --data ../shared/data/sst2/train.tsv \\
      --validation-data ../shared/data/sst2/dev.tsv --out runs/sst2
  zoo train imdb_bilstm --data ../shared/data/imdb/train.csv \\
      --validation-group movie --out runs/imdb
  zoo train ptb_small --data ../shared/data/ptb --out runs/ptb --resume
  zoo train imdb_lm --data ../shared/data/imdb/unsup.csv --out runs/imdb_lm \\
      --validation-split 0.02 --time-budget 35 \\
      --add-texts ../shared/data/imdb/train.csv --leave-out-group movie
  zoo train imdb_transfer --data ../shared/data/imdb/train.csv \\
      --validation-group movie --init-from runs/imdb_lm --out runs/imdb_ft \\
      --recipe layer_lr_decay=2.6 --recipe unfreeze_steps=100
  zoo train imdb_bilstm --data ../shared/data/imdb/train.csv \\
      --validation-group movie --validation-seed 1337 --seed 2 --out runs/imdb_s2
"""


def build_parser():
    p = argparse.ArgumentParser(
        prog="zoo train",
        description="Train a preset (see `zoo list`) or a model family on a data source.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("preset", metavar="PRESET_OR_FAMILY",
                   help="a preset name or `sentiment_classifier` / `language_model`")
    p.add_argument("--data", required=True, metavar="SOURCE",
                   help="tfds:NAME[/CONFIG] (online only), a .csv/.tsv/.txt file, "
                   "an aclImdb folder or a PTB-style folder")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to write")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--batch-size", type=positive_int, help="per replica")
    p.add_argument("--lr", "--learning-rate", dest="learning_rate", type=float)
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd", "rmsprop"))
    clip = p.add_mutually_exclusive_group()
    clip.add_argument("--clipnorm", type=non_negative_float,
                      help="per-variable gradient norm clipping (0: off)")
    clip.add_argument("--global-clipnorm", type=non_negative_float,
                      help="global gradient norm clipping (0: off)")
    p.add_argument("--bptt", type=positive_int, help="language models: window length")
    p.add_argument("--lr-decay", type=float,
                   help="multiply the learning rate by this each epoch after "
                   "--lr-decay-after (e.g. 0.5)")
    p.add_argument("--lr-decay-after", type=int, metavar="EPOCHS",
                   help="epochs at the full learning rate before --lr-decay starts")
    p.add_argument("--strategy", default="auto",
                   choices=("auto", "mirrored", "multiworker", "none"),
                   help="auto: MirroredStrategy if >1 GPU, else none; "
                   "multiworker reads TF_CONFIG (default: auto)")
    p.add_argument("--mixed-precision", action="store_true",
                   help="mixed_float16 on GPU, mixed_bfloat16 on CPU")
    p.add_argument("--seed", type=seed_number, help="random seed (default 1337)")
    p.add_argument("--validation-split", type=float,
                   help="share of train held out when the source has no "
                   "validation split (default 0.1)")
    add_validation_arguments(p)
    p.add_argument("--validation-seed", type=seed_number, metavar="N",
                   help="classifiers: seed of the validation carve alone "
                   "(default: --seed), so that runs of several seeds are "
                   "compared on one validation set")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   type=key_value, metavar="KEY=VALUE",
                   help="model constructor override, repeatable (e.g. --set units=32)")
    p.add_argument("--recipe", dest="settings", action="append", default=[],
                   type=key_value, metavar="KEY=VALUE",
                   help="training setting, repeatable: any of the flags above "
                   "and lr_schedule=one_cycle, warmup_fraction, "
                   "schedule_steps, schedule_minutes, layer_lr_decay, "
                   "unfreeze_steps, "
                   "steps_per_epoch, weight_average=uniform|ema, "
                   "average_start_epoch, average_momentum, "
                   "variable_bptt=true, sampled_softmax=K (0: the full "
                   "softmax)")
    p.add_argument("--add-texts", metavar="FILE",
                   help="language models on a .csv/.tsv corpus: also train on "
                   "FILE's texts (e.g. the labelled training reviews; labels "
                   "are not learned)")
    p.add_argument("--leave-out-group", metavar="COLUMN",
                   help="with --add-texts: leave out the validation carve that "
                   "a classifier trained on FILE with --validation-group COLUMN "
                   "(and --leave-out-split, --leave-out-seed) validates on")
    p.add_argument("--leave-out-split", type=float, metavar="F",
                   help="the share of that carve (default: 0.1, the "
                   "classifiers' --validation-split)")
    p.add_argument("--leave-out-seed", type=seed_number, metavar="N",
                   help="the seed of that carve, the classifiers' "
                   "--validation-seed (default: --seed)")
    p.add_argument("--init-from", metavar="LM_RUN_DIR",
                   help="classifiers: start from a word-level language "
                   "model run (its vocabulary, embedding and recurrent stack); "
                   "language models: go on from another LM run of the same "
                   "shape on a new corpus (its vocabulary and every weight)")
    p.add_argument("--embeddings", metavar="FILE",
                   help="classifiers: initialise the embedding from word "
                   "vectors in the GloVe/word2vec text format")
    p.add_argument("--max-steps-per-epoch", type=positive_int,
                   help="cap batches per epoch and validation batches (smoke runs)")
    p.add_argument("--time-budget", type=positive_float, metavar="MINUTES",
                   help="stop after MINUTES of training; the epoch in progress "
                   "ends early and is validated and checkpointed")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue the run in RUN_DIR from its backup/")
    mode.add_argument("--overwrite", action="store_true",
                      help="replace the run in RUN_DIR; it is deleted once "
                      "the new run has loaded its data and built its model")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2),
                   help="0 silent, 1 progress bar, 2 one line per epoch "
                   "(default: 1 on a terminal, else 2)")
    return p


def main(argv=None) -> int:
    """Runs `zoo train`; returns the exit status (2: usage, 1: diverged)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    overrides = dict(args.overrides)

    from training.callbacks import TrainingDiverged
    from training.data import DataError
    from training.run_dir import RunDirError
    from training.train import train

    try:
        result = train(
            args.preset, args.data, out=args.out, epochs=args.epochs,
            batch_size=args.batch_size, learning_rate=args.learning_rate,
            optimizer=args.optimizer, clipnorm=args.clipnorm,
            global_clipnorm=args.global_clipnorm, bptt=args.bptt,
            lr_decay=args.lr_decay, lr_decay_after=args.lr_decay_after,
            overrides=overrides, strategy=args.strategy,
            mixed_precision=args.mixed_precision, seed=args.seed,
            validation_split=args.validation_split,
            validation_data=args.validation_data,
            validation_group=args.validation_group,
            init_from=args.init_from, embeddings=args.embeddings,
            add_texts=args.add_texts, leave_out_group=args.leave_out_group,
            leave_out_split=args.leave_out_split,
            leave_out_seed=args.leave_out_seed,
            validation_seed=args.validation_seed,
            settings=dict(args.settings), resume=args.resume,
            overwrite=args.overwrite,
            max_steps_per_epoch=args.max_steps_per_epoch,
            time_budget=args.time_budget,
            verbose="auto" if args.verbose is None else args.verbose,
            command_line=["zoo", "train"] + argv)
    except TrainingDiverged as e:
        print(f"zoo train: {e}", file=sys.stderr)
        return 1
    except DataError as e:
        return error("train", e, what=data_flag(e, args.data))
    except (RunDirError, ValueError, OSError) as e:
        return error("train", e)
    summary = {k: v for k, v in result.metrics.items() if k != "status"}
    from training.atomic import json_text

    print(json_text({"run_dir": result.run_dir, **summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
