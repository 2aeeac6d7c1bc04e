"""One runner for the single-run recipes: train with `zoo train` (or resume,
or collect a finished run), evaluate with `zoo evaluate`, write
bench/results/<name>.json."""

from __future__ import annotations

import argparse
import os
import sys

import _common as c


SEEDS = (1337, 1338, 1339)


def parse_args(doc, recipe, lm=False, seeds=False, backward_lm=False):
    """The recipes' command line; `lm=True` adds `--lm RUN_DIR`, the language
    model a transfer recipe starts from (default `../runs/imdb_lm`);
    `seeds=True` adds `--seeds S ...`, the members of an ensemble recipe
    (`run_ensemble`); `backward_lm=True` adds `--backward-lm RUN_DIR`, a
    backward LM (`--set reverse=true`; default `../runs/imdb_lm_backward`),
    and `--forward-out` / `--backward-out`, the two groups' members."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    if seeds:
        p.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS),
                       help="one member per seed, trained in OUT/seedS "
                            f"(default: {' '.join(map(str, SEEDS))})")
    if lm:
        p.add_argument("--lm", default=os.path.join(c.RUNS, "imdb_lm"),
                       help="the LM run to start from (--init-from); the recipe that "
                            "trained ../runs/NAME wrote bench/results/NAME.json, whose "
                            "seconds count as pretraining")
    if backward_lm:
        p.add_argument("--backward-lm", default=os.path.join(c.RUNS, "imdb_lm_backward"),
                       help="the backward LM run (reverse=true) that the backward "
                            "members start from; its results file's seconds count as "
                            "pretraining too")
        p.add_argument("--forward-out",
                       default=os.path.join(c.RUNS, recipe.replace("_fwd_bwd", "")),
                       help="where the forward members are (OUT/seedS); finished "
                            "ones are reused")
        p.add_argument("--backward-out",
                       default=os.path.join(c.RUNS, recipe.replace("_fwd_bwd", "_backward")),
                       help="where the backward members are (OUT/seedS); finished "
                            "ones are reused")
    p.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    p.add_argument("--out", default=os.path.join(c.RUNS, recipe))
    p.add_argument("--resume", action="store_true",
                   help="continue an unfinished run in --out (zoo train --resume)")
    p.add_argument("--note", default=None, help="a note recorded in the results file")
    p.add_argument("--collect", action="store_true",
                   help="do not train: evaluate and record the finished run"
                        f"{'s' if seeds else ''} in --out")
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
    met, with_pretraining = _pretraining_fields(pretraining, secs, met, total_budget_s)
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
        **with_pretraining,
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


def run_ensemble(a, *, recipe, preset, data, metric, target, anchor, task, split,
                 member_args, pretraining=None, total_budget_s=None, notes=None,
                 groups=None):
    """Trains one member per seed (`a.seeds`) in `a.out`/seedS, evaluates the
    mean of their probabilities (`zoo evaluate RUN_DIR ...`) and writes the
    results file.

    Every member runs `zoo train PRESET --data DATA *member_args --seed S`:
    `member_args` fix the validation set for all of them (`--validation-data`,
    or a carve with one `--validation-seed`), which `zoo evaluate` checks.
    `training_seconds` is the sum over the members; with `pretraining` (a
    results-file name, or a list of them), their seconds are added once
    (`seconds_with_pretraining`), and `met` needs that total within
    `total_budget_s` when given. `a.collect` records finished members
    without training them; `a.resume` records the finished ones, continues
    an unfinished one and trains the missing ones.

    `groups`, a list of `(label, out, member_args)`, gives members of
    several kinds (classifiers from a forward and from a backward LM): one
    member per seed and group, in `out`/seedS, each recorded with its
    `group`. Default: one group, `(None, a.out, member_args)`.
    """
    members, dirs, total_secs = [], [], 0.0
    for label, out_dir, group_args in groups or [(None, a.out, member_args)]:
        for seed in a.seeds:
            out = os.path.join(out_dir, f"seed{seed}")
            args = [*(["--epochs", str(a.epochs)] if a.epochs else []), *group_args,
                    *a.extra, "--seed", str(seed)]
            if a.collect or (a.resume and _finished(out)):
                cmd, secs, time_note = c.collected_train(out)
            else:
                cmd, secs, time_note = c.train_or_resume(
                    preset, data, out, *args, resume=a.resume and os.path.isdir(out))
            dirs.append(out)
            total_secs += secs
            s = c.run_summary(out)
            members.append({**({"group": label} if label else {}),
                            "seed": seed, "run_dir": out, "training_seconds": round(secs, 1),
                            "training_seconds_note": time_note,
                            "loadavg": c.train_loadavg(out), "command": cmd,
                            "validation_carve": s["validation_carve"],
                            "history": s["history"]})
    eargs = ["--batch-size", str(a.eval_batch_size)] if a.eval_batch_size else []
    os.makedirs(a.out, exist_ok=True)
    # Named after the results file: ensembles of other seeds in one OUT keep theirs.
    ecmd, ev = c.evaluate_ensemble(dirs, data, os.path.join(a.out, f"eval_{a.name}.json"),
                                   *eargs)
    for m, e in zip(members, ev["members"]):
        m.update(accuracy=e["accuracy"], loss=e["loss"])
    value = ev[metric]
    met = value <= target["value"] if target["op"] == "<=" else value >= target["value"]
    met, with_pretraining = _pretraining_fields(pretraining, total_secs, met, total_budget_s)
    from training import plots

    def key(m):
        return f"{m['group']} seed {m['seed']}" if "group" in m else f"seed {m['seed']}"

    plots.plot_members({key(m): m["history"] for m in members},
                       os.path.join(a.out, f"curves_{a.name}.png"), metric=metric,
                       ensemble=value,
                       title=f"{a.name}: {len(members)} members")
    s = c.run_summary(dirs[0])
    c.write_result(a.name, {
        "preset": preset, "task": task, "metric": metric, "value": value,
        "value_note": f"the mean of {len(dirs)} members' class probabilities "
                      f"(one per seed{' and group' if groups else ''}), each "
                      "member's own figure in `members`",
        "split": split, "validation_carve": s["validation_carve"],
        "target": target, "met": met, "anchor": anchor,
        "training_seconds": round(total_secs, 1),
        "training_seconds_note": "the sum over the members of each `zoo train` "
                                 "process's wall clock, one after another",
        **with_pretraining,
        "loadavg": {"before": members[0]["loadavg"] and members[0]["loadavg"]["before"],
                    "after": members[-1]["loadavg"] and members[-1]["loadavg"]["after"]},
        "params": c.count_params(dirs[0]),
        "params_note": "of one member",
        "command": recipe_command(),
        "member_command": members[0]["command"],
        "evaluate_command": ecmd, "evaluation": ev,
        "members": members,
        "notes": " ".join(x for x in (notes, a.note) if x) or None,
        **{k: s[k] for k in ("training_settings", "overrides", "data", "versions")},
    })


def _pretraining_fields(pretraining, secs, met, total_budget_s):
    """`(met, fields)`: the results-file fields of the pretraining run
    `pretraining` (its results-file name, or a list of names: a forward and
    a backward LM) and `secs + their seconds`; `met` also needs that total
    within `total_budget_s`, when given. The first run is `pretraining`,
    the others `more_pretraining`."""
    if not pretraining:
        return met, {}
    names = [pretraining] if isinstance(pretraining, str) else list(pretraining)
    runs, total = [], secs
    for name in names:
        before = c.read_json(os.path.join(c.RESULTS_DIR, f"{name}.json"))
        # An LM that started from another counts that one's seconds too.
        earlier = before.get("seconds_with_pretraining", before["training_seconds"])
        total += earlier
        runs.append({"recipe": name,
                     "training_seconds": before["training_seconds"],
                     **({"seconds_with_pretraining": earlier}
                        if "seconds_with_pretraining" in before else {}),
                     "command": before["command"],
                     "value": before["value"], "metric": before["metric"]})
    if total_budget_s is not None and met is not None:
        met = met and total <= total_budget_s
    return met, {
        "pretraining": runs[0],
        **({"more_pretraining": runs[1:]} if len(runs) > 1 else {}),
        "seconds_with_pretraining": round(total, 1),
        **({"total_budget_s": total_budget_s} if total_budget_s else {})}


def recipe_command():
    """This recipe's command line as run, relative to the repository."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), c.REPO)
    return [".venv/bin/python", script, *sys.argv[1:]]


def _finished(run_dir):
    """Whether `zoo train` finished in `run_dir` (its final metrics and the
    recipe's timing file are written)."""
    from training.run_dir import RunDirError

    if not os.path.exists(run_dir.rstrip("/") + ".train.time.json"):
        return False
    try:
        return c.run_summary(run_dir)["metrics_json"] is not None
    except RunDirError:
        return False
