"""Keras pieces `training.train` uses: a gradient-tracking wrapper model and
callbacks for checkpoints, history, curves, resume, NaN and LM state.

Callbacks are ordered by `training.train` so that, at the end of an epoch,
history and checkpoints are written *before* the resume backup: a run killed
between the two re-runs that epoch on `--resume` and overwrites its row,
so `history.csv` never has gaps or duplicates.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from training import run_dir as rd


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


# ----------------------------------------------------------- wrapper model


class GradientTrackingTrainer(keras.Model):
    """Wraps a zoo model for `fit` and logs gradient norms before clipping.

    The zoo model itself is never compiled, so the `.keras` checkpoints saved
    from it hold no optimizer and load with only `import zoo`. Its
    `train_step` is Keras' own, plus two metrics computed from the gradients
    the optimizer receives (before the optimizer clips them, with any
    loss-scale factor undone):

    - `grad_norm`: mean global L2 norm of the gradients over the epoch;
    - `clipped_fraction`: share of steps whose gradients were clipped: the
      global norm exceeded `global_clipnorm`, or with per-variable `clipnorm`
      some variable's gradient norm exceeded it. `0.0` without clipping.

    Under a multi-replica strategy the norms are those of each replica's
    gradients (which is what Keras clips), averaged over replicas.

    Args:
        zoo_model: the model to train (`trainer.zoo_model`).
        clipnorm: per-variable clipping threshold of the optimizer, or `None`.
        global_clipnorm: global clipping threshold, or `None`.
    """

    def __init__(self, zoo_model, clipnorm=None, global_clipnorm=None, **kwargs):
        kwargs.setdefault("name", "trainer")
        super().__init__(**kwargs)
        self.zoo_model = zoo_model
        self.clipnorm = clipnorm or None
        self.global_clipnorm = global_clipnorm or None
        self.grad_norm_tracker = keras.metrics.Mean(name="grad_norm")
        self.clipped_tracker = keras.metrics.Mean(name="clipped_fraction")
        self.built = True

    def call(self, inputs, training=False):
        return self.zoo_model(inputs, training=training)

    def _track_gradients(self, grads):
        scale = tf.cast(self.optimizer.scale_loss(tf.constant(1.0)), tf.float32)
        squares = []
        for g in grads:
            if g is None:
                continue
            if isinstance(g, tf.IndexedSlices):
                g = tf.convert_to_tensor(g)
            g = tf.cast(g, tf.float32) / scale
            squares.append(tf.reduce_sum(tf.square(g)))
        if not squares:
            return
        squares = tf.stack(squares)
        global_norm = tf.sqrt(tf.reduce_sum(squares))
        if self.global_clipnorm:
            clipped = global_norm > self.global_clipnorm
        elif self.clipnorm:
            clipped = tf.reduce_any(tf.sqrt(squares) > self.clipnorm)
        else:
            clipped = tf.constant(False)
        # The updates must depend on the data: otherwise the metric's count
        # update (a constant) still runs in the step that finds the iterator
        # exhausted, as independent ops run although get_next failed.
        with tf.control_dependencies([global_norm]):
            self.grad_norm_tracker.update_state(global_norm)
            self.clipped_tracker.update_state(tf.cast(clipped, tf.float32))

    def train_step(self, data):
        # Keras 3's TensorFlow train_step, plus `_track_gradients`.
        from keras.src import tree
        from keras.src.losses import loss as loss_module

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                training=True,
            )
            self._loss_tracker.update_state(
                loss_module.unscale_loss_for_distribution(loss),
                sample_weight=tf.shape(
                    next(i for i in tree.flatten(x) if i is not None))[0],
            )
            loss = self.optimizer.scale_loss(loss)
        weights = self.trainable_weights
        grads = tape.gradient(loss, weights)
        self._track_gradients(grads)
        self.optimizer.apply_gradients(zip(grads, weights))
        return self._rank1_logs(
            self.compute_metrics(x, y, y_pred, sample_weight=sample_weight))

    def test_step(self, data):
        logs = super().test_step(data)
        return self._rank1_logs({k: v for k, v in logs.items()
                                 if k not in ("grad_norm", "clipped_fraction")})

    # -- Keras 3.15 under MultiWorkerMirroredStrategy (tensorflow#72388) ----
    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Builds from this worker's first replica's batch.

        Keras all-reduces the first batch across workers only to learn its
        shapes, which fails for the classifiers' string inputs.
        """
        if self._distribute_strategy is None:
            return
        if iterator is not None and data_batch is None:
            from keras.src import tree

            for _, _, it in iterator:
                batch = next(it)
                data_batch = tree.map_structure(
                    lambda v: self.distribute_strategy
                    .experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues) else v,
                    batch)
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def _rank1_logs(self, logs):
        """Multi-worker Keras reduces logs along axis 0: give them shape [1]."""
        extended = getattr(self.distribute_strategy, "extended", None)
        if not getattr(extended, "_in_multi_worker_mode", lambda: False)():
            return logs
        return {k: tf.reshape(v, [1]) for k, v in logs.items()}


