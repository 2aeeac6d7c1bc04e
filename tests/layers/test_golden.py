"""Golden tests: the zoo's layers match Keras' own given the same weights.

Keras' `LSTM`, `GRU` and `SimpleRNN` (with `use_cudnn=False` where it
applies) are the independent reference: forward outputs and gradients with
respect to the inputs and every weight, with and without masks, uni- and
bidirectional.
"""

import keras
import numpy as np
import pytest

from tests.layers._grad import loss_and_grads
from zoo import layers

to_np = keras.ops.convert_to_numpy

ATOL = 1e-5

CASES = [
    ("lstm", layers.LSTM, keras.layers.LSTM, {}),
    ("lstm_no_forget_bias", layers.LSTM, keras.layers.LSTM, {"unit_forget_bias": False}),
    ("gru_reset_after", layers.GRU, keras.layers.GRU, {"reset_after": True}),
    ("gru_reset_before", layers.GRU, keras.layers.GRU, {"reset_after": False}),
    ("simple_rnn", layers.SimpleRNN, keras.layers.SimpleRNN, {}),
]


def _reference(cls, units, **kwargs):
    if cls is not keras.layers.SimpleRNN:
        kwargs["use_cudnn"] = False
    return cls(units, **kwargs)


def _pair(ours_cls, ref_cls, kwargs, x, bidirectional=False, **layer_kwargs):
    ref = _reference(ref_cls, 6, **kwargs, **layer_kwargs)
    ours = ours_cls(6, **kwargs, **layer_kwargs)
    if bidirectional:
        ref = keras.layers.Bidirectional(ref)
        ours = keras.layers.Bidirectional(ours)
    ref(x)
    ours(x)
    # Random (not initial) weights so every gate matters.
    rng = np.random.default_rng(0)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in ref.get_weights()]
    ref.set_weights(weights)
    ours.set_weights(weights)
    return ours, ref


def _inputs(batch=3, time=7, features=5, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, time, features)).astype("float32")
    mask = np.ones((batch, time), dtype=bool)
    mask[1, 4:] = False  # right-padded rows of different lengths
    mask[2, 2:] = False
    return x, mask


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("name,ours_cls,ref_cls,kwargs", CASES, ids=[c[0] for c in CASES])
def test_outputs_and_gradients_match_keras(name, ours_cls, ref_cls, kwargs, masked, bidirectional):
    x, mask = _inputs()
    ours, ref = _pair(ours_cls, ref_cls, kwargs, x, bidirectional, return_sequences=True)
    m = mask if masked else None
    weight = np.random.default_rng(2).normal(size=(3, 7, 12 if bidirectional else 6)).astype("float32")
    y_ref, g_ref = loss_and_grads(ref, x, m, weight)
    y_ours, g_ours = loss_and_grads(ours, x, m, weight)
    np.testing.assert_allclose(y_ours, y_ref, atol=ATOL)
    assert len(g_ours) == len(g_ref)
    for a, b in zip(g_ours, g_ref):
        np.testing.assert_allclose(a, b, atol=ATOL)


@pytest.mark.parametrize("name,ours_cls,ref_cls,kwargs", CASES, ids=[c[0] for c in CASES])
def test_last_output_states_and_go_backwards_match(name, ours_cls, ref_cls, kwargs):
    x, mask = _inputs(seed=3)
    ours, ref = _pair(ours_cls, ref_cls, kwargs, x, return_state=True, go_backwards=True)
    out_ref = ref(x, mask=mask)
    out_ours = ours(x, mask=mask)
    assert len(out_ref) == len(out_ours)
    for a, b in zip(out_ours, out_ref):
        np.testing.assert_allclose(to_np(a), to_np(b), atol=ATOL)


def test_weight_layout_matches_keras():
    x, _ = _inputs()
    for ours_cls, ref_cls, kwargs in [(c[1], c[2], c[3]) for c in CASES]:
        ours, ref = _pair(ours_cls, ref_cls, kwargs, x)
        assert [w.shape for w in ours.weights] == [w.shape for w in ref.weights]
        assert [w.name for w in ours.weights] == [w.name for w in ref.weights]


def test_unit_forget_bias_initialises_forget_gate_to_one():
    layer = layers.LSTM(4)
    layer(np.zeros((1, 2, 3), "float32"))
    bias = to_np(layer.cell.bias)
    np.testing.assert_array_equal(bias[4:8], 1.0)
    np.testing.assert_array_equal(np.concatenate([bias[:4], bias[8:]]), 0.0)
