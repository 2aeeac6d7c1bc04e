"""Tuning smoke benchmark: random search vs the preset's default on SST-2.

Runs `training.tune.tune` twice on a small, fixed budget (a subsample of the
training split, 1 epoch, capped steps):

1. the preset's default configuration (an empty search space, 1 trial);
2. `--trials` trials of random search over the preset's default space.

Prints JSON with the time per trial, the best validation accuracy of each,
the budget and the command, and writes bench/results/tune_smoke.json
atomically.

    python bench/tune_smoke.py                      # defaults below
    python bench/tune_smoke.py --trials 3 --max-train-examples 500  # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data", "sst2", "train.tsv")
RESULT = os.path.join(HERE, "results", "tune_smoke.json")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="sst2_bigru_highway")
    p.add_argument("--data", default=os.path.normpath(DEFAULT_DATA))
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-train-examples", type=int, default=3000)
    p.add_argument("--max-steps-per-epoch", type=int, default=20)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--dir", help="search directory (default: a temporary one)")
    p.add_argument("--out", default=RESULT)
    args = p.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from training import reports
    from training.tune import tune

    root = args.dir or tempfile.mkdtemp(prefix="zoo_tune_smoke_")
    budget = dict(epochs=args.epochs, max_train_examples=args.max_train_examples,
                  max_steps_per_epoch=args.max_steps_per_epoch, seed=args.seed)
    started = time.perf_counter()
    base = tune(args.preset, args.data, directory=os.path.join(root, "default"),
                tuner="random", max_trials=1, space={"defaults": False},
                overwrite=True, verbose=0, **budget)
    search = tune(args.preset, args.data, directory=os.path.join(root, "random"),
                  tuner="random", max_trials=args.trials, overwrite=True,
                  verbose=0, **budget)
    total = time.perf_counter() - started
    seconds = [r["seconds"] for r in search.trials if r["seconds"] is not None]
    batch = 64
    result = {
        "benchmark": "tune_smoke",
        "command": "python bench/tune_smoke.py " + " ".join(
            argv if argv is not None else sys.argv[1:]),
        "preset": args.preset,
        "data": os.path.basename(os.path.dirname(args.data)) + "/"
        + os.path.basename(args.data),
        "budget": {
            **budget,
            "batch_size": batch,
            "train_examples_seen_per_trial": min(
                args.max_train_examples, args.max_steps_per_epoch * batch)
            * args.epochs,
            "validation": "10% stratified carve of train.tsv (seed 1337), "
            f"first {args.max_steps_per_epoch} batches of {batch}",
        },
        "objective": "val_accuracy",
        "default_config": {
            "val_accuracy": base.best["objective"] if base.best else None,
            "seconds": base.trials[0]["seconds"] if base.trials else None,
            "settings": base.best_hyperparameters,
        },
        "random_search": {
            "trials": len(search.trials),
            "completed": sum(r["status"] == "COMPLETED" for r in search.trials),
            "failed": sum(r["status"] == "FAILED" for r in search.trials),
            "best_val_accuracy": search.best["objective"] if search.best else None,
            "best_trial": search.best["trial_id"] if search.best else None,
            "best_hyperparameters": search.best["hyperparameters"]
            if search.best else None,
            "seconds_per_trial": {
                "mean": round(statistics.mean(seconds), 2) if seconds else None,
                "median": round(statistics.median(seconds), 2) if seconds else None,
                "min": min(seconds, default=None),
                "max": max(seconds, default=None),
            },
            "table": [{k: r[k] for k in ("rank", "trial_id", "status", "objective",
                                         "seconds", "hyperparameters", "error")}
                      for r in search.trials],
        },
        "total_seconds": round(total, 1),
        "machine": {**reports.machine(), **reports.versions(),
                    "note": "2 CPU cores shared with other jobs; times are noisy"},
    }
    print(json.dumps(result, indent=2))
    reports.write_report(args.out, result, repo=os.path.dirname(HERE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
