"""The optimizer hook: gradient statistics seen before clipping.

Every training step of every Keras backend ends in `Optimizer.apply(grads)`:
the TensorFlow trainer calls it through `apply_gradients`, the JAX trainer
through `stateless_apply`, the PyTorch trainer directly, and
`keras.optimizers.LossScaleOptimizer` hands it the unscaled gradients. So
the zoo's optimizers are Keras' own classes with one mixin,
`GradientStatistics`, whose `apply` records the gradients before Keras clips
them, and then lets Keras do the rest. This is the one place where gradient
statistics are computed. Later training features that need the gradients
(per-layer learning rates, weight averaging) belong here too, composed in
`GradientStatistics.apply` after the statistics are taken, so that the
figures always describe the gradients the loss produced.

Per-layer learning rates (discriminative fine-tuning and gradual
unfreezing, Howard & Ruder 2018) are composed here as well:
`set_layer_rates({variable path: (factor, start_step)})` scales the
learning rate Keras hands `update_step` for that variable by `factor`,
and by 0 before the optimizer's `iterations` reach `start_step`. One
optimizer, one learning-rate schedule and one clipping rule cover every
variable (Keras 3.15's per-group optimizers would each clip and schedule
on their own), and the rule is computed in the step, so it runs in
compiled TensorFlow graphs, JAX's stateless steps and PyTorch alike. A
frozen variable's gradient still enters the statistics, the clipping
norm and Adam's moments; only its update is zero.

Weight averaging for the end of training is composed here too
(`set_weight_averaging`): after Keras applies a step, each trainable
variable's average is updated in the step: a uniform running mean (a
stochastic weight average; with SGD this is averaged SGD, as in AWD-LSTM's
ASGD) or an exponential moving average. Averaging starts at the step held
in the optimizer variable `average_from_step` (set by `AveragedWeights`
at the start of the recipe's `average_start_epoch`), and
`AveragedWeights` swaps the averages into the model at each epoch's end
(and before `fit`'s own validation, which runs earlier), so validation, the
best and last checkpoints and the final model use them,
and swaps the raw weights back before the next epoch trains. The swap
exchanges values, and `averages_swapped` records it, so a run resumed from
a backup taken while swapped carries on correctly.

A per-step learning-rate scale (`step_learning_rate_scale`) is the last
composition: the trainer sets it, inside one step's trace, to the length
of a variable-length BPTT window divided by `bptt` (AWD-LSTM scales the
rate by the window length), and `update_step` multiplies the rate by it.

The statistics live in three optimizer variables, so they follow the
optimizer's state on every backend (JAX's stateless steps included) and are
summed over an epoch inside the compiled step:

- `gradient_steps`: the number of steps whose gradients were recorded;
- `gradient_norm_sum`: the sum over those steps of the global L2 norm of
  the gradients;
- `clipped_steps`: the number of steps whose gradients were clipped: the
  global norm exceeded `global_clipnorm`, or with per-variable `clipnorm`
  some variable's norm exceeded it, exactly as Keras decides.

`GradientLog` turns them into the epoch's `grad_norm` (mean global norm per
step) and `clipped_fraction` (share of steps clipped). Each update depends
on the gradients: on TensorFlow a step that finds the data exhausted runs
the ops that do not (Keras' own `iterations` counter then counts one step
too many), and it must not count here.

Sparse gradients (TensorFlow's `IndexedSlices`, from an embedding lookup)
are never densified: their rows are summed per index with a segment sum,
which gives the norm of the dense gradient at the cost of the rows touched.
Under a multi-replica strategy each replica's statistics are those of its
own gradients (which is what Keras clips), averaged over replicas.
"""

from __future__ import annotations

import keras
from keras import ops

from training.recipe import OPTIMIZERS

_CLASSES = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}
_TRACKED_CLASSES = {}
AVERAGES = ("uniform", "ema")
# average_from_step before averaging is started (exact in float32)
_NEVER = 2.0 ** 50


