"""The classifier's no-standardisation split (`zoo.models.text`) on every
backend: TensorFlow hands the standardisation string tensors, PyTorch and
JAX hand it NumPy arrays; both must give the words of `str.split()`."""

import keras
import numpy as np
import pytest

pytest.importorskip("tensorflow")  # TextVectorization runs on TensorFlow

from zoo.models.text import split_on_unicode_whitespace  # noqa: E402

TEXTS = ["great\u00a0film", "a\u2028b\u3000great", " film\x85\x1ca ",
         "a\u200bb", "", "GREAT film"]


def test_text_vectorization_splits_like_str_split_on_this_backend():
    vocabulary = ["a", "b", "great", "film", "a\u200bb"]
    seen = []

    def standardize(inputs):
        seen.append(isinstance(inputs, np.ndarray))
        return split_on_unicode_whitespace(inputs)

    layer = keras.layers.TextVectorization(
        standardize=standardize, vocabulary=vocabulary)
    ids = keras.ops.convert_to_numpy(layer(np.array(TEXTS))).tolist()
    table = layer.get_vocabulary()
    got = [[table[i] for i in row if i] for row in ids]
    want = [[t if t in vocabulary else "[UNK]" for t in text.split()]
            for text in TEXTS]
    assert got == want
    assert got[0] == ["great", "film"] and got[3] == ["a\u200bb"]
    # the path this backend takes: NumPy strings off TensorFlow
    assert seen == [keras.backend.backend() != "tensorflow"]