def recurrent_state_variables(model):
    """The state variables of a stateful zoo model's recurrent layers."""
    stack = model.get_layer("recurrent_stack")
    out = []
    for rnn in stack.recurrent_layers:
        subs = ([rnn.forward_layer, rnn.backward_layer]
                if isinstance(rnn, keras.layers.Bidirectional) else [rnn])
        for layer in subs:
            out.extend(layer.states or [])
    return out


# ------------------------------------------------------------ LM callbacks


class ResetStates(keras.callbacks.Callback):
    """Zeros a stateful model's carried state at each epoch start and before
    each evaluation (state carries across windows within an epoch)."""

    def __init__(self, zoo_model):
        super().__init__()
        self.zoo_model = zoo_model

    def on_epoch_begin(self, epoch, logs=None):
        self.zoo_model.reset_states()

    def on_test_begin(self, logs=None):
        self.zoo_model.reset_states()


class LanguageModelValidation(keras.callbacks.Callback):
    """Evaluates a stateful LM over the whole validation stream each epoch.

    Adds `val_loss` (mean cross-entropy per token, weighted by tokens) and
    `val_perplexity` (word level) or `val_bits_per_character` (char level)
    to the epoch logs, and the training counterparts `perplexity` /
    `bits_per_character` from the epoch's mean training loss. State is
    reset before the pass; the next epoch resets it again.

    Args:
        zoo_model: the stateful training model (batch size `batch_size`).
        ids: validation token-id stream.
        batch_size: rows (the model's fixed batch size).
        bptt: window length.
        level: `"word"` or `"char"`.
        max_steps: cap on windows (smoke runs). Defaults to `None`.
    """

    def __init__(self, zoo_model, ids, *, batch_size, bptt, level, max_steps=None):
        super().__init__()
        self.zoo_model = zoo_model
        self.ids, self.batch_size, self.bptt = ids, batch_size, bptt
        self.level, self.max_steps = level, max_steps

    def on_epoch_end(self, epoch, logs=None):
        from training.evaluate import language_model_metrics, lm_loss

        logs = logs if logs is not None else {}
        if "loss" in logs:
            logs.update(language_model_metrics(float(logs["loss"]), self.level))
        if self.ids is None:
            return
        total, n = lm_loss(self.zoo_model, self.ids, batch_size=self.batch_size,
                           bptt=self.bptt, max_steps=self.max_steps)
        loss = total / max(n, 1)
        logs["val_loss"] = loss
        check_finite(epoch, logs)
        logs.update({"val_" + k: v
                     for k, v in language_model_metrics(loss, self.level).items()})


def lr_decay_schedule(learning_rate, lr_decay, lr_decay_after):
    """`epoch -> lr`: `learning_rate * lr_decay ** max(epoch + 1 - after, 0)`.

    With `lr_decay_after=4` epochs 0-3 run at `learning_rate` and epoch 4 at
    `learning_rate * lr_decay` (Zaremba et al. 2014's schedule).
    """

    def schedule(epoch, lr=None):
        return float(learning_rate * lr_decay ** max(epoch + 1 - lr_decay_after, 0))

    return schedule


class TimeBudget(keras.callbacks.Callback):
    """Stops training once a wall-clock budget is spent.

    Checked after every batch: the batch that crosses the budget is the last
    one. Keras then ends that epoch as usual (validation, history,
    checkpoints and the resume backup all run for the partial epoch), so
    nothing trained is lost.

    Args:
        seconds: the budget, counted from the start of `fit`.

    Attributes:
        stopped_at: `None`, or `{"epoch", "batch", "elapsed_seconds"}` of the
            batch after which training stopped.
    """

    def __init__(self, seconds):
        super().__init__()
        seconds = float(seconds)
        if not seconds > 0:
            raise ValueError(f"time budget must be > 0 seconds, received {seconds}")
        self.seconds = seconds
        self.stopped_at = None
        self._start = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        import time

        self._start = time.monotonic()
        self.stopped_at = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        import time

        elapsed = time.monotonic() - self._start
        if elapsed >= self.seconds and self.stopped_at is None:
            self.stopped_at = {"epoch": self._epoch, "batch": batch,
                               "elapsed_seconds": round(elapsed, 1)}
            self.model.stop_training = True


# ----------------------------------------------------------- NaN handling


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
        loss = (logs or {}).get("loss")
        if loss is not None:
            loss = float(np.asarray(loss))
            if not math.isfinite(loss):
                self.model.stop_training = True
                raise TrainingDiverged(self.epoch, batch, loss)

    def on_epoch_end(self, epoch, logs=None):
        # Runs first at epoch end: a non-finite validation loss (weights
        # blown up without a NaN training loss) also stops before any save.
        check_finite(epoch, logs)


def check_finite(epoch, logs, keys=("loss", "val_loss")):
    """Raises `TrainingDiverged` if one of `keys` in `logs` is NaN/inf."""
    for key in keys:
        value = (logs or {}).get(key)
        if value is not None and not math.isfinite(float(np.asarray(value))):
            raise TrainingDiverged(epoch, "end" if key == "loss" else
                                   "end (validation)", float(np.asarray(value)))


