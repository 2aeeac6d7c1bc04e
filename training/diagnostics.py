"""Gradient-flow diagnostics: how much loss signal reaches earlier time steps.

The gradient through time of a recurrent network is a product of per-step
Jacobians; for a vanilla RNN, `diag(1 - h_t²) U`, whose norm shrinks or grows
geometrically with the distance (Pascanu et al. 2013). Gated cells (an
additive cell state), gradient clipping and skip connections exist to fix
this. This module measures it on any model built from recurrent layers:

    from training import diagnostics
    flow = diagnostics.gradient_flow(model, inputs, loss_fn)
    flow.norms              # (num_layers, T): ||∂ℓ_T/∂h_t||, mean over batch
    flow.plot("flow.png")
    diagnostics.spectral_norms(model)

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

CLI (`zoo diagnose`):

    zoo diagnose RUN_DIR [--length 100] [--batch-size 16] [--text FILE]
    zoo diagnose --compare simple_rnn,lstm,gru --length 100 \
        [--connections none,residual,highway,dense --layers 4] \
        [--train-steps 300] [--out DIR]
"""

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time

import numpy as np

from training.atomic import atomic_savefig, atomic_write_json

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
        fig, ax = _new_axes()
        for name, row in zip(self.layers, self.by_distance()):
            ax.semilogy(np.arange(self.length), _positive(row), label=name)
        _decorate(ax, title or "gradient of the last step's loss")
        _save_figure(fig, path)


def _floats(row):
    return [None if not np.isfinite(v) else float(v) for v in row]


def _positive(row):
    row = np.asarray(row, dtype=np.float64).copy()
    row[~(row > 0)] = np.nan
    return row


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


# ---------------------------------------------------------------------------
# Plot helpers and atomic writes
# ---------------------------------------------------------------------------
def _new_axes(ncols=1, width=6.5):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, 4.2),
                             squeeze=False)
    axes = axes[0]
    return fig, (axes[0] if ncols == 1 else axes)


