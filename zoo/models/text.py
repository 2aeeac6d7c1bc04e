r"""How the classifier's `TextVectorization` reads a text with no standardisation.

A word-level language model trained on a text corpus splits its words as
Python's `str.split()` does: on Unicode whitespace (space, tab, newline,
U+00A0, U+0085, U+2028, ...). `TextVectorization(standardize=None)` splits
on ASCII whitespace only, so a classifier started from such a model would
read "great\u00a0film" as one unknown word where the model saw two. The
classifier therefore passes `split_on_unicode_whitespace` as its
standardisation when it has none: every separator becomes a space, and the
split that follows gives the words `str.split()` gives.
"""

import keras
import numpy as np

from zoo.layers.base import PACKAGE

# What a classifier's `standardize` may be: Keras' named standardisations,
# or None (split only). A callable would not survive the classifier's
# `.keras` round trip, and the export and `--init-from` know these only.
STANDARDIZATIONS = (None, "lower_and_strip_punctuation", "lower",
                    "strip_punctuation")

# The characters `str.split()` splits on, as an RE2 class: ASCII whitespace,
# the separators U+001C-U+001F and U+0085, and every character of Unicode
# category Z (spaces, U+2028, U+2029). The exported language models split
# with the same class (`training.data.vocab.WORD_SEPARATORS`).
SEPARATORS = r"[\t\n\x0b\x0c\r\x1c-\x1f\x{85}\p{Z}]+"


@keras.saving.register_keras_serializable(package=PACKAGE)
def split_on_unicode_whitespace(inputs):
    r"""Replaces each run of Unicode whitespace with one ASCII space.

    A `TextVectorization` standardisation: the layer's whitespace split
    then gives the words of `str.split()`. TensorFlow strings (the
    TensorFlow backend, `tf.data` there, an exported SavedModel) take RE2.
    Called eagerly on the other backends, the layer hands its
    standardisation a NumPy array of strings, which takes `str.split()`
    itself. (The classifier's string input needs the TensorFlow backend.)

    Args:
        inputs: a string tensor, or a NumPy array of strings.

    Returns:
        The same kind and shape, with separators replaced.

    Example:

    >>> import numpy as np
    >>> split_on_unicode_whitespace(np.array(["great\u00a0film"])).tolist()
    ['great film']
    """
    if isinstance(inputs, np.ndarray):
        out = [" ".join(as_text(s).split()) for s in inputs.ravel()]
        return np.array(out, dtype=object).reshape(inputs.shape)
    import tensorflow as tf

    return tf.strings.regex_replace(inputs, SEPARATORS, " ")


def as_text(value):
    """`value` as `str` (bytes are UTF-8)."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def vectorizer_standardize(standardize):
    """The `standardize` a classifier's `TextVectorization` takes for the
    classifier's `standardize` setting: the setting itself, or
    `split_on_unicode_whitespace` for `None`."""
    return split_on_unicode_whitespace if standardize is None else standardize
