#!/usr/bin/env python
"""Recipe: a trained PTB model scored with the continuous cache (Grave et al. 2017).

Nothing is trained. `zoo evaluate RUN --cache-window 500 --cache-theta 1.0
--cache-lambda 0.1` scores the run's model on ptb.valid.txt with the cache
of its own last 500 steps, AWD-LSTM's published Penn Treebank settings (not
tuned here), in one pass that also gives the model's own perplexity. The
results file links the model's own results file (`bench/results/NAME.json`
for `../runs/NAME`) for its training time and command.

    .venv/bin/python bench/reproduce/ptb_regularized.py ...      # the model, once
    .venv/bin/python bench/reproduce/ptb_cache.py [--run ../runs/NAME] [--name RESULTS]

The figure is not the model's: issue 14's target (<= 84) and the anchors
(Zaremba et al. 86.2; AWD-LSTM 60.0 in its paper, 58.8 in its README) are
perplexities of models alone, so this file sets no target, and its row in
the README's table names the model, the cache and the model's own figure.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402

from training import reports  # noqa: E402
from training.neural_cache import DEFAULT_LAMBDA, DEFAULT_THETA, DEFAULT_WINDOW  # noqa: E402

RECIPE = "ptb_cache"
DEFAULT_RUN = "ptb_regularized_one_cycle"
ANCHOR = ("AWD-LSTM's README (24M parameters, GPU, 500 epochs and fine-tuning): 58.8 valid "
          "alone, 53.2 with the cache at these settings (window 500, theta 1.0, lambda 0.1)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default=os.path.join(c.RUNS, DEFAULT_RUN),
                   help=f"the trained run (default ../runs/{DEFAULT_RUN})")
    p.add_argument("--name", default=None,
                   help="results file name (default: ptb_cache_<run name>)")
    p.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    p.add_argument("--theta", type=float, default=DEFAULT_THETA)
    p.add_argument("--lambda", dest="lambda_", type=float, default=DEFAULT_LAMBDA)
    p.add_argument("--note", help="a note recorded in the results file")
    return p.parse_args(argv)


def model_results(run):
    """The run's own results file (relative path, parsed); exits with a
    message when there is none."""
    path = c.lm_results(run)
    if path is None:
        raise SystemExit(f"ptb_cache: no results file for {run}: expected "
                         f"bench/results/{os.path.basename(os.path.normpath(run))}.json "
                         "(run the model's recipe first)")
    return path, c.read_json(os.path.join(c.RESULTS_DIR, os.path.basename(path)))


def check_same_model(ev, model, path):
    """Exits with a message unless the evaluated model is the one `path`
    records: the same data, and its own perplexity from this pass equal to
    the recorded one (a results file is found by the run folder's name,
    which two recipes may share)."""
    if not ev.get("same_data_as_training"):
        raise SystemExit("ptb_cache: the evaluated data is not the data the run was "
                         "trained on (same_data_as_training is false)")
    recorded = model.get("value")
    alone = ev["without_cache"]["perplexity"]
    if recorded is None or abs(alone - recorded) > 1e-4 * recorded:
        raise SystemExit(f"ptb_cache: the run's model scores {alone:.4f} alone, but {path} "
                         f"records {recorded}: that file is of another model; nothing "
                         "written")


def main(argv=None):
    a = parse_args(argv)
    run = a.run
    if not os.path.isdir(run):
        raise SystemExit(f"ptb_cache: {run} is not a run directory")
    path, model = model_results(run)
    name = a.name or f"{RECIPE}_{os.path.basename(os.path.normpath(run))}"
    data = os.path.join(c.DATA, "ptb")
    out = os.path.join(run, "eval_validation_cache.json")
    cmd = [c.zoo_exe(), "evaluate", run, "--data", data, "--split", "validation",
           "--cache-window", str(a.window), "--cache-theta", str(a.theta),
           "--cache-lambda", str(a.lambda_), "--out", out]
    before = reports.load_average()
    cpu0 = os.times()
    rc, seconds = c.run(cmd)
    cpu1 = os.times()
    after = reports.load_average()
    if rc != 0:
        raise SystemExit(f"zoo evaluate failed with exit status {rc}")
    ev = c.read_json(out)
    alone = ev["without_cache"]["perplexity"]
    check_same_model(ev, model, path)
    result = {
        "preset": model.get("preset"),
        "task": "Penn Treebank word-level language model: a trained model (its results file: "
                f"{path}) scored with the continuous cache at evaluation",
        "metric": "perplexity",
        "value": ev["perplexity"],
        "model_alone": alone,
        "model_results": path,
        "model_value_recorded": model.get("value"),
        "split": model.get("split"),
        "validation_carve": model.get("validation_carve"),
        "cache": ev["cache"],
        "target": None,
        "met": None,
        "target_note": "none: issue 14's target (<= 84) is for a model's own perplexity; "
                       f"this model's is {alone:.1f}",
        "anchor": ANCHOR,
        "training_seconds": model.get("training_seconds"),
        "training_seconds_note": f"the model's training ({path}); the cache trains nothing",
        "evaluation_seconds": round(seconds, 1),
        "evaluation_cpu_seconds": round((cpu1.children_user + cpu1.children_system)
                                        - (cpu0.children_user + cpu0.children_system), 1),
        "loadavg": {"before": before, "after": after},
        "params": model.get("params"),
        "command": cmd,
        "training_command": model.get("command"),
        "evaluation": ev,
        "notes": a.note,
    }
    return c.write_result(name, result)


if __name__ == "__main__":
    main()
