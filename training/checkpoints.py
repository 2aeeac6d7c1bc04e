"""The callbacks that write RUN_DIR during `fit`: history, checkpoints,
learning curves and the resume backup.

They write through `training.run_dir` (which owns the layout and the file
formats) and run on every Keras backend. `training.train` orders them so
that, at the end of an epoch, history and checkpoints are written *before*
the resume backup: a run killed between the two re-runs that epoch on
`--resume` and overwrites its row, so `history.csv` never has gaps or
duplicates.
"""

from __future__ import annotations

import math
import os
import uuid

import keras

from training import plots
from training import run_dir as rd
from training.atomic import atomic_save_weights, atomic_write_json
from training.callbacks import as_float, float_logs


class RunHistory(keras.callbacks.Callback):
    """`CSVLogger` semantics, written atomically, safe to resume.

    Keeps the rows in memory and rewrites `history.csv` atomically at each
    epoch end, with the learning rate of the epoch. On (re)start it reads
    the existing file and drops rows whose epoch is >= the epoch training
    starts at, so a resumed run continues the history without gaps or
    duplicates.

    Args:
        path: the CSV file.
        initial_epoch: the epoch training (re)starts at; rows from it on are
            dropped.
    """

    def __init__(self, path, initial_epoch=0):
        super().__init__()
        self.path = path
        self.initial_epoch = initial_epoch
        self.rows = [r for r in rd.read_history(path)
                     if r.get("epoch", 0) < initial_epoch]

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, **float_logs(logs)}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and "learning_rate" not in row:
            lr = as_float(keras.ops.convert_to_numpy(optimizer.learning_rate))
            if lr is not None:
                row["learning_rate"] = lr
        self.rows = [r for r in self.rows if r.get("epoch") != epoch] + [row]
        rd.write_history(self.path, self.rows)


class RunCheckpoints(keras.callbacks.Callback):
    """Saves `last.keras` every epoch and `model.keras` when `monitor` improves.

    Both are saved atomically from `export_fn()` (the zoo model, or a
    stateless copy of a language model), never compiled. An epoch whose
    logs hold a non-finite loss is never saved. On resume the best value so
    far is read from `history_rows()`.

    Args:
        run_dir: the RUN_DIR.
        export_fn: `() -> keras.Model` to save.
        monitor: metric name in the epoch logs, e.g. `"val_accuracy"`, or
            `None` (no validation: the last epoch is the best).
        mode: `"max"` or `"min"`.
        history_rows: `() -> list[dict]`, rows of finished epochs.
        initial_epoch: the epoch training (re)starts at.
    """

    def __init__(self, run_dir, export_fn, monitor, mode, history_rows=None,
                 initial_epoch=0):
        super().__init__()
        self.initial_epoch = initial_epoch
        self.run_dir, self.export_fn = run_dir, export_fn
        self.monitor, self.mode = monitor, mode
        self.history_rows = history_rows
        self.best = None
        self.best_epoch = None

    def _better(self, value):
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def on_train_begin(self, logs=None):
        self.best = self.best_epoch = None
        if self.monitor is None:
            return
        for row in (self.history_rows() if self.history_rows else []):
            if row.get("epoch", 0) < self.initial_epoch and \
                    self._better(row.get(self.monitor)):
                self.best, self.best_epoch = row[self.monitor], row["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        logs = float_logs(logs)
        if not math.isfinite(logs.get("loss", 0.0)):
            return
        model = self.export_fn()
        rd.save_checkpoint(self.run_dir, model, "last")
        value = logs.get(self.monitor) if self.monitor else None
        if value is None:  # no validation: the last epoch is the best
            value = -epoch if self.mode == "min" else epoch
        if self._better(value) or not os.path.exists(
                rd.path(self.run_dir, rd.BEST)):
            self.best, self.best_epoch = value, epoch
            rd.save_checkpoint(self.run_dir, model, "best")


class LearningCurves(keras.callbacks.Callback):
    """Draws `curves.png` from the history rows at each epoch end
    (`training.plots.plot_curves`)."""

    def __init__(self, path, history_rows, title=""):
        super().__init__()
        self.path, self.history_rows, self.title = path, history_rows, title

    def on_epoch_end(self, epoch, logs=None):
        plots.plot_curves(self.history_rows(), self.path, title=self.title)


class RunBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` with atomic saves and a separate restore folder.

    Each backup writes its weights (and optimizer state) to a new file, then
    `training_metadata.json` naming that file and the epoch, each atomically;
    the metadata's rename commits the pair, and older weight files are
    deleted after it. A kill at any point leaves a backup whose weights and
    epoch belong together. `restore_dir` lets multi-worker non-chief tasks
    restore from the chief's backup while writing their own to a temporary
    folder.

    Args:
        backup_dir: where to save.
        restore_dir: where to restore from. Defaults to `backup_dir`.
    """

    WEIGHTS = rd.BACKUP_WEIGHTS  # the one name of backups written before
    METADATA = rd.BACKUP_METADATA

    def __init__(self, backup_dir, restore_dir=None):
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=False)
        self.restore_dir = restore_dir or backup_dir

    def on_train_begin(self, logs=None):
        weights = backup_weights(self.restore_dir)
        if weights is not None:
            optimizer = self.model.optimizer
            if optimizer is not None and not optimizer.built:
                optimizer.build(self.model.trainable_variables)
            try:
                self.model.load_weights(weights)
            except (OSError, ValueError, KeyError) as e:
                raise rd.RunDirError(
                    f"{weights}: cannot restore this backup ({type(e).__name__}"
                    f": {str(e)[:200]}). Delete {self.restore_dir} to train "
                    "the run again from its first epoch, or pass --overwrite "
                    "to start over") from e
        start = rd.backup_epoch(self.restore_dir)
        if start:
            self.model._initial_epoch = start  # as BackupAndRestore does

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch{self._current_epoch}-{uuid.uuid4().hex[:8]}.weights.h5"
        atomic_save_weights(self.model, os.path.join(self.backup_dir, name))
        atomic_write_json(
            os.path.join(self.backup_dir, self.METADATA),
            {"epoch": self._current_epoch, "batch": self._last_batch_seen,
             "weights": name},
        )
        for old in os.listdir(self.backup_dir):
            if old.endswith(".weights.h5") and old != name:
                try:
                    os.unlink(os.path.join(self.backup_dir, old))
                except OSError:
                    pass


def backup_weights(backup_dir):
    """The weights file the backup in `backup_dir` names (`None` if none);
    `run_dir.RunDirError` for a damaged backup (`run_dir.backup_state`)."""
    return rd.backup_state(backup_dir)[1]
