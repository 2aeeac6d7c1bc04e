"""Mixed precision: weights are cast once per sequence, outputs stay close."""

import keras
import numpy as np
import pytest

from zoo import layers

to_np = keras.ops.convert_to_numpy


@pytest.fixture
def bf16_policy():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU, layers.SimpleRNN])
def test_mixed_bfloat16_matches_float32_within_bf16_precision(bf16_policy, cls):
    x = np.random.default_rng(0).normal(size=(2, 6, 4)).astype("float32")
    mixed = cls(8, return_sequences=True)
    y_mixed = mixed(x)
    assert mixed.cell.compute_dtype == "bfloat16"
    assert mixed.cell.variable_dtype == "float32"
    assert keras.backend.standardize_dtype(y_mixed.dtype) == "bfloat16"
    assert mixed.cell._cached_weights is None  # cache dropped after the loop
    keras.mixed_precision.set_global_policy("float32")
    full = cls(8, return_sequences=True)
    full(x)
    full.set_weights(mixed.get_weights())
    np.testing.assert_allclose(
        to_np(keras.ops.cast(y_mixed, "float32")), to_np(full(x)), atol=3e-2
    )