class GradientStatistics:
    """Mixin for a `keras.optimizers.Optimizer`: records gradient norms.

    Use it through `make_optimizer`, which builds the subclass of a Keras
    optimizer with this mixin first in its bases. The optimizer adds three
    variables (see the module docstring) after Keras' own, so a saved
    optimizer state of the plain Keras class still loads (the statistics
    then start at zero).
    """

    def build(self, variables):
        if self.built:  # Keras' own build returns early too
            return
        super().build(variables)
        self.gradient_steps = self.add_variable(
            (), initializer="zeros", dtype="float32", aggregation="mean",
            name="gradient_steps")
        self.gradient_norm_sum = self.add_variable(
            (), initializer="zeros", dtype="float32", aggregation="mean",
            name="gradient_norm_sum")
        self.clipped_steps = self.add_variable(
            (), initializer="zeros", dtype="float32", aggregation="mean",
            name="clipped_steps")
        if getattr(self, "_averaging", None):
            # Every replica holds the same weights, so "mean" aggregation
            # keeps replica-context assignments exact.
            self.average_from_step = self.add_variable(
                (), initializer=keras.initializers.Constant(_NEVER),
                dtype="float32", aggregation="mean", name="average_from_step")
            self.averaged_steps = self.add_variable(
                (), initializer="zeros", dtype="float32", aggregation="mean",
                name="averaged_steps")
            self.averages_swapped = self.add_variable(
                (), initializer="zeros", dtype="float32", aggregation="mean",
                name="averages_swapped")
            self.averages = [
                self.add_variable(
                    tuple(v.shape), initializer="zeros", dtype=v.dtype,
                    aggregation="mean",
                    name="average_" + v.path.replace("/", "_"))
                for v in variables
            ]

    def apply(self, grads, trainable_variables=None):
        """Records the gradients' statistics, then applies them as Keras does.

        Args:
            grads: the gradients, one per trainable variable (`None` for a
                variable without one), before unscaling and clipping.
            trainable_variables: as for `keras.optimizers.Optimizer.apply`.
        """
        grads = list(grads)
        if grads and not self.built and trainable_variables is not None:
            self.build(list(trainable_variables))
        if grads:
            self._record(grads)
        result = super().apply(grads, trainable_variables)
        if grads and getattr(self, "_averaging", None):
            self._update_averages()
        return result

    # -- weight averaging ------------------------------------------------
    def set_weight_averaging(self, kind, momentum=0.999):
        """Keeps an average of the trainable weights (see the module doc).

        Call before the optimizer is built, and build it before `fit`
        (`compile_trainer` does both), so that the average can start at the
        first step of a run.

        Args:
            kind: `"uniform"` (running mean of the weights after each step,
                from the start step on) or `"ema"` (exponential moving
                average with `momentum`, warmed up as
                `min(momentum, (1 + n) / (10 + n))` after n averaged steps).
            momentum: the EMA's momentum, in [0, 1). Default: `0.999`.
        """
        if kind not in AVERAGES:
            raise ValueError(f"Unknown weight average {kind!r}. Valid values: "
                             f"{list(AVERAGES)}. Received: {kind!r}")
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError("the EMA momentum must be in [0, 1). Received: "
                             f"momentum={momentum!r}")
        if self.built:
            raise ValueError("set_weight_averaging must be called before the "
                             "optimizer is built")
        self._averaging = (kind, float(momentum))

    def _update_averages(self):
        kind, momentum = self._averaging
        tensor = ops.convert_to_tensor
        step = ops.cast(tensor(self.iterations), "float32")
        active = ops.greater_equal(step, tensor(self.average_from_step))
        n = tensor(self.averaged_steps)
        first = ops.equal(n, 0.0)
        # the EMA's momentum warms up as in tf.train.ExponentialMovingAverage
        # with num_updates, so early weights do not dominate it
        decay = ops.minimum(momentum, (1.0 + n) / (10.0 + n))
        for average, variable in zip(self.averages, self._trainable_variables):
            value = ops.cast(tensor(variable), average.dtype)
            old = tensor(average)
            if kind == "uniform":
                new = old + (value - old) / (n + 1.0)
            else:
                new = decay * old + (1.0 - decay) * value
            new = ops.where(first, value, new)
            average.assign(ops.where(active, new, old))
        self.averaged_steps.assign_add(ops.cast(active, "float32"))

    def averaging_started(self):
        """Whether the average has a start step (outside a compiled step)."""
        return float(ops.convert_to_numpy(self.average_from_step)) < _NEVER

    def start_averaging(self):
        """Starts the average at the next step (outside a compiled step)."""
        if not self.averaging_started():
            self.average_from_step.assign(
                float(ops.convert_to_numpy(self.iterations)))

    def swap_averages(self):
        """Exchanges the weights and their averages (outside a step)."""
        for average, variable in zip(self.averages, self._trainable_variables):
            raw = ops.convert_to_numpy(variable).copy()
            variable.assign(ops.convert_to_numpy(average))
            average.assign(raw)
        self.averages_swapped.assign(
            1.0 - float(ops.convert_to_numpy(self.averages_swapped)))

    # -- per-step rate scale ---------------------------------------------
    step_learning_rate_scale = None

    def set_layer_rates(self, rates):
        """Per-variable learning-rate rules (see the module docstring).

        Args:
            rates: `{variable.path: (factor, start_step)}`; `factor` >= 0
                multiplies the learning rate, and the variable is not
                updated before step `start_step` (0: from the start).
                Variables not named keep the plain learning rate.
        """
        checked = {}
        for name, (factor, start) in dict(rates).items():
            if not factor >= 0 or int(start) < 0:
                raise ValueError(
                    f"a layer rate needs factor >= 0 and start_step >= 0. "
                    f"Received: {name!r}: factor={factor!r}, "
                    f"start_step={start!r}")
            checked[name] = (float(factor), int(start))
        self._layer_rates = checked

    def update_step(self, gradient, variable, learning_rate):
        if self.step_learning_rate_scale is not None:
            learning_rate = ops.cast(learning_rate, "float32") * \
                self.step_learning_rate_scale
        rates = getattr(self, "_layer_rates", None)
        if rates:
            path = self._trainable_variables[
                self._get_variable_index(variable)].path
            rule = rates.get(path)
            if rule is not None:
                factor, start = rule
                scale = ops.cast(factor, "float32")
                if start:
                    scale = scale * ops.cast(
                        ops.greater_equal(self.iterations, start), "float32")
                learning_rate = ops.cast(learning_rate, "float32") * scale
        return super().update_step(gradient, variable, learning_rate)

    def _statistics_built(self):
        return hasattr(self, "gradient_norm_sum")

    def _record(self, grads):
        squares, clip_squares = [], []
        for g in grads:
            if g is None:
                continue
            true, clip = squared_norms(g)
            squares.append(true)
            clip_squares.append(clip)
        if not squares:
            return
        scale = self.loss_scale_factor
        squares = ops.stack(squares)
        clip_squares = ops.stack(clip_squares)
        if scale is not None:
            squares = squares / (scale * scale)
            clip_squares = clip_squares / (scale * scale)
        global_norm = ops.sqrt(ops.sum(squares))
        if self.global_clipnorm:
            clipped = ops.greater(global_norm, self.global_clipnorm)
        elif self.clipnorm:
            clipped = ops.any(ops.greater(ops.sqrt(clip_squares),
                                          self.clipnorm))
        else:
            clipped = ops.zeros((), dtype="bool")
        # Always 1, but computed from the gradients (see the module doc).
        one = ops.cast(ops.logical_or(ops.greater_equal(global_norm, 0.0),
                                      ops.isnan(global_norm)), "float32")
        self.gradient_steps.assign_add(one)
        self.gradient_norm_sum.assign_add(global_norm)
        self.clipped_steps.assign_add(ops.cast(clipped, "float32"))

    def load_own_variables(self, store):
        keys = len(store.keys())
        own = 3 + (3 + len(self.averages)
                   if getattr(self, "_averaging", None) and self.built else 0)
        if self._statistics_built() and keys == len(self.variables) - own:
            # A state saved by the plain Keras optimizer: Keras' own
            # variables come first; the statistics start at zero.
            for i, variable in enumerate(self.variables[:keys]):
                variable.assign(store[str(i)])
            return
        super().load_own_variables(store)