# ------------------------------------------------------- RUN_DIR writers


def _floatify(logs):
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[k] = float(np.asarray(v))
        except (TypeError, ValueError):
            continue
    return out


class RunHistory(keras.callbacks.Callback):
    """`CSVLogger` semantics, written atomically, safe to resume.

    Keeps the rows in memory and rewrites `history.csv` atomically at each
    epoch end. On (re)start it reads the existing file and drops rows whose
    epoch is >= the epoch training starts at, so a resumed run continues the
    history without gaps or duplicates.

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
        row = {"epoch": epoch, **_floatify(logs)}
        if self.model is not None and getattr(self.model, "optimizer", None) is not None \
                and "learning_rate" not in row:
            try:
                row["learning_rate"] = float(np.asarray(
                    self.model.optimizer.learning_rate))
            except (TypeError, ValueError):
                pass
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
        monitor: metric name in the epoch logs, e.g. `"val_accuracy"`.
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
            if row.get("epoch", 0) < self.initial_epoch and self._better(row.get(self.monitor)):
                self.best, self.best_epoch = row[self.monitor], row["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        logs = _floatify(logs)
        if not math.isfinite(logs.get("loss", 0.0)):
            return
        model = self.export_fn()
        rd.atomic_save_model(model, rd.path(self.run_dir, rd.LAST))
        value = logs.get(self.monitor) if self.monitor else None
        if value is None:  # no validation: the last epoch is the best
            value = -epoch if self.mode == "min" else epoch
        if self._better(value) or not os.path.exists(rd.path(self.run_dir, rd.BEST)):
            self.best, self.best_epoch = value, epoch
            rd.atomic_save_model(model, rd.path(self.run_dir, rd.BEST))


class LearningCurves(keras.callbacks.Callback):
    """Draws `curves.png` from the history rows at each epoch end.

    One panel per quantity (loss, the task metric, grad_norm,
    clipped_fraction), training and validation together. Uses matplotlib's
    Agg backend; written atomically.
    """

    def __init__(self, path, history_rows, title=""):
        super().__init__()
        self.path, self.history_rows, self.title = path, history_rows, title

    def on_epoch_end(self, epoch, logs=None):
        plot_curves(self.history_rows(), self.path, title=self.title)


def plot_curves(rows, path, title=""):
    """Writes learning curves of `rows` (history dicts) to `path`."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    if not rows:
        return
    names = []
    for key in ("loss", "accuracy", "perplexity", "bits_per_character",
                "grad_norm", "clipped_fraction", "learning_rate"):
        if any(key in r or "val_" + key in r for r in rows):
            names.append(key)
    fig = Figure(figsize=(4 * len(names), 3.2))
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, key in zip(axes, names):
        for prefix, style in (("", "o-"), ("val_", "s--")):
            pts = [(r["epoch"], r[prefix + key]) for r in rows
                   if isinstance(r.get(prefix + key), float)]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, style, label=(prefix or "train_").rstrip("_"))
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    rd.atomic_savefig(fig, path, dpi=80)


class RunBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` with atomic saves and a separate restore folder.

    Weights and the epoch counter are written to temporary files and renamed
    into place (weights first), so a kill during a save leaves the previous
    backup usable. `restore_dir` lets multi-worker non-chief tasks restore
    from the chief's backup while writing their own to a temporary folder.

    Args:
        backup_dir: where to save.
        restore_dir: where to restore from. Defaults to `backup_dir`.
    """

    def __init__(self, backup_dir, restore_dir=None):
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=False)
        self.restore_dir = restore_dir or backup_dir

    def on_train_begin(self, logs=None):
        weights = os.path.join(self.restore_dir, "latest.weights.h5")
        meta = os.path.join(self.restore_dir, "training_metadata.json")
        if os.path.exists(weights):
            optimizer = self.model.optimizer
            if optimizer is not None and not optimizer.built:
                optimizer.build(self.model.trainable_variables)
            self.model.load_weights(weights)
        if os.path.exists(meta):
            with open(meta, encoding="utf-8") as f:
                self.model._initial_epoch = int(json.load(f)["epoch"])

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        weights = os.path.join(self.backup_dir, "latest.weights.h5")
        tmp = os.path.join(self.backup_dir, ".latest.tmp.weights.h5")
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, weights)
        rd.atomic_write_json(
            os.path.join(self.backup_dir, "training_metadata.json"),
            {"epoch": self._current_epoch, "batch": self._last_batch_seen},
        )


def backup_epoch(backup_dir):
    """The epoch a resume would start at (0 if there is no backup)."""
    meta = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(meta):
        return 0
    with open(meta, encoding="utf-8") as f:
        return int(json.load(f)["epoch"])


def worker_temp_dir(task_id):
    """A temporary folder for a non-chief multi-worker task's files."""
    return tempfile.mkdtemp(prefix=f"zoo_worker{task_id}_")


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)
