"""`zoo bench`: benchmarks of long-range learning and exploding gradients.

    zoo bench longrange [--lengths 100,200,400] [--steps 1500] [--budget 4500]
    zoo bench exploding [--length 50] [--gain 3] [--steps 300]

Each benchmark trains for real, prints a JSON summary (with the command that
reproduces it and the files it wrote) and writes its results atomically
(temp file + `os.replace`) to `bench/results/` by default. These are not
tests: they take minutes.

Python API: `longrange(...)`, `exploding(...)`, both returning the dict that
is written as JSON.
"""

import argparse
import os
import sys
import time

import numpy as np

from training import plots
from training.atomic import atomic_write_json, json_text
from training.cli_args import (error, output_dir, positive_float,
                               positive_int, seed_number)
from training.reports import machine, versions

DEFAULT_OUT = os.path.join("bench", "results")


# ---------------------------------------------------------------------------
# Long-range: the adding problem at several lengths, equal parameter budgets
# ---------------------------------------------------------------------------
LONGRANGE_MODELS = (
    # (label, cell, num_layers, connection)
    ("simple_rnn", "simple_rnn", 1, "none"),
    ("lstm", "lstm", 1, "none"),
    ("gru", "gru", 1, "none"),
    ("lstm x4 none", "lstm", 4, "none"),
    ("lstm x4 residual", "lstm", 4, "residual"),
)


def longrange(lengths=(100, 200, 400), steps=1500, budget=4500,
              batch_size=32, learning_rate=3e-3, clipnorm=1.0,
              eval_every=100, target_mse=0.01, seed=0, models=None,
              out=DEFAULT_OUT, name="longrange", command=None):
    """Trains each model on the adding problem at each length.

    Every model is sized to the largest `units` whose parameter count is at
    most `budget` (`training.lab.tasks.matched_units`). Training: Adam
    (`learning_rate`, `global_clipnorm=clipnorm`), batches of `batch_size`
    fresh examples, `steps` steps; validation MSE on 512 fixed examples every
    `eval_every` steps; "steps to target" is the first evaluation at which
    validation MSE < `target_mse` (None if not reached); the test MSE is on
    2000 fixed examples after the last step. Results go to
    `OUT/NAME.json` and `OUT/NAME.png`, rewritten after every run.
    """
    import keras

    from training.lab.tasks import ADDING_BASELINE_MSE
    from training.lab.tasks import adding_arrays
    from training.lab.tasks import adding_dataset
    from training.lab.tasks import build_adding_model
    from training.lab.tasks import matched_units

    models = models or LONGRANGE_MODELS
    t0 = time.time()
    specs = []
    for label, cell, n, con in models:
        units, params = matched_units(budget, cell, n, con)
        specs.append({"model": label, "cell": cell, "num_layers": n,
                      "connection": con, "units": units, "params": params})
    keras.backend.clear_session()
    data = {
        "benchmark": "adding problem, equal parameter budgets",
        "command": command,
        "budget_params": budget,
        "models": specs,
        "lengths": list(lengths),
        "steps": steps,
        "batch_size": batch_size,
        "optimizer": f"adam lr={learning_rate} global_clipnorm={clipnorm}",
        "eval_every": eval_every,
        "target_mse": target_mse,
        "baseline_mse": ADDING_BASELINE_MSE,
        "seed": seed,
        "results": [],
        "complete": False,
        "machine": machine(),
        "versions": versions(),
    }
    json_path = os.path.join(out, name + ".json")
    png_path = os.path.join(out, name + ".png")
    for length in lengths:
        x_val, y_val = adding_arrays(512, length, seed=seed + 1_000 + length)
        x_test, y_test = adding_arrays(2000, length, seed=seed + 2_000 + length)
        for k, spec in enumerate(specs):
            t1 = time.time()
            keras.utils.set_random_seed(seed + k)
            model = build_adding_model(spec["cell"], spec["units"],
                                       spec["num_layers"], spec["connection"],
                                       length=length)
            model.compile(keras.optimizers.Adam(learning_rate,
                                                global_clipnorm=clipnorm),
                          "mse", jit_compile=True)
            curve = [[0, float(model.evaluate(x_val, y_val, batch_size=512,
                                              verbose=0))]]
            reached = None
            done = 0
            while done < steps:
                chunk = min(eval_every, steps - done)
                # A fresh seeded stream per chunk: fit() restarts datasets.
                ds = adding_dataset(length, batch_size, num_batches=chunk,
                                    seed=(seed * 1_000_003 + 7919 * k
                                          + 104_729 * length + done))
                hist = model.fit(ds, epochs=1, verbose=0)
                done += chunk
                val = float(model.evaluate(x_val, y_val, batch_size=512,
                                           verbose=0))
                curve.append([done, val, float(hist.history["loss"][-1])])
                if reached is None and val < target_mse:
                    reached = done
            test = float(model.evaluate(x_test, y_test, batch_size=500,
                                        verbose=0))
            row = {"model": spec["model"], "length": length,
                   "units": spec["units"], "params": spec["params"],
                   "test_mse": test, "steps_to_target": reached,
                   "curve": curve, "wall_s": round(time.time() - t1, 1)}
            data["results"].append(row)
            print(f"T={length:<4} {spec['model']:<18} test_mse={test:.4f} "
                  f"steps_to_{target_mse}="
                  f"{reached if reached else 'not reached'} "
                  f"({row['wall_s']} s)", file=sys.stderr, flush=True)
            data["wall_s"] = round(time.time() - t0, 1)
            atomic_write_json(json_path, data)
            plots.plot_longrange(data, png_path)
            keras.backend.clear_session()
    data["complete"] = True
    data["wall_s"] = round(time.time() - t0, 1)
    data["plot"] = png_path
    atomic_write_json(json_path, data)
    plots.plot_longrange(data, png_path)
    return data


