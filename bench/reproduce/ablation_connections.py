#!/usr/bin/env python
"""Recipe: connection ablation on SST-2 — a 4-layer stack with none / residual / highway / dense.

Each configuration is the `sst2_bigru_highway` preset with
`--set num_layers=4 --set connection=C` plus the same reduced budget (the
ABLATION_ARGS below: fewer units, a capped number of training steps), the
same seed and the same validation carve. Each run's best checkpoint is
evaluated on the full carved validation split with `zoo evaluate`.

    .venv/bin/python bench/reproduce/ablation_connections.py [--only C ...]

Writes bench/results/ablation_connections.json with one row per connection.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402

RECIPE = "ablation_connections"
PRESET = "sst2_bigru_highway"
CONNECTIONS = ("none", "residual", "highway", "dense")
ABLATION_ARGS = ["--set", "num_layers=4", "--set", "units=64", "--epochs", "1",
                 "--max-steps-per-epoch", "400"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", default=list(CONNECTIONS))
    p.add_argument("--out", default=os.path.join(c.RUNS, RECIPE))
    p.add_argument("--collect", action="store_true",
                   help="do not train: evaluate and record the finished runs under --out")
    a = p.parse_args()
    data = os.path.join(c.DATA, "sst2", "train.tsv")
    path = os.path.join(c.RESULTS_DIR, f"{RECIPE}.json")
    rows = {}
    if os.path.exists(path):  # keep rows of configurations not rerun now
        rows = {r["connection"]: r for r in c.read_json(path).get("rows", [])}
    for conn in a.only:
        run_dir = os.path.join(a.out, conn)
        # `--set connection=none` is parsed as Python None by `zoo train` and
        # rejected ("Unknown connection None"); a JSON string keeps it a string.
        value = '"none"' if conn == "none" else conn
        if a.collect:
            cmd, secs, _ = c.collected_train(run_dir)
        else:
            cmd, secs = c.train(PRESET, data, run_dir, *ABLATION_ARGS,
                                "--set", f"connection={value}")
        ecmd, ev = c.evaluate(run_dir, data, split="validation")
        s = c.run_summary(run_dir)
        rows[conn] = {
            "connection": conn, "accuracy": ev["accuracy"], "loss": ev["loss"],
            "num_examples": ev["num_examples"],
            "training_seconds": round(secs, 1), "params": c.count_params(run_dir),
            "command": cmd, "evaluate_command": ecmd,
            "validation_carve": s["validation_carve"],
            "history": s["history"],
        }
        ordered = [rows[k] for k in CONNECTIONS if k in rows]
        best = max(ordered, key=lambda r: r["accuracy"])
        c.write_result(RECIPE, {
            "preset": PRESET,
            "task": "SST-2 connection ablation: 4-layer BiGRU stack",
            "metric": "accuracy",
            "value": best["accuracy"],
            "value_note": f"best row ({best['connection']}); see rows",
            "split": "validation carved from train.tsv",
            "validation_carve": s["validation_carve"],
            "target": None,
            "budget": "same for every row: " + " ".join(ABLATION_ARGS),
            "training_seconds": round(sum(r["training_seconds"] for r in ordered), 1),
            "params": best["params"],
            "command": best["command"],
            "rows": ordered,
        })


if __name__ == "__main__":
    main()
