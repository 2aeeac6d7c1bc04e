#!/usr/bin/env python
"""Scores an exported classifier (a SavedModel version directory) on its runs' split.

The check that the served model gives the figure `zoo evaluate` gave: the
split is built as the run carved it in training (`training.evaluate.
classifier_split`), the texts go through the SavedModel's `serving_default`
signature (what TF Serving runs), and accuracy and loss are computed as
`zoo evaluate` computes them. The runs are read from the model card (its
`run_dir`, or an ensemble's `ensemble.members`); an ensemble's members must
share one carve (`training.evaluate.ensemble_members`), so that none has
trained on the examples scored. `--run` names the run to take the carve from
when the card's paths are not on this machine.

    .venv/bin/python bench/exported_accuracy.py MODELS_DIR/NAME/VERSION \\
        --data SOURCE [--run RUN_DIR] [--split validation] [--out FILE]
"""

import argparse
import json
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def card_runs(saved_model) -> list:
    """The run directories the model card of `saved_model` names."""
    from serving.models_dir import read_model_card

    card = read_model_card(saved_model)
    members = (card.get("ensemble") or {}).get("members")
    return [m["run_dir"] for m in members] if members else [card.get("run_dir")]


def exported_accuracy(saved_model, data, *, run_dir=None, split="validation",
                      batch_size=64) -> dict:
    """`{"accuracy", "loss", "num_examples", ...}` of the SavedModel at
    `saved_model` on `split` of `data`, carved as its runs (or `run_dir`)
    carved it.

    Raises:
        ValueError: the card names no run on this machine and no `run_dir`
            is given, or an ensemble's members carved differently.
    """
    import tensorflow as tf

    from training import run_dir as rd
    from training.evaluate import (classification_metrics, classifier_split,
                                   ensemble_members, same_data)

    runs = card_runs(saved_model)
    present = [r for r in runs if r and os.path.isdir(r)]
    members = (ensemble_members(present, same_carve=True) if len(present) > 1
               else [rd.open_run(r) for r in present])
    if run_dir is None and not members:
        raise ValueError(f"the model card of {saved_model} names runs that are not on this "
                         f"machine; pass --run RUN_DIR. Received: {runs}")
    run = rd.open_run(run_dir) if run_dir is not None else members[0]
    loaded, part = classifier_split(run, data, split)
    signature = tf.saved_model.load(os.fspath(saved_model)).signatures["serving_default"]
    texts = list(part.texts)
    start = time.perf_counter()
    probs = np.concatenate([
        signature(text=tf.constant(texts[i:i + batch_size]))["probabilities"].numpy()
        for i in range(0, len(texts), batch_size)]).astype(np.float64)
    seconds = time.perf_counter() - start
    return {"saved_model": os.fspath(saved_model), "run_dir": os.fspath(run.run_dir),
            "runs": len(runs), "data": os.fspath(data), "split": split,
            **classification_metrics(probs, part.labels),
            "data_fingerprint": loaded.fingerprint,
            "same_data_as_training": same_data(loaded, *(members or [run])),
            "seconds": round(seconds, 1)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("saved_model", metavar="MODELS_DIR/NAME/VERSION")
    p.add_argument("--data", required=True, metavar="SOURCE")
    p.add_argument("--run", default=None, metavar="RUN_DIR",
                   help="the run whose carve gives the split (default: the model card's "
                        "first run)")
    p.add_argument("--split", default="validation", choices=("validation", "test", "train"))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out", default=None, help="also write the JSON here (atomically)")
    a = p.parse_args(argv)
    from training import reports

    before = reports.load_average()
    try:
        result = exported_accuracy(a.saved_model, a.data, run_dir=a.run, split=a.split,
                                   batch_size=a.batch_size)
    except (ValueError, OSError) as e:
        print(f"exported_accuracy: error: {e}", file=sys.stderr)
        return 2
    result.update(
        command=[".venv/bin/python", "bench/exported_accuracy.py",
                 *(sys.argv[1:] if argv is None else argv)],
        loadavg={"before": before, "after": reports.load_average()},
        machine=reports.machine())
    result = reports.relative_paths(result, REPO)
    if a.out:
        reports.write_report(a.out, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
