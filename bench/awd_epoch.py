#!/usr/bin/env python
"""One epoch of `ptb_awd` (AWD-LSTM, 24.2M parameters) on this CPU, from timed steps.

`ptb_awd` is a GPU recipe (750 epochs). Here it is compiled as `zoo train`
compiles it (`training.trainer.compile_trainer`, its recipe: SGD, weight
averaging, variable BPTT's rate scale), stateful at its batch of 80, and a
`fit` over BPTT-70 windows of random token ids is timed step by step after 2
warm-up steps (tracing). An epoch of PTB's 929,589 training tokens is
`lm_steps_per_epoch` windows; its time is the measured mean step time times
that count (an extrapolation from the timed steps, labelled as such). The
same is measured for `ptb_awd_cpu` at its batch of 20 and bptt 35, and
for `ptb_regularized` (the same 2x400 model without the AWD options) as
the reference on the same machine.

    .venv/bin/python bench/awd_epoch.py [--steps N] [--presets P ...] \
        [--batch-sizes B ...] [--policies float32 mixed_bfloat16] \
        [--recipe KEY=VALUE]... [--with-baseline] [--out FILE]

Writes bench/results/awd_epoch.json, or FILE (per preset, batch size,
policy and settings: seconds per step, wall and CPU, tokens/s, the
extrapolated epoch, the load average, the command). `--batch-sizes` times
each preset at those batches instead of its own (the tokens an hour of
training sees, per batch size); `--policies` under Keras' dtype policies;
`--recipe` with training settings (a sampled softmax, say), and with
`--with-baseline` also without them, alternating:

    .venv/bin/python bench/awd_epoch.py --presets ptb_regularized \
        --batch-sizes 20 40 80 --steps 20 --out bench/results/ptb_batch_throughput.json
    .venv/bin/python bench/awd_epoch.py --presets ptb_regularized --steps 20 \
        --policies float32 mixed_bfloat16 float32 mixed_bfloat16 \
        --out bench/results/ptb_step_bf16.json
"""

import argparse
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

PTB_TRAIN_TOKENS = 929_589  # ptb.train.txt words + one <eos> per line
WARMUP = 2


def measure(preset, steps, batch_size=None, policy="float32", settings=None):
    """Times `steps` train steps of `preset` under the dtype `policy` with the
    training `settings`; the global policy is put back afterwards."""
    import keras

    previous = keras.mixed_precision.global_policy().name
    keras.backend.clear_session()  # each model starts from a clean graph
    keras.mixed_precision.set_global_policy(policy)
    try:
        return _measure(preset, steps, batch_size, settings or {})
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _measure(preset, steps, batch_size, settings):
    import keras

    from training import recipe as rl
    from training import trainer as tr
    from training.data import lm_steps_per_epoch
    from zoo.models import factory

    given = dict(settings)
    if batch_size is not None:
        given["batch_size"] = int(batch_size)
    recipe = rl.resolve(preset, "language_model", given)
    batch, bptt = recipe["batch_size"], recipe["bptt"]
    model = factory.build(preset, stateful=True, batch_size=batch)
    trainer = tr.compile_trainer(model, "language_model", recipe)
    callbacks = []
    if recipe.get("weight_average"):  # the average runs from the 1st step
        from training.optimizer import AveragedWeights

        callbacks.append(AveragedWeights(trainer.optimizer, 0))
    rng = np.random.default_rng(0)
    n = batch * (WARMUP + steps)
    x = rng.integers(0, model.vocabulary_size, (n, bptt)).astype("int32")
    y = rng.integers(0, model.vocabulary_size, (n, bptt)).astype("int32")
    marks = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch_index, logs=None):
            marks.append((time.perf_counter(), time.process_time()))

    trainer.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False,
                callbacks=callbacks + [Clock()])
    (t0, c0), (t1, c1) = marks[WARMUP - 1], marks[-1]
    per_step, cpu_per_step = (t1 - t0) / steps, (c1 - c0) / steps
    epoch_steps = lm_steps_per_epoch(PTB_TRAIN_TOKENS, batch_size=batch,
                                     bptt=bptt)
    # what was timed, read back from the model and the trainer
    return {"preset": preset, "params": model.count_params(),
            "settings": {k: recipe[k] for k in settings},
            "sampled_softmax": trainer.sampled_softmax,
            "policy": model.dtype_policy.name,
            "batch_size": batch, "bptt": bptt, "timed_steps": steps,
            "seconds_per_step": round(per_step, 3),
            "cpu_seconds_per_step": round(cpu_per_step, 3),
            "tokens_per_s": round(batch * bptt / per_step, 1),
            "epoch_steps": epoch_steps,
            "epoch_seconds_extrapolated": round(per_step * epoch_steps, 1)}