def longrange_table(data):
    """Markdown table of a longrange result dict."""
    lines = ["| model | units | params | " + " | ".join(
        f"T={t} test MSE | T={t} steps to {data['target_mse']}"
        for t in data["lengths"]) + " |"]
    lines.append("|" + "---|" * (3 + 2 * len(data["lengths"])))
    for spec in data["models"]:
        cells = [spec["model"], str(spec["units"]), str(spec["params"])]
        for t in data["lengths"]:
            row = next((r for r in data["results"]
                        if r["model"] == spec["model"] and r["length"] == t),
                       None)
            if row is None:
                cells += ["not run", "not run"]
            else:
                cells += [f"{row['test_mse']:.4f}",
                          str(row["steps_to_target"]) if row["steps_to_target"]
                          else f"not reached in {data['steps']}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Exploding gradients: large recurrent init, with and without clipping
# ---------------------------------------------------------------------------
CLIP_MODES = ("none", "clipnorm", "global_clipnorm")


def exploding(length=50, units=64, gain=3.0, init="orthogonal", steps=300,
              batch_size=32, learning_rate=0.1, optimizer="sgd",
              threshold=1.0, seed=0, out=DEFAULT_OUT, name="exploding",
              command=None):
    """A vanilla RNN with a large recurrent init, trained three ways.

    The recurrent kernel starts as `Orthogonal(gain)` (spectral norm =
    `gain`) or, with `init="normal"`, `RandomNormal(stddev=gain/sqrt(units))`.
    The task is the adding problem of `length`. The same model (same
    initial weights, same batches) is trained with no clipping, with
    per-variable `clipnorm=threshold` and with `global_clipnorm=threshold`.
    Every step records the loss, the global gradient norm before clipping
    and the largest per-variable norm; a step counts as clipped when the
    norm the optimizer clips on (global norm, or any variable's norm for
    `clipnorm`) exceeds `threshold`. Training stops at the first non-finite
    loss or gradient. Writes `OUT/NAME.json` and `OUT/NAME.png`.
    """
    import keras
    import tensorflow as tf

    from training.lab.gradient_flow import spectral_norms
    from training.lab.tasks import adding_arrays
    from training.lab.tasks import build_adding_model

    t0 = time.time()
    if init == "orthogonal":
        rec_init = keras.initializers.Orthogonal(gain=gain, seed=seed)
    elif init == "normal":
        rec_init = keras.initializers.RandomNormal(
            stddev=gain / np.sqrt(units), seed=seed)
    else:
        raise ValueError(f"Unknown init {init!r}: 'orthogonal' or 'normal'.")
    keras.utils.set_random_seed(seed)
    base = build_adding_model("simple_rnn", units, length=length,
                              recurrent_initializer=rec_init)
    initial = base.get_weights()
    spectral = spectral_norms(base)[0]["recurrent_kernel"]
    rng = np.random.default_rng(seed)
    batches = [adding_arrays(batch_size, length, rng=rng) for _ in range(steps)]

    runs = {}
    for mode in CLIP_MODES:
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = build_adding_model("simple_rnn", units, length=length,
                                   recurrent_initializer=rec_init)
        model.set_weights(initial)
        kwargs = {}
        if mode == "clipnorm":
            kwargs["clipnorm"] = threshold
        elif mode == "global_clipnorm":
            kwargs["global_clipnorm"] = threshold
        opt = (keras.optimizers.SGD(learning_rate, **kwargs)
               if optimizer == "sgd" else
               keras.optimizers.Adam(learning_rate, **kwargs))
        opt.build(model.trainable_variables)
        variables = model.trainable_variables

        @tf.function
        def step(x, y):
            with tf.GradientTape() as tape:
                pred = model(x, training=True)
                loss = tf.reduce_mean(tf.square(pred - y))
            grads = tape.gradient(loss, variables)
            norms = tf.stack([tf.norm(g) for g in grads])
            gnorm = tf.linalg.global_norm(grads)
            opt.apply_gradients(zip(grads, variables))
            return loss, gnorm, norms

        losses, gnorms, maxvar, clipped = [], [], [], []
        nan_step = None
        first_norms = None
        for i, (x, y) in enumerate(batches):
            loss, gnorm, norms = step(x, y)
            loss, gnorm, norms = float(loss), float(gnorm), norms.numpy()
            if first_norms is None:
                first_norms = {v.path: float(n)
                               for v, n in zip(variables, norms)}
            if not (np.isfinite(loss) and np.isfinite(gnorm)):
                nan_step = i
                break
            losses.append(loss)
            gnorms.append(gnorm)
            maxvar.append(float(norms.max()))
            if mode == "clipnorm":
                clipped.append(bool((norms > threshold).any()))
            else:
                clipped.append(gnorm > threshold)
        x_test, y_test = adding_arrays(1000, length, seed=seed + 7)
        test = float(np.mean((model.predict(x_test, verbose=0) - y_test) ** 2))
        runs[mode] = {
            "loss": losses,
            "grad_global_norm": gnorms,
            "grad_max_variable_norm": maxvar,
            "clipped_fraction": (float(np.mean(clipped)) if clipped else None),
            "clipped_fraction_definition": (
                "steps where some variable's norm > threshold"
                if mode == "clipnorm" else "steps where global norm > threshold"),
            "nan": nan_step is not None,
            "nan_step": nan_step,
            "steps_completed": len(losses),
            "final_loss": losses[-1] if losses else None,
            "test_mse": test if np.isfinite(test) else None,
            "max_grad_global_norm": max(gnorms) if gnorms else None,
            "first_step_variable_norms": first_norms,
        }
        print(f"{mode:<16} steps={len(losses)} nan={nan_step is not None} "
              f"clipped={runs[mode]['clipped_fraction']} "
              f"final_loss={runs[mode]['final_loss']} test_mse={test}",
              file=sys.stderr, flush=True)
    data = {
        "benchmark": "exploding gradients: vanilla RNN, large recurrent init",
        "command": command,
        "task": f"adding problem T={length}",
        "model": f"SimpleRNN({units}) -> Dense(1)",
        "recurrent_init": (f"orthogonal x {gain}" if init == "orthogonal"
                           else f"normal stddev {gain}/sqrt({units})"),
        "recurrent_spectral_norm": spectral,
        "optimizer": f"{optimizer} lr={learning_rate}",
        "threshold": threshold,
        "steps": steps,
        "batch_size": batch_size,
        "seed": seed,
        "runs": runs,
        "machine": machine(),
        "versions": versions(),
        "wall_s": round(time.time() - t0, 1),
    }
    png = os.path.join(out, name + ".png")
    data["plot"] = png
    plots.plot_exploding(data, png)
    atomic_write_json(os.path.join(out, name + ".json"), data)
    return data


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------
def _ints(text):
    """argparse type for comma-separated sequence lengths (integers >= 2:
    the adding problem marks two positions)."""
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"comma-separated integers expected, got {text!r}") from None
    if not values or min(values) < 2:
        raise argparse.ArgumentTypeError(
            f"comma-separated integers >= 2 expected, got {text!r}")
    return values