def squared_norms(grad):
    """`(squared L2 norm, squared norm as Keras' clipnorm measures it)`.

    Both are float32 scalars. For a dense gradient they are equal. For a
    TensorFlow `IndexedSlices` the first sums the rows of each index first
    (the norm of the dense gradient, as `global_clipnorm` uses it) without
    densifying; the second is the norm of the rows as they are, which is
    what `tf.clip_by_norm`, Keras' per-variable `clipnorm` on TensorFlow,
    measures.
    """
    if _is_indexed_slices(grad):
        import tensorflow as tf

        values = tf.cast(grad.values, tf.float32)
        unique, position = tf.unique(grad.indices)
        rows = tf.math.unsorted_segment_sum(values, position,
                                            tf.shape(unique)[0])
        return (tf.reduce_sum(tf.square(rows)),
                tf.reduce_sum(tf.square(values)))
    g = ops.cast(grad, "float32")
    s = ops.sum(ops.square(g))
    return s, s


def _is_indexed_slices(grad):
    return (keras.backend.backend() == "tensorflow"
            and type(grad).__name__ == "IndexedSlices")


def make_optimizer(name, learning_rate, *, clipnorm=None,
                   global_clipnorm=None, **kwargs):
    """A Keras optimizer by name, with gradient statistics and clipping.

    Args:
        name: one of `OPTIMIZERS`.
        learning_rate: a float or a `keras.optimizers.schedules` schedule.
        clipnorm: per-variable clipping threshold; `None` or `0`: off.
        global_clipnorm: global-norm clipping threshold; `None` or `0`: off.
        **kwargs: other arguments of the Keras optimizer class.

    Returns:
        An instance of a subclass of the Keras optimizer class that records
        `GradientStatistics`. It is a Keras optimizer in every other
        respect (`isinstance(opt, keras.optimizers.Adam)` holds).

    Raises:
        ValueError: unknown name, or both clipping thresholds set.

    Example:

    >>> opt = make_optimizer("adam", 1e-3, global_clipnorm=1.0)
    >>> isinstance(opt, keras.optimizers.Adam)
    True
    """
    if name not in _CLASSES:
        raise ValueError(f"Unknown optimizer {name!r}. Valid values: "
                         f"{list(OPTIMIZERS)}. Received: optimizer={name!r}")
    if clipnorm and global_clipnorm:
        raise ValueError(
            "`clipnorm` and `global_clipnorm` are mutually exclusive. "
            f"Received: clipnorm={clipnorm!r}, "
            f"global_clipnorm={global_clipnorm!r}")
    cls = _TRACKED_CLASSES.get(name)
    if cls is None:
        base = _CLASSES[name]
        cls = type(base.__name__, (GradientStatistics, base), {
            "__module__": __name__,
            "__doc__": f"`keras.optimizers.{base.__name__}` with "
                       "`GradientStatistics`."})
        _TRACKED_CLASSES[name] = cls
    return cls(learning_rate=learning_rate, clipnorm=clipnorm or None,
               global_clipnorm=global_clipnorm or None, **kwargs)


