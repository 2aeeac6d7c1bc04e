"""Shared plumbing for the reproduction recipes in `bench/reproduce/`.

Each recipe runs `zoo train` and `zoo evaluate` exactly as a user would (as
subprocesses of the installed `zoo` command), then writes
`bench/results/<recipe>.json` atomically. Every figure in a results file is
parsed from what the run wrote, read through `training.run_dir` (config,
history, metrics) and `zoo evaluate --out`; nothing is typed in by hand.
Results files record the machine and its load (`training.reports`) and
commands with paths relative to the repository.
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
import subprocess
import sys
import time

from training import reports
from training import run_dir as rd
from training.atomic import atomic_write_json

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS_DIR = os.path.join(REPO, "bench", "results")
DATA = os.environ.get("ZOO_DATA", os.path.normpath(os.path.join(REPO, "..", "shared", "data")))
RUNS = os.environ.get("ZOO_RUNS", os.path.normpath(os.path.join(REPO, "..", "runs")))
SCHEMA = "rnn-zoo/reproduction/v1"
# The first words of the lines `train` writes to OUT.train.log before each
# `zoo train` and after one that failed (the log keeps earlier runs; the
# latest starts at its NEW_RUN).
NEW_RUN = "## new run"
RESUMED = "## resumed"
FAILED = "## failed"


def zoo_exe():
    """The `zoo` console script next to this interpreter (the venv's), else PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "zoo")
    return here if os.path.exists(here) else "zoo"


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
    _mark(log, f"{NEW_RUN if not resume else RESUMED} "
          f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}: {shlex.join(cmd)}")
    load_before = reports.load_average()
    rc, secs = run(cmd, log=log)
    load_after = reports.load_average()
    if rc != 0:
        _mark(log, f"{FAILED} with exit status {rc}")
        raise SystemExit(f"zoo train failed with exit status {rc}")
    atomic_write_json(out.rstrip("/") + ".train.time.json",
                      {"command": cmd, "seconds": secs, "resumed": resume,
                       "loadavg_before": load_before, "loadavg_after": load_after})
    return cmd, secs


def _mark(log, line):
    """Appends a marker line to LOG (earlier runs' lines stay), on a line of
    its own even after a killed process's unfinished last line."""
    with open(log, "a+") as f:
        f.seek(0, os.SEEK_END)
        ends_open = False
        if f.tell():
            f.seek(f.tell() - 1)
            ends_open = f.read(1) != "\n"
        f.write(("\n" if ends_open else "") + line + "\n")


def logged_epoch_seconds(out):
    """Sum of the per-epoch times Keras printed (`- 174s -`) in OUT.train.log
    for the latest run: from its `NEW_RUN` line on, over every invocation
    that resumed it. A new run that failed before any epoch (a bad flag: the
    run it was to replace is still there) does not count as the latest; a
    log written before these markers counts whole."""
    import re
    epoch = re.compile(r" - (\d+)s - \d+m?s/step")
    runs = [[0.0, 0, False]]  # per run: seconds, epochs, resumed since
    with open(out.rstrip("/") + ".train.log") as f:
        for line in f:
            if line.startswith(NEW_RUN + " "):
                runs.append([0.0, 0, False])
            elif line.startswith(RESUMED + " "):
                runs[-1][2] = True
            elif (line.startswith(FAILED + " ") and len(runs) > 1
                  and runs[-1][1] == 0 and not runs[-1][2]):
                runs.pop()  # a new run that failed before any epoch
            for m in epoch.finditer(line):
                runs[-1][0] += int(m.group(1))
                runs[-1][1] += 1
    return float(runs[-1][0])


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
    return rd.open_run(out).config["command_line"], logged_epoch_seconds(out), (
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


def evaluate_ensemble(run_dirs, data, out, *args, split="validation"):
    """`zoo evaluate RUN_DIR RUN_DIR ... --data DATA --split SPLIT --out OUT`:
    the mean of the runs' class probabilities; returns (cmd, result)."""
    cmd = [zoo_exe(), "evaluate", *run_dirs, "--data", data, "--split", split,
           "--out", out, *args]
    rc, _ = run(cmd)
    if rc != 0:
        raise SystemExit(f"zoo evaluate failed with exit status {rc}")
    return cmd, read_json(out)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def lm_results(lm):
    """The results file of the LM run `lm` (`../runs/NAME` was made by the
    recipe that writes `bench/results/NAME.json`), relative to the
    repository, or None when there is none: the pretraining's own cost."""
    name = os.path.basename(os.path.normpath(lm))
    if not os.path.exists(os.path.join(RESULTS_DIR, f"{name}.json")):
        return None
    return f"bench/results/{name}.json"


def count_params(run_dir):
    """Parameter count of the run's model.keras (loaded, not typed in)."""
    code = ("import sys; from training import run_dir as rd; "
            "print(rd.open_run(sys.argv[1]).load_model().count_params())")
    out = subprocess.run([sys.executable, "-c", code, run_dir],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        out.check_returncode()
    return int(out.stdout.strip().splitlines()[-1])


def run_summary(run_dir):
    """What the run directory says about a run (`training.run_dir`)."""
    run = rd.open_run(run_dir)
    return {
        "run_dir": run_dir,
        "config_command_line": run.config.get("command_line"),
        "training_settings": run.training,
        "overrides": run.overrides,
        "data": run.data,
        "validation_carve": run.data.get("validation"),
        "seed": run.seed,
        "versions": run.config.get("versions"),
        "metrics_json": run.metrics,  # a stopped run has none
        "history": run.history,
    }


def write_result(recipe, result):
    """Writes bench/results/<recipe>.json atomically, with the machine and
    its load, and paths relative to the repository."""
    result = {"schema": SCHEMA, "recipe": recipe,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": reports.machine(), **result}
    path = os.path.join(RESULTS_DIR, f"{recipe}.json")
    reports.write_report(path, result, repo=REPO)
    print(f"wrote {path}")
    return path
