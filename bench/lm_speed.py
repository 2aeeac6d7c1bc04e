#!/usr/bin/env python
"""Training speed (tokens/s) of word-level LM variants, the design levers of `imdb_lm`.

Each variant is `imdb_lm` with an override, compiled as `zoo train` compiles
it (`training.trainer.compile_trainer`), stateful at batch 64, bptt 70, and
timed over 15 steps after 3 warm-up steps (tracing) of one `fit`, in float32 and in
`mixed_bfloat16`. Random token ids: the speed does not depend on the text.

    .venv/bin/python bench/lm_speed.py
    .venv/bin/python bench/lm_speed.py --sampled
    .venv/bin/python bench/lm_speed.py --char
    .venv/bin/python bench/lm_speed.py --ptb
    .venv/bin/python bench/lm_speed.py --adaptive

Writes bench/results/lm_speed.json (one figure per variant, the load average
before and after, the command). `--sampled` times `imdb_lm` in float32 with
the full softmax and with a sampled softmax (`--recipe sampled_softmax=K`)
in one run, and writes bench/results/lm_speed_sampled.json. `--char` times
the Tiny Shakespeare model (`shakespeare_char`'s, float32) at several
widths, cells, batch sizes and window lengths, the levers of a 30-minute
budget, and writes bench/results/lm_speed_char.json. `--ptb` times
`ptb_regularized` (float32, batch 20, bptt 35, as it trains) against
variants that take out one part of its step (a layer, most of the softmax)
or shrink it, to show where the step of the PTB hour goes, and writes
bench/results/lm_speed_ptb.json. `--adaptive` times `ptb_regularized` with
its full softmax against adaptive softmaxes (`--set adaptive_cutoffs=...`)
in one run, and `imdb_lm` (20k words) against an adaptive and a sampled
softmax, on Zipf-distributed ids (an adaptive softmax's cost depends on
how many targets fall in its tail), and writes
bench/results/lm_speed_adaptive.json.
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
# (variant, preset overrides, batch size, bptt) for --char.
ZONEOUT = {"zoneout": 0.05, "cell_zoneout": 0.15}
CHAR = [
    ("2x512 LSTM (shakespeare_char)", {}, 32, 100),
    ("2x512 LSTM, zoneout (shakespeare_zoneout)", ZONEOUT, 32, 100),
    ("2x512 LSTM", {}, 64, 100),
    ("2x512 LSTM", {}, 32, 50),
    ("2x512 GRU", {"cell": "gru"}, 32, 50),
    ("2x384 LSTM, zoneout (shakespeare_cpu_zoneout)",
     {"units": 384, **ZONEOUT}, 64, 100),
    ("2x384 LSTM", {"units": 384}, 32, 100),
    ("2x384 LSTM (shakespeare_cpu)", {"units": 384}, 32, 50),
    ("2x384 LSTM", {"units": 384}, 16, 50),
]
# (variant, preset overrides) for --ptb: ptb_regularized as it trains.
PTB = [
    ("2x400 LSTM, 10k (ptb_regularized)", {}),
    ("1x400 LSTM, 10k", {"num_layers": 1}),
    ("2x400 LSTM, 2k", {"vocabulary_size": 2000}),
    ("1x400 LSTM, 2k", {"num_layers": 1, "vocabulary_size": 2000}),
    ("2x300 LSTM, 300-d, 10k", {"units": 300, "embedding_dim": 300}),
    ("2x400 GRU, 10k", {"cell": "gru"}),
]
# (variant, preset, overrides, recipe settings, batch size, bptt) for
# --adaptive, on Zipf-distributed ids.
ADAPTIVE = [
    ("ptb_regularized, full softmax", "ptb_regularized", {}, {}, 20, 35),
    ("ptb_regularized, adaptive [2000]", "ptb_regularized",
     {"adaptive_cutoffs": [2000]}, {}, 20, 35),
    ("ptb_regularized, adaptive [1000, 4000]", "ptb_regularized",
     {"adaptive_cutoffs": [1000, 4000]}, {}, 20, 35),
    ("ptb_regularized, adaptive [2000, 5000]", "ptb_regularized",
     {"adaptive_cutoffs": [2000, 5000]}, {}, 20, 35),
    ("imdb_lm, full softmax", "imdb_lm", {}, {}, 64, 70),
    ("imdb_lm, adaptive [2000, 10000]", "imdb_lm",
     {"adaptive_cutoffs": [2000, 10000]}, {}, 64, 70),
    ("imdb_lm, sampled softmax 1024", "imdb_lm", {},
     {"sampled_softmax": 1024}, 64, 70),
]
PTB_BATCH, PTB_BPTT = 20, 35
BATCH, BPTT, WARMUP, STEPS = 64, 70, 3, 15
CHAR_WARMUP, CHAR_STEPS = 2, 8


def zipf_ids(rng, v, shape):
    """Token ids drawn with probability proportional to 1 / (id + 1): word
    frequencies by rank, as in a frequency-sorted vocabulary. The words
    past the first 1,000 of 10,000 then take 24% of the tokens (PTB's
    training text: 21%)."""
    p = 1.0 / np.arange(1, v + 1)
    return rng.choice(v, size=shape, p=p / p.sum()).astype("int32")


def measure(overrides, policy, settings=None, preset="imdb_lm", batch=BATCH,
            bptt=BPTT, warmup=WARMUP, steps=STEPS, zipf=False):
    import keras

    from training import recipe as rl
    from training import trainer as tr
    from zoo.models import factory

    keras.mixed_precision.set_global_policy(policy)
    try:
        model = factory.build(preset, stateful=True, batch_size=batch, **overrides)
        trainer = tr.compile_trainer(model, "language_model",
                                     rl.resolve(preset, "language_model",
                                                dict(settings or {})))
        v = model.vocabulary_size
        rng = np.random.default_rng(0)
        n = batch * (warmup + steps)
        if zipf:  # the adaptive softmax's cost depends on the targets
            x, y = zipf_ids(rng, v, (n, bptt)), zipf_ids(rng, v, (n, bptt))
        else:
            x = rng.integers(0, v, (n, bptt)).astype("int32")
            y = rng.integers(0, v, (n, bptt)).astype("int32")
        marks = []

        class Clock(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                marks.append((time.perf_counter(), time.process_time()))

        # One fit: the first WARMUP steps (tracing included) are not timed.
        trainer.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False,
                    callbacks=[Clock()])
        (t0, c0), (t1, c1) = marks[warmup - 1], marks[-1]
        wall, cpu = t1 - t0, c1 - c0
    finally:
        keras.mixed_precision.set_global_policy("float32")
    tokens = batch * bptt * steps
    return {"tokens_per_s": round(tokens / wall, 1),
            "tokens_per_cpu_s": round(tokens / cpu, 1),
            "seconds_per_step": round(wall / steps, 3),
            "params": model.count_params()}


def main():
    import argparse

    from training import reports

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--sampled", action="store_true",
                      help="the full against the sampled softmax (float32)")
    mode.add_argument("--ptb", action="store_true",
                      help="where ptb_regularized's step goes (float32)")
    mode.add_argument("--adaptive", action="store_true",
                      help="the full against adaptive softmaxes (float32)")
    mode.add_argument("--char", action="store_true",
                      help="the Tiny Shakespeare model's batch sizes, widths "
                      "and cells (float32)")
    args = p.parse_args()
    sampled = args.sampled
    before = reports.load_average()
    rows = []
    if args.ptb:
        for name, overrides in PTB:
            r = measure(overrides, "float32", preset="ptb_regularized",
                        batch=PTB_BATCH, bptt=PTB_BPTT)
            rows.append({"variant": name, "overrides": overrides,
                         "policy": "float32", **r})
            print(rows[-1], flush=True)
    elif args.adaptive:
        for name, preset, overrides, settings, batch, bptt in ADAPTIVE:
            r = measure(overrides, "float32", settings, preset=preset,
                        batch=batch, bptt=bptt, zipf=True)
            rows.append({"variant": name, "preset": preset,
                         "overrides": overrides, "settings": settings,
                         "batch_size": batch,
                         "bptt": bptt, "policy": "float32", **r})
            print(rows[-1], flush=True)
    elif args.char:
        for name, overrides, batch, bptt in CHAR:
            r = measure(overrides, "float32", preset="shakespeare_char",
                        batch=batch, bptt=bptt, warmup=CHAR_WARMUP,
                        steps=CHAR_STEPS)
            rows.append({"variant": name, "overrides": overrides,
                         "batch_size": batch, "bptt": bptt,
                         "policy": "float32", **r})
            print(rows[-1], flush=True)
    elif sampled:
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
    if args.ptb:
        name, flag = "lm_speed_ptb", ["--ptb"]
        shape = {"batch_size": PTB_BATCH, "bptt": PTB_BPTT,
                 "timed_steps": STEPS}
    elif args.adaptive:
        import keras

        name, flag = "lm_speed_adaptive", ["--adaptive"]
        shape = {"timed_steps": STEPS, "ids": "Zipf: p(id) ~ 1 / (id + 1)",
                 "backend": keras.backend.backend()}
    elif args.char:
        name, flag = "lm_speed_char", ["--char"]
        shape = {"timed_steps": CHAR_STEPS}
    else:
        name = "lm_speed_sampled" if sampled else "lm_speed"
        flag = ["--sampled"] if sampled else []
        shape = {"batch_size": BATCH, "bptt": BPTT, "timed_steps": STEPS}
    result = {"benchmark": name, **shape, "rows": rows,
              "loadavg": {"before": before, "after": reports.load_average()},
              "machine": reports.machine(),
              "command": [".venv/bin/python", "bench/lm_speed.py"] + flag}
    reports.write_report(os.path.join(REPO, "bench", "results", name + ".json"),
                         result, repo=REPO)


if __name__ == "__main__":
    main()
