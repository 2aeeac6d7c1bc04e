#!/usr/bin/env python
"""Recipe: with and without pretraining (`--init-from ../runs/imdb_lm`), IMDB and SST-2.

For each dataset the same preset, data, split and budget are trained
per seed: from the `imdb_lm` run and from scratch (the same shape, with a
vocabulary learned from the training texts). IMDB is selected and
evaluated on the movie-grouped carve, SST-2 on the GLUE dev set. The budget
is a fixed number of steps (`BUDGET` below), so every arm does the same
work; the pretraining's own cost is in the LM's results file
(`bench/results/imdb_lm.json` for `../runs/imdb_lm`). The
scratch arm trains every layer at the full rate from the start (`SCRATCH`);
the pretrained arm runs ULMFiT's schedule (gradual unfreezing,
discriminative rates: `GRADUAL`, the presets' schedule when its runs were
made), and a third arm, `pretrained_full_rate`, starts from
the LM with scratch's schedule, so that it differs from scratch only in its
initial weights and vocabulary.
IMDB runs without `imdb_transfer`'s bag of n-grams (`--set ngrams=null`),
which learns from the labelled reviews alone in every arm.

    .venv/bin/python bench/reproduce/imdb_lm.py        # once
    .venv/bin/python bench/reproduce/ablation_pretraining.py [--seeds S ...] [--only imdb|sst2 ...]
        [--arms pretrained|pretrained_full_rate|scratch ...] [--lm RUN_DIR] [--name NAME]
        [--carve-seed N]

Writes bench/results/ablation_pretraining.json: one row per dataset and arm
(mean and standard deviation over seeds), the per-seed runs and the
per-seed gain of pretraining. Runs of seeds not rerun are kept.
IMDB's carve follows each run's seed unless `--carve-seed N` fixes it
(`zoo train --validation-seed N`): then every seed is selected and
evaluated on one validation set, and an LM that left out seed N's carve
(`--leave-out-group movie`) can start every seed. Keep such runs in a
results file of their own (`--name`).
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as c  # noqa: E402

RECIPE = "ablation_pretraining"
SEEDS = (1337, 1338, 1339)
DATASETS = {
    "imdb": {"preset": "imdb_transfer",
             "data": os.path.join(c.DATA, "imdb", "train.csv"),
             "split_args": ["--validation-group", "movie"],
             "split": "validation carved from the official train split by movie"},
    "sst2": {"preset": "sst2_transfer",
             "data": os.path.join(c.DATA, "sst2", "train.tsv"),
             "split_args": ["--validation-data", os.path.join(c.DATA, "sst2", "dev.tsv")],
             "split": "GLUE dev set (dev.tsv, 872 sentences)"},
}
# IMDB without the preset's bag of n-grams (`ngrams=null`): the bag learns
# from the labelled reviews alone and would hide what the LM gives.
BUDGET = {"imdb": ["--epochs", "1", "--recipe", "steps_per_epoch=150",
                   "--set", "ngrams=null"],
          "sst2": ["--epochs", "1", "--recipe", "steps_per_epoch=300"]}
# From scratch, every layer trains at the full rate from the first step
# (gradual unfreezing and low embedding rates protect pretrained weights;
# they only slow random ones down).
SCRATCH = ["--recipe", "layer_lr_decay=1", "--recipe", "unfreeze_steps=0"]
# `pretrained` runs ULMFiT's schedule (`GRADUAL`); `pretrained_full_rate`
# starts from the LM with scratch's schedule, so that against `scratch` only
# the initial weights (and the vocabulary) differ.
ARMS = ("pretrained", "pretrained_full_rate", "scratch")


# ULMFiT's schedule, as the presets had it until the full rate measured
# better (docs/transfer.md): discriminative rates and gradual unfreezing.
GRADUAL = {"imdb": ["--recipe", "layer_lr_decay=2.6", "--recipe", "unfreeze_steps=30"],
           "sst2": ["--recipe", "layer_lr_decay=2.6", "--recipe", "unfreeze_steps=200"]}


def arm_args(arm, lm, dataset):
    if arm == "pretrained":
        return ["--init-from", lm, *GRADUAL[dataset]]
    if arm == "pretrained_full_rate":
        return ["--init-from", lm, *SCRATCH]
    return list(SCRATCH)


def lm_record(lm):
    """What a pretrained arm started from: the LM run's validation
    perplexity (its metrics.json) and the `zoo train` command that made it,
    so that runs from different LMs in one results file stay apart."""
    s = c.run_summary(lm)
    return {"perplexity": (s["metrics_json"] or {}).get("validation", {}).get("perplexity"),
            "command": s["config_command_line"]}


def summarise(runs):
    rows = []
    for name in DATASETS:
        for arm in ARMS:
            mine = sorted((r for r in runs if r["dataset"] == name and r["arm"] == arm),
                          key=lambda r: r["seed"])
            if not mine:
                continue
            acc = [r["accuracy"] for r in mine]
            other = {r["seed"]: r["accuracy"] for r in runs
                     if r["dataset"] == name and r["arm"] == "scratch"}
            rows.append({
                "dataset": name, "arm": arm, "seeds": [r["seed"] for r in mine],
                "accuracy": statistics.fmean(acc),
                "accuracy_std": statistics.stdev(acc) if len(acc) > 1 else None,
                "gain_over_scratch": ([r["accuracy"] - other[r["seed"]] for r in mine
                                       if r["seed"] in other] if arm != "scratch" else None),
                "training_seconds": round(sum(r["training_seconds"] for r in mine), 1),
            })
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--seeds", nargs="*", type=int, default=list(SEEDS))
    p.add_argument("--arms", nargs="*", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--lm", default=os.path.join(c.RUNS, "imdb_lm"))
    p.add_argument("--out", default=os.path.join(c.RUNS, RECIPE))
    p.add_argument("--note", default=None,
                   help="a note for the results file (default: keep its note)")
    p.add_argument("--carve-seed", type=int, default=None,
                   help="IMDB: the seed of the movie carve for every run "
                   "(default: each run's seed)")
    p.add_argument("--name", default=RECIPE,
                   help="results file bench/results/NAME.json (another name "
                   "keeps a comparison from another LM apart)")
    a = p.parse_args()
    path = os.path.join(c.RESULTS_DIR, f"{a.name}.json")
    lm = lm_record(a.lm) if set(a.arms) - {"scratch"} else None
    runs, notes = {}, a.note
    # A scratch-only rerun keeps the LM the file's pretrained runs came from.
    pretraining = c.lm_results(a.lm) if lm else None
    if os.path.exists(path):
        before = c.read_json(path)
        if not lm:
            pretraining = before.get("pretraining")
        runs = {(r["dataset"], r["arm"], r["seed"]): r
                for r in before.get("runs", [])}
        notes = notes or before.get("notes")
    for seed in a.seeds:
        for name in a.only:
            d = DATASETS[name]
            for arm in a.arms:
                run_dir = os.path.join(a.out, name, arm, f"seed{seed}")
                args = [*d["split_args"], *BUDGET[name], "--seed", str(seed)]
                if a.carve_seed is not None and name == "imdb":
                    args += ["--validation-seed", str(a.carve_seed)]
                args += arm_args(arm, a.lm, name)
                cmd, secs = c.train(d["preset"], d["data"], run_dir, *args)
                ecmd, ev = c.evaluate(run_dir, d["data"], split="validation")
                s = c.run_summary(run_dir)
                runs[(name, arm, seed)] = {
                    "dataset": name, "arm": arm, "seed": seed,
                    "accuracy": ev["accuracy"], "loss": ev["loss"],
                    "num_examples": ev["num_examples"], "split": d["split"],
                    "validation_carve": s["validation_carve"],
                    "training_seconds": round(secs, 1),
                    "loadavg": c.train_loadavg(run_dir),
                    "command": cmd, "evaluate_command": ecmd,
                    "history": s["history"],
                    **({"lm": lm} if arm != "scratch" else {}),
                }
                if not a.note and os.path.exists(path):
                    # notes edited while this run trained stay
                    notes = c.read_json(path).get("notes", notes)
                ordered = sorted(runs.values(),
                                 key=lambda r: (r["dataset"], r["seed"], r["arm"]))
                rows = summarise(ordered)
                c.write_result(a.name, {
                    "task": f"pretraining ablation: {os.path.basename(os.path.normpath(a.lm))} "
                            "transfer vs scratch",
                    "metric": "accuracy", "value": None,
                    "value_note": "see rows: one per dataset and arm",
                    "split": {k: v["split"] for k, v in DATASETS.items()},
                    "target": None,
                    "budget": {k: " ".join(v) for k, v in BUDGET.items()},
                    "pretraining": pretraining,
                    "training_seconds": round(sum(r["training_seconds"] for r in ordered), 1),
                    "command": cmd, "rows": rows, "runs": ordered,
                    "notes": notes,
                })


if __name__ == "__main__":
    main()
