"""What `fit` needs for a zoo model, shared by `zoo train` and `zoo tune`.

- `Trainer`: the model `fit` runs. It wraps a zoo model so that the zoo
  model itself is never compiled: its `.keras` checkpoints hold no
  optimizer and load with only `import zoo`. It uses Keras' own
  `train_step` and `test_step` on every backend; gradient statistics come
  from the optimizer hook (`training.optimizer`).
- `compile_trainer`: the loss, metrics and optimizer of a family.
- `fit_data`: the training and validation inputs of a family.
- `family_callbacks`: the callbacks a family trains with (NaN stop,
  gradient log, learning-rate decay; a language model's state reset and
  whole-stream validation).

Language models train statefully on ordered BPTT windows (`tf.data` on
TensorFlow, a `keras.utils.PyDataset` elsewhere) and run on the
TensorFlow, JAX and PyTorch backends. Classifiers take raw strings through
`TextVectorization`, which runs on TensorFlow only.
"""

from __future__ import annotations

import keras
import numpy as np

from training import optimizer as opt_lib
from training.callbacks import (ONE_CYCLE_DIV, ONE_CYCLE_FLOOR, StopOnNaN,
                                TimedOneCycle, check_finite,
                                lr_decay_schedule, one_cycle_rate)


def require_backend_for(family):
    """Raises `ValueError` if `family` cannot train on the Keras backend."""
    backend = keras.backend.backend()
    if family == "sentiment_classifier" and backend != "tensorflow":
        raise ValueError(
            "sentiment classifiers train on the TensorFlow backend only: they "
            "take raw strings through keras.layers.TextVectorization, which "
            f"runs on TensorFlow. KERAS_BACKEND is {backend!r}; set "
            "KERAS_BACKEND=tensorflow (language models train on every "
            "backend).")


