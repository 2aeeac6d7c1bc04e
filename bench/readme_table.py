#!/usr/bin/env python
"""Prints the README's reproduction table (markdown) from bench/results/*.json.

Only reproduction results are read (files whose `schema` is
`rnn-zoo/reproduction/v1`, written by `bench/reproduce/*.py`); other files in
bench/results are skipped. Nothing is typed in: every cell comes from a
results file.

    .venv/bin/python bench/readme_table.py [--results DIR] [--ablation]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shlex

SCHEMA = "rnn-zoo/reproduction/v1"
ORDER = ("sst2_bigru_highway", "sst2_transfer", "sst2_transfer_weight_drop_lm",
         "sst2_transfer_ensemble", "sst2_transfer_ensemble_ema",
         "sst2_transfer_ensemble_weight_drop", "sst2_transfer_ensemble_epochs10",
         "sst2_transfer_ensemble_epochs14", "sst2_transfer_ensemble_lm_finetune",
         "sst2_transfer_ensemble_lm_finetune_epochs1",
         "sst2_transfer_ensemble_seeds6", "sst2_transfer_ensemble_backward",
         "sst2_transfer_ensemble_fwd_bwd", "sst2_transfer_ensemble_adaptive_lm",
         "sst2_transfer_ensemble_adaptive_div1_lm",
         "sst2_transfer_ensemble_seed1338_lm", "sst2_transfer_ensemble_seed1339_lm",
         "imdb_bilstm", "imdb_lm", "imdb_lm_added_texts", "imdb_lm_schedule6000",
         "imdb_lm_weight_drop", "imdb_lm_weight_drop_seed1338",
         "imdb_lm_weight_drop_seed1339",
         "imdb_lm_weight_drop_backward",
         "imdb_lm_15min_sampled", "imdb_lm_15min_adaptive",
         "imdb_lm_15min_full", "imdb_lm_adaptive", "imdb_lm_adaptive_div1",
         "sst2_lm",
         "sst2_lm_epochs1",
         "imdb_fast", "imdb_transfer", "imdb_transfer_weight_drop_lm",
         "imdb_transfer_weight_drop_lm_epochs5", "imdb_transfer_adaptive_lm",
         "imdb_transfer_adaptive_div1_lm",
         "imdb_transfer_ensemble",
         "imdb_transfer_ensemble4", "imdb_transfer_ensemble_fresh4",
         "imdb_transfer_ensemble_seed1338_lm",
         "imdb_transfer_ensemble_seed1339_lm",
         "imdb_transfer_scratch",
         "ablation_pretraining", "ablation_pretraining_added_texts",
         "ablation_pretraining_schedule6000", "shakespeare_char",
         "shakespeare_zoneout", "shakespeare_cpu", "shakespeare_cpu_dropout02",
         "shakespeare_cpu_zoneout", "shakespeare_cpu_lr5e3", "shakespeare_cpu_gru",
         "shakespeare_cpu_gru_repeat", "shakespeare_cpu_gru_repeat2",
         "shakespeare_cpu_gru_repeat3", "shakespeare_cpu_gru_bptt35",
         "shakespeare_cpu_gru_wd01", "shakespeare_cpu_gru_ema",
         "shakespeare_cpu_gru_ema2", "shakespeare_cpu_gru_ema3",
         "shakespeare_cpu_gru_dropout0", "shakespeare_cpu_gru_xeon",
         "shakespeare_cpu_gru_xeon_dropout02",
         "shakespeare_cpu_gru_xeon_dropout02_seed1338",
         "shakespeare_cpu_gru_dropout02", "shakespeare_cpu_gru_dropout02_seed1338",
         "ablation_connections", "ptb_small",
         "ptb_small_bf16", "ptb_regularized", "ptb_regularized_one_cycle",
         "ptb_regularized_one_cycle_run2", "ptb_cache_ptb_regularized_one_cycle_run2",
         "ptb_regularized_one_cycle_dropout04",
         "ptb_regularized_one_cycle_dropout02",
         "ptb_regularized_one_cycle_batch40",
         "ptb_regularized_one_cycle_sampled1024",
         "ptb_regularized_one_cycle_adaptive",
         "ptb_regularized_one_cycle_batch10", "ptb_awd_cpu", "ptb_awd_cpu_one_cycle", "ablation_awd",
         "ablation_awd_16min")
HERE = os.path.dirname(os.path.abspath(__file__))


def load(results_dir):
    out = []
    for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
        try:
            with open(path) as f:
                r = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(r, dict) and r.get("schema") == SCHEMA:
            out.append(r)
    rank = {k: i for i, k in enumerate(ORDER)}
    return sorted(out, key=lambda r: (rank.get(r.get("recipe"), len(ORDER)), r.get("recipe", "")))


def fmt_value(metric, v, extra=0):
    """`v` as the tables show it; `extra` more decimals."""
    if v is None:
        return "—"
    if metric == "accuracy":
        return f"{100 * v:.{2 + extra}f}%"
    if metric == "perplexity":
        return f"{v:.{1 + extra}f}"
    if metric == "loss":
        return f"{v:.{3 + extra}f} nats/char"
    return f"{v:.4g}"


def fmt_result(r):
    """A results file's figure, with as many more decimals as it takes for
    the figure shown to fall on the same side of the target as the figure
    itself (1.4505 is not shown as 1.450 beside a target of 1.45)."""
    metric, v, t = r["metric"], r.get("value"), r.get("target")
    text = fmt_value(metric, v)
    if v is None or not t or metric not in ("accuracy", "perplexity", "loss"):
        return text

    def meets(x):
        return x >= t["value"] if t["op"] == ">=" else x <= t["value"]

    for extra in range(1, 6):
        number = float(text.split()[0].rstrip("%"))
        if meets(number / 100 if metric == "accuracy" else number) == meets(v):
            break
        text = fmt_value(metric, v, extra)
    return text


def fmt_target(r):
    t = r.get("target")
    if not t:
        return "—"
    v = t["value"]
    shown = f"{100 * v:.1f}%" if r["metric"] == "accuracy" else f"{v:g}"
    extra = ""
    if r.get("time_budget_s"):
        extra = f", ≤ {r['time_budget_s'] / 60:g} min"
    met = r.get("met")
    mark = " ✅" if met else (" ❌" if met is False else "")
    return f"{t['op'].replace('>=', '≥').replace('<=', '≤')} {shown}{extra}{mark}"


def fmt_time(s):
    if s is None:
        return "—"
    m, sec = divmod(int(round(s)), 60)
    return f"{m} min {sec:02d} s" if m else f"{sec} s"


def fmt_params(n):
    if n is None:
        return "—"
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.0f} k"


def short_command(cmd):
    """A results file's command as a user would type it: `zoo train ...` with
    `--out runs/NAME` and the data under `../shared/data/`, or a recipe's own
    command (ensembles) with its `--out` as given and without its `--note`."""
    if not cmd:
        return ""
    cmd = list(cmd)
    recipe = os.path.basename(cmd[0]).startswith("python")
    if not recipe:
        cmd[0] = "zoo"  # a recipe's own command (ensembles) keeps its interpreter
    out = []
    skip = False
    for i, tok in enumerate(cmd):
        if skip:
            skip = False
            continue
        if recipe and tok == "--note":  # recorded in the results file's notes
            skip = True
            continue
        if tok == "--out" and not recipe:
            where = cmd[i + 1].rstrip("/")  # the folders below runs/ are kept
            out.append("--out runs/" + (where.split("runs/", 1)[1] if "runs/" in where
                                        else os.path.basename(where)))
            skip = True
            continue
        if tok in ("--verbose",):
            skip = True
            continue
        if tok in ("--overwrite",):
            continue
        if "/shared/data/" in tok:
            tok = "../shared/data/" + tok.split("/shared/data/", 1)[1]
        if not recipe and tok.startswith("../runs/"):
            tok = tok[len("../"):]  # where the `--out runs/NAME` of a zoo row put it
        out.append(shlex.quote(tok))
    return " ".join(out)


def fmt_split(split):
    """A short name of the split a figure is measured on."""
    split = str(split or "")
    if "GLUE dev" in split:
        return "GLUE dev"
    if "by movie" in split:
        return "val, by movie"
    if "unsup" in split:
        return "held-out reviews"
    if "validation" in split:
        return "val"
    return split


def fmt_time_with_pretraining(r):
    t = fmt_time(r.get("training_seconds"))
    if r.get("seconds_with_pretraining") is not None:
        before = r["pretraining"]
        t += f" (+ {fmt_time(before['training_seconds'])} {before.get('recipe', 'imdb_lm')}"
        if before.get("seconds_with_pretraining") is not None:
            # an LM that started from another: that one's seconds too
            earlier = before["seconds_with_pretraining"] - before["training_seconds"]
            t += f" + {fmt_time(earlier)} earlier"
        for more in r.get("more_pretraining", ()):
            t += f" + {fmt_time(more['training_seconds'])} {more['recipe']}"
            if more.get("seconds_with_pretraining") is not None:
                t += (f" + {fmt_time(more['seconds_with_pretraining'] - more['training_seconds'])}"
                      " earlier")
        t += ")"
    return t


def ablation_kind(r):
    """Which ablation a results file holds, by the shape of its rows:
    `"pretraining"` (rows with arms), `"factor"` (runs with a row each),
    `"connections"` (rows per connection), or `None`."""
    if r.get("rows") and "arm" in r["rows"][0]:
        return "pretraining"
    if r.get("runs") and "row" in r["runs"][0]:
        return "factor"
    if r.get("rows") and "connection" in r["rows"][0]:
        return "connections"
    return None


def table(results):
    lines = ["| recipe | preset | metric (split) | value | target | training time | params | command |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        metric = r.get("metric", "")
        split = fmt_split(r.get("split"))
        name = r["recipe"]
        if r.get("partial"):
            name += " (partial)"
        kind = ablation_kind(r)
        if kind == "pretraining":
            name += " (see the table below; time = all runs)"
            split = " / ".join(dict.fromkeys(
                fmt_split(x.get("split", "")) for x in r.get("runs", [])))
        elif r.get("members"):
            groups = list(dict.fromkeys(m["group"] for m in r["members"] if "group" in m))
            seeds = len({m["seed"] for m in r["members"]})
            kinds = f" x {' and '.join(groups)}" if groups else ""
            name += (f" (ensemble: mean of {len(r['members'])} members' probabilities, "
                     f"{seeds} seeds{kinds}; time = all members)")
        elif kind == "factor":
            name += (" (the `full` row; see the table below; time = all rows)"
                     if r.get("value") is not None else
                     " (no `full` row yet; see the table below; time = all rows)")
        elif r.get("cache"):
            k = r["cache"]
            model = os.path.splitext(os.path.basename(r.get("model_results", "")))[0]
            name += (f" (`{model}`'s model + the neural cache at evaluation: window "
                     f"{k['window']}, θ {k['theta']:g}, λ {k['lambda']:g}; the model alone "
                     f"{fmt_value(metric, r.get('model_alone'))}; time = the model's training)")
        elif r.get("rows"):
            best = max(r["rows"], key=lambda x: x.get("accuracy", 0))
            seeds = len(best.get("seeds", [None]))
            name += (f" (best of {len(r['rows'])}: {best['connection']}"
                     f"{f', mean of {seeds} seeds' if seeds > 1 else ''}; time = all runs)")
        lines.append("| " + " | ".join([
            name, f"`{r['preset']}`" if r.get("preset") else "—",
            f"{metric} ({split})",
            fmt_result(r), fmt_target(r),
            fmt_time_with_pretraining(r), fmt_params(r.get("params")),
            f"`{short_command(r.get('command'))}`",
        ]) + " |")
    return "\n".join(lines)


def _pct(x):
    return f"{100 * x:.2f}%"


def _seed(run):
    """`seed S`, and the carve's seed where `--validation-seed` fixed it."""
    carve = (run.get("validation_carve") or {}).get("seed")
    return f"seed {run['seed']}" + (f", carve seed {carve}"
                                    if carve is not None and carve != run["seed"] else "")


