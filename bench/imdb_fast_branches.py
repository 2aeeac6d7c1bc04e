#!/usr/bin/env python
"""What each branch of `imdb_fast` contributes, at the recipe's schedule.

Three arms on the movie-grouped carve of IMDB's train split (10%, seed
1337), each 6 x 120 steps of batch 64 with Adam 1e-3, the rate 0.3x per
validation after the second, validated every 120 steps:

- `both`: the `imdb_fast` preset (BiGRU-64 plus the bag of uni-/bigrams);
- `recurrent only`: the same preset with `--set ngrams=null`;
- `bag only`: the n-gram branch alone, the same `TextVectorization`
  (multi-hot, 200k uni-/bigrams) and `Dense(2)`, trained by `keras.Model.fit`
  on the same carve and schedule.

The first two run `zoo train` (as the recipe does, without the time
budget); the figure per arm is its best validation accuracy.

    .venv/bin/python bench/imdb_fast_branches.py

Writes bench/results/imdb_fast_branches.json with the load average.
"""

import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
DATA = os.path.join(os.path.dirname(REPO), "shared", "data", "imdb", "train.csv")
RUNS = os.path.join(os.path.dirname(REPO), "runs")
STEPS, EPOCHS, BATCH = 120, 6, 64


def zoo_arm(name, extra):
    out = os.path.join(RUNS, "imdb_fast_branches_" + name)
    cmd = [os.path.join(".venv", "bin", "zoo"), "train", "imdb_fast",
           "--data", os.path.relpath(DATA, REPO), "--out",
           os.path.relpath(out, REPO), "--validation-group", "movie",
           "--overwrite", "--verbose", "0", *extra]
    t0 = time.time()
    subprocess.run(cmd, cwd=REPO, check=True)
    seconds = time.time() - t0
    from training import run_dir

    history = run_dir.open_run(out).history
    curve = [round(h["val_accuracy"], 4) for h in history]
    return {"arm": name, "command": cmd, "val_accuracy_per_validation": curve,
            "best": max(curve), "seconds": round(seconds, 1)}


def bag_arm():
    import keras
    import numpy as np
    import tensorflow as tf

    from training.data.text_classification import load_text_classification
    from zoo.models.presets import PRESETS

    config = PRESETS["imdb_fast"]["config"]
    keras.utils.set_random_seed(1337)
    d = load_text_classification(DATA, validation_group="movie", seed=1337)
    tv = keras.layers.TextVectorization(
        max_tokens=config["ngram_vocabulary_size"], ngrams=config["ngrams"],
        output_mode="multi_hot", pad_to_max_tokens=True)
    t0 = time.time()
    tv.adapt(d.train.texts, batch_size=256)
    text = keras.Input((), dtype="string")
    probs = keras.layers.Dense(2, activation="softmax")(tv(text))
    model = keras.Model(text, probs)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    train = (tf.data.Dataset.from_tensor_slices(
        (np.array(d.train.texts, dtype=object), d.train.labels))
        .shuffle(len(d.train), seed=1337).repeat().batch(BATCH))
    val = (np.array(d.validation.texts, dtype=object), d.validation.labels)

    def rate(epoch, lr):
        return 1e-3 * 0.3 ** max(0, epoch - 1)

    h = model.fit(train, steps_per_epoch=STEPS, epochs=EPOCHS,
                  validation_data=val, verbose=0,
                  callbacks=[keras.callbacks.LearningRateScheduler(rate)])
    curve = [round(v, 4) for v in h.history["val_accuracy"]]
    return {"arm": "bag only", "val_accuracy_per_validation": curve,
            "best": max(curve), "seconds": round(time.time() - t0, 1)}


def main():
    from training import reports

    before = reports.load_average()
    rows = [zoo_arm("both", []),
            zoo_arm("recurrent_only", ["--set", "ngrams=null"]),
            bag_arm()]
    for r in rows:
        print(r["arm"], r["best"], r["val_accuracy_per_validation"], flush=True)
    result = {"benchmark": "imdb_fast_branches",
              "split": "validation carved from the official train split by movie (10%, seed 1337)",
              "schedule": f"{EPOCHS} x {STEPS} steps, batch {BATCH}, Adam 1e-3, "
                          "0.3x per validation after the second",
              "rows": rows,
              "loadavg": {"before": before, "after": reports.load_average()},
              "machine": reports.machine(),
              "command": [".venv/bin/python", "bench/imdb_fast_branches.py"]}
    reports.write_report(os.path.join(REPO, "bench", "results",
                                      "imdb_fast_branches.json"), result, repo=REPO)


if __name__ == "__main__":
    main()
