"""RUN_DIR: the directory `zoo train` writes and evaluate/export/tune read.

Layout (see DESIGN.md):

```
config.json      preset, family, model config, training config, data source
                 + fingerprint + validation carve, class_names / level, seed,
                 versions, command line
model.keras      best checkpoint by the validation metric
last.keras       end of the last finished epoch
backup/          resume state (keras.callbacks.BackupAndRestore)
vocab.txt        language models: one token per line, line i = id i
history.csv      one row per epoch (grad_norm and clipped_fraction included)
metrics.json     final validation (and test) metrics
curves.png       learning curves
tensorboard/     event files
```

Every file is written atomically: to a temporary file in the same directory,
then moved into place with `os.replace`, so a reader (or a run killed
half-way) never sees a partial file.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os

from training.atomic import (  # noqa: F401  (re-exported)
    atomic_save_model,
    atomic_savefig,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)

CONFIG = "config.json"
BEST = "model.keras"
LAST = "last.keras"
BACKUP = "backup"
VOCAB = "vocab.txt"
HISTORY = "history.csv"
METRICS = "metrics.json"
CURVES = "curves.png"
TENSORBOARD = "tensorboard"



class RunDirError(ValueError):
    """A RUN_DIR is missing, incomplete or in use; the message says which."""



# ------------------------------------------------------------------ history


def write_history(path, rows) -> None:
    """Writes `history.csv` atomically: one row per epoch, `epoch` first.

    Columns are the union of the rows' keys (`epoch`, then sorted), like
    `keras.callbacks.CSVLogger`; missing values are empty.
    """
    keys = sorted({k for r in rows for k in r} - {"epoch"})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["epoch"] + keys)
    for r in rows:
        writer.writerow([r.get("epoch", "")] + [_cell(r.get(k)) for k in keys])
    atomic_write_text(path, buf.getvalue())


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return v


def read_history(path) -> list[dict]:
    """Reads `history.csv` into a list of dicts (numbers as float, epoch int).

    Returns `[]` if the file does not exist.
    """
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = []
        for raw in csv.DictReader(f):
            row = {}
            for k, v in raw.items():
                if v is None or v == "":
                    continue
                try:
                    row[k] = int(v) if k == "epoch" else float(v)
                except ValueError:
                    row[k] = v
            rows.append(row)
    return rows


# ------------------------------------------------------------------ loading


@dataclasses.dataclass
class Run:
    """What `load_run` returns.

    Attributes:
        run_dir: the directory.
        config: the parsed `config.json`.
        model: the best model (`model.keras`), or `None` if not loaded.
        last: the `last.keras` model, or `None` (not requested / absent).
        vocab: a `training.data.Vocabulary` for language models, else `None`.
        history: rows of `history.csv` (list of dicts).
        metrics: parsed `metrics.json`, or `None` if absent.
    """

    run_dir: str
    config: dict
    model: object = None
    last: object = None
    vocab: object = None
    history: list = dataclasses.field(default_factory=list)
    metrics: dict | None = None

    @property
    def family(self) -> str:
        return self.config["family"]

    @property
    def class_names(self):
        return self.config.get("class_names")

    @property
    def level(self):
        return self.config.get("level")


def path(run_dir, name) -> str:
    return os.path.join(os.fspath(run_dir), name)


def read_config(run_dir) -> dict:
    """Reads `RUN_DIR/config.json`, with a clear error if it is missing."""
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise RunDirError(f"{run_dir}: run directory does not exist")
    p = path(run_dir, CONFIG)
    if not os.path.exists(p):
        raise RunDirError(
            f"{run_dir}: not a run directory (no {CONFIG}); pass the --out "
            "folder of a `zoo train` run"
        )
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def load_run(run_dir, *, load_model: bool = True, load_last: bool = False,
             compile: bool = False) -> Run:
    """Loads a run directory written by `training.train`.

    Args:
        run_dir: the RUN_DIR.
        load_model: load the best model `model.keras`. Defaults to `True`.
        load_last: also load `last.keras`. Defaults to `False`.
        compile: passed to `keras.saving.load_model`. Defaults to `False`
            (checkpoints are saved uncompiled).

    Returns:
        A `Run` with `config`, `model`, `last`, `vocab` (language models),
        `history` and `metrics`.

    Raises:
        RunDirError: the directory, `config.json`, a requested checkpoint or
            (for language models) `vocab.txt` is missing; the message names
            the file.

    Example:

    ```python
    run = load_run("runs/ptb")
    logits = run.model(ids)  # stateless copy; any batch size
    run.vocab.decode(ids[0])
    ```
    """
    run_dir = os.fspath(run_dir)
    config = read_config(run_dir)
    run = Run(run_dir=run_dir, config=config)
    wanted = []
    if load_model:
        wanted.append((BEST, "model"))
    if load_last:
        wanted.append((LAST, "last"))
    for name, attr in wanted:
        p = path(run_dir, name)
        if not os.path.exists(p):
            raise RunDirError(
                f"{p}: missing; the run has not finished an epoch yet "
                "(resume it with `zoo train ... --resume`)"
            )
    if config.get("family") == "language_model":
        from training.data import Vocabulary

        p = path(run_dir, VOCAB)
        if not os.path.exists(p):
            raise RunDirError(f"{p}: missing (language-model runs save their vocabulary)")
        run.vocab = Vocabulary.load(p)
    if wanted:
        import keras

        import zoo  # noqa: F401  (registers the zoo's classes)

        for name, attr in wanted:
            setattr(run, attr, keras.saving.load_model(path(run_dir, name),
                                                       compile=compile))
    run.history = read_history(path(run_dir, HISTORY))
    mp = path(run_dir, METRICS)
    if os.path.exists(mp):
        with open(mp, encoding="utf-8") as f:
            run.metrics = json.load(f)
    return run