class Trainer(keras.Model):
    """The model `fit` trains: a zoo model behind a thin wrapper.

    Keras' own `train_step` runs on every backend; the optimizer made by
    `training.optimizer.make_optimizer` records the gradient statistics.
    Two fixes for Keras 3.15 under TensorFlow's `MultiWorkerMirroredStrategy`
    (tensorflow#72388) are kept: the first batch is not all-reduced across
    workers to learn its shapes (which fails for string inputs), and logs
    have shape `[1]` (multi-worker Keras reduces them along axis 0).

    With variable-length BPTT windows (`window_bptt`), each step scales the
    learning rate by the window's length over `window_bptt`, through the
    optimizer hook's `step_learning_rate_scale` (AWD-LSTM's rule).

    With `sampled_softmax=K` (word-level language models), training
    trains on a sampled softmax over `K` candidates drawn once per step
    (`training.sampled_softmax`): in training `call` returns the output
    layer's input and the candidates, and `compute_loss` scores them with
    the output layer's weights. Evaluation and prediction use the full
    softmax.

    A language model with an adaptive softmax (`adaptive_cutoffs`) trains
    on its negative log-likelihood without the full log-probabilities
    (`AdaptiveSoftmaxEmbedding.nll`): each tail cluster scores only the
    positions whose target it holds (all of them on JAX). Evaluation and
    prediction use the full log-probabilities, which are exact.

    Args:
        zoo_model: the model to train (`trainer.zoo_model`).
        window_bptt: the recipe's `bptt` when windows vary in length, else
            `None`.
        sampled_softmax: `K`, the candidates of a sampled softmax, or
            `None` (the full softmax).

    Raises:
        ValueError: `sampled_softmax` for a classifier or a character-level
            model, not below the vocabulary size, or for a model with an
            adaptive softmax (`adaptive_cutoffs`).

    Call arguments:
        inputs: what the zoo model takes.
        training: Python bool, training mode (dropout on).
    """

    def __init__(self, zoo_model, window_bptt=None, sampled_softmax=None,
                 **kwargs):
        kwargs.setdefault("name", "trainer")
        super().__init__(**kwargs)
        self.zoo_model = zoo_model
        self.window_bptt = window_bptt
        self.sampled_softmax = sampled_softmax
        # trains on the adaptive softmax's own loss (`nll`); a test sets it
        # to False to train the same model on Keras' full cross-entropy
        self._adaptive = getattr(zoo_model, "adaptive_cutoffs",
                                 None) is not None
        if sampled_softmax:
            from training.sampled_softmax import check_candidates

            check_candidates(sampled_softmax,
                             getattr(zoo_model, "level", None),
                             getattr(zoo_model, "vocabulary_size", None))
            if self._adaptive:
                raise ValueError(
                    "`sampled_softmax` and an adaptive softmax are two ways "
                    "to a cheaper softmax; train with one of them. Received: "
                    f"sampled_softmax={sampled_softmax!r}, adaptive_cutoffs="
                    f"{zoo_model.adaptive_cutoffs!r}")
        if sampled_softmax or self._adaptive:
            self.output_features = zoo_model.output_features_model()
        if sampled_softmax:
            self.candidate_seed = keras.random.SeedGenerator(
                name="candidate_seed")
        self.built = True

    def train_step(self, *args):
        # TensorFlow and PyTorch call train_step(data), JAX
        # train_step(state, data).
        if not self.window_bptt:
            return super().train_step(*args)
        from keras import ops

        inputs = args[-1][0]
        opt = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        opt.step_learning_rate_scale = ops.cast(
            ops.shape(inputs)[1], "float32") / float(self.window_bptt)
        try:
            return super().train_step(*args)
        finally:
            opt.step_learning_rate_scale = None

    def call(self, inputs, training=False):
        if training and self.sampled_softmax:
            from training.sampled_softmax import log_uniform_candidates

            return {"features": self.output_features(inputs, training=True),
                    "candidates": log_uniform_candidates(
                        self.sampled_softmax, self.zoo_model.vocabulary_size,
                        seed=self.candidate_seed)}
        if training and self._adaptive:
            return {"features": self.output_features(inputs, training=True)}
        return self.zoo_model(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        if not isinstance(y_pred, dict):
            return super().compute_loss(x, y, y_pred, sample_weight,
                                        training=training)
        from keras import ops

        if "candidates" in y_pred:
            from training.sampled_softmax import sampled_softmax_loss

            weights, bias = self.zoo_model.output_embedding()
            loss = sampled_softmax_loss(
                y_pred["features"], y, weights, bias, y_pred["candidates"],
                self.zoo_model.vocabulary_size)
        else:
            nll = self.zoo_model.get_layer("embedding").nll(
                y_pred["features"], y)
            if sample_weight is not None:
                # as Keras' losses: weights of lower rank apply to every
                # position of their row
                w = ops.cast(sample_weight, "float32")
                while len(w.shape) < len(nll.shape):
                    w = ops.expand_dims(w, -1)
                loss = ops.sum(nll * w) / ops.maximum(
                    ops.cast(ops.size(nll), "float32"), 1.0)
            else:
                loss = ops.mean(nll)
        if keras.backend.backend() == "tensorflow":
            # as Keras scales a compiled loss under tf.distribute: each
            # replica's gradients are summed
            import tensorflow as tf

            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            loss = loss / float(replicas)
        losses = [loss]
        # the model's own losses (AR/TAR), as Keras' compute_loss adds them
        losses += [ops.cast(self._aggregate_additional_loss(extra), "float32")
                   for extra in self.losses]
        return losses[0] if len(losses) == 1 else ops.sum(ops.stack(losses))

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return self._rank1_logs(
            super().compute_metrics(x, y, y_pred, sample_weight=sample_weight))

    def _multi_worker(self):
        extended = getattr(self.distribute_strategy, "extended", None)
        return bool(getattr(extended, "_in_multi_worker_mode",
                            lambda: False)())

    def _rank1_logs(self, logs):
        if keras.backend.backend() != "tensorflow" or not self._multi_worker():
            return logs
        import tensorflow as tf

        return {k: tf.reshape(v, [1]) for k, v in logs.items()}

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Called by Keras' TensorFlow trainer only. It all-reduces the first
        # batch of a distributed dataset to learn its shapes; build from this
        # worker's first replica's batch instead.
        if self._distribute_strategy is None:
            return
        import tensorflow as tf
        from keras.src import tree

        if iterator is not None and data_batch is None:
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


def compile_trainer(model, family, recipe, *, extra_optimizer_args=None,
                    total_steps=None):
    """A compiled `Trainer` around `model` for `family` with `recipe`.

    Classifiers: sparse categorical cross-entropy on probabilities and
    accuracy. Language models: mean sparse categorical cross-entropy from
    logits per token. The optimizer is `training.optimizer.make_optimizer`
    with the recipe's clipping, learning-rate schedule (`learning_rate`)
    and per-layer rates (`layer_rates`); `jit_compile` is `jit_compile()`.
    Call it inside the strategy's scope.

    Args:
        total_steps: the run's training steps, for a `one_cycle` schedule
            without `schedule_steps`.
    """
    optimizer = opt_lib.make_optimizer(
        recipe["optimizer"], learning_rate(recipe, total_steps),
        clipnorm=recipe.get("clipnorm"),
        global_clipnorm=recipe.get("global_clipnorm"),
        **(extra_optimizer_args or {}))
    rates = layer_rates(model, recipe)
    if rates:
        optimizer.set_layer_rates(rates)
    if recipe.get("weight_average"):
        optimizer.set_weight_averaging(
            recipe["weight_average"],
            momentum=recipe.get("average_momentum") or 0.999)
        optimizer.build(model.trainable_variables)
    if family == "language_model":
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = []
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    trainer = Trainer(model, window_bptt=recipe.get("bptt")
                      if recipe.get("variable_bptt") else None,
                      sampled_softmax=recipe.get("sampled_softmax"))
    trainer.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                    jit_compile=jit_compile())
    return trainer


