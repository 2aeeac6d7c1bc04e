"""The GPU fast path: when the fused (cuDNN) kernel is chosen, and that it
computes what the cell loop computes.

On this CPU-only machine the backend's fused kernel declines (it raises
`NotImplementedError`), so the tests substitute it with an independent
reference, Keras' own LSTM/GRU loop (`use_cudnn=False`) over the same
weights, and check the dispatch and the equality of both paths.
"""

import keras
import numpy as np
import pytest

from zoo import layers
from zoo.layers import base as base_module

to_np = keras.ops.convert_to_numpy
from zoo.layers import gru as gru_module
from zoo.layers import lstm as lstm_module


class _FakeBackend:
    """Stands in for `keras.src.backend` with a 'fused' kernel we can count."""

    def __init__(self):
        self.calls = 0

    def lstm(self, inputs, h0, c0, mask, kernel, recurrent_kernel, bias,
             activation, recurrent_activation, return_sequences, go_backwards,
             unroll):
        self.calls += 1
        ref = keras.layers.LSTM(kernel.shape[1] // 4, use_cudnn=False,
                                return_sequences=True, return_state=True,
                                go_backwards=go_backwards)
        ref.build(inputs.shape)
        ref.set_weights([to_np(kernel), to_np(recurrent_kernel), to_np(bias)])
        seq, h, c = ref(inputs, initial_state=[h0, c0], mask=mask)
        return h, seq, [h, c]

    def gru(self, inputs, h0, mask, kernel, recurrent_kernel, bias, activation,
            recurrent_activation, return_sequences, go_backwards, unroll,
            reset_after):
        self.calls += 1
        ref = keras.layers.GRU(kernel.shape[1] // 3, use_cudnn=False,
                               return_sequences=True, return_state=True,
                               go_backwards=go_backwards, reset_after=reset_after)
        ref.build(inputs.shape)
        ref.set_weights([to_np(kernel), to_np(recurrent_kernel), to_np(bias)])
        seq, h = ref(inputs, initial_state=[h0], mask=mask)
        return h, seq, [h]


@pytest.fixture
def fake_backend(monkeypatch):
    fake = _FakeBackend()
    monkeypatch.setattr(base_module, "fused_device_available", lambda: True)
    monkeypatch.setattr(lstm_module, "backend", fake)
    monkeypatch.setattr(gru_module, "backend", fake)
    return fake


STANDARD = [(layers.LSTM, {}), (layers.GRU, {})]
NON_STANDARD = [
    (layers.LSTM, {"activation": "relu"}),
    (layers.LSTM, {"recurrent_activation": "hard_sigmoid"}),
    (layers.LSTM, {"use_bias": False}),
    (layers.LSTM, {"recurrent_dropout": 0.2}),
    (layers.LSTM, {"use_cudnn": False}),
    (layers.GRU, {"reset_after": False}),
    (layers.GRU, {"recurrent_dropout": 0.2}),
    (layers.SimpleRNN, {}),
]


@pytest.mark.parametrize("cls,kwargs", STANDARD)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_standard_config_takes_fused_path_with_equal_outputs(fake_backend, cls, kwargs, go_backwards):
    x = np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")
    mask = np.ones((3, 6), bool)
    mask[1, 3:] = False
    layer = cls(5, return_sequences=True, go_backwards=go_backwards, **kwargs)
    assert layer.fused_kernel_supported()
    fused = to_np(layer(x, mask=mask))
    assert layer.last_path == "fused" and fake_backend.calls == 1
    loop = cls.from_config({**layer.get_config(), "use_cudnn": False})
    loop.build(x.shape)
    loop.set_weights(layer.get_weights())
    looped = to_np(loop(x, mask=mask))
    assert loop.last_path == "loop" and fake_backend.calls == 1
    np.testing.assert_allclose(fused, looped, atol=1e-5)


@pytest.mark.parametrize("cls,kwargs", NON_STANDARD)
def test_non_standard_config_uses_cell_loop(fake_backend, cls, kwargs):
    layer = cls(5, **kwargs)
    assert not layer.fused_kernel_supported()
    layer(np.zeros((2, 3, 4), "float32"), training=True)
    assert layer.last_path == "loop" and fake_backend.calls == 0


def test_backend_declining_falls_back_to_loop():
    # Without a GPU the cell loop runs although the configuration is standard.
    layer = layers.LSTM(4)
    assert layer.fused_kernel_supported()
    layer(np.zeros((2, 3, 4), "float32"))
    assert base_module.fused_device_available() == _gpu_available()
    if not _gpu_available():
        assert layer.last_path == "loop"