def _length(text):
    """argparse type for one sequence length (an integer >= 2)."""
    try:
        values = _ints(text)
    except argparse.ArgumentTypeError:
        values = []
    if len(values) != 1:
        raise argparse.ArgumentTypeError(
            f"one integer >= 2 expected, got {text!r}")
    return values[0]


def _bench_seed(text):
    """A benchmark's --seed: its runs seed `seed + k` and its data `seed +
    1000 + length` and more, so the seed stays below 2**31."""
    return seed_number(text, largest=2 ** 31 - 1)


def build_parser():
    p = argparse.ArgumentParser(
        prog="zoo bench",
        description="Benchmarks (they train for real; minutes, not seconds).")
    sub = p.add_subparsers(dest="benchmark", required=True)
    lr = sub.add_parser("longrange", help="adding problem: vanilla RNN vs "
                        "LSTM vs GRU vs deep stacks, equal parameter budgets")
    lr.add_argument("--lengths", type=_ints, default=[100, 200, 400])
    lr.add_argument("--steps", type=positive_int, default=1500,
                    help="training steps per model and length (default 1500)")
    lr.add_argument("--budget", type=positive_int, default=4500,
                    help="parameter budget per model (default 4500)")
    lr.add_argument("--batch-size", type=positive_int, default=32)
    lr.add_argument("--learning-rate", type=positive_float, default=3e-3)
    lr.add_argument("--eval-every", type=positive_int, default=100)
    lr.add_argument("--seed", type=_bench_seed, default=0)
    lr.add_argument("--out", type=output_dir, default=DEFAULT_OUT)
    lr.add_argument("--name", default="longrange",
                    help="results file stem (default longrange)")
    ex = sub.add_parser("exploding", help="vanilla RNN with a large recurrent "
                        "init: no clipping vs clipnorm vs global_clipnorm")
    ex.add_argument("--length", type=_length, default=50)
    ex.add_argument("--units", type=positive_int, default=64)
    ex.add_argument("--gain", type=positive_float, default=3.0)
    ex.add_argument("--init", choices=["orthogonal", "normal"],
                    default="orthogonal")
    ex.add_argument("--steps", type=positive_int, default=300)
    ex.add_argument("--batch-size", type=positive_int, default=32)
    ex.add_argument("--learning-rate", type=positive_float, default=0.1)
    ex.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    ex.add_argument("--threshold", type=positive_float, default=1.0,
                    help="the clipping norm of the clipped runs (> 0)")
    ex.add_argument("--seed", type=_bench_seed, default=0)
    ex.add_argument("--out", type=output_dir, default=DEFAULT_OUT)
    ex.add_argument("--name", default="exploding")
    return p