def learning_rate(recipe, total_steps=None):
    """The recipe's learning rate: a float, or Keras' `CosineDecay` with a
    linear warm-up for `lr_schedule="one_cycle"` (see `training.recipe`)."""
    lr = float(recipe["learning_rate"])
    if recipe.get("lr_schedule", "constant") == "constant":
        return lr
    if recipe.get("schedule_minutes"):
        # A float the `TimedOneCycle` callback sets before every batch.
        return one_cycle_rate(0.0, lr, recipe.get("warmup_fraction") or 0.0)
    steps = recipe.get("schedule_steps") or total_steps
    if not steps:
        raise ValueError("a one_cycle schedule needs its length: pass "
                         "--recipe schedule_steps=N")
    warmup = int(round(steps * float(recipe.get("warmup_fraction") or 0.0)))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=lr / ONE_CYCLE_DIV,
        decay_steps=max(1, steps - warmup), alpha=ONE_CYCLE_FLOOR,
        warmup_target=lr, warmup_steps=warmup)


def layer_groups(model):
    """A classifier's trainable variables in groups, bottom to top:
    the embedding, each recurrent layer (with its connection), the rest
    (pooling and head). `[[variable path, ...], ...]`."""
    import re

    groups = {}
    for v in model.trainable_variables:
        path = v.path
        if path.startswith("embedding/"):
            key = -1
        elif path.startswith("recurrent_stack/"):
            m = re.search(r"_(\d+)$", path.split("/")[1])
            key = int(m.group(1)) if m else 10**6
        else:
            key = 10**9
        groups.setdefault(key, []).append(path)
    return [groups[k] for k in sorted(groups)]


def layer_rates(model, recipe):
    """`{variable path: (factor, start_step)}` for `layer_lr_decay` and
    `unfreeze_steps`, or `{}` when neither is set."""
    decay = recipe.get("layer_lr_decay")
    every = recipe.get("unfreeze_steps")
    if not decay and not every:
        return {}
    groups = layer_groups(model)
    rates = {}
    for i, group in enumerate(groups):
        depth = len(groups) - 1 - i  # 0 for the top group
        factor = float(decay) ** -depth if decay else 1.0
        start = depth * int(every) if every else 0
        rates.update({path: (factor, start) for path in group})
    return rates


def jit_compile():
    """The `compile(jit_compile=...)` of a zoo run on the Keras backend.

    JAX compiles the whole step with `jax.jit` (without it every op of the
    time loop runs eagerly). TensorFlow runs `tf.function` without XLA:
    XLA did not speed the zoo's recurrent layers up on CPU. PyTorch runs
    eagerly (Keras' default there).
    """
    return keras.backend.backend() == "jax"


# ------------------------------------------------------------------ data