class GradientLog(keras.callbacks.Callback):
    """Adds `grad_norm` and `clipped_fraction` to each epoch's logs.

    Reads the statistics that `GradientStatistics` accumulated during the
    epoch (through a `LossScaleOptimizer`, which Keras puts around the
    optimizer under `mixed_float16`, from the optimizer inside it). Place
    it before the callbacks that write the logs (history, checkpoints), as
    `training.train` does. An epoch without steps logs neither.

    Args:
        optimizer: the `make_optimizer` optimizer the model trains with.
    """

    def __init__(self, optimizer):
        super().__init__()
        self.optimizer = optimizer
        self._start = None

    def _read(self):
        opt = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        if not getattr(opt, "built", False) or not hasattr(
                opt, "gradient_norm_sum"):
            return None
        return (float(ops.convert_to_numpy(opt.gradient_steps)),
                float(ops.convert_to_numpy(opt.gradient_norm_sum)),
                float(ops.convert_to_numpy(opt.clipped_steps)))

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._read()

    def on_epoch_end(self, epoch, logs=None):
        end = self._read()
        if end is None or logs is None:
            return
        start = self._start or (0.0, 0.0, 0.0)
        steps = end[0] - start[0]
        if steps <= 0:
            return
        logs["grad_norm"] = (end[1] - start[1]) / steps
        logs["clipped_fraction"] = (end[2] - start[2]) / steps


