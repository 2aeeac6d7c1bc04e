"""Gradient-flow diagnostics: how much loss signal reaches earlier time steps.

The gradient through time of a recurrent network is a product of per-step
Jacobians; for a vanilla RNN, `diag(1 - h_t²) U`, whose norm shrinks or grows
geometrically with the distance (Pascanu et al. 2013). Gated cells (an
additive cell state), gradient clipping and skip connections exist to fix
this. This module measures it on any model built from recurrent layers:

    from training.lab import gradient_flow as gf
    flow = gf.gradient_flow(model, inputs, loss_fn)
    flow.norms              # (num_layers, T): ||∂ℓ_T/∂h_t||, mean over batch
    flow.plot("flow.png")
    gf.spectral_norms(model)

Technique: every recurrent sequence layer of the model (zoo or Keras layers,
inside a `RecurrentStack`, a `Bidirectional` wrapper or directly) has its
time loop replaced, for the duration of one forward pass, by a Python loop
over the same cell that adds a zero "probe" tensor `p_t` to the hidden state
`h_t` (used both as the step's output and as the next step's recurrent
state). The gradient of the loss with respect to `p_t`, taken with
`tf.GradientTape`, is exactly the total derivative `∂ℓ/∂h_t` through every
path (later time steps and higher layers). The forward values are unchanged.

The loss is that of the LAST time step, per example (e.g. the last token's
cross-entropy of a language model); the reported norm at step `t` is the
batch mean of the per-example L2 norms `||∂ℓ_T^(i)/∂h_t^(i)||`. Distances
are `T - 1 - t`. For the backward direction of a bidirectional layer the
probe sits on the backward state at original position `t`.

`zoo diagnose` (`training.lab.diagnose`) runs it on a run directory or on
side-by-side models. The measurement itself uses TensorFlow
(`tf.GradientTape` around a probed forward pass).
"""

import contextlib
import dataclasses

import numpy as np

GATE_NAMES = {
    "LSTMCell": ("input", "forget", "cell", "output"),
    "GRUCell": ("update", "reset", "candidate"),
    "SimpleRNNCell": ("recurrent",),
}



# ---------------------------------------------------------------------------
# Finding the recurrent layers
# ---------------------------------------------------------------------------
def recurrent_layers(model):
    """`[(name, layer)]`: every `keras.layers.RNN` in the model, in order.

    A `Bidirectional` wrapper contributes `NAME/forward` and `NAME/backward`.
    """
    import keras

    found = []
    seen = set()

    def walk(layer, prefix):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if isinstance(layer, keras.layers.Bidirectional):
            name = prefix + layer.name
            found.append((name + "/forward", layer.forward_layer))
            found.append((name + "/backward", layer.backward_layer))
            return
        if isinstance(layer, keras.layers.RNN):
            found.append((prefix + layer.name, layer))
            return
        subs = getattr(layer, "recurrent_layers", None)
        if subs is None:
            subs = layer._flatten_layers(include_self=False, recursive=False)
        for sub in subs:
            walk(sub, prefix)

    walk(model, "")
    return found


