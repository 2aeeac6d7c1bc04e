"""`zoo evaluate`: a thin command-line wrapper over `training.evaluate`."""

from __future__ import annotations

import argparse
import sys

from training.cli_args import output_file, positive_float, positive_int


def build_parser():
    p = argparse.ArgumentParser(
        prog="zoo evaluate",
        description="Evaluate a run directory on a data split. Classifiers: "
        "accuracy and loss over every example. Language models: perplexity "
        "(word) or bits per character (char) with the hidden state carried "
        "over the whole split; --batch-size rows in parallel (default 1: "
        "exact, full context for every token). Several classifier RUN_DIRs "
        "(runs of several seeds with one validation carve) are evaluated as "
        "one ensemble: the mean of their class probabilities, with each "
        "member's own figures beside it.")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+")
    p.add_argument("--data", required=True, metavar="SOURCE")
    p.add_argument("--split", default="validation",
                   choices=("train", "validation", "test"))
    p.add_argument("--batch-size", type=positive_int,
                   help="classifiers: default the training batch size; "
                   "language models: default 1")
    p.add_argument("--checkpoint", default="best", choices=("best", "last"),
                   help="model.keras (best, default) or last.keras")
    p.add_argument("--max-steps", type=positive_int, help="only the first batches/windows")
    p.add_argument("--out", metavar="FILE", type=output_file,
                   help="also write the JSON here (atomically)")
    cache = p.add_argument_group(
        "neural cache (language models)",
        "Score with the continuous cache of Grave et al. (2017): the model's "
        "distribution mixed with a pointer over its last WINDOW steps. The "
        "model's own figures from the same pass are given under "
        "without_cache. Defaults: AWD-LSTM's Penn Treebank settings.")
    cache.add_argument("--cache-window", type=positive_int, metavar="WINDOW",
                       help="turns the cache on: past steps it holds (AWD-LSTM: 500)")
    cache.add_argument("--cache-theta", type=positive_float, metavar="THETA",
                       help="flatness of the pointer's softmax (default 1.0)")
    cache.add_argument("--cache-lambda", type=float, metavar="LAMBDA",
                       help="the cache's weight in [0, 1) (default 0.1)")
    return p


def cache_from_args(args):
    """The `NeuralCache` the flags ask for, or `None`; `ValueError` on bad ones."""
    from training.neural_cache import (DEFAULT_LAMBDA, DEFAULT_THETA, NeuralCache,
                                       require_one_row)

    if args.cache_window is None:
        given = [f for f, v in (("--cache-theta", args.cache_theta),
                                ("--cache-lambda", args.cache_lambda)) if v is not None]
        if given:
            raise ValueError(f"{' and '.join(given)} {'needs' if len(given) == 1 else 'need'} "
                             "--cache-window, which turns the cache on. Received: no "
                             "--cache-window")
        return None
    require_one_row(args.batch_size)  # before the model loads
    return NeuralCache(
        window=args.cache_window,
        theta=DEFAULT_THETA if args.cache_theta is None else args.cache_theta,
        lambda_=DEFAULT_LAMBDA if args.cache_lambda is None else args.cache_lambda)


def main(argv=None) -> int:
    """Runs `zoo evaluate`; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)

    from training.cli_args import data_flag, error
    from training.data import DataError
    from training.evaluate import evaluate, evaluate_ensemble
    from training.run_dir import RunDirError

    options = dict(split=args.split, batch_size=args.batch_size, out=args.out,
                   checkpoint=args.checkpoint, max_steps=args.max_steps)
    try:
        cache = cache_from_args(args)
        if len(args.run_dirs) == 1:
            result = evaluate(args.run_dirs[0], args.data, cache=cache, **options)
        elif cache is not None:
            raise ValueError("--cache-window scores one language model; several "
                             f"RUN_DIRs make a classifier ensemble. Received: "
                             f"{len(args.run_dirs)} RUN_DIRs")
        else:
            result = evaluate_ensemble(args.run_dirs, args.data, **options)
    except DataError as e:
        return error("evaluate", e, what=data_flag(e, args.data))
    except (RunDirError, ValueError, OSError) as e:
        return error("evaluate", e)
    from training.atomic import json_text

    print(json_text(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