class AveragedWeights(keras.callbacks.Callback):
    """Evaluates and saves the averaged weights (see the module docstring).

    At the start of epoch `start_epoch` (0-based) it starts the average;
    with `start_epoch="nonmonotonic"` it starts it as AWD-LSTM's NT-ASGD
    does: at the first epoch whose previous validation loss is worse than
    the best one of the epochs before the last `NONMONO` (5). At each
    epoch's end, once the average holds a step, it swaps the averages into
    the model, so that the callbacks after it (validation, checkpoints, the
    resume backup) and the end of training see them; at the next epoch's
    start it swaps the raw weights back. Keras' `fit` runs its own
    validation (`validation_data`) before `on_epoch_end`, so it swaps them
    in at `on_test_begin` too and leaves them there for `on_epoch_end`
    (unlike Keras' `SwapEMAWeights`, it does not swap back at
    `on_test_end`: an `evaluate` given this callback outside `fit` leaves
    the averages in the model). Place it before the validation and the run
    directory's writers.

    Args:
        optimizer: the `make_optimizer` optimizer, with
            `set_weight_averaging` called and built.
        start_epoch: the epoch from whose first step the average runs, or
            `"nonmonotonic"`.
    """

    NONMONO = 5

    def __init__(self, optimizer, start_epoch=0):
        super().__init__()
        self.optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        self.start_epoch = start_epoch
        self.val_losses = []
        self._logs = None

    def _sync(self):
        if keras.backend.backend() == "jax" and hasattr(self.model,
                                                         "jax_state_sync"):
            self.model.jax_state_sync()

    def _due(self, epoch):
        if self.start_epoch != "nonmonotonic":
            return epoch >= int(self.start_epoch)
        # the previous epoch's logs are complete now: the validation that
        # runs after this callback has added its val_loss to them
        if self._logs is not None and "val_loss" in self._logs:
            self.val_losses.append(float(self._logs["val_loss"]))
        self._logs = None
        *before, last = self.val_losses or [None]
        n = self.NONMONO
        return len(before) > n and last > min(before[:-n])

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.optimizer
        if not opt.built:
            raise ValueError("AveragedWeights needs the optimizer built before "
                             "fit (compile_trainer builds it)")
        self._sync()
        if float(ops.convert_to_numpy(opt.averages_swapped)):
            opt.swap_averages()
        if self._due(epoch):
            opt.start_averaging()

    def _swap_in(self):
        """Puts the averages into the model, once it holds averaged steps;
        returns the number of steps averaged (0: nothing to swap)."""
        opt = self.optimizer
        self._sync()
        steps = float(ops.convert_to_numpy(opt.averaged_steps))
        if steps > 0 and not float(ops.convert_to_numpy(opt.averages_swapped)):
            opt.swap_averages()
        return steps

    def on_test_begin(self, logs=None):
        # Keras' `fit` validates (`validation_data`: the classifiers) before
        # `on_epoch_end`, with the callbacks of `fit`: as Keras'
        # `SwapEMAWeights`, score the averages there. `on_epoch_end` then
        # finds them in place; the next epoch's start swaps them out.
        self._swap_in()

    def on_epoch_end(self, epoch, logs=None):
        self._logs = logs
        steps = self._swap_in()
        if steps > 0 and logs is not None:
            logs["averaged_steps"] = steps
