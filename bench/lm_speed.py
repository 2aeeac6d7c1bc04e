#!/usr/bin/env python
"""Training speed (tokens/s) of word-level LM variants, the design levers of `imdb_lm`.

Each variant is `imdb_lm` with an override, compiled as `zoo train` compiles
it (`training.trainer.compile_trainer`), stateful at batch 64, bptt 70, and
timed over 15 steps after 3 warm-up steps (tracing) of one `fit`, in float32 and in
`mixed_bfloat16`. Random token ids: the speed does not depend on the text.

    .venv/bin/python bench/lm_speed.py
    .venv/bin/python bench/lm_speed.py --sampled

Writes bench/results/lm_speed.json (one figure per variant, the load average
before and after, the command). `--sampled` times `imdb_lm` in float32 with
the full softmax and with a sampled softmax (`--recipe sampled_softmax=K`)
in one run, and writes bench/results/lm_speed_sampled.json.
"""

import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

VARIANTS = [
    ("1x256, 128-d, 20k (imdb_lm)", {}),
    ("1x512, 128-d, 20k", {"units": 512}),
    ("1x256, 128-d, 10k", {"vocabulary_size": 10000}),
    ("1x512, 256-d, 20k", {"embedding_dim": 256, "units": 512}),
]
SAMPLED = [
    ("1x256, 128-d, 20k (imdb_lm), full softmax", {}),
    ("1x256, 128-d, 20k (imdb_lm), sampled softmax 1024",
     {"sampled_softmax": 1024}),
    ("1x256, 128-d, 20k (imdb_lm), sampled softmax 256",
     {"sampled_softmax": 256}),
]
BATCH, BPTT, WARMUP, STEPS = 64, 70, 3, 15


def measure(overrides, policy, settings=None):
    import keras

    from training import recipe as rl
    from training import trainer as tr
    from zoo.models import factory

    keras.mixed_precision.set_global_policy(policy)
    try:
        model = factory.build("imdb_lm", stateful=True, batch_size=BATCH, **overrides)
        trainer = tr.compile_trainer(model, "language_model",
                                     rl.resolve("imdb_lm", "language_model",
                                                dict(settings or {})))
        v = model.vocabulary_size
        rng = np.random.default_rng(0)
        n = BATCH * (WARMUP + STEPS)
        x = rng.integers(0, v, (n, BPTT)).astype("int32")
        y = rng.integers(0, v, (n, BPTT)).astype("int32")
        marks = []

        class Clock(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                marks.append((time.perf_counter(), time.process_time()))

        # One fit: the first WARMUP steps (tracing included) are not timed.
        trainer.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False,
                    callbacks=[Clock()])
        (t0, c0), (t1, c1) = marks[WARMUP - 1], marks[-1]
        wall, cpu = t1 - t0, c1 - c0
    finally:
        keras.mixed_precision.set_global_policy("float32")
    tokens = BATCH * BPTT * STEPS
    return {"tokens_per_s": round(tokens / wall, 1),
            "tokens_per_cpu_s": round(tokens / cpu, 1), "params": model.count_params()}


def main():
    import argparse

    from training import reports

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sampled", action="store_true",
                   help="the full against the sampled softmax (float32)")
    sampled = p.parse_args().sampled
    before = reports.load_average()
    rows = []
    if sampled:
        for name, settings in SAMPLED:
            r = measure({}, "float32", settings)
            rows.append({"variant": name, "settings": settings,
                         "policy": "float32", **r})
            print(rows[-1], flush=True)
    else:
        for name, overrides in VARIANTS:
            for policy in ("float32", "mixed_bfloat16"):
                r = measure(overrides, policy)
                rows.append({"variant": name, "overrides": overrides,
                             "policy": policy, **r})
                print(rows[-1], flush=True)
    name = "lm_speed_sampled" if sampled else "lm_speed"
    result = {"benchmark": name, "batch_size": BATCH, "bptt": BPTT,
              "timed_steps": STEPS, "rows": rows,
              "loadavg": {"before": before, "after": reports.load_average()},
              "machine": reports.machine(),
              "command": [".venv/bin/python", "bench/lm_speed.py"]
              + (["--sampled"] if sampled else [])}
    reports.write_report(os.path.join(REPO, "bench", "results", name + ".json"),
                         result, repo=REPO)


if __name__ == "__main__":
    main()