# ---------------------------------------------------------------------------
# Probed forward pass
# ---------------------------------------------------------------------------
def _probed_inner_loop(layer, tape, probes, key):
    import tensorflow as tf

    cell = layer.cell

    def inner_loop(sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        states = list(initial_state)
        steps = sequences.shape[1]
        if steps is None:
            steps = int(tf.shape(sequences)[1])
        batch = tf.shape(sequences)[0]
        size = cell.output_size
        probe = tf.zeros((batch, steps, size), dtype=sequences.dtype)
        tape.watch(probe)
        probes[key] = probe
        kwargs = {}
        if getattr(cell, "_call_has_training_arg", False):
            kwargs["training"] = training
        order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
        outputs = []
        prev = tf.zeros((batch, size), dtype=sequences.dtype)
        for t in order:
            out, new_states = cell(sequences[:, t], states, **kwargs)
            if not isinstance(new_states, (list, tuple)):
                new_states = [new_states]
            new_states = list(new_states)
            out = out + tf.cast(probe[:, t], out.dtype)
            new_states[0] = out
            if mask is not None:
                m = tf.cast(mask[:, t], tf.bool)[:, None]
                out = tf.where(m, out, prev)
                new_states = [tf.where(m, n, s)
                              for n, s in zip(new_states, states)]
            states, prev = new_states, out
            outputs.append(out)
        outputs = tf.stack(outputs, axis=1)
        return outputs[:, -1], outputs, states

    return inner_loop


@contextlib.contextmanager
def _probed(model, tape):
    layers = recurrent_layers(model)
    if not layers:
        raise ValueError(
            f"Model {model.name!r} has no recurrent layer to diagnose."
        )
    probes = {}
    saved = []
    for name, layer in layers:
        saved.append((layer, layer.__dict__.get("inner_loop")))
        # Layer.__setattr__ would try to track a callable; bypass it.
        object.__setattr__(layer, "inner_loop",
                           _probed_inner_loop(layer, tape, probes, name))
    try:
        yield [name for name, _ in layers], probes
    finally:
        for layer, old in saved:
            if old is None:
                object.__delattr__(layer, "inner_loop")
            else:
                object.__setattr__(layer, "inner_loop", old)


@dataclasses.dataclass
class GradientFlow:
    """Gradient norms `||∂ℓ_T/∂h_t||` per recurrent layer and time step.

    Attributes:
        layers: layer names (`NAME/forward|backward` for bidirectional).
        norms: float array `(num_layers, T)`; `norms[l, t]` is the batch mean
            of the per-example L2 norm of the gradient of the last step's
            loss with respect to layer `l`'s hidden state at step `t`.
        loss: mean last-step loss of the batch.
    """

    layers: list
    norms: np.ndarray
    loss: float

    @property
    def length(self):
        return self.norms.shape[1]

    @property
    def distance(self):
        """Distance from the last step, `T - 1 - t`, for each step `t`."""
        return np.arange(self.length)[::-1].copy()

    def by_distance(self):
        """Norms ordered by distance 0, 1, ..., T-1: `(num_layers, T)`."""
        return self.norms[:, ::-1].copy()

    def decay_ratio(self, layer=0, distance=None):
        """`norm(distance) / norm(0)` for one layer (default: farthest)."""
        d = self.length - 1 if distance is None else distance
        by = self.by_distance()[layer]
        return float(by[d] / by[0]) if by[0] > 0 else float("nan")

    def to_dict(self):
        return {
            "layers": list(self.layers),
            "length": int(self.length),
            "loss": float(self.loss),
            "distance": list(range(self.length)),
            "grad_norm_by_distance": {
                name: _floats(row) for name, row in
                zip(self.layers, self.by_distance())
            },
        }

    def plot(self, path, title=None):
        """Writes a log-scale plot (one curve per layer) to `path`."""
        from training import plots

        plots.plot_gradient_flow(
            dict(zip(self.layers, self.by_distance())), path,
            title or "gradient of the last step's loss")


def _floats(row):
    return [None if not np.isfinite(v) else float(v) for v in row]


def gradient_flow(model, inputs, loss_fn, training=False):
    """Measures `||∂ℓ_T/∂h_t||` for every recurrent layer of `model`.

    Args:
        model: a Keras model (or layer) containing recurrent layers.
        inputs: a batch the model accepts.
        loss_fn: `loss_fn(outputs) -> (batch,)` per-example loss of the LAST
            time step (see `last_step_loss`). Its sum over the batch is
            differentiated, so each example's gradient is its own.
        training: run the model in training mode (dropout on). Default off.

    Returns:
        A `GradientFlow`.
    """
    import tensorflow as tf

    with tf.GradientTape(persistent=False) as tape:
        with _probed(model, tape) as (names, probes):
            outputs = model(inputs, training=training)
            per_example = tf.reshape(loss_fn(outputs), [-1])
            total = tf.reduce_sum(per_example)
    keys = list(names)
    grads = tape.gradient(total, [probes[k] for k in keys],
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)
    norms = np.stack([
        tf.reduce_mean(tf.norm(tf.cast(g, tf.float32), axis=-1), axis=0)
        .numpy() for g in grads
    ])
    return GradientFlow(keys, norms, float(tf.reduce_mean(per_example)))


def last_step_loss(kind, targets):
    """A `loss_fn` for `gradient_flow`: the loss of the last time step.

    Args:
        kind: `"mse"` (outputs `(batch, 1)` or `(batch, T, d)`),
            `"sparse_ce_logits"` (LM logits `(batch, T, V)`, targets are the
            last step's ids `(batch,)`) or `"sparse_ce_probs"` (class
            probabilities `(batch, C)`, targets `(batch,)`).
        targets: the targets of the last step.
    """
    import tensorflow as tf

    def fn(outputs):
        if kind == "mse":
            out = outputs[:, -1] if len(outputs.shape) == 3 else outputs
            y = tf.cast(tf.reshape(targets, tf.shape(out)), out.dtype)
            return tf.reduce_mean(tf.square(out - y), axis=-1)
        if kind == "sparse_ce_logits":
            return tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.cast(targets, tf.int32), logits=outputs[:, -1])
        if kind == "sparse_ce_probs":
            return tf.keras.losses.sparse_categorical_crossentropy(
                tf.cast(targets, tf.int32), outputs)
        raise ValueError(f"Unknown loss kind {kind!r}.")

    return fn


# ---------------------------------------------------------------------------
# Spectral norms
# ---------------------------------------------------------------------------
def spectral_norms(model):
    """Largest singular value of each recurrent weight matrix.

    Returns a list of dicts, one per recurrent layer: `layer`, `cell`,
    `units`, `recurrent_kernel` (the whole `(units, gates*units)` matrix)
    and `gates` (`{gate: norm}` of each `(units, units)` block, in Keras'
    gate order). For a vanilla RNN a norm below 1 is sufficient for the
    gradient to vanish (with tanh, |tanh'| <= 1), and a norm above 1 is
    necessary for it to explode (Pascanu et al. 2013).
    """
    rows = []
    for name, layer in recurrent_layers(model):
        cell = layer.cell
        w = np.asarray(cell.recurrent_kernel.numpy()
                       if hasattr(cell.recurrent_kernel, "numpy")
                       else cell.recurrent_kernel, dtype=np.float64)
        units = w.shape[0]
        n = w.shape[1] // units
        names = GATE_NAMES.get(type(cell).__name__,
                               tuple(f"block_{k}" for k in range(n)))
        if len(names) != n:
            names = tuple(f"block_{k}" for k in range(n))
        gates = {g: float(np.linalg.norm(w[:, k * units:(k + 1) * units], 2))
                 for k, g in enumerate(names)}
        rows.append({
            "layer": name,
            "cell": type(cell).__name__,
            "units": int(units),
            "recurrent_kernel": float(np.linalg.norm(w, 2)),
            "gates": gates,
        })
    return rows
