"""An embedding whose reverse call is an adaptive softmax (Grave et al. 2017)."""

import math
import operator

import keras
from keras import ops

from zoo.layers.base import PACKAGE


def _int(value):
    """`value` as an int if it is an integer (NumPy's included), else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def cluster_width(output_dim, div_value, i):
    """The width of tail cluster `i` (from 0): `output_dim // div_value **
    (i + 1)`, 0 when the power overflows."""
    try:
        return int(output_dim // float(div_value) ** (i + 1))
    except OverflowError:
        return 0


def check_div_value(div_value, name="div_value"):
    """Raises `ValueError` unless `div_value` is a finite number > 0."""
    if (isinstance(div_value, bool) or not isinstance(div_value, (int, float))
            or not 0 < div_value < math.inf):
        raise ValueError(f"`{name}` must be a finite number > 0. "
                         f"Received: {name}={div_value!r}")


def check_cutoffs(cutoffs, vocabulary_size, div_value, output_dim,
                  names=("cutoffs", "div_value")):
    """Refuses an adaptive softmax that cannot be built.

    Args:
        cutoffs: the ids where a cluster starts, strictly increasing ints,
            each in `[1, vocabulary_size)`.
        vocabulary_size: the number of words.
        div_value: number > 0; cluster `i` (from 0) works in
            `output_dim // div_value ** (i + 1)` dimensions.
        output_dim: the embedding width.
        names: what the caller calls `cutoffs` and `div_value`, for the
            messages.

    Returns:
        The cutoffs as a list of ints.

    Raises:
        ValueError: the cutoffs, `div_value` or a cluster's width is invalid.
    """
    c_name, d_name = names
    check_div_value(div_value, d_name)
    ints = ([_int(c) for c in cutoffs] if isinstance(cutoffs, (list, tuple))
            else [None])
    if not ints or None in ints:
        raise ValueError(f"`{c_name}` must be a non-empty list of ints (the "
                         "ids where each tail cluster starts). "
                         f"Received: {c_name}={cutoffs!r}")
    if (any(b <= a for a, b in zip(ints, ints[1:])) or ints[0] < 1
            or ints[-1] >= vocabulary_size):
        raise ValueError(
            f"`{c_name}` must increase strictly and lie in [1, "
            f"vocabulary_size) = [1, {vocabulary_size}). "
            f"Received: {c_name}={cutoffs!r}")
    for i in range(len(ints)):
        if cluster_width(output_dim, div_value, i) < 1:
            raise ValueError(
                f"Tail cluster {i} would have width {output_dim} // "
                f"{div_value} ** {i + 1} < 1 (the embedding width over "
                f"{d_name} to the power {i + 1}): use fewer cutoffs or a "
                f"smaller {d_name}. Received: {c_name}={cutoffs!r}, "
                f"{d_name}={div_value!r}, embedding width {output_dim}")
    return ints


@keras.saving.register_keras_serializable(package=PACKAGE)
class AdaptiveSoftmaxEmbedding(keras.layers.Layer):
    """An embedding whose reverse call is an adaptive softmax.

    Called on token ids it looks them up, as `keras.layers.Embedding` does.
    Called with `reverse=True` on features `(..., output_dim)` it returns
    float32 log-probabilities over the whole vocabulary, computed as the
    adaptive softmax of Grave et al. (2017): the vocabulary, sorted by
    frequency, is cut at `cutoffs` into a head (the ids below
    `cutoffs[0]`) and tail clusters. The head softmax scores the head words
    and one entry per cluster; cluster `i` scores its own words in a
    softmax of width `output_dim // div_value ** (i + 1)`. The
    log-probability of a tail word is its cluster's head entry plus its
    log-probability within the cluster, so every word gets an exact
    probability and they sum to one.

    Most of a softmax's cost is the head's, so the rare words' clusters
    cost a fraction of what a full softmax spends on them. With
    `tie_weights=True` the head words score against their input
    embeddings (Press & Wolf 2017) and a tail word against its input
    embedding mapped into the cluster's width by a learned projection;
    with `tie_weights=False` the layout is PyTorch's
    `nn.AdaptiveLogSoftmaxWithLoss` (with a bias per tail word, which
    starts at zero).

    Args:
        input_dim: vocabulary size; ids must be sorted by frequency (the
            zoo's word vocabularies are) for the cut to pay off.
        output_dim: the embedding width, and the width of the features the
            reverse call takes.
        cutoffs: list of ints, strictly increasing in `[1, input_dim)`:
            where each tail cluster starts.
        div_value: number > 0: each cluster's width is the previous one's
            divided by it. Default: `4.0`.
        tie_weights: score words against their input embeddings.
            Default: `True`.
        embeddings_initializer: initialiser of the embedding table.
            Default: `"uniform"`.
        kernel_initializer: initialiser of the other matrices.
            Default: `"glorot_uniform"`.

    Call arguments:
        inputs: int ids `(...)`, or features `(..., output_dim)` with
            `reverse=True`.
        reverse: bool: look up (`False`) or return log-probabilities
            `(..., input_dim)` (`True`).

    Example:

    >>> layer = AdaptiveSoftmaxEmbedding(50, 16, cutoffs=[10, 30])
    >>> x = layer(np.zeros((2, 5), "int32"))
    >>> x.shape
    (2, 5, 16)
    >>> logp = layer(x, reverse=True)
    >>> logp.shape
    (2, 5, 50)
    >>> p = np.exp(keras.ops.convert_to_numpy(logp)).sum(-1)
    >>> bool(np.allclose(p, 1.0, atol=1e-5))
    True
    """

    def __init__(self, input_dim, output_dim, cutoffs, div_value=4.0,
                 tie_weights=True, embeddings_initializer="uniform",
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        for name, value in (("input_dim", input_dim),
                            ("output_dim", output_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int. "
                                 f"Received: {name}={value!r}")
        if not isinstance(tie_weights, bool):
            raise ValueError("`tie_weights` must be True or False. "
                             f"Received: tie_weights={tie_weights!r}")
        self.cutoffs = check_cutoffs(cutoffs, input_dim, div_value, output_dim)
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.div_value = float(div_value)
        self.tie_weights = tie_weights
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        bounds = self.cutoffs + [input_dim]
        self._clusters = [
            (lo, hi, cluster_width(output_dim, self.div_value, i))
            for i, (lo, hi) in enumerate(zip(bounds, bounds[1:]))]

    def build(self, input_shape=None):
        d, shortlist = self.output_dim, self.cutoffs[0]
        n = len(self._clusters)
        kernel = self.kernel_initializer
        self.embeddings = self.add_weight(
            shape=(self.input_dim, d), name="embeddings",
            initializer=self.embeddings_initializer)
        if self.tie_weights:
            self.cluster_embeddings = self.add_weight(
                shape=(n, d), name="cluster_embeddings", initializer=kernel)
        else:
            self.head_kernel = self.add_weight(
                shape=(d, shortlist + n), name="head_kernel",
                initializer=kernel)
        self.head_bias = self.add_weight(
            shape=(shortlist + n,), name="head_bias", initializer="zeros")
        self.tail_projections, self.tail_kernels, self.tail_biases = [], [], []
        for i, (lo, hi, width) in enumerate(self._clusters):
            self.tail_projections.append(self.add_weight(
                shape=(d, width), name=f"tail_projection_{i}",
                initializer=kernel))
            if self.tie_weights:
                # maps the cluster's input embeddings into its width
                self.tail_kernels.append(self.add_weight(
                    shape=(d, width), name=f"tail_embedding_projection_{i}",
                    initializer=kernel))
            else:
                self.tail_kernels.append(self.add_weight(
                    shape=(width, hi - lo), name=f"tail_kernel_{i}",
                    initializer=kernel))
            self.tail_biases.append(self.add_weight(
                shape=(hi - lo,), name=f"tail_bias_{i}", initializer="zeros"))

    def _rows(self, lo, hi, dtype):
        rows = ops.slice(ops.convert_to_tensor(self.embeddings), (lo, 0),
                         (hi - lo, self.output_dim))
        return ops.cast(rows, dtype)

    def call(self, inputs, reverse=False):
        if not reverse:
            if "int" not in str(inputs.dtype):
                inputs = ops.cast(inputs, "int32")
            return ops.take(self.embeddings, inputs, axis=0)
        shortlist = self.cutoffs[0]
        head = self._head(inputs)
        parts = [head[..., :shortlist]]
        for i in range(len(self._clusters)):
            parts.append(self._tail(inputs, i)
                         + head[..., shortlist + i:shortlist + i + 1])
        return ops.concatenate(parts, axis=-1)

    def _head(self, features):
        """float32 log-probabilities of the head words and the clusters."""
        shortlist, dtype = self.cutoffs[0], features.dtype
        if self.tie_weights:
            head_weights = ops.concatenate(
                [self._rows(0, shortlist, dtype),
                 ops.cast(self.cluster_embeddings, dtype)], axis=0)
            head = ops.matmul(features, ops.transpose(head_weights))
        else:
            head = ops.matmul(features, ops.cast(self.head_kernel, dtype))
        head = ops.cast(head, "float32") + ops.cast(self.head_bias, "float32")
        return ops.log_softmax(head, axis=-1)

    def _tail(self, features, i):
        """float32 log-probabilities of cluster `i`'s words within it."""
        lo, hi, _ = self._clusters[i]
        dtype = features.dtype
        h = ops.matmul(features, ops.cast(self.tail_projections[i], dtype))
        kernel = ops.cast(self.tail_kernels[i], dtype)
        if self.tie_weights:
            words = ops.matmul(self._rows(lo, hi, dtype), kernel)
            tail = ops.matmul(h, ops.transpose(words))
        else:
            tail = ops.matmul(h, kernel)
        tail = ops.cast(tail, "float32") + ops.cast(self.tail_biases[i],
                                                    "float32")
        return ops.log_softmax(tail, axis=-1)

    def nll(self, features, targets):
        """The negative log-likelihood of each target, without the full
        log-probabilities: the loss an adaptive softmax trains on.

        The head scores every position; a cluster scores only the
        positions whose target it holds (on the JAX backend, whose traced
        shapes must be static, it scores every position and keeps those).
        It equals `-log_softmax(layer(features, reverse=True))` at the
        targets.

        Args:
            features: `(..., output_dim)`, as the reverse call takes.
            targets: int ids `(...)`.

        Returns:
            float32 `(...)`, the shape of `targets`.

        Example:

        >>> layer = AdaptiveSoftmaxEmbedding(50, 16, cutoffs=[10, 30])
        >>> x = layer(np.array([[1, 20, 40]]))
        >>> layer.nll(x, np.array([[1, 20, 40]])).shape
        (1, 3)
        """
        shortlist = self.cutoffs[0]
        shape = ops.shape(targets)
        x = ops.reshape(features, (-1, self.output_dim))
        x = ops.cast(x, self.compute_dtype)
        y = ops.reshape(ops.cast(targets, "int32"), (-1,))
        cluster = sum(ops.cast(ops.greater_equal(y, c), "int32")
                      for c in self.cutoffs)
        head_index = ops.where(cluster > 0, shortlist + cluster - 1, y)
        nll = -ops.take_along_axis(self._head(x),
                                   ops.expand_dims(head_index, 1), axis=1)[:, 0]
        dynamic = keras.backend.backend() != "jax"
        for i, (lo, hi, _) in enumerate(self._clusters):
            inside = ops.equal(cluster, i + 1)
            if dynamic:
                rows = ops.nonzero(inside)[0]
                word = ops.take(y, rows) - lo
                lp = ops.take_along_axis(
                    self._tail(ops.take(x, rows, axis=0), i),
                    ops.expand_dims(word, 1), axis=1)[:, 0]
                # one vectorised update on every backend (ops.scatter
                # loops per index on PyTorch)
                nll = nll - ops.scatter_update(
                    ops.zeros_like(nll), ops.expand_dims(rows, 1), lp)
            else:
                word = ops.clip(y - lo, 0, hi - lo - 1)
                lp = ops.take_along_axis(self._tail(x, i),
                                         ops.expand_dims(word, 1), axis=1)[:, 0]
                nll = nll - ops.where(inside, lp, ops.zeros_like(lp))
        return ops.reshape(nll, shape)

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return (*input_shape[:-1], self.input_dim)
        return (*input_shape, self.output_dim)

    def compute_output_spec(self, inputs, reverse=False):
        shape = self.compute_output_shape(tuple(inputs.shape), reverse=reverse)
        return keras.KerasTensor(
            shape, dtype="float32" if reverse else self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "cutoffs": list(self.cutoffs),
            "div_value": self.div_value,
            "tie_weights": self.tie_weights,
            "embeddings_initializer": keras.initializers.serialize(
                self.embeddings_initializer),
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer),
        }
