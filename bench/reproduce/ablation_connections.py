#!/usr/bin/env python
"""Recipe: connection ablation on SST-2 — a 4-layer stack with none / residual / highway / dense.

Each configuration is the `sst2_bigru_highway` preset with
`--set num_layers=4 --set connection=C` plus the same reduced budget (the
ABLATION_ARGS below: fewer units, a capped number of training steps). Every
connection is trained once per seed (`zoo train --seed S`, which sets the
initial weights and the shuffling), so the four connections are compared
on the same data order seed by seed. Each run is selected and evaluated on the GLUE dev set
(`--validation-data dev.tsv`) with `zoo evaluate`.

    .venv/bin/python bench/reproduce/ablation_connections.py [--seeds S ...] [--only C ...]

Writes bench/results/ablation_connections.json: one row per connection with
the mean and standard deviation over seeds, the per-seed runs, and the
per-seed difference from the plain stack (`none`).
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402

RECIPE = "ablation_connections"
PRESET = "sst2_bigru_highway"
CONNECTIONS = ("none", "residual", "highway", "dense")
SEEDS = (1337, 1338, 1339, 1340, 1341)
ABLATION_ARGS = ["--set", "num_layers=4", "--set", "units=64", "--epochs", "1",
                 "--max-steps-per-epoch", "400",
                 "--validation-data", os.path.join(c.DATA, "sst2", "dev.tsv")]


def summarise(runs):
    """Per-connection rows (mean, std over seeds) from the per-seed runs."""
    by_seed = {(r["connection"], r["seed"]): r for r in runs}
    rows = []
    for conn in CONNECTIONS:
        mine = sorted((r for r in runs if r["connection"] == conn), key=lambda r: r["seed"])
        if not mine:
            continue
        acc = [r["accuracy"] for r in mine]
        diffs = [r["accuracy"] - by_seed[("none", r["seed"])]["accuracy"]
                 for r in mine if ("none", r["seed"]) in by_seed]
        rows.append({
            "connection": conn,
            "seeds": [r["seed"] for r in mine],
            "accuracy": statistics.fmean(acc),
            "accuracy_std": statistics.stdev(acc) if len(acc) > 1 else None,
            "loss": statistics.fmean(r["loss"] for r in mine),
            "train_loss": statistics.fmean(r["history"][-1]["loss"] for r in mine),
            "accuracy_minus_none": diffs,
            "wins_over_none": sum(d > 0 for d in diffs),
            "training_seconds": round(sum(r["training_seconds"] for r in mine), 1),
            "params": mine[0]["params"],
        })
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", default=list(CONNECTIONS), choices=CONNECTIONS)
    p.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    p.add_argument("--out", default=os.path.join(c.RUNS, RECIPE))
    p.add_argument("--collect", action="store_true",
                   help="do not train: evaluate and record the finished runs under --out")
    a = p.parse_args()
    data = os.path.join(c.DATA, "sst2", "train.tsv")
    path = os.path.join(c.RESULTS_DIR, f"{RECIPE}.json")
    runs = {}
    if os.path.exists(path):  # keep the runs of configurations not rerun now
        runs = {(r["connection"], r["seed"]): r
                for r in c.read_json(path).get("runs", [])
                # runs of the retired random carve are not comparable
                if (r.get("validation_carve") or {}).get("validation_data")}
    for seed in a.seeds:
        for conn in a.only:
            run_dir = os.path.join(a.out, f"seed{seed}", conn)
            if a.collect:
                cmd, secs, _ = c.collected_train(run_dir)
            else:
                cmd, secs = c.train(PRESET, data, run_dir, *ABLATION_ARGS,
                                    "--set", f"connection={conn}", "--seed", str(seed))
            ecmd, ev = c.evaluate(run_dir, data, split="validation")
            s = c.run_summary(run_dir)
            runs[(conn, seed)] = {
                "connection": conn, "seed": seed,
                "accuracy": ev["accuracy"], "loss": ev["loss"],
                "num_examples": ev["num_examples"],
                "training_seconds": round(secs, 1), "params": c.count_params(run_dir),
                "command": cmd, "evaluate_command": ecmd,
                "validation_carve": s["validation_carve"],
                "history": s["history"],
            }
            ordered = sorted(runs.values(), key=lambda r: (r["seed"], CONNECTIONS.index(r["connection"])))
            rows = summarise(ordered)
            best = max(rows, key=lambda r: r["accuracy"])
            best_run = next(r for r in ordered if r["connection"] == best["connection"])
            c.write_result(RECIPE, {
                "preset": PRESET,
                "task": "SST-2 connection ablation: 4-layer BiGRU stack",
                "metric": "accuracy",
                "value": best["accuracy"],
                "value_note": f"best row ({best['connection']}), mean over seeds "
                              f"{best['seeds']}; see rows and runs",
                "split": "GLUE dev set (dev.tsv, 872 sentences)",
                "validation_carve": s["validation_carve"],
                "seeds": sorted({r["seed"] for r in ordered}),
                "target": None,
                "budget": "same for every run: " + " ".join(ABLATION_ARGS),
                "training_seconds": round(sum(r["training_seconds"] for r in ordered), 1),
                "params": best["params"],
                "command": best_run["command"],
                "rows": rows,
                "runs": ordered,
            })


if __name__ == "__main__":
    main()
