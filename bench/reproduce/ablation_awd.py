#!/usr/bin/env python
"""Recipe: AWD-LSTM ablation on `ptb_awd_cpu`: one factor off at a time, same budget.

Rows (each one `zoo train ptb_awd_cpu` command, all with the same
`--time-budget`):

- `full`: the preset as it is;
- `no_weight_drop`: `--set weight_drop=0`;
- `no_embedding_dropout`: `--set word_dropout=0 --set embedding_dropout=0`;
- `no_ar_tar`: `--set ar=0 --set tar=0`;
- `no_averaging`: `--recipe weight_average=none`;
- `layer_norm`: `--set layer_norm=true` (the factor the preset leaves off).

Each run is validated on ptb.valid.txt and evaluated with `zoo evaluate`.

    .venv/bin/python bench/reproduce/ablation_awd.py [--only ROW ...] [--budget MINUTES]

Writes bench/results/ablation_awd.json: one row per configuration with its
validation perplexity, its difference from `full`, the epochs it fitted in
the budget, and its command. The default budget is the preset's (57
minutes), so the whole ablation takes about six hours on a 2-core CPU.
Another budget writes its own file and run directories
(`ablation_awd_16min.json`, `../runs/ablation_awd_16min/ROW` for
`--budget 16`), so that rows of different budgets never mix.
"""

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402

RECIPE = "ablation_awd"
DEFAULT_BUDGET = 57.0
PRESET = "ptb_awd_cpu"
ROWS = {
    "full": [],
    "no_weight_drop": ["--set", "weight_drop=0"],
    "no_embedding_dropout": ["--set", "word_dropout=0",
                             "--set", "embedding_dropout=0"],
    "no_ar_tar": ["--set", "ar=0", "--set", "tar=0"],
    "no_averaging": ["--recipe", "weight_average=none"],
    "layer_norm": ["--set", "layer_norm=true"],
}


def results_name(budget):
    """`ablation_awd` for the default budget, `ablation_awd_<B>min` otherwise."""
    return RECIPE if budget == DEFAULT_BUDGET else f"{RECIPE}_{budget:g}min"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", default=list(ROWS), choices=list(ROWS))
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET,
                   help=f"minutes of training per row (default {DEFAULT_BUDGET:g})")
    p.add_argument("--out", default=None,
                   help="folder of the rows' run directories "
                   "(default ../runs/ plus the results file's name)")
    p.add_argument("--collect", action="store_true",
                   help="do not train: evaluate and record the finished runs")
    a = p.parse_args()
    if not (math.isfinite(a.budget) and a.budget > 0):
        p.error(f"--budget must be a positive number of minutes. Received: {a.budget:g}")
    name = results_name(a.budget)
    a.out = a.out or os.path.join(c.RUNS, name)
    data = os.path.join(c.DATA, "ptb")
    path = os.path.join(c.RESULTS_DIR, f"{name}.json")
    runs, notes = {}, None
    if os.path.exists(path):  # keep the rows not rerun now, and the notes
        before = c.read_json(path)
        runs = {r["row"]: r for r in before.get("runs", [])
                if r.get("budget_minutes") == a.budget}
        for r in runs.values():  # rows written before rows recorded their machine
            r.setdefault("machine", before.get("machine"))
        notes = before.get("notes")
    for row in a.only:
        run_dir = os.path.join(a.out, row)
        args = ROWS[row] + ["--time-budget", f"{a.budget:g}"]
        if a.collect:
            cmd, secs, _ = c.collected_train(run_dir)
        else:
            cmd, secs = c.train(PRESET, data, run_dir, *args)
        ecmd, ev = c.evaluate(run_dir, data, split="validation")
        s = c.run_summary(run_dir)
        runs[row] = {
            "row": row, "perplexity": ev["perplexity"], "loss": ev["loss"],
            "epochs": len(s["history"]), "budget_minutes": a.budget,
            "training_seconds": round(secs, 1),
            "loadavg": c.train_loadavg(run_dir),
            "params": c.count_params(run_dir), "command": cmd,
            "evaluate_command": ecmd, "history": s["history"],
            # rows of one file may run in different sessions, on other machines;
            # a collected run keeps the machine its row recorded (unknown if none)
            "machine": (runs.get(row, {}).get("machine") if a.collect
                        else c.reports.machine()),
        }
        if os.path.exists(path):  # notes edited while this row ran stay
            notes = c.read_json(path).get("notes", notes)
        ordered = [runs[r] for r in ROWS if r in runs]
        full = runs.get("full")
        for r in ordered:
            r["minus_full"] = (r["perplexity"] - full["perplexity"]
                               if full else None)
        c.write_result(name, {
            "preset": PRESET,
            "task": "PTB: AWD-LSTM regularisation ablation, one factor at a time",
            "metric": "perplexity",
            "value": full["perplexity"] if full else None,
            "value_note": "the full preset's row; see runs",
            "split": "validation (ptb.valid.txt)",
            "target": None,
            "budget": f"--time-budget {a.budget:g} for every row",
            "training_seconds": round(sum(r["training_seconds"]
                                          for r in ordered), 1),
            "params": ordered[0]["params"],
            "command": (full or ordered[0])["command"],
            "partial": len(ordered) < len(ROWS),
            "runs": ordered,
            **({"notes": notes} if notes else {}),
        })


if __name__ == "__main__":
    main()
