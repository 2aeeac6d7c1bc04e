"""Callbacks that steer training: NaN stop, time budget, learning rates.

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


def positive_seconds(seconds, what):
    """`seconds` as a finite float > 0, or a `ValueError` naming `what`."""
    value = as_float(seconds)
    if value is None or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{what} must be a number of seconds > 0. "
                         f"Received: seconds={value!r}")
    return value


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
        self.seconds = positive_seconds(seconds, "The time budget")
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


_clock = time.monotonic  # TimedOneCycle's clock (tests replace it)

# A one-cycle rate starts at `learning_rate / ONE_CYCLE_DIV` and ends at
# `learning_rate * ONE_CYCLE_FLOOR` (training.trainer.learning_rate).
ONE_CYCLE_DIV, ONE_CYCLE_FLOOR = 25.0, 0.04


def one_cycle_rate(progress, learning_rate, warmup_fraction):
    """The one-cycle rate at `progress` (0 to 1) of its schedule.

    A linear warm-up over `warmup_fraction` from `learning_rate / 25` to
    `learning_rate`, then a cosine decay to `learning_rate * 0.04`: the
    curve of Keras' `CosineDecay` with warm-up that a step-counted one-cycle
    schedule uses, as a function of the fraction of the schedule done.
    Past the end it stays at the floor.
    """
    lr = float(learning_rate)
    p = min(max(float(progress), 0.0), 1.0)
    warm = float(warmup_fraction)
    if p < warm:
        start = lr / ONE_CYCLE_DIV
        return start + (lr - start) * p / warm
    done = (p - warm) / (1.0 - warm)
    cosine = 0.5 * (1.0 + math.cos(math.pi * done))
    return lr * ((1.0 - ONE_CYCLE_FLOOR) * cosine + ONE_CYCLE_FLOOR)


class TimedOneCycle(keras.callbacks.Callback):
    """A one-cycle learning rate over minutes of training, not steps.

    Before each batch it sets the optimizer's rate to `one_cycle_rate` of
    the fraction of `seconds` trained so far, so the whole cycle fits a
    time budget on a machine of any speed (`--recipe schedule_minutes=M`
    with `lr_schedule=one_cycle`, usually with `--time-budget M`). At each
    epoch's end it logs `schedule_seconds`, the training seconds so far;
    a resumed run continues from the last value in its history
    (`start_seconds`). It assigns `optimizer.learning_rate` as Keras'
    `LearningRateScheduler` does, so it runs on every backend; the optimizer
    must be built with a float rate.

    Args:
        seconds: the schedule's length, in seconds of training.
        learning_rate: the peak rate.
        warmup_fraction: the share of `seconds` spent warming up.
        start_seconds: seconds already trained (a resumed run).
    """

    def __init__(self, seconds, learning_rate, warmup_fraction,
                 start_seconds=0.0):
        super().__init__()
        self.seconds = positive_seconds(seconds, "The schedule's length")
        self.learning_rate = float(learning_rate)
        self.warmup_fraction = float(warmup_fraction)
        self.start_seconds = float(start_seconds or 0.0)
        self._start = None

    def elapsed(self):
        """Training seconds so far, those of earlier runs included."""
        if self._start is None:
            return self.start_seconds
        return self.start_seconds + _clock() - self._start

    def on_train_begin(self, logs=None):
        self._start = _clock()

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = one_cycle_rate(
            self.elapsed() / self.seconds, self.learning_rate,
            self.warmup_fraction)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["schedule_seconds"] = round(self.elapsed(), 1)


def lr_decay_schedule(learning_rate, lr_decay, lr_decay_after):
    """`epoch -> lr`: `learning_rate * lr_decay ** max(epoch + 1 - after, 0)`.

    With `lr_decay_after=4` epochs 0-3 run at `learning_rate` and epoch 4 at
    `learning_rate * lr_decay` (Zaremba et al. 2014's schedule).
    """

    def schedule(epoch, lr=None):
        return float(learning_rate * lr_decay ** max(epoch + 1 - lr_decay_after, 0))

    return schedule
