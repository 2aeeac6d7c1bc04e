"""Training-step throughput of the zoo's LSTM/GRU against Keras' built-ins.

Batch 64, input width 128, units 128 and 256, Adam with clipnorm 1.0, a
sequence-to-one regression head. All models are timed in the same process,
repetitions interleaved (model A, B, C, ... then again) so that load on the
machine hits every model alike; the figure is the median tokens/s over the
repetitions, and the ratios are taken between medians.

Variants:
- `keras_lstm`, `keras_gru`: `keras.layers.LSTM`/`GRU` (on a CPU Keras runs
  its generic loop; cuDNN is GPU-only).
- `zoo_lstm`, `zoo_gru`: `zoo.layers.LSTM`/`GRU`.
- `zoo_lstm_bf16`: `zoo.layers.LSTM` under the `mixed_bfloat16` policy
  (weights cast to bfloat16 once per sequence, matmuls in bfloat16).
- `keras_lstm_bf16`: Keras' LSTM under `mixed_bfloat16` (weights cast at
  every step), for reference.

Usage:
    python bench/rnn_throughput.py [--steps 200] [--repeats 3] [--units 128 256]
        [--seq-len 50] [--out bench/results/rnn_throughput.json]
    python bench/rnn_throughput.py --convergence --data ../shared/data/tinyshakespeare/input.txt

`--convergence` trains a character-level LSTM on the first characters of a
real text for a fixed number of steps in float32 and in mixed_bfloat16 from
the same initial weights and reports both loss curves.
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def _machine():
    from training import reports

    return {**reports.machine(), **reports.versions()}


def _variants(units):
    import keras

    from zoo import layers

    return {
        "keras_lstm": lambda: keras.layers.LSTM(units),
        "zoo_lstm": lambda: layers.LSTM(units),
        "keras_gru": lambda: keras.layers.GRU(units),
        "zoo_gru": lambda: layers.GRU(units),
        "zoo_lstm_bf16": lambda: layers.LSTM(units, dtype="mixed_bfloat16"),
        "keras_lstm_bf16": lambda: keras.layers.LSTM(units, dtype="mixed_bfloat16"),
    }


def throughput(args):
    import keras
    import numpy as np
    import tensorflow as tf

    batch, dim, seq = args.batch_size, args.input_dim, args.seq_len
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, seq, dim)).astype("float32")
    y = rng.normal(size=(batch, 1)).astype("float32")
    data = tf.data.Dataset.from_tensors((x, y)).repeat()
    results = []
    for units in args.units:
        models = {}
        for name, make in _variants(units).items():
            if args.only and name not in args.only:
                continue
            keras.utils.set_random_seed(0)
            inputs = keras.Input((seq, dim))
            outputs = keras.layers.Dense(1)(make()(inputs))
            model = keras.Model(inputs, outputs)
            model.compile(keras.optimizers.Adam(1e-3, clipnorm=1.0), "mse",
                          jit_compile=False)
            model.fit(data, steps_per_epoch=args.warmup, epochs=1, verbose=0)
            models[name] = model
        times = {name: [] for name in models}
        cpu_times = {name: [] for name in models}
        for _ in range(args.repeats):
            for name, model in models.items():
                start, cpu_start = time.perf_counter(), time.process_time()
                model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
                times[name].append(time.perf_counter() - start)
                cpu_times[name].append(time.process_time() - cpu_start)
        tokens = args.steps * batch * seq
        medians = {n: tokens / statistics.median(t) for n, t in times.items()}
        row = {
            "units": units,
            "tokens_per_s": {n: round(v) for n, v in medians.items()},
            "runs_tokens_per_s": {
                n: [round(tokens / t) for t in ts] for n, ts in times.items()
            },
            # Tokens per CPU-second: less sensitive to other load on the
            # machine than wall-clock figures.
            "tokens_per_cpu_s": {
                n: round(tokens / statistics.median(t))
                for n, t in cpu_times.items()
            },
        }
        cpu = row["tokens_per_cpu_s"]
        ratios, cpu_ratios = {}, {}
        for ours, ref in (("zoo_lstm", "keras_lstm"), ("zoo_gru", "keras_gru"),
                          ("zoo_lstm_bf16", "keras_lstm"),
                          ("keras_lstm_bf16", "keras_lstm")):
            if ours in medians and ref in medians:
                ratios[f"{ours}/{ref}"] = round(medians[ours] / medians[ref], 3)
                cpu_ratios[f"{ours}/{ref}"] = round(cpu[ours] / cpu[ref], 3)
        row["ratios"] = ratios
        row["ratios_per_cpu_s"] = cpu_ratios
        results.append(row)
        print(json.dumps(row), flush=True)
    return {
        "benchmark": "rnn_throughput",
        "settings": {
            "batch_size": batch, "input_dim": dim, "seq_len": seq,
            "steps": args.steps, "repeats": args.repeats,
            "warmup_steps": args.warmup,
            "optimizer": "Adam(1e-3, clipnorm=1.0)", "loss": "mse on last output",
        },
        "targets": {"zoo/keras fp32": ">= 0.95", "zoo_lstm_bf16/keras_lstm": ">= 1.5"},
        "results": results,
    }


def convergence(args):
    import keras
    import numpy as np

    from zoo import layers

    with open(args.data, encoding="utf-8") as f:
        text = f.read()[: args.chars]
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text], dtype="int32")
    batch, seq = args.batch_size, args.seq_len
    n = (len(ids) - 1) // (batch * seq) * batch * seq
    xs = ids[:n].reshape(-1, seq)
    ys = ids[1 : n + 1].reshape(-1, seq)
    curves = {}
    initial = None
    for policy in ("float32", "mixed_bfloat16"):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((seq,), dtype="int32")
        h = keras.layers.Embedding(len(chars), 64)(inputs)
        h = layers.LSTM(args.units[0], return_sequences=True, dtype=policy)(h)
        logits = keras.layers.Dense(len(chars), dtype="float32")(h)
        model = keras.Model(inputs, logits)
        if initial is None:
            initial = model.get_weights()
        model.set_weights(initial)
        model.compile(keras.optimizers.Adam(2e-3, global_clipnorm=1.0),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=False)
        start = time.perf_counter()
        history = model.fit(xs, ys, batch_size=batch, epochs=args.epochs,
                            shuffle=True, verbose=0)
        curves[policy] = {
            "loss_per_epoch": [round(v, 4) for v in history.history["loss"]],
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(policy, json.dumps(curves[policy]), flush=True)
    return {
        "benchmark": "bf16_convergence",
        "data": os.path.abspath(args.data),
        "settings": {"chars": len(text), "batch_size": batch, "seq_len": seq,
                     "units": args.units[0], "epochs": args.epochs,
                     "optimizer": "Adam(2e-3, global_clipnorm=1.0)"},
        "curves": curves,
        "final_loss_gap": round(
            curves["mixed_bfloat16"]["loss_per_epoch"][-1]
            - curves["float32"]["loss_per_epoch"][-1], 4),
    }


def matmul(args):
    """float32 vs bfloat16 square matmul FLOP rate (what mixed precision buys)."""
    import tensorflow as tf

    rows = []
    for n in (256, 1024, 2048):
        row = {"n": n}
        for dtype in (tf.float32, tf.bfloat16):
            a = tf.cast(tf.random.normal((n, n)), dtype)
            b = tf.cast(tf.random.normal((n, n)), dtype)
            fn = tf.function(tf.matmul)
            fn(a, b).numpy()
            reps = max(3, int(4e9 / (2 * n**3)))
            start, cpu_start = time.perf_counter(), time.process_time()
            for _ in range(reps):
                out = fn(a, b)
            out.numpy()
            flops = 2 * n**3 * reps
            row[dtype.name] = {
                "tflops_wall": round(flops / (time.perf_counter() - start) / 1e12, 3),
                "tflops_per_cpu_s": round(
                    flops / (time.process_time() - cpu_start) / 1e12, 3),
            }
        row["bf16/fp32_per_cpu_s"] = round(
            row["bfloat16"]["tflops_per_cpu_s"] / row["float32"]["tflops_per_cpu_s"], 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return {"benchmark": "matmul_bf16_vs_fp32", "results": rows}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--units", type=int, nargs="+", default=[128, 256])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--input-dim", type=int, default=128)
    p.add_argument("--seq-len", type=int, default=50)
    p.add_argument("--only", nargs="*", help="variants to run (default: all)")
    p.add_argument("--convergence", action="store_true")
    p.add_argument("--matmul", action="store_true",
                   help="float32 vs bfloat16 matmul FLOP rate on this CPU")
    p.add_argument("--data", help="text file for --convergence")
    p.add_argument("--chars", type=int, default=200_000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--out", help="JSON output path")
    args = p.parse_args(argv)
    if args.matmul:
        payload = matmul(args)
        default_out = "matmul_bf16.json"
    elif args.convergence:
        if not args.data or not os.path.isfile(args.data):
            p.error("--convergence needs --data PATH to a text file "
                    "(e.g. ../shared/data/tinyshakespeare/input.txt)")
        payload = convergence(args)
        default_out = "bf16_convergence.json"
    else:
        payload = throughput(args)
        default_out = "rnn_throughput.json"
    payload["command"] = "python bench/rnn_throughput.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    payload["machine"] = _machine()
    payload["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")
    out = args.out or os.path.join(HERE, "results", default_out)
    from training import reports

    reports.write_report(out, payload, repo=os.path.dirname(HERE))
    print(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
