"""The adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015).

Each example is a sequence of `length` pairs `(value, marker)`: values are
uniform in [0, 1); exactly two markers are 1, one in the first half of the
sequence and one in the second half, the rest 0. The target is the sum of the
two marked values. Always predicting 1 (the mean of the target) scores
MSE = Var(u1 + u2) = 2/12 ≈ 0.167: the baseline a model must beat.
"""

import numpy as np

ADDING_BASELINE_MSE = 1.0 / 6.0


def _check(length, n):
    if not isinstance(length, (int, np.integer)) or length < 2:
        raise ValueError(f"`length` must be an integer >= 2. Received: {length!r}")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the number of examples must be >= 1. Received: {n!r}")


def adding_arrays(n, length, seed=0, rng=None):
    """`n` adding-problem examples as NumPy arrays.

    Args:
        n: number of examples.
        length: sequence length T (>= 2).
        seed: seed of a fresh `np.random.default_rng` (ignored if `rng`).
        rng: optional `np.random.Generator` to draw from.

    Returns:
        `(x, y)`: `x` float32 `(n, length, 2)` with channels (value, marker),
        `y` float32 `(n, 1)` the sum of the two marked values.
    """
    _check(length, n)
    rng = np.random.default_rng(seed) if rng is None else rng
    values = rng.random((n, length), dtype=np.float32)
    half = length // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, length, size=n)
    markers = np.zeros((n, length), np.float32)
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1)
    y = (values[rows, first] + values[rows, second])[:, None]
    return x, y.astype(np.float32)


def adding_dataset(length, batch_size=32, seed=0, num_batches=None):
    """A seeded `tf.data.Dataset` of adding-problem batches `(x, y)`.

    Args:
        length: sequence length T.
        batch_size: examples per batch.
        seed: the same seed gives the same stream of batches.
        num_batches: stop after this many batches; `None` repeats forever.

    Returns:
        A dataset of `(x, y)`, shapes `(batch, T, 2)` and `(batch, 1)`.
    """
    import tensorflow as tf

    _check(length, batch_size)

    def gen():
        rng = np.random.default_rng(seed)
        k = 0
        while num_batches is None or k < num_batches:
            yield adding_arrays(batch_size, length, rng=rng)
            k += 1

    return tf.data.Dataset.from_generator(
        gen,
        output_signature=(
            tf.TensorSpec((batch_size, length, 2), tf.float32),
            tf.TensorSpec((batch_size, 1), tf.float32),
        ),
    )