def pretraining_table(r):
    ran = {row["dataset"] for row in r["rows"]}
    lines = [f"Ablation ({r['task']}; same steps for every arm: "
             + "; ".join(f"{k}: {v}" for k, v in r.get("budget", {}).items()
                         if k in ran) + "):",
             "",
             "| dataset (split) | arm | accuracy, mean ± sd | per seed | gain over scratch, "
             "per seed | training time, all seeds |",
             "|---|---|---|---|---|---|"]
    runs = r.get("runs", [])
    for row in r["rows"]:
        sd = row.get("accuracy_std")
        mine = sorted((x for x in runs if x["dataset"] == row["dataset"]
                       and x["arm"] == row["arm"]), key=lambda x: x["seed"])
        gains = row.get("gain_over_scratch")
        lines.append("| " + " | ".join([
            f"{row['dataset']} ({fmt_split(mine[0]['split'] if mine else '')})", row["arm"],
            _pct(row["accuracy"]) + (f" ± {100 * sd:.2f}" if sd is not None else ""),
            " / ".join(f"{_pct(x['accuracy'])} ({_seed(x)})" for x in mine),
            "—" if not gains else " / ".join(f"{100 * g:+.2f}" for g in gains),
            fmt_time(row["training_seconds"]),
        ]) + " |")
    return "\n".join(lines)


