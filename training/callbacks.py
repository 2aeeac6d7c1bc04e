"""Callbacks that steer training: NaN stop, time budget, learning-rate decay.

They run on every Keras backend. The callbacks that write RUN_DIR during
`fit` are in `training.checkpoints`; the gradient statistics in
`training.optimizer`.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np


class TrainingDiverged(RuntimeError):
    """Raised when the training loss becomes NaN or infinite.

    Attributes:
        epoch: 0-based epoch in which it happened.
        batch: 0-based batch within that epoch.
        loss: the loss value seen.
    """

    def __init__(self, epoch, batch, loss):
        self.epoch, self.batch, self.loss = epoch, batch, loss
        super().__init__(
            f"training diverged: loss is {loss} at epoch {epoch} batch {batch}; "
            "stopped. Checkpoints of the last finished epoch were kept "
            "(lower the learning rate or enable gradient clipping)."
        )


def as_float(value):
    """A log value as a Python float, or `None` if it is not a number."""
    try:
        return float(np.asarray(value))
    except (TypeError, ValueError):
        return None


def float_logs(logs):
    """The numeric entries of Keras logs, as Python floats."""
    out = {}
    for k, v in (logs or {}).items():
        f = as_float(v)
        if f is not None:
            out[k] = f
    return out


def check_finite(epoch, logs, keys=("loss", "val_loss")):
    """Raises `TrainingDiverged` if one of `keys` in `logs` is NaN/inf."""
    for key in keys:
        value = as_float((logs or {}).get(key))
        if value is not None and not math.isfinite(value):
            raise TrainingDiverged(epoch, "end" if key == "loss" else
                                   "end (validation)", value)


class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """`TerminateOnNaN` that raises `TrainingDiverged` at once.

    Raising (rather than `stop_training`) skips the epoch-end callbacks, so
    NaN weights are never written over `last.keras`, `model.keras` or the
    resume backup.
    """

    def __init__(self):
        super().__init__(raise_error=True)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = as_float((logs or {}).get("loss"))
        if loss is not None and not math.isfinite(loss):
            self.model.stop_training = True
            raise TrainingDiverged(self.epoch, batch, loss)

    def on_epoch_end(self, epoch, logs=None):
        # Runs first at epoch end: a non-finite validation loss (weights
        # blown up without a NaN training loss) also stops before any save.
        check_finite(epoch, logs)


class TimeBudget(keras.callbacks.Callback):
    """Stops training once a wall-clock budget is spent.

    Checked after every batch: the batch that crosses the budget is the last
    one. Keras then ends that epoch as usual (validation, history,
    checkpoints and the resume backup all run for the partial epoch), so
    nothing trained is lost. `zoo train --time-budget` and the quickstart
    use it.

    Args:
        seconds: the budget, counted from the start of `fit`.

    Attributes:
        stopped_at: `None`, or `{"epoch", "batch", "elapsed_seconds"}` of the
            batch after which training stopped.
    """

    def __init__(self, seconds):
        super().__init__()
        seconds = as_float(seconds)
        if seconds is None or not seconds > 0 or not math.isfinite(seconds):
            raise ValueError("The time budget must be a number of seconds "
                             f"> 0. Received: seconds={seconds!r}")
        self.seconds = seconds
        self.stopped_at = None
        self._start = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()
        self.stopped_at = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        elapsed = time.monotonic() - self._start
        if elapsed >= self.seconds and self.stopped_at is None:
            self.stopped_at = {"epoch": self._epoch, "batch": batch,
                               "elapsed_seconds": round(elapsed, 1)}
            self.model.stop_training = True


def lr_decay_schedule(learning_rate, lr_decay, lr_decay_after):
    """`epoch -> lr`: `learning_rate * lr_decay ** max(epoch + 1 - after, 0)`.

    With `lr_decay_after=4` epochs 0-3 run at `learning_rate` and epoch 4 at
    `learning_rate * lr_decay` (Zaremba et al. 2014's schedule).
    """

    def schedule(epoch, lr=None):
        return float(learning_rate * lr_decay ** max(epoch + 1 - lr_decay_after, 0))

    return schedule
