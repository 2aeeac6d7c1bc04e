"""`zoo tune`: the command line of the search."""

from __future__ import annotations

import argparse
import json
import sys

from training.cli_args import (add_validation_arguments, error, key_value,
                               positive_int, seed_number)
from training.tune.search import tune
from training.tune.results import format_table
from training.tune.space import TUNERS, build_space, family_and_recipe, valid_keys

EPILOG = """\
The default search space of a preset is printed by --show-space. Narrow or
extend it with --space FILE (JSON: {"units": {"choice": [32, 64]},
"learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"},
"num_layers": {"min": 1, "max": 4}, "connection": null, "dropout": 0.2};
"defaults": false starts from an empty space) and --fix KEY=VALUE.

Rerunning the same command continues the search in DIR (and says how many
trials exist and remain); --overwrite starts over. Results: DIR/trials.csv,
DIR/trials.json, DIR/trials.png. --export-best RUN_DIR retrains the best
configuration with `zoo train` settings into a run directory.

Distributed: run the same command on every host with KERASTUNER_TUNER_ID
(chief / tuner0 / tuner1 ...), KERASTUNER_ORACLE_IP and
KERASTUNER_ORACLE_PORT set (see docs/distributed.md).

examples:
  zoo tune sst2_bigru_highway --data ../shared/data/sst2/train.tsv \\
      --tuner random --max-trials 10 --dir tune/sst2 --epochs 1 \\
      --max-steps-per-epoch 50 --fix cell=gru
  zoo tune sst2_bigru_highway --data ../shared/data/sst2/train.tsv \\
      --tuner random --max-trials 20 --dir tune/sst2 --epochs 1 \\
      --max-steps-per-epoch 50 --fix cell=gru --export-best runs/sst2_best
"""


def build_parser():
    p = argparse.ArgumentParser(
        prog="zoo tune",
        description="Hyperparameter search over a preset with keras-tuner.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("preset", metavar="PRESET_OR_FAMILY")
    p.add_argument("--data", metavar="SOURCE",
                   help="a data SOURCE, as for `zoo train` (required to search)")
    p.add_argument("--dir", dest="directory", metavar="DIR",
                   help="search directory (required to search)")
    p.add_argument("--tuner", choices=TUNERS, default="random",
                   help="search algorithm (default: random)")
    p.add_argument("--max-trials", type=positive_int, default=10,
                   help="trials in all, failed ones included (default: 10)")
    p.add_argument("--epochs", type=positive_int,
                   help="epochs per trial (hyperband: at most); default: the preset's")
    p.add_argument("--objective", metavar="METRIC[:min|max]",
                   help="default: val_accuracy (classifiers), val_loss (LMs)")
    p.add_argument("--overwrite", action="store_true",
                   help="delete the search in DIR and start over")
    p.add_argument("--space", metavar="FILE", help="JSON search space entries")
    p.add_argument("--fix", action="append", default=[], type=key_value,
                   metavar="KEY=VALUE", help="fix a setting, repeatable")
    p.add_argument("--export-best", metavar="RUN_DIR",
                   help="retrain the best configuration into RUN_DIR")
    p.add_argument("--export-overwrite", action="store_true",
                   help="let --export-best replace the run in RUN_DIR "
                   "(checked before the search)")
    p.add_argument("--export-epochs", type=positive_int,
                   help="epochs of the --export-best run (default: --epochs)")
    p.add_argument("--max-steps-per-epoch", type=positive_int,
                   help="cap batches per epoch and validation batches")
    p.add_argument("--max-train-examples", type=positive_int,
                   help="train trials on the first N training examples only")
    p.add_argument("--seed", type=seed_number, help="default: 1337")
    p.add_argument("--validation-split", type=float, help="default: 0.1")
    add_validation_arguments(p)
    p.add_argument("--max-consecutive-failed-trials", type=positive_int, default=3)
    p.add_argument("--show-space", action="store_true",
                   help="print the resolved search space as JSON and exit")
    p.add_argument("--quiet", action="store_true", help="less output")
    return p


def main(argv=None) -> int:
    """Runs `zoo tune`; returns the exit status (2: usage error, 1: failed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    fix = dict(args.fix)
    try:
        if args.show_space:
            searched, fixed = build_space(args.preset, args.space, fix)
            print(json.dumps({"searched": searched, "fixed": fixed,
                              "valid_keys": valid_keys(
                                  family_and_recipe(args.preset)[0])}, indent=2))
            return 0
        missing = [f for f, v in (("--data", args.data), ("--dir", args.directory))
                   if not v]
        if missing:
            parser.error(f"the following arguments are required: {', '.join(missing)}")
        result = tune(
            args.preset, args.data, directory=args.directory, tuner=args.tuner,
            max_trials=args.max_trials, epochs=args.epochs,
            objective=args.objective, overwrite=args.overwrite,
            space=args.space, fix=fix, export_best=args.export_best,
            export_epochs=args.export_epochs,
            export_overwrite=args.export_overwrite,
            max_steps_per_epoch=args.max_steps_per_epoch,
            max_train_examples=args.max_train_examples, seed=args.seed,
            validation_split=args.validation_split,
            validation_data=args.validation_data,
            validation_group=args.validation_group,
            max_consecutive_failed_trials=args.max_consecutive_failed_trials,
            verbose=0 if args.quiet else 1,
            command_line=["zoo", "tune"] + argv)
    except RuntimeError as e:
        print(f"zoo tune: search stopped: {e}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as e:  # includes DataError and RunDirError
        return error("tune", e)
    if result.role == "worker":
        print("zoo tune: worker finished; the chief writes the results.")
        return 0
    print(format_table(result.trials))
    print(f"\nresults: {result.files['csv']}, {result.files['json']}, "
          f"{result.files['png']}")
    if result.export is not None:
        print(f"best configuration retrained into {result.export.run_dir} "
              "(ready for `zoo export`)")
    return 0
