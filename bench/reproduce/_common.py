"""Shared plumbing for the reproduction recipes in `bench/reproduce/`.

Each recipe runs `zoo train` and `zoo evaluate` exactly as a user would (as
subprocesses of the installed `zoo` command), then writes
`bench/results/<recipe>.json` atomically. Every figure in a results file is
parsed from what the run wrote (metrics.json, history.csv, config.json,
`zoo evaluate --out`); nothing is typed in by hand.
"""

from __future__ import annotations

import csv
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS_DIR = os.path.join(REPO, "bench", "results")
DATA = os.environ.get("ZOO_DATA", os.path.normpath(os.path.join(REPO, "..", "shared", "data")))
RUNS = os.environ.get("ZOO_RUNS", os.path.normpath(os.path.join(REPO, "..", "runs")))
SCHEMA = "rnn-zoo/reproduction/v1"


def zoo_exe():
    """The `zoo` console script next to this interpreter (the venv's), else PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "zoo")
    return here if os.path.exists(here) else "zoo"


def machine():
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": None,
            "platform": platform.platform(),
            "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags}


def run(cmd, log=None):
    """Runs a command (list), streaming output to stdout and `log`; returns (rc, seconds)."""
    print("+ " + shlex.join(cmd), flush=True)
    t0 = time.monotonic()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as p:
        out = open(log, "a") if log else None
        try:
            for line in p.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                if out:
                    out.write(line)
                    out.flush()
        finally:
            if out:
                out.close()
        rc = p.wait()
    return rc, time.monotonic() - t0


def train(preset, data, out, *args, resume=False):
    """`zoo train PRESET --data DATA --out OUT ARGS...`; returns (cmd, rc, seconds).

    With `resume`, an existing unfinished run is continued (`--resume`);
    otherwise an existing run directory is replaced (`--overwrite`).
    """
    cmd = [zoo_exe(), "train", preset, "--data", data, "--out", out,
           "--verbose", "2", *args]
    cmd.append("--resume" if resume else "--overwrite")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    log = out.rstrip("/") + ".train.log"
    load_before = os.getloadavg()
    rc, secs = run(cmd, log=log)
    load_after = os.getloadavg()
    if rc != 0:
        raise SystemExit(f"zoo train failed with exit status {rc}")
    with open(out.rstrip("/") + ".train.time.json", "w") as f:
        json.dump({"command": cmd, "seconds": secs, "resumed": resume,
                   "loadavg_before": load_before, "loadavg_after": load_after}, f)
    return cmd, secs


def logged_epoch_seconds(out):
    """Sum of the per-epoch times Keras printed (`- 174s -`) in OUT.train.log,
    over every invocation that appended to it (a run stopped and resumed)."""
    import re
    with open(out.rstrip("/") + ".train.log") as f:
        return float(sum(int(m.group(1)) for m in
                         re.finditer(r" - (\d+)s - \d+m?s/step", f.read())))


def train_or_resume(preset, data, out, *args, resume=False):
    """`train`; when resuming, seconds = the epochs Keras printed before this
    invocation + this invocation's wall clock. Returns (cmd, secs, note)."""
    before = logged_epoch_seconds(out) if resume and os.path.exists(
        out.rstrip("/") + ".train.log") else 0.0
    cmd, secs = train(preset, data, out, *args, resume=resume)
    if resume:
        return cmd, before + secs, (
            f"resumed run: {before:g} s of epochs printed by the earlier invocation(s) "
            f"+ {secs:.0f} s wall clock of `zoo train --resume`")
    return cmd, secs, ("wall clock of the `zoo train` process (data loading, training, "
                       "per-epoch validation, final metrics)")


def train_loadavg(out):
    """The 1/5/15-minute load averages before and after the last `train` call
    for OUT (from OUT.train.time.json), or None when not recorded."""
    path = out.rstrip("/") + ".train.time.json"
    if not os.path.exists(path):
        return None
    t = read_json(path)
    return {"before": t["loadavg_before"], "after": t["loadavg_after"]}


def collected_train(out):
    """(cmd, seconds) of a finished `train` call, from its .train.time.json, else
    from the per-epoch times Keras printed in its .train.log (`- 174s -`)."""
    timing = out.rstrip("/") + ".train.time.json"
    if os.path.exists(timing):
        t = read_json(timing)
        return t["command"], t["seconds"], ("wall clock of the `zoo train` process (data "
                                            "loading, training, per-epoch validation, final metrics)")
    cfg = read_json(os.path.join(out, "config.json"))
    return cfg["command_line"], logged_epoch_seconds(out), (
        "sum of the per-epoch times Keras printed, training and per-epoch validation only "
        "(the process wall clock was not recorded)")


def evaluate(run_dir, data, *args, split="validation"):
    """`zoo evaluate RUN_DIR --data DATA --split SPLIT --out FILE`; returns (cmd, result)."""
    out = os.path.join(run_dir, f"eval_{split}.json")
    cmd = [zoo_exe(), "evaluate", run_dir, "--data", data, "--split", split, "--out", out, *args]
    rc, _ = run(cmd)
    if rc != 0:
        raise SystemExit(f"zoo evaluate failed with exit status {rc}")
    with open(out) as f:
        return cmd, json.load(f)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def read_history(run_dir):
    with open(os.path.join(run_dir, "history.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: _num(v) for k, v in r.items()} for r in rows]


def _num(v):
    try:
        x = float(v)
        return int(x) if x.is_integer() and "." not in v and "e" not in v else x
    except (TypeError, ValueError):
        return v


def count_params(run_dir):
    """Parameter count of the run's model.keras (loaded, not typed in)."""
    code = ("import sys, keras, zoo, training; "
            "m = keras.saving.load_model(sys.argv[1], compile=False); print(m.count_params())")
    out = subprocess.run([sys.executable, "-c", code, os.path.join(run_dir, "model.keras")],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        out.check_returncode()
    return int(out.stdout.strip().splitlines()[-1])


def run_summary(run_dir):
    """What config.json and metrics.json say about a run."""
    cfg = read_json(os.path.join(run_dir, "config.json"))
    mpath = os.path.join(run_dir, "metrics.json")
    metrics = read_json(mpath) if os.path.exists(mpath) else None  # a stopped run has none
    return {
        "run_dir": run_dir,
        "config_command_line": cfg.get("command_line"),
        "training_settings": cfg.get("training"),
        "overrides": cfg.get("overrides"),
        "data": cfg.get("data"),
        "validation_carve": cfg.get("data", {}).get("validation"),
        "seed": cfg.get("seed"),
        "versions": cfg.get("versions"),
        "metrics_json": metrics,
        "history": read_history(run_dir),
    }


def write_result(recipe, result):
    """Writes bench/results/<recipe>.json atomically."""
    result = {"schema": SCHEMA, "recipe": recipe,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), **result}
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"{recipe}.json")
    fd, tmp = tempfile.mkstemp(dir=RESULTS_DIR, prefix=f".{recipe}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(result, f, indent=2, default=str)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    print(f"wrote {path}")
    return path