def machine_name(m):
    """A results file's `machine` in a few words: the CPU and whether it has
    AVX-512 BF16 and AMX (two AMD EPYCs can differ in those)."""
    if not m:
        return "unrecorded"
    flags = [f for f, k in (("AVX-512 BF16", "avx512_bf16"), ("AMX", "amx_bf16")) if m.get(k)]
    return m.get("cpu", "?") + (f" ({', '.join(flags)})" if flags else "")


def factor_table(r):
    """One factor off at a time (`bench/reproduce/ablation_awd.py`): a row per
    configuration, against the `full` row."""
    machines = {row["row"]: machine_name(row.get("machine") or r.get("machine"))
                for row in r.get("runs", [])}
    mixed = len(set(machines.values())) > 1
    lines = [f"Ablation ({r['task']}; `{r['preset']}`; {r.get('budget', '')}"
             + ("; not every row has run" if r.get("partial") else "")
             + ("; rows ran on different machines ("
                + ", ".join(f"{k}: {v}" for k, v in machines.items())
                + "), so the budget bought them different numbers of steps" if mixed else "")
             + "):",
             "",
             "| row | settings | val perplexity | minus `full` | epochs begun "
             "| val perplexity per epoch (Keras) | training time |",
             "|---|---|---|---|---|---|---|"]
    for row in r.get("runs", []):
        cmd = row.get("command") or []
        settings = [f"{a} {b}" for a, b in zip(cmd, cmd[1:]) if a in ("--set", "--recipe")]
        diff = row.get("minus_full")
        lines.append("| " + " | ".join([
            row["row"], ", ".join(f"`{x}`" for x in settings) or "the preset",
            fmt_value("perplexity", row["perplexity"]),
            "—" if row["row"] == "full" or diff is None else f"{diff:+.1f}",
            str(row.get("epochs", "—")),
            " / ".join(f"{h['val_perplexity']:.1f}" for h in row.get("history", [])
                       if "val_perplexity" in h) or "—",
            fmt_time(row.get("training_seconds")),
        ]) + " |")
    return "\n".join(lines)