def _lm_windows_dataset(ids, batch_size, bptt, max_steps, variable, seed):
    from training.data import batchify, lm_steps_per_epoch
    from training.data import variable_window_starts

    class LanguageModelWindows(keras.utils.PyDataset):
        """Ordered BPTT windows `(inputs, targets)`, one per index (drawn
        anew each epoch when `variable`)."""

        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.rows = batchify(ids, batch_size).astype(np.int32)
            n = lm_steps_per_epoch(len(ids), batch_size=batch_size, bptt=bptt)
            self.steps = min(n, max_steps) if max_steps else n
            self.epoch = 0
            self._draw()

        def _draw(self):
            if variable:
                self.bounds = variable_window_starts(
                    self.rows.shape[1] - 1, bptt, self.steps,
                    seed=seed + self.epoch)
            else:
                self.bounds = [(w * bptt, (w + 1) * bptt)
                               for w in range(self.steps)]

        def on_epoch_end(self):
            self.epoch += 1
            self._draw()

        def __len__(self):
            return self.steps

        def __getitem__(self, w):
            if not 0 <= w < self.steps:
                raise IndexError(w)
            a, b = self.bounds[w]
            return self.rows[:, a:b], self.rows[:, a + 1:b + 1]

    return LanguageModelWindows()


def _variable_windows_tf(ids, batch_size, bptt, max_steps, seed):
    import tensorflow as tf

    from training.data import batchify, lm_steps_per_epoch
    from training.data import variable_window_starts

    rows = batchify(ids, batch_size).astype(np.int32)
    n = lm_steps_per_epoch(len(ids), batch_size=batch_size, bptt=bptt)
    steps = min(n, max_steps) if max_steps else n
    epoch = [0]

    def draw():
        bounds = variable_window_starts(rows.shape[1] - 1, bptt, steps,
                                        seed=seed + epoch[0])
        epoch[0] += 1
        return np.asarray(bounds, np.int32).reshape(steps, 2)

    def epoch_bounds(_):
        # One Python call per epoch (each new iterator draws anew). A
        # per-window `Dataset.from_generator` made every training step of
        # ptb_awd_cpu 1.7x slower in wall and CPU time.
        bounds = tf.numpy_function(draw, [], tf.int32, stateful=True)
        bounds.set_shape((steps, 2))
        return tf.data.Dataset.from_tensor_slices(bounds)

    table = tf.constant(rows)

    def window(bounds):
        a, b = bounds[0], bounds[1]
        return table[:, a:b], table[:, a + 1:b + 1]

    ds = tf.data.Dataset.range(1).flat_map(epoch_bounds).map(window)
    ds = ds.apply(tf.data.experimental.assert_cardinality(steps))
    return ds.prefetch(tf.data.AUTOTUNE)


def language_model_windows(ids, *, batch_size, bptt, max_steps=None,
                           variable=False, seed=0):
    """The training windows of a token stream, in order, for `fit`.

    The windows of `training.data.lm_windows` (full ones only), at most
    `max_steps`: a `tf.data.Dataset` on TensorFlow, a `keras.utils.PyDataset`
    on the other backends. With `variable=True` the windows have the
    lengths of `training.data.variable_window_starts`, drawn anew each
    epoch (seeded by `seed` and the epoch), as many as with fixed ones.

    Raises:
        ValueError: the stream is too short for one window.
    """
    from training.data import lm_steps_per_epoch, make_lm_dataset

    ids = np.asarray(ids)
    if lm_steps_per_epoch(len(ids), batch_size=batch_size, bptt=bptt) < 1:
        raise ValueError(
            f"the training split ({len(ids)} tokens) is too short for "
            f"batch_size={batch_size} and bptt={bptt}")
    if keras.backend.backend() != "tensorflow":
        return _lm_windows_dataset(ids, batch_size, bptt, max_steps,
                                   variable, seed)
    if variable:
        return _variable_windows_tf(ids, batch_size, bptt, max_steps, seed)
    ds = make_lm_dataset(ids, batch_size=batch_size, bptt=bptt)
    return ds.take(max_steps) if max_steps else ds


def fit_data(family, data, recipe, *, global_batch, seed, max_steps=None):
    """`(train, validation)` inputs for `fit`.

    Classifiers: bucketed, shuffled `tf.data` batches of `(text, label)`
    and the validation batches. Language models: ordered BPTT windows of
    the training stream; validation is `None` (it runs over the whole
    validation stream in `LanguageModelValidation`).
    """
    if family == "language_model":
        return language_model_windows(
            data.train, batch_size=global_batch, bptt=recipe["bptt"],
            max_steps=max_steps, variable=bool(recipe.get("variable_bptt")),
            seed=seed), None
    from training.data import make_text_classification_dataset

    train = make_text_classification_dataset(
        data.train, batch_size=global_batch, shuffle=True, seed=seed,
        bucket_boundaries="auto")
    if recipe.get("steps_per_epoch"):
        # "epochs" of N steps over the data repeated (and reshuffled)
        train = train.repeat()
    val = None
    if data.validation is not None and len(data.validation):
        val = make_text_classification_dataset(
            data.validation, batch_size=global_batch, bucket_boundaries="auto")
    if max_steps:
        if not recipe.get("steps_per_epoch"):
            train = train.take(max_steps)
        val = val.take(max_steps) if val is not None else None
    return train, val


