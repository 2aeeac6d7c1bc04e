"""The results of a `zoo tune` search: ranked trials, the table, the files."""

from __future__ import annotations

import csv
import io
import json
import math
import os

from training import plots
from training.atomic import atomic_write_json, atomic_write_text

CONFIG_FILE = "tune_config.json"
TRIALS_CSV = "trials.csv"
TRIALS_JSON = "trials.json"
TRIALS_PNG = "trials.png"
TIME_METRIC = "trial_seconds"


def status_counts(trials):
    """`"3 completed, 1 failed"`: trials counted by status."""
    counts = {}
    for trial in trials:
        s = str(trial.status)
        counts[s] = counts.get(s, 0) + 1
    return ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "none"


def trial_rows(oracle):
    """The trials of an oracle as ranked rows (see `TuneResult.trials`)."""
    direction = oracle.objective.direction
    name = oracle.objective.name
    rows = []
    for trial in oracle.trials.values():
        score = trial.score if str(trial.status) == "COMPLETED" else None
        if score is not None and not math.isfinite(score):
            score = None
        seconds = None
        if trial.metrics.exists(TIME_METRIC):
            seconds = trial.metrics.get_last_value(TIME_METRIC)
        error = None
        if trial.message:
            lines = [ln for ln in str(trial.message).strip().splitlines() if ln.strip()]
            error = lines[-1] if lines else str(trial.message)
        values = {k: v for k, v in trial.hyperparameters.values.items()}
        rows.append({
            "trial_id": trial.trial_id, "status": str(trial.status),
            "objective": score, "objective_name": name,
            "seconds": None if seconds is None else round(float(seconds), 3),
            "best_step": trial.best_step, "hyperparameters": values,
            "error": error, "message": trial.message,
        })
    sign = -1 if direction == "max" else 1
    rows.sort(key=lambda r: (r["objective"] is None,
                             sign * (r["objective"] or 0.0), r["trial_id"]))
    for i, r in enumerate(rows, 1):
        r["rank"] = i if r["objective"] is not None else None
    return [{"rank": r.pop("rank"), **r} for r in rows]


def format_table(rows, max_rows=None) -> str:
    """A plain-text ranked table of trials."""
    if not rows:
        return "(no trials)"
    keys = []
    for r in rows:
        for k in r["hyperparameters"]:
            if k not in keys and not k.startswith("tuner/"):
                keys.append(k)
    name = rows[0]["objective_name"]
    header = ["rank", "trial", "status", name, "seconds"] + keys
    lines = []
    for r in rows[:max_rows]:
        hp = r["hyperparameters"]
        cells = [r["rank"] or "-", r["trial_id"], r["status"],
                 _fmt(r["objective"]), _fmt(r["seconds"])]
        cells += [_fmt(hp.get(k, "")) for k in keys]
        lines.append([str(c) for c in cells])
    widths = [max(len(str(h)), *(len(ln[i]) for ln in lines))
              for i, h in enumerate(header)]
    out = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths))]
    out += ["  ".join(c.ljust(w) for c, w in zip(ln, widths)) for ln in lines]
    for r in rows[:max_rows]:
        if r["error"]:
            out.append(f"trial {r['trial_id']} failed: {r['error']}")
    return "\n".join(out)


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_results(directory, rows, config):
    """Writes trials.csv, trials.json and trials.png atomically."""
    files = {k: os.path.join(directory, n) for k, n in
             (("csv", TRIALS_CSV), ("json", TRIALS_JSON), ("png", TRIALS_PNG))}
    keys = []
    for r in rows:
        for k in r["hyperparameters"]:
            if k not in keys:
                keys.append(k)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["rank", "trial_id", "status", rows[0]["objective_name"]
                if rows else "objective", "seconds"] + keys + ["error"])
    for r in rows:
        w.writerow([r["rank"] if r["rank"] is not None else "", r["trial_id"],
                    r["status"], "" if r["objective"] is None else r["objective"],
                    "" if r["seconds"] is None else r["seconds"]]
                   + [r["hyperparameters"].get(k, "") for k in keys]
                   + [r["error"] or ""])
    atomic_write_text(files["csv"], buf.getvalue())
    atomic_write_json(files["json"], {
        "preset": config["preset"], "tuner": config["tuner"],
        "objective": config["objective"], "fixed": config["fixed"],
        "searched": config["searched"], "trials": rows})
    plots.plot_trials(rows, files["png"], config)
    return files


def read_json_object(path, advice="") -> dict:
    """Reads a JSON object from `path`; a file that cannot be read, is not
    JSON or holds another type is a ValueError naming it (then `advice`)."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{path}: cannot be read as JSON ({e}){advice}") \
            from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object, got a "
                         f"{type(value).__name__}{advice}")
    return value


def load_results(directory) -> dict:
    """Reads `DIR/trials.json` (ranked trials) and `DIR/tune_config.json`."""
    directory = os.fspath(directory)
    out = {}
    for key, name in (("config", CONFIG_FILE), ("results", TRIALS_JSON)):
        p = os.path.join(directory, name)
        if not os.path.exists(p):
            raise ValueError(f"{directory}: no {name}; run `zoo tune` there first")
        out[key] = read_json_object(
            p, "; run the search again (zoo tune --overwrite) to rewrite it")
    return out