def test_use_cudnn_true_without_fused_kernel_is_a_clear_error():
    if _gpu_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="use_cudnn=True"):
        layers.GRU(4, use_cudnn=True)(np.zeros((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match="use_cudnn"):
        layers.GRU(4, use_cudnn="yes")


def _gpu_available():
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return False


def test_weight_drop_keeps_the_fused_path_with_the_dropped_weights(fake_backend,
                                                                  monkeypatch):
    seen = []
    real = fake_backend.lstm

    def recording(inputs, h0, c0, mask, kernel, recurrent_kernel, bias, **kw):
        seen.append(to_np(recurrent_kernel))
        return real(inputs, h0, c0, mask, kernel, recurrent_kernel, bias, **kw)

    monkeypatch.setattr(fake_backend, "lstm", recording)
    x = np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")
    layer = layers.LSTM(5, weight_drop=0.5, return_sequences=True)
    assert layer.fused_kernel_supported()
    layer(x, training=True)
    assert layer.last_path == "fused"
    rk = to_np(layer.cell.recurrent_kernel)
    dropped = seen[-1]
    assert 0.3 < (dropped == 0).mean() < 0.7
    kept = dropped != 0
    np.testing.assert_allclose(dropped[kept], rk[kept] * 2.0, rtol=1e-6)
    layer(x, training=False)  # inference: the weights as they are
    np.testing.assert_array_equal(seen[-1], rk)


@pytest.mark.skipif(keras.backend.backend() != "torch",
                    reason="Keras' PyTorch fused kernel (torch._VF.lstm/gru)")
@pytest.mark.parametrize("cls,kwargs", [
    (layers.LSTM, {}), (layers.LSTM, {"weight_drop": 0.5}),
    (layers.GRU, {}), (layers.GRU, {"weight_drop": 0.5}),
])
def test_torch_fused_kernel_on_cpu_equals_the_cell_loop(monkeypatch, cls,
                                                        kwargs):
    """Keras' PyTorch fused kernels (`_cudnn_lstm` / `_cudnn_gru`, which call
    `torch._VF.lstm` / `gru`, the ops cuDNN runs on a GPU) run on the CPU
    here, with the GPU check patched; the layer must take that path and
    agree with its own cell loop."""
    import importlib

    torch_rnn = importlib.import_module("keras.src.backend.torch.rnn")
    from keras.src.backend.torch.core import convert_to_tensor

    calls = []

    def tensors(*values):
        return [None if v is None else convert_to_tensor(v) for v in values]

    class TorchFused:
        def lstm(self, inputs, h0, c0, mask, kernel, recurrent_kernel, bias,
                 activation, recurrent_activation, return_sequences,
                 go_backwards, unroll):
            calls.append("lstm")
            assert mask is None and not go_backwards
            inputs, h0, c0, kernel, recurrent_kernel, bias = tensors(
                inputs, h0, c0, kernel, recurrent_kernel, bias)
            return torch_rnn._cudnn_lstm(
                inputs, h0, c0, kernel, recurrent_kernel, bias,
                return_sequences=return_sequences, device=inputs.device)

        def gru(self, inputs, h0, mask, kernel, recurrent_kernel, bias,
                activation, recurrent_activation, return_sequences,
                go_backwards, unroll, reset_after):
            calls.append("gru")
            inputs, h0, kernel, recurrent_kernel, bias = tensors(
                inputs, h0, kernel, recurrent_kernel, bias)
            return torch_rnn._cudnn_gru(
                inputs, h0, kernel, recurrent_kernel, bias,
                return_sequences=return_sequences, device=inputs.device)

    monkeypatch.setattr(base_module, "fused_device_available", lambda: True)
    monkeypatch.setattr(lstm_module, "backend", TorchFused())
    monkeypatch.setattr(gru_module, "backend", TorchFused())
    x = np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")
    layer = cls(5, return_sequences=True, **kwargs)
    fused = to_np(layer(x))
    assert layer.last_path == "fused" and len(calls) == 1
    loop = cls.from_config({**layer.get_config(), "use_cudnn": False})
    loop.build(x.shape)
    loop.set_weights(layer.get_weights())
    np.testing.assert_allclose(fused, to_np(loop(x)), atol=1e-5)
    assert loop.last_path == "loop"
    if kwargs:  # weight drop in training still runs the fused kernel
        layer(x, training=True)
        assert layer.last_path == "fused" and len(calls) == 2
