#!/usr/bin/env python
"""Language-model training speed on each Keras backend: `zoo train ptb_small`.

Runs `zoo train ptb_small --data PTB --epochs 1 --max-steps-per-epoch N` once
per backend (TensorFlow, JAX, PyTorch), each in its own process, and records
the training tokens per second of the epoch (`N * batch * bptt` tokens over
the epoch's seconds, from the run's `history.csv` and the process clock),
with the gradient statistics each backend logged. The whole-stream
validation pass is not counted.

    .venv/bin/python bench/backends.py [--steps 200] [--data ../shared/data/ptb]

On a machine with a GPU (JAX or PyTorch), the same command gives the GPU
figure; `--backends jax` runs one backend only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from training import reports  # noqa: E402
from training import run_dir as rd  # noqa: E402

# Times the training steps inside the process (the end of the first batch,
# which compiles, to the end of the last), so start-up, data loading and
# validation are left out.
_TIMED = r"""
import json, sys, time, keras
import training
class Clock(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if batch == 0:
            self.t0 = now
        self.seconds = now - self.t0
clock = Clock()
args = json.loads(sys.argv[1])
result = training.train(**args, callbacks=[clock], verbose=0)
print("RESULT " + json.dumps({"seconds_after_first_batch": clock.seconds,
                              "history": result.history}))
"""


def run(backend, data, steps, out):
    args = {"preset": "ptb_small", "data": data, "out": out, "epochs": 1,
            "max_steps_per_epoch": steps, "overwrite": True}
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    load = reports.load_average()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _TIMED, json.dumps(args)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{backend}: zoo train failed:\n{proc.stderr[-3000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    res = json.loads(line[len("RESULT "):])
    run_ = rd.open_run(out)
    batch, bptt = run_.training["batch_size"], run_.training["bptt"]
    row = res["history"][0]
    return {"backend": backend, "steps": steps, "batch_size": batch, "bptt": bptt,
            "tokens_per_second": round((steps - 1) * batch * bptt
                                       / res["seconds_after_first_batch"], 1),
            "timed": "steps 2..N of the epoch (the first one compiles)",
            "process_seconds": round(wall, 1), "loss": row["loss"],
            "grad_norm": row.get("grad_norm"),
            "clipped_fraction": row.get("clipped_fraction"),
            "loadavg_before": load, "versions": run_.config["versions"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "ptb"))
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--backends", default="tensorflow,jax,torch")
    p.add_argument("--out", default=os.path.join(HERE, "results", "backends.json"))
    a = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="zoo-bench-backends-") as tmp:
        for backend in a.backends.split(","):
            rows.append(run(backend, os.path.normpath(a.data), a.steps,
                            os.path.join(tmp, backend)))
            print(json.dumps(rows[-1]), flush=True)
    base = next((r for r in rows if r["backend"] == "tensorflow"), None)
    for r in rows:
        if base:
            r["speed_vs_tensorflow"] = round(
                r["tokens_per_second"] / base["tokens_per_second"], 2)
    report = {"benchmark": "ptb_small training tokens/s per Keras backend",
              "command": "python bench/backends.py " + " ".join(
                  sys.argv[1:] if argv is None else argv),
              "results": rows, "machine": reports.machine()}
    reports.write_report(a.out, report, repo=ROOT)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