def _decorate(ax, title):
    ax.set_xlabel("distance from the last step (T - 1 - t)")
    ax.set_ylabel("||dL_T / dh_t||  (batch mean)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def _save_figure(fig, path):
    import matplotlib.pyplot as plt

    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        fig.tight_layout()
        atomic_savefig(fig, path, dpi=110)
    finally:
        plt.close(fig)


def write_json(path, data):
    """Writes JSON atomically (temp file in the same directory + replace)."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_json(path, data)


# ---------------------------------------------------------------------------
# Run directories
# ---------------------------------------------------------------------------
def load_run(run_dir):
    """`(model, config, vocab)` of a run directory (vocab None if absent)."""
    import keras

    import zoo  # noqa: F401  (registers the layers)

    path = os.path.join(run_dir, "model.keras")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir}: no model.keras in the run directory.")
    config = {}
    cpath = os.path.join(run_dir, "config.json")
    if os.path.exists(cpath):
        with open(cpath) as f:
            config = json.load(f)
    model = keras.saving.load_model(path)
    vocab = None
    vpath = os.path.join(run_dir, "vocab.txt")
    if os.path.exists(vpath):
        with open(vpath, encoding="utf-8") as f:
            vocab = [line.rstrip("\n") for line in f]
    return model, config, vocab


def _family(model, config):
    family = config.get("family")
    if family:
        return family
    name = type(model).__name__
    return {"LanguageModel": "language_model",
            "SentimentClassifier": "sentiment_classifier"}.get(name, "other")


def diagnose_model(model, family, length=100, batch_size=16, seed=0,
                   ids=None, vocab=None):
    """Gradient flow of a zoo model on one batch.

    Language models: `ids` `(batch, length + 1)` (a batch of data), or
    random ids in `[0, vocabulary_size)`; the loss is the last position's
    cross-entropy against the next id. Sentiment classifiers: random texts of
    `length` words from the model's vocabulary, loss of class 0 (the
    classifier pools all steps, so "last step" is the whole output).
    """
    rng = np.random.default_rng(seed)
    if family == "language_model":
        if getattr(model, "stateful", False) and hasattr(model, "with_options"):
            model = model.with_options(stateful=False)
        if ids is None:
            v = int(getattr(model, "vocabulary_size", None) or len(vocab))
            ids = rng.integers(0, v, size=(batch_size, length + 1))
        ids = np.asarray(ids, np.int32)
        flow = gradient_flow(model, ids[:, :-1],
                             last_step_loss("sparse_ce_logits", ids[:, -1]))
        return model, flow
    if family == "sentiment_classifier":
        import keras

        tv = [layer for layer in model._flatten_layers()
              if isinstance(layer, keras.layers.TextVectorization)]
        words = [w for w in tv[0].get_vocabulary()[2:] if w] if tv else []
        if not words:
            words = ["the", "a", "film", "good", "bad"]
        texts = np.array([" ".join(rng.choice(words, size=length))
                          for _ in range(batch_size)])
        flow = gradient_flow(model, texts,
                             last_step_loss("sparse_ce_probs",
                                            np.zeros(batch_size, np.int32)))
        return model, flow
    raise ValueError(
        f"Cannot make a batch for model family {family!r}; use "
        "training.diagnostics.gradient_flow(model, inputs, loss_fn)."
    )


def _text_ids(path, vocab, level, length, batch_size, seed):
    from training.pairs import tokenize

    with open(path, encoding="utf-8") as f:
        text = f.read()
    ids = tokenize(text, vocab, level, add_eos=False, where=path)
    need = length + 1
    if len(ids) < need:
        raise ValueError(f"{path}: {len(ids)} tokens, need at least {need}.")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(ids) - need + 1, size=batch_size)
    return np.stack([ids[s:s + need] for s in starts])


def diagnose_run(run_dir, length=100, batch_size=16, seed=0, text=None,
                 out=None):
    """Diagnoses a trained run directory; writes `gradient_flow.json/png`.

    Returns the result dict (also written to `OUT/gradient_flow.json`, with
    the plot at `OUT/gradient_flow.png`; `OUT` defaults to
    `RUN_DIR/diagnostics`).
    """
    model, config, vocab = load_run(run_dir)
    family = _family(model, config)
    ids = None
    if text is not None:
        if family != "language_model" or vocab is None:
            raise ValueError("--text needs a language-model run with vocab.txt")
        level = getattr(model, "level", None) or config.get("level") or \
            (config.get("model_config") or {}).get("level", "word")
        ids = _text_ids(text, vocab, level, length, batch_size, seed)
    model, flow = diagnose_model(model, family, length, batch_size, seed,
                                 ids=ids, vocab=vocab)
    out = out or os.path.join(run_dir, "diagnostics")
    result = {
        "run_dir": os.path.abspath(run_dir),
        "family": family,
        "batch": "text:" + text if text else "random",
        "batch_size": batch_size,
        "seed": seed,
        **flow.to_dict(),
        "spectral_norms": spectral_norms(model),
    }
    png = os.path.join(out, "gradient_flow.png")
    flow.plot(png, title=f"{os.path.basename(os.path.abspath(run_dir))}: "
              f"gradient of the last step's loss (T={flow.length})")
    result["plot"] = png
    write_json(os.path.join(out, "gradient_flow.json"), result)
    return result


# ---------------------------------------------------------------------------
# Side-by-side comparison
# ---------------------------------------------------------------------------
def _variants(cells, connections, layers, stack_cell):
    variants = [(c, 1, "none") for c in cells]
    for con in connections:
        variants.append((stack_cell, layers, con))
    return variants


def _variant_name(cell, num_layers, connection):
    if num_layers == 1:
        return cell
    return f"{cell} x{num_layers} {connection}"


def compare(cells=("simple_rnn", "lstm", "gru"), length=100,
            connections=(), layers=4, stack_cell="lstm", units=32,
            train_steps=0, batch_size=32, learning_rate=1e-3, seed=0,
            out="diagnostics_compare", command=None, name="compare"):
    """Gradient norm against distance for several models, side by side.

    Builds adding-problem regressors (`training.tasks.build_adding_model`):
    one single-layer model per cell, plus one `layers`-deep `stack_cell`
    stack per connection. Measures the gradient flow at initialisation and,
    if `train_steps`, after that many Adam steps on the adding problem of
    the same length. The plotted curve of a deep stack is its bottom layer
    (the longest path: through time and through depth); every layer is in
    the JSON. Writes `OUT/NAME.json` and `OUT/NAME.png`.
    """
    import keras

    from training.tasks import adding_arrays
    from training.tasks import adding_dataset
    from training.tasks import build_adding_model

    t0 = time.time()
    x_diag, y_diag = adding_arrays(batch_size, length, seed=seed + 10_000)
    stages = ["init"] + (["trained"] if train_steps else [])
    results = []
    for k, (cell, n, con) in enumerate(_variants(cells, connections, layers,
                                                  stack_cell)):
        keras.utils.set_random_seed(seed + k)
        model = build_adding_model(cell, units, n, con, length=length)
        entry = {"name": _variant_name(cell, n, con), "cell": cell,
                 "num_layers": n, "connection": con, "units": units,
                 "params": int(model.count_params()), "stages": {}}
        loss_fn = last_step_loss("mse", y_diag)
        flow = gradient_flow(model, x_diag, loss_fn)
        entry["stages"]["init"] = {**flow.to_dict(),
                                   "spectral_norms": spectral_norms(model)}
        if train_steps:
            model.compile(keras.optimizers.Adam(learning_rate,
                                                global_clipnorm=1.0), "mse")
            hist = model.fit(adding_dataset(length, batch_size, seed=seed + k),
                             steps_per_epoch=train_steps, epochs=1, verbose=0)
            flow = gradient_flow(model, x_diag, loss_fn)
            entry["stages"]["trained"] = {
                **flow.to_dict(), "spectral_norms": spectral_norms(model),
                "train_loss_last": float(hist.history["loss"][-1]),
            }
        results.append(entry)
        print(f"  {entry['name']:<24} params={entry['params']:<6} " + "  ".join(
            f"{s}: |g(d={length - 1})|/|g(0)|="
            f"{_ratio(entry['stages'][s]):.2e}" for s in entry["stages"]),
            file=sys.stderr)

    fig, axes = _new_axes(len(stages))
    axes = np.atleast_1d(axes)
    for ax, stage in zip(axes, stages):
        for entry in results:
            st = entry["stages"][stage]
            row = st["grad_norm_by_distance"][st["layers"][0]]
            label = entry["name"] + (" (layer 0)" if entry["num_layers"] > 1
                                     else "")
            ax.semilogy(np.arange(length),
                        _positive([np.nan if v is None else v for v in row]),
                        label=label)
        title = ("at initialisation" if stage == "init" else
                 f"after {train_steps} steps on the adding problem")
        _decorate(ax, f"T={length}, {title}")
    png = os.path.join(out, name + ".png")
    _save_figure(fig, png)
    data = {
        "command": command,
        "length": length,
        "batch_size": batch_size,
        "units": units,
        "train_steps": train_steps,
        "learning_rate": learning_rate,
        "seed": seed,
        "task": "adding problem; loss = MSE of the prediction after the "
                "last step",
        "plot": png,
        "models": results,
        "wall_s": round(time.time() - t0, 1),
    }
    write_json(os.path.join(out, name + ".json"), data)
    return data


def _ratio(stage):
    row = stage["grad_norm_by_distance"][stage["layers"][0]]
    a, b = row[0], row[-1]
    if not a or b is None:
        return float("nan")
    return b / a


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------
def _csv(text):
    return [t.strip() for t in text.split(",") if t.strip()]


def build_parser():
    p = argparse.ArgumentParser(
        prog="zoo diagnose",
        description="Gradient-flow diagnostics: the norm of the gradient of "
        "the last step's loss with respect to each earlier hidden state, per "
        "recurrent layer (log-scale PNG + JSON), and the spectral norms of "
        "the recurrent weight matrices.",
        epilog="examples:\n"
        "  zoo diagnose runs/ptb --length 100\n"
        "  zoo diagnose --compare simple_rnn,lstm,gru --length 100 "
        "--connections none,residual,highway,dense --layers 4 "
        "--train-steps 300 --out bench/results/diagnose",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", nargs="?", help="a run directory (model.keras, "
                   "config.json, vocab.txt for language models)")
    p.add_argument("--compare", type=_csv, metavar="CELLS",
                   help="comma-separated cells to compare on the adding "
                   "problem (simple_rnn,lstm,gru) instead of a run directory")
    p.add_argument("--length", type=int, default=100, help="sequence length "
                   "(default 100)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text", help="run dir: a text file to take the batch "
                   "from (language models); default random ids")
    p.add_argument("--connections", type=_csv, default=[],
                   help="--compare: also deep stacks with these connections "
                   "(none,residual,highway,dense)")
    p.add_argument("--layers", type=int, default=4,
                   help="--compare: depth of the stacks (default 4)")
    p.add_argument("--stack-cell", default="lstm",
                   help="--compare: cell of the deep stacks (default lstm)")
    p.add_argument("--units", type=int, default=32,
                   help="--compare: units per layer (default 32)")
    p.add_argument("--train-steps", type=int, default=0,
                   help="--compare: also measure after N Adam steps on the "
                   "adding problem (default 0: initialisation only)")
    p.add_argument("--out", help="output directory (default RUN_DIR/"
                   "diagnostics, or ./diagnostics_compare)")
    p.add_argument("--name", default="compare",
                   help="--compare: results file stem (default compare)")
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.compare) == bool(args.run_dir):
        parser.error("give either RUN_DIR or --compare CELLS")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if args.compare:
            from zoo.layers import CELLS
            from zoo.layers import CONNECTIONS

            bad = [c for c in args.compare + [args.stack_cell]
                   if c not in CELLS]
            bad += [c for c in args.connections if c not in CONNECTIONS]
            if bad:
                parser.error(f"unknown cell/connection {bad}; cells: "
                             f"{sorted(CELLS)}, connections: {list(CONNECTIONS)}")
            command = "zoo diagnose " + " ".join(
                argv if argv is not None else sys.argv[1:])
            data = compare(args.compare, args.length, args.connections,
                           args.layers, args.stack_cell, args.units,
                           args.train_steps, max(args.batch_size, 1),
                           seed=args.seed,
                           out=args.out or "diagnostics_compare",
                           command=command, name=args.name)
            summary = {
                "plot": data["plot"],
                "json": os.path.join(os.path.dirname(data["plot"]),
                                     args.name + ".json"),
                "command": command,
                "wall_s": data["wall_s"],
                "ratio_farthest_to_last": {
                    m["name"]: {s: _ratio(v) for s, v in m["stages"].items()}
                    for m in data["models"]},
            }
        else:
            result = diagnose_run(args.run_dir, args.length, args.batch_size,
                                  args.seed, args.text, args.out)
            summary = {k: result[k] for k in ("plot", "layers", "loss")}
            summary["json"] = os.path.join(os.path.dirname(result["plot"]),
                                           "gradient_flow.json")
            summary["ratio_farthest_to_last"] = {
                name: (row[-1] / row[0] if row[0] else None)
                for name, row in result["grad_norm_by_distance"].items()}
            summary["spectral_norms"] = {
                r["layer"]: r["recurrent_kernel"]
                for r in result["spectral_norms"]}
    except (ValueError, FileNotFoundError) as e:
        print(f"zoo diagnose: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
