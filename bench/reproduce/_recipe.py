"""One runner for the single-run recipes: train with `zoo train` (or resume,
or collect a finished run), evaluate with `zoo evaluate`, write
bench/results/<name>.json."""

from __future__ import annotations

import argparse
import os

import _common as c


def parse_args(doc, recipe, lm=False):
    """The recipes' command line; `lm=True` adds `--lm RUN_DIR`, the language
    model a transfer recipe starts from (default `../runs/imdb_lm`)."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    if lm:
        p.add_argument("--lm", default=os.path.join(c.RUNS, "imdb_lm"),
                       help="the LM run to start from (--init-from); the recipe that "
                            "trained ../runs/NAME wrote bench/results/NAME.json, whose "
                            "seconds count as pretraining")
    p.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    p.add_argument("--out", default=os.path.join(c.RUNS, recipe))
    p.add_argument("--resume", action="store_true",
                   help="continue an unfinished run in --out (zoo train --resume)")
    p.add_argument("--note", default=None, help="a note recorded in the results file")
    p.add_argument("--collect", action="store_true",
                   help="do not train: evaluate and record the finished run in --out")
    p.add_argument("--name", default=recipe,
                   help="results file name (bench/results/NAME.json), for variants")
    p.add_argument("--eval-batch-size", type=int, default=None,
                   help="zoo evaluate --batch-size (default: zoo's, 1 = exact)")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                   help="further `zoo train` arguments")
    return p.parse_args()


def pretraining_of(lm):
    """The results-file name of the LM run directory `lm`, for `run_recipe`'s
    `pretraining`; exits with a message when that results file is missing."""
    name = os.path.basename(os.path.normpath(lm))
    if c.lm_results(lm) is None:
        raise SystemExit(
            f"the language model {lm} has no results file bench/results/{name}.json, "
            "which holds the pretraining's seconds: train it with its recipe, e.g. "
            f"bench/reproduce/imdb_lm.py --name {name} --out {lm}")
    return name


def run_recipe(a, *, recipe, preset, data, metric, target, anchor, task, split="validation",
               notes=None, time_budget_s=None, extra_train_args=(), extra_fields=None,
               sample=None, pretraining=None, total_budget_s=None):
    """Trains (or resumes / collects), evaluates and writes the results file.

    Args:
        a: `parse_args()`'s namespace.
        metric: the key of `zoo evaluate`'s output that is the figure.
        target: `{"metric", "op": "<=" | ">=", "value"}`.
        split: how the evaluated split is described in the results file.
        time_budget_s: if set, `met` also needs training within it.
        extra_train_args: `zoo train` arguments the recipe always passes.
        extra_fields: more keys for the results file.
        sample: `f(run_dir) -> dict`, a generated sample for the results file.
        pretraining: the results-file name of the run this one starts from
            (`--init-from`); its training seconds are added to
            `seconds_with_pretraining`.
        total_budget_s: if set, `met` also needs training plus pretraining
            within it.
    """
    args = (["--epochs", str(a.epochs)] if a.epochs else []) + list(extra_train_args) + a.extra
    if a.collect:
        cmd, secs, time_note = c.collected_train(a.out)
    else:
        cmd, secs, time_note = c.train_or_resume(preset, data, a.out, *args,
                                                 resume=a.resume)
    eargs = ["--batch-size", str(a.eval_batch_size)] if a.eval_batch_size else []
    ecmd, ev = c.evaluate(a.out, data, *eargs, split="validation")
    s = c.run_summary(a.out)
    value = ev[metric]
    if target is None:
        met = None
    else:
        met = value <= target["value"] if target["op"] == "<=" else value >= target["value"]
    if time_budget_s is not None and met is not None:
        met = met and secs <= time_budget_s
    before = None
    if pretraining is not None:
        before = c.read_json(os.path.join(c.RESULTS_DIR, f"{pretraining}.json"))
        total = secs + before["training_seconds"]
        if total_budget_s is not None and met is not None:
            met = met and total <= total_budget_s
    result = {
        "preset": preset,
        "task": task,
        "metric": metric,
        "value": value,
        "split": split,
        "validation_carve": s["validation_carve"],
        **(extra_fields or {}),
        "target": target,
        **({"time_budget_s": time_budget_s} if time_budget_s is not None else {}),
        "met": met,
        "anchor": anchor,
        "training_seconds": round(secs, 1),
        "training_seconds_note": time_note,
        **({"pretraining": {"recipe": pretraining,
                            "training_seconds": before["training_seconds"],
                            "command": before["command"],
                            "value": before["value"], "metric": before["metric"]},
            "seconds_with_pretraining": round(total, 1),
            **({"total_budget_s": total_budget_s} if total_budget_s else {})}
           if before is not None else {}),
        "loadavg": c.train_loadavg(a.out),
        "params": c.count_params(a.out),
        "command": cmd,
        "evaluate_command": ecmd,
        "evaluation": ev,
        "notes": " ".join(x for x in (notes, a.note) if x) or None,
        **{k: s[k] for k in ("training_settings", "overrides", "data", "seed",
                             "versions", "metrics_json", "history")},
    }
    if sample is not None:
        result["sample"] = sample(a.out)
    c.write_result(a.name, result)