def total_steps(family, data, recipe, global_batch, max_steps):
    """Training steps of the whole run, `recipe["epochs"]` epochs (for a
    one-cycle schedule without `schedule_steps`)."""
    import math

    if family == "language_model":
        from training.data import lm_steps_per_epoch

        per_epoch = lm_steps_per_epoch(len(data.train), batch_size=global_batch,
                                       bptt=recipe["bptt"])
    elif recipe.get("steps_per_epoch"):
        per_epoch = recipe["steps_per_epoch"]
    else:
        per_epoch = math.ceil(len(data.train) / global_batch)
    if max_steps:
        per_epoch = min(per_epoch, max_steps)
    return max(1, per_epoch * recipe["epochs"])


def steps_per_epoch(recipe, max_steps=None):
    """`fit(steps_per_epoch=...)`: the recipe's, capped by `max_steps`, or
    `None` (a pass over the data)."""
    n = recipe.get("steps_per_epoch")
    if n and max_steps:
        return min(n, max_steps)
    return n or None


# ------------------------------------------------------------- callbacks


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
        ids: validation token-id stream, or `None`.
        batch_size: rows (the model's fixed batch size).
        bptt: window length.
        level: `"word"` or `"char"`.
        max_steps: cap on windows (smoke runs). Defaults to `None`.
    """

    def __init__(self, zoo_model, ids, *, batch_size, bptt, level,
                 max_steps=None):
        super().__init__()
        self.zoo_model = zoo_model
        self.ids, self.batch_size, self.bptt = ids, batch_size, bptt
        self.level, self.max_steps = level, max_steps
        self._scorer = None

    def on_epoch_end(self, epoch, logs=None):
        from training.evaluate import (language_model_metrics, lm_loss,
                                       token_loss_model)

        logs = logs if logs is not None else {}
        if "loss" in logs:
            logs.update(language_model_metrics(float(logs["loss"]), self.level))
        if self.ids is None:
            return
        if self._scorer is None:
            self._scorer = token_loss_model(self.zoo_model)
        total, n = lm_loss(self.zoo_model, self.ids, batch_size=self.batch_size,
                           bptt=self.bptt, max_steps=self.max_steps,
                           scorer=self._scorer)
        loss = total / max(n, 1)
        logs["val_loss"] = loss
        check_finite(epoch, logs)
        logs.update({"val_" + k: v
                     for k, v in language_model_metrics(loss, self.level).items()})


def family_callbacks(family, trainer, recipe, *, data=None, batch_size=None,
                     max_steps=None):
    """The callbacks a family trains with, in the order they must run.

    NaN stop first; the optimizer's gradient log; the recipe's
    learning-rate decay; for language models the state reset and the
    whole-stream validation (`data.validation`, in rows of `batch_size`);
    a one-cycle rate counted in minutes (`TimedOneCycle`).
    The run directory's writers go after these (see `training.train`).
    """
    cbs = [StopOnNaN(), opt_lib.GradientLog(trainer.optimizer)]
    if recipe.get("weight_average"):
        cbs.append(opt_lib.AveragedWeights(
            trainer.optimizer, recipe.get("average_start_epoch") or 0))
    if recipe.get("lr_decay"):
        cbs.append(keras.callbacks.LearningRateScheduler(lr_decay_schedule(
            recipe["learning_rate"], recipe["lr_decay"],
            recipe.get("lr_decay_after") or 0)))
    if family == "language_model":
        model = trainer.zoo_model
        cbs.append(ResetStates(model))
        cbs.append(LanguageModelValidation(
            model, data.validation, batch_size=batch_size,
            bptt=recipe["bptt"], level=data.level, max_steps=max_steps))
    if recipe.get("schedule_minutes"):
        # Last, so that the seconds it logs include a LM's validation.
        cbs.append(TimedOneCycle(
            float(recipe["schedule_minutes"]) * 60, recipe["learning_rate"],
            recipe.get("warmup_fraction") or 0.0))
    return cbs
