"""The copy-memory task (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016).

Alphabet: 0 = blank, 1..8 = data symbols, 9 = delimiter. An input of length
`delay + 2 * num_symbols` is `num_symbols` random data symbols, `delay - 1`
blanks, the delimiter, then `num_symbols` blanks. The target is blank
everywhere except the last `num_symbols` steps, where it repeats the data
symbols in order. Predicting blanks and then uniform guesses over the 8 data
symbols scores a cross-entropy of `num_symbols * log(8) / total_length` per
step (`copy_memory_baseline`).
"""

import math

import numpy as np

BLANK = 0
DELIMITER = 9
NUM_CLASSES = 10
DATA_SYMBOLS = 8


def copy_memory_baseline(delay, num_symbols=10):
    """Per-step cross-entropy of the memoryless strategy (nats)."""
    return num_symbols * math.log(DATA_SYMBOLS) / (delay + 2 * num_symbols)


def copy_memory_arrays(n, delay, num_symbols=10, seed=0, rng=None):
    """`n` copy-memory examples as int32 arrays `(x, y)`, both `(n, L)`.

    `L = delay + 2 * num_symbols`; `x[:, :num_symbols]` are the data,
    `x[:, delay + num_symbols - 1]` is the delimiter and
    `y[:, -num_symbols:] == x[:, :num_symbols]`.
    """
    if delay < 1 or num_symbols < 1 or n < 1:
        raise ValueError(
            "`n`, `delay` and `num_symbols` must be >= 1. Received: "
            f"n={n}, delay={delay}, num_symbols={num_symbols}"
        )
    rng = np.random.default_rng(seed) if rng is None else rng
    length = delay + 2 * num_symbols
    data = rng.integers(1, DATA_SYMBOLS + 1, size=(n, num_symbols))
    x = np.zeros((n, length), np.int32)
    x[:, :num_symbols] = data
    x[:, delay + num_symbols - 1] = DELIMITER
    y = np.zeros((n, length), np.int32)
    y[:, -num_symbols:] = data
    return x, y


def copy_memory_dataset(delay, batch_size=32, num_symbols=10, seed=0,
                        num_batches=None):
    """A seeded `tf.data.Dataset` of copy-memory batches `(x, y)` (int32)."""
    import tensorflow as tf

    length = delay + 2 * num_symbols

    def gen():
        rng = np.random.default_rng(seed)
        k = 0
        while num_batches is None or k < num_batches:
            yield copy_memory_arrays(batch_size, delay, num_symbols, rng=rng)
            k += 1

    spec = tf.TensorSpec((batch_size, length), tf.int32)
    return tf.data.Dataset.from_generator(gen, output_signature=(spec, spec))
