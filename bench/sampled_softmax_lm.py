#!/usr/bin/env python
"""`imdb_lm` on unsup.csv with the full softmax and with a sampled softmax, at the same time budget.

Runs `zoo train imdb_lm --data ../shared/data/imdb/unsup.csv
--validation-split 0.02 --time-budget MINUTES` twice, one after the other:
as the preset is (full softmax) and with `--recipe sampled_softmax=K`.
Validation is the full softmax in both (the last 2% of the reviews, whole
reviews), so the two perplexities compare directly. The budget stops the
epoch in progress, which is then validated and checkpointed.

    .venv/bin/python bench/sampled_softmax_lm.py [--minutes 8] [--k 1024] [--collect]

Writes bench/results/sampled_softmax_lm.json (per variant: the command,
validation perplexity, wall seconds of `zoo train`, load average before
and after).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "reproduce"))
import _common as c  # noqa: E402


def variant_row(name, out, cmd, secs):
    """What the run in `out` says: validation at its end, steps trained."""
    run = c.run_summary(out)
    last = run["history"][-1]
    stopped = (run["metrics_json"] or {}).get("time_budget", {}).get(
        "stopped_at") or {}
    return {"variant": name, "command": cmd,
            "val_perplexity": last["val_perplexity"],
            "val_loss": last["val_loss"],
            "epochs_logged": len(run["history"]),
            "steps_in_last_epoch": (stopped["batch"] + 1 if stopped
                                    else None),
            "train_seconds": round(secs, 1),
            "loadavg": c.train_loadavg(out),
            "training_settings": run["training_settings"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=8.0)
    p.add_argument("--k", type=int, default=1024)
    p.add_argument("--collect", action="store_true",
                   help="read the two finished runs instead of training")
    a = p.parse_args()
    data = os.path.join(c.DATA, "imdb", "unsup.csv")
    rows = []
    for name, extra in (("full softmax", []),
                        (f"sampled softmax {a.k}",
                         ["--recipe", f"sampled_softmax={a.k}"])):
        out = os.path.join(c.RUNS, "imdb_lm_" + name.replace(" ", "_"))
        if a.collect:
            cmd, secs, _ = c.collected_train(out)
        else:
            cmd, secs = c.train("imdb_lm", data, out, "--validation-split",
                                "0.02", "--time-budget", f"{a.minutes:g}",
                                *extra)
        rows.append(variant_row(name, out, cmd, secs))
        print(rows[-1], flush=True)
    result = {
        "benchmark": "sampled_softmax_lm", "preset": "imdb_lm",
        "split": "validation: the last 2% of unsup.csv's reviews (whole "
        "reviews), full softmax",
        "time_budget_minutes": a.minutes, "rows": rows,
        "machine": c.reports.machine(),
        "command": [".venv/bin/python", "bench/sampled_softmax_lm.py",
                    "--minutes", f"{a.minutes:g}", "--k", str(a.k)]}
    c.reports.write_report(os.path.join(c.RESULTS_DIR,
                                        "sampled_softmax_lm.json"),
                           result, repo=c.REPO)


if __name__ == "__main__":
    main()
