#!/usr/bin/env python
"""Scores an exported classifier (a SavedModel version directory) on a run's split.

The check that the served model gives the figure `zoo evaluate` gave: the
split is built as RUN_DIR carved it in training (`training.evaluate.
classifier_split`), the texts go through the SavedModel's `serving_default`
signature (what TF Serving runs), and accuracy and loss are computed as
`zoo evaluate` computes them. For an ensemble (`zoo export RUN_DIR RUN_DIR
...`), pass its first member as `--run`.

    .venv/bin/python bench/exported_accuracy.py MODELS_DIR/NAME/VERSION \\
        --run RUN_DIR --data SOURCE [--split validation] [--out FILE]
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def exported_accuracy(saved_model, run_dir, data, *, split="validation", batch_size=64):
    """`{"accuracy", "loss", "num_examples", ...}` of the SavedModel at
    `saved_model` on `split` of `data` as `run_dir` carved it."""
    import tensorflow as tf

    from training import run_dir as rd
    from training.evaluate import classification_metrics, classifier_split

    run = rd.open_run(run_dir)
    loaded, part = classifier_split(run, data, split)
    signature = tf.saved_model.load(saved_model).signatures["serving_default"]
    texts = list(part.texts)
    start = time.perf_counter()
    probs = np.concatenate([
        signature(text=tf.constant(texts[i:i + batch_size]))["probabilities"].numpy()
        for i in range(0, len(texts), batch_size)]).astype(np.float64)
    seconds = time.perf_counter() - start
    return {"saved_model": os.fspath(saved_model), "run_dir": os.fspath(run_dir),
            "data": os.fspath(data), "split": split,
            **classification_metrics(probs, part.labels),
            "data_fingerprint": loaded.fingerprint, "seconds": round(seconds, 1)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("saved_model", metavar="MODELS_DIR/NAME/VERSION")
    p.add_argument("--run", required=True, metavar="RUN_DIR",
                   help="the run whose carve gives the split (an ensemble's first member)")
    p.add_argument("--data", required=True, metavar="SOURCE")
    p.add_argument("--split", default="validation", choices=("validation", "test", "train"))
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out", default=None, help="also write the JSON here (atomically)")
    a = p.parse_args(argv)
    result = exported_accuracy(a.saved_model, a.run, a.data, split=a.split,
                               batch_size=a.batch_size)
    if a.out:
        from training.atomic import atomic_write_json

        atomic_write_json(a.out, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
