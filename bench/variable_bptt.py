#!/usr/bin/env python
"""Train-step time of `ptb_awd_cpu` inside `zoo train` with fixed and variable-length BPTT windows.

Runs `training.train` (what `zoo train` runs: its data path, callbacks and
validation) on ../shared/data/ptb for one epoch capped at `--steps` steps,
once with `variable_bptt=true` (the preset's) and once with `false`, and
times the train steps from the 6th to the last with a callback (wall and
CPU seconds; validation and checkpoints are not counted). The ratio of the
two comes from one run of this script.

With `--compare-commit REV` the same measurement is also made on a
checkout of REV (a temporary git worktree, removed afterwards), in the same
run, so a change to the data path is measured against the code before it.

    .venv/bin/python bench/variable_bptt.py [--steps 120] [--compare-commit REV]

Writes bench/results/variable_bptt.json.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = 5  # first steps (tracing) not timed


def measure(repo, variable, steps, data):
    """Seconds per train step in `training.train` of the checkout `repo`
    (run in a subprocess, so that each checkout imports its own code)."""
    code = f"""
import importlib, json, os, sys, tempfile, time
sys.path.insert(0, {repo!r})
import keras
train = importlib.import_module("training.train")
assert os.path.realpath(train.__file__).startswith(os.path.realpath({repo!r})), train.__file__
marks = []
class Clock(keras.callbacks.Callback):
    def on_train_batch_end(self, i, logs=None):
        marks.append((time.perf_counter(), time.process_time()))
out = tempfile.mkdtemp()
train.train("ptb_awd_cpu", data={data!r}, out=os.path.join(out, "run"),
            epochs=1, max_steps_per_epoch={steps},
            settings={{"variable_bptt": {variable!r}}}, callbacks=[Clock()],
            verbose=0)
(t0, c0), (t1, c1) = marks[{SKIP - 1}], marks[-1]
n = len(marks) - {SKIP}
print(json.dumps({{"seconds_per_step": (t1 - t0) / n,
                  "cpu_seconds_per_step": (c1 - c0) / n, "timed_steps": n}}))
"""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, env=env, cwd=repo)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}


def measure_checkout(repo, steps, data):
    rows = {}
    for variable in (True, False):
        rows["variable" if variable else "fixed"] = measure(
            repo, variable, steps, data)
        print(repo, rows, flush=True)
    rows["variable_over_fixed"] = round(
        rows["variable"]["seconds_per_step"]
        / rows["fixed"]["seconds_per_step"], 3)
    return rows


def main():
    sys.path.insert(0, REPO)
    from training import reports

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--compare-commit", metavar="REV")
    p.add_argument("--data", default=os.path.join(os.environ.get(
        "ZOO_DATA", os.path.join(os.path.dirname(REPO), "shared", "data")),
        "ptb"))
    a = p.parse_args()
    before = reports.load_average()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                          capture_output=True, text=True).stdout.strip()
    result = {"benchmark": "variable_bptt", "preset": "ptb_awd_cpu",
              "steps": a.steps, "untimed_first_steps": SKIP,
              "checkouts": {head + " (this tree)":
                            measure_checkout(REPO, a.steps, a.data)}}
    if a.compare_commit:
        tmp = tempfile.mkdtemp()
        tree = os.path.join(tmp, "tree")
        subprocess.run(["git", "worktree", "add", "--detach", tree,
                        a.compare_commit], cwd=REPO, check=True,
                       capture_output=True)
        try:
            result["checkouts"][a.compare_commit] = measure_checkout(
                tree, a.steps, a.data)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", tree],
                           cwd=REPO, capture_output=True)
            shutil.rmtree(tmp, ignore_errors=True)
    command = [".venv/bin/python", "bench/variable_bptt.py", "--steps",
               str(a.steps)]
    if a.compare_commit:
        command += ["--compare-commit", a.compare_commit]
    result.update({"loadavg": {"before": before,
                               "after": reports.load_average()},
                   "machine": reports.machine(), "command": command,
                   "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    reports.write_report(os.path.join(REPO, "bench", "results",
                                      "variable_bptt.json"), result, repo=REPO)
    print(json.dumps(result["checkouts"], indent=1))


if __name__ == "__main__":
    main()