def main():
    from training import reports
    from training.cli_args import key_value

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--presets", nargs="+",
                   default=["ptb_awd", "ptb_awd_cpu", "ptb_regularized"])
    p.add_argument("--batch-sizes", nargs="+", type=int, default=None,
                   help="time each preset at these batches (default: its own)")
    p.add_argument("--policies", nargs="+", default=["float32"],
                   choices=["float32", "mixed_bfloat16"],
                   help="time each preset under these Keras dtype policies "
                        "(`zoo train --mixed-precision` is mixed_bfloat16 on "
                        "a CPU)")
    p.add_argument("--recipe", dest="settings", action="append", default=[],
                   type=key_value, metavar="KEY=VALUE",
                   help="a training setting, as `zoo train --recipe` takes it "
                        "(e.g. sampled_softmax=1024), for every row")
    p.add_argument("--with-baseline", action="store_true",
                   help="with --recipe: also time each row without those "
                        "settings, alternating, so that the ratio comes from "
                        "one run")
    p.add_argument("--out", default=os.path.join(REPO, "bench", "results",
                                                 "awd_epoch.json"))
    a = p.parse_args()
    if a.steps < 1 or any(b < 1 for b in a.batch_sizes or []):
        p.error(f"--steps and --batch-sizes must be >= 1. Received: "
                f"--steps {a.steps} --batch-sizes {a.batch_sizes}")
    from zoo.models import factory

    unknown = [x for x in a.presets if x not in factory.list_models()]
    if unknown:
        p.error(f"unknown presets {unknown}; `zoo list` names them")
    not_lm = [x for x in a.presets
              if factory.get_preset(x)["family"] != "language_model"]
    if not_lm:
        p.error(f"these presets are not language models: {not_lm}")
    if a.with_baseline and not a.settings:
        p.error("--with-baseline compares against --recipe settings; give "
                "at least one --recipe KEY=VALUE")
    variants = ([{}] if a.with_baseline else []) + [dict(a.settings)]
    from training import recipe as rl
    from training.sampled_softmax import check_candidates

    for preset in a.presets:  # bad settings fail before any timing
        try:
            recipe = rl.resolve(preset, "language_model", dict(a.settings))
        except ValueError as e:
            p.error(f"{preset}: {e}")
        config = factory.get_preset(preset)["config"]
        if recipe.get("sampled_softmax"):
            try:
                check_candidates(recipe["sampled_softmax"],
                                 config.get("level", "word"),
                                 config["vocabulary_size"])
            except ValueError as e:
                p.error(f"{preset}: {e}")
    before = reports.load_average()
    rows = []
    for preset in a.presets:
        for batch in a.batch_sizes or [None]:
            for policy in a.policies:
                for settings in variants:
                    rows.append(measure(preset, a.steps, batch, policy,
                                        settings))
                    print(rows[-1], flush=True)
    result = {"benchmark": "awd_epoch", "rows": rows,
              "note": "epoch time = measured seconds per step x the steps of "
                      "one PTB epoch (extrapolated from the timed steps)",
              "loadavg": {"before": before, "after": reports.load_average()},
              "machine": reports.machine(),
              "command": [".venv/bin/python", "bench/awd_epoch.py",
                          *sys.argv[1:]]}
    reports.write_report(a.out, result, repo=REPO)


if __name__ == "__main__":
    main()