def ablation_table(results):
    out = []
    for r in results:
        if ablation_kind(r) == "pretraining":
            out.append(pretraining_table(r))
    for r in results:
        if ablation_kind(r) == "factor":
            out.append(factor_table(r))
    for r in results:
        if ablation_kind(r) == "connections":
            lines = [f"Ablation ({r['task']}; {r.get('budget', '')}; "
                     f"seeds {', '.join(str(s) for s in r.get('seeds') or (r.get('validation_carve') or {}).get('seeds', []))}):",
                     "",
                     "| connection | val accuracy, mean ± sd | per seed | minus `none`, per seed "
                     "| val loss | train loss (epoch mean) | training time, all seeds | params |",
                     "|---|---|---|---|---|---|---|---|"]
            runs = r.get("runs", [])
            for row in r["rows"]:
                sd = row.get("accuracy_std")
                mine = [x for x in runs if x["connection"] == row["connection"]]
                diffs = row.get("accuracy_minus_none", [])
                lines.append("| " + " | ".join([
                    row["connection"],
                    _pct(row["accuracy"]) + (f" ± {100 * sd:.2f}" if sd is not None else ""),
                    " / ".join(_pct(x["accuracy"]) for x in mine),
                    "—" if row["connection"] == "none" else
                    " / ".join(f"{100 * d:+.2f}" for d in diffs),
                    f"{row['loss']:.4f}", f"{row['train_loss']:.4f}",
                    fmt_time(row["training_seconds"]), fmt_params(row["params"]),
                ]) + " |")
            out.append("\n".join(lines))
            break
    return "\n\n".join(out)


def generated(results):
    """What goes between the markers: the table, then the ablation table."""
    ab = ablation_table(results)
    return table(results) + ("\n\n" + ab if ab else "")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default=os.path.join(HERE, "results"))
    p.add_argument("--ablation", action="store_true", help="also print the ablation rows")
    p.add_argument("--update", metavar="FILE",
                   help="replace the text between <!-- reproduction-table:begin --> and "
                        "<!-- reproduction-table:end --> in FILE (e.g. docs/reproduction.md)")
    a = p.parse_args()
    results = load(a.results)
    if a.update:
        update(a.update, generated(results))
    print(generated(results) if a.ablation else table(results))


BEGIN, END = "<!-- reproduction-table:begin -->", "<!-- reproduction-table:end -->"


def update(path, text):
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} markers")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    from training.atomic import atomic_write_text

    atomic_write_text(path, head + BEGIN + "\n" + text + "\n" + END + tail)


if __name__ == "__main__":
    main()