def _summary(args, command, data):
    return {"command": command,
            "json": os.path.join(args.out, args.name + ".json"),
            "plot": data["plot"], "wall_s": data["wall_s"]}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    command = "zoo bench " + " ".join(argv)
    if args.benchmark == "longrange":
        from training.lab.tasks import matched_units

        try:  # a budget no model fits is refused before any training
            for _, cell, n, con in LONGRANGE_MODELS:
                matched_units(args.budget, cell, n, con)
        except ValueError as e:
            return error("bench", e)
    try:
        summary = _run(args, command)
    except OSError as e:  # the results could not be written
        return error("bench", e)
    print(json_text(summary, indent=1))
    return 0


def _run(args, command):
    if args.benchmark == "longrange":
        data = longrange(args.lengths, args.steps, args.budget,
                         args.batch_size, args.learning_rate,
                         eval_every=args.eval_every, seed=args.seed,
                         out=args.out, name=args.name, command=command)
        summary = {
            **_summary(args, command, data),
            "budget_params": data["budget_params"],
            "results": [{k: r[k] for k in ("model", "length", "units",
                                            "params", "test_mse",
                                            "steps_to_target")}
                        for r in data["results"]],
        }
    else:
        data = exploding(args.length, args.units, args.gain, args.init,
                         args.steps, args.batch_size, args.learning_rate,
                         args.optimizer, args.threshold, args.seed,
                         out=args.out, name=args.name, command=command)
        summary = {
            **_summary(args, command, data),
            "recurrent_spectral_norm": data["recurrent_spectral_norm"],
            "runs": {m: {k: r[k] for k in ("nan", "nan_step",
                                            "clipped_fraction", "final_loss",
                                            "test_mse", "max_grad_global_norm")}
                     for m, r in data["runs"].items()},
        }
    return summary


if __name__ == "__main__":
    sys.exit(main())
