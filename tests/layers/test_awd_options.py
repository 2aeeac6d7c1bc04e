"""The AWD-LSTM-era options of the cells and stacks: weight drop, zoneout,
layer normalisation, LSTMP projection, locked and word dropout, AR/TAR.

The references are independent: Keras' own LSTM/GRU (weight drop at
inference, every option at rate 0), numpy loops written from the papers'
equations (layer norm, zoneout's expectation), and PyTorch's `nn.LSTM` with
`proj_size` for the projection (outputs and gradients). These tests run on
the TensorFlow, PyTorch and JAX backends (`.ci/run`).
"""

import keras
import numpy as np
import pytest

from tests.layers._grad import loss_and_grads
from zoo import layers
from zoo.layers import base as base_module

to_np = keras.ops.convert_to_numpy
RNG = np.random.default_rng(0)


def _x(b=3, t=6, d=4, seed=0):
    return np.random.default_rng(seed).normal(size=(b, t, d)).astype("float32")


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _np_ln(v, gamma, beta=None, eps=1e-5):
    mean = v.mean(-1, keepdims=True)
    var = ((v - mean) ** 2).mean(-1, keepdims=True)
    out = (v - mean) / np.sqrt(var + eps) * gamma
    return out if beta is None else out + beta


def _randomize(layer, seed=1):
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(scale=0.4, size=w.shape).astype("float32")
                       for w in layer.get_weights()])


# ---------------------------------------------------------------- golden


@pytest.mark.parametrize("cls,ref_cls", [(layers.LSTM, keras.layers.LSTM),
                                         (layers.GRU, keras.layers.GRU)])
def test_weight_drop_at_inference_equals_keras(cls, ref_cls):
    x = _x()
    ours = cls(5, weight_drop=0.5, return_sequences=True)
    ref = ref_cls(5, use_cudnn=False, return_sequences=True)
    ours.build(x.shape)
    ref.build(x.shape)
    _randomize(ref)
    ours.set_weights(ref.get_weights())
    np.testing.assert_allclose(to_np(ours(x, training=False)),
                               to_np(ref(x)), atol=1e-5)


@pytest.mark.parametrize("cls,ref_cls,extra", [
    (layers.LSTM, keras.layers.LSTM, {"cell_zoneout": 0.0}),
    (layers.GRU, keras.layers.GRU, {}),
    (layers.SimpleRNN, keras.layers.SimpleRNN, {}),
])
def test_every_option_at_rate_zero_equals_the_plain_cell(cls, ref_cls, extra):
    x = _x()
    ours = cls(5, weight_drop=0.0, zoneout=0.0, layer_norm=False,
               return_sequences=True, **extra)
    kwargs = {} if ref_cls is keras.layers.SimpleRNN else {"use_cudnn": False}
    ref = ref_cls(5, return_sequences=True, **kwargs)
    ours.build(x.shape)
    ref.build(x.shape)
    _randomize(ref)
    ours.set_weights(ref.get_weights())
    for training in (False, True):
        np.testing.assert_allclose(to_np(ours(x, training=training)),
                                   to_np(ref(x)), atol=1e-5)


@pytest.mark.parametrize("cls,kwargs", [
    (layers.LSTM, {"zoneout": 1.0, "cell_zoneout": 1.0}),
    (layers.GRU, {"zoneout": 1.0}),
    (layers.SimpleRNN, {"zoneout": 1.0}),
])
@pytest.mark.parametrize("training", [False, True])
def test_zoneout_at_rate_one_keeps_the_state(cls, kwargs, training):
    x = _x()
    layer = cls(5, return_sequences=True, return_state=True, **kwargs)
    layer.build(x.shape)
    _randomize(layer)
    sizes = layer.cell._state_sizes()
    init = [np.random.default_rng(k).normal(size=(3, s)).astype("float32")
            for k, s in enumerate(sizes)]
    seq, *states = layer(x, initial_state=init, training=training)
    seq = to_np(seq)
    for t in range(x.shape[1]):
        np.testing.assert_allclose(seq[:, t], init[0], atol=1e-6)
    for s, s0 in zip(states, init):
        np.testing.assert_allclose(to_np(s), s0, atol=1e-6)


def _np_lstm(x, kernel, rk, bias, h0=None, c0=None, *, ln=None, zone=(0, 0),
             proj=None):
    """An LSTM written from the equations; `ln = (gate_gamma, cell_gamma,
    cell_beta)`, `zone` = zoneout rates at inference (expectation)."""
    b, t, _ = x.shape
    units = rk.shape[1] // 4
    h = np.zeros((b, rk.shape[0]), "float32") if h0 is None else h0
    c = np.zeros((b, units), "float32") if c0 is None else c0
    out = []
    for s in range(t):
        zx, zh = x[:, s] @ kernel, h @ rk
        if ln is not None:
            zx, zh = _np_ln(zx, ln[0][0]), _np_ln(zh, ln[0][1])
        z = zx + zh + bias
        i, f, g, o = np.split(z, 4, axis=-1)
        c_new = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        c_out = c_new if ln is None else _np_ln(c_new, ln[1], ln[2])
        h_new = _sigmoid(o) * np.tanh(c_out)
        if proj is not None:
            h_new = h_new @ proj
        h = zone[0] * h + (1 - zone[0]) * h_new
        c = zone[1] * c + (1 - zone[1]) * c_new
        out.append(h)
    return np.stack(out, 1)


def test_layer_norm_lstm_matches_numpy():
    x = _x()
    layer = layers.LSTM(5, layer_norm=True, return_sequences=True)
    layer.build(x.shape)
    _randomize(layer)
    cell = layer.cell
    expected = _np_lstm(
        x, to_np(cell.kernel), to_np(cell.recurrent_kernel), to_np(cell.bias),
        ln=(to_np(cell.gate_norm_gamma), to_np(cell.cell_norm_gamma),
            to_np(cell.cell_norm_beta)))
    np.testing.assert_allclose(to_np(layer(x)), expected, atol=1e-4)
    # the state is the unnormalised c, as in haste's LayerNormLSTM
    assert cell.state_size == [5, 5]


def test_layer_norm_gru_matches_numpy():
    x = _x()
    layer = layers.GRU(5, layer_norm=True, return_sequences=True)
    layer.build(x.shape)
    _randomize(layer)
    cell = layer.cell
    kernel, rk, bias = (to_np(cell.kernel), to_np(cell.recurrent_kernel),
                        to_np(cell.bias))
    gamma = to_np(cell.gate_norm_gamma)
    h = np.zeros((3, 5), "float32")
    out = []
    for s in range(x.shape[1]):
        zx = _np_ln(x[:, s] @ kernel, gamma[0]) + bias[0]
        zh = _np_ln(h @ rk, gamma[1]) + bias[1]
        xz, xr, xh = np.split(zx, 3, -1)
        hz, hr, hh = np.split(zh, 3, -1)
        z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
        cand = np.tanh(xh + r * hh)
        h = z * h + (1 - z) * cand
        out.append(h)
    np.testing.assert_allclose(to_np(layer(x)), np.stack(out, 1), atol=1e-4)


def test_zoneout_at_inference_is_the_expectation():
    x = _x()
    layer = layers.LSTM(5, zoneout=0.3, cell_zoneout=0.6,
                        return_sequences=True)
    layer.build(x.shape)
    _randomize(layer)
    cell = layer.cell
    expected = _np_lstm(x, to_np(cell.kernel), to_np(cell.recurrent_kernel),
                        to_np(cell.bias), zone=(0.3, 0.6))
    np.testing.assert_allclose(to_np(layer(x, training=False)), expected,
                               atol=1e-5)


def test_zoneout_in_training_keeps_units_at_the_rate():
    x = _x(b=64, t=12, d=4)
    layer = layers.GRU(32, zoneout=0.4, return_sequences=True)
    seq = to_np(layer(x, training=True))
    kept = seq[:, 1:] == seq[:, :-1]  # a unit that kept its value
    assert 0.33 < kept.mean() < 0.47
    # a new draw at every step
    assert (kept[:, 0] != kept[:, 1]).mean() > 0.2


def _torch_lstmp(x, kernel, rk, bias, proj, weight):
    torch = pytest.importorskip("torch")
    units, p = proj.shape
    net = torch.nn.LSTM(x.shape[-1], units, proj_size=p, batch_first=True)
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.tensor(kernel.T))
        net.weight_hh_l0.copy_(torch.tensor(rk.T))
        net.bias_ih_l0.copy_(torch.tensor(bias))
        net.bias_hh_l0.zero_()
        net.weight_hr_l0.copy_(torch.tensor(proj.T))
    xt = torch.tensor(x, requires_grad=True)
    out, _ = net(xt)
    (out * torch.tensor(weight)).sum().backward()
    grads = [xt.grad.numpy(), net.weight_ih_l0.grad.numpy().T,
             net.weight_hh_l0.grad.numpy().T,
             net.bias_ih_l0.grad.numpy(), net.weight_hr_l0.grad.numpy().T]
    return out.detach().numpy(), grads


def test_lstmp_shapes_outputs_and_gradients_match_torch():
    x = _x()
    layer = layers.LSTM(6, projection=3, return_sequences=True,
                        return_state=False)
    layer.build(x.shape)
    _randomize(layer)
    cell = layer.cell
    assert cell.state_size == [3, 6]
    assert tuple(cell.recurrent_kernel.shape) == (3, 24)
    assert tuple(cell.projection_kernel.shape) == (6, 3)
    weight = np.random.default_rng(5).normal(size=(3, 6, 3)).astype("float32")
    y, grads = loss_and_grads(layer, x, weight=weight)
    assert y.shape == (3, 6, 3)
    ref_y, ref_grads = _torch_lstmp(
        x, to_np(cell.kernel), to_np(cell.recurrent_kernel), to_np(cell.bias),
        to_np(cell.projection_kernel), weight)
    np.testing.assert_allclose(y, ref_y, atol=1e-5)
    names = ["inputs"] + [w.name for w in layer.trainable_weights]
    assert names == ["inputs", "kernel", "recurrent_kernel", "bias",
                     "projection_kernel"]
    for name, g, ref in zip(names, grads, ref_grads):
        np.testing.assert_allclose(g, ref, atol=1e-4, err_msg=name)


def test_lstmp_state_widths_and_stack_width():
    layer = layers.LSTM(8, projection=4, return_state=True)
    out, h, c = layer(_x())
    assert out.shape == (3, 4) and h.shape == (3, 4) and c.shape == (3, 8)
    stack = layers.RecurrentStack("lstm", units=8, num_layers=2,
                                  bidirectional=True, connection="residual",
                                  projection=4)
    assert stack.output_width == 8
    assert stack(_x()).shape == (3, 6, 8)


# ----------------------------------------------------------------- masks


def test_weight_drop_mask_is_fixed_over_time_and_new_each_batch(monkeypatch):
    drawn = []
    real = keras.random.dropout

    def recording(inputs, rate, noise_shape=None, seed=None):
        out = real(inputs, rate, noise_shape=noise_shape, seed=seed)
        drawn.append(to_np(out))
        return out

    monkeypatch.setattr(base_module.keras.random, "dropout", recording)
    x = _x(t=9)
    layer = layers.LSTM(5, weight_drop=0.5, return_sequences=True)
    layer.build(x.shape)
    _randomize(layer)
    first = to_np(layer(x, training=True))
    second = to_np(layer(x, training=True))
    assert len(drawn) == 2  # once per batch, not once per step
    assert not np.array_equal(drawn[0], drawn[1])
    rk = to_np(layer.cell.recurrent_kernel)
    zeros = drawn[0] == 0
    assert 0.4 < zeros.mean() < 0.6
    np.testing.assert_allclose(drawn[0][~zeros], rk[~zeros] * 2.0, rtol=1e-6)
    # every step used that one dropped matrix
    cell = layer.cell
    for out, dropped in ((first, drawn[0]), (second, drawn[1])):
        expected = _np_lstm(x, to_np(cell.kernel), dropped, to_np(cell.bias))
        np.testing.assert_allclose(out, expected, atol=1e-5)


def test_locked_dropout_mask_is_fixed_over_time_and_new_each_batch():
    drop = keras.layers.Dropout(0.5, noise_shape=layers.LOCKED)
    ones = np.ones((4, 7, 16), "float32")
    a, b = to_np(drop(ones, training=True)), to_np(drop(ones, training=True))
    for out in (a, b):
        assert np.all(out == out[:, :1])  # the same mask at every step
        assert 0.2 < (out[:, 0] == 0).mean() < 0.8
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(to_np(drop(ones, training=False)), ones)


def test_stack_and_language_model_use_locked_dropout():
    from zoo.models import LanguageModel

    stack = layers.RecurrentStack("gru", units=4, num_layers=3, dropout=0.3,
                                  locked_dropout=True)
    assert all(d.noise_shape == layers.LOCKED for d in stack.dropouts)
    lm = LanguageModel(vocabulary_size=20, embedding_dim=4, units=4,
                       embedding_dropout=0.2, output_dropout=0.2,
                       dropout=0.2, locked_dropout=True)
    for name in ("embedding_dropout", "output_dropout"):
        assert tuple(lm.get_layer(name).noise_shape) == layers.LOCKED
    ones = np.ones((2, 6, 8), "float32")
    out = to_np(stack.dropouts[0](ones, training=True))
    assert np.all(out == out[:, :1])


def test_word_dropout_drops_word_types_per_batch():
    drop = layers.WordDropout(0.5, vocabulary_size=400, seed=3)
    ids = np.tile(np.arange(400, dtype="int32"), (2, 2))  # each id 4 times
    emb = np.ones((2, 800, 3), "float32")
    a = to_np(drop((ids, emb), training=True))
    b = to_np(drop((ids, emb), training=True))
    for out in (a, b):
        per_id = out[..., 0].reshape(2, 2, 400)
        assert np.all(per_id == per_id[:1, :1])  # one value per word type
        assert set(np.unique(per_id)) <= {0.0, 2.0}
        assert 0.4 < (per_id[0, 0] == 0).mean() < 0.6
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(to_np(drop((ids, emb), training=False)), emb)


def test_activation_regularization_matches_the_formula():
    rng = np.random.default_rng(2)
    raw = rng.normal(size=(2, 5, 3)).astype("float32")
    dropped = rng.normal(size=(2, 5, 3)).astype("float32")
    reg = layers.ActivationRegularization(ar=2.0, tar=1.0)
    out = reg((raw, dropped), training=True)
    np.testing.assert_array_equal(to_np(out), dropped)
    expected = 2.0 * np.mean(dropped ** 2) + np.mean(
        (raw[:, 1:] - raw[:, :-1]) ** 2)
    assert len(reg.losses) == 1
    np.testing.assert_allclose(float(to_np(reg.losses[0])), expected,
                               rtol=1e-5)
    reg((raw, dropped), training=False)
    assert reg.losses == []


# --------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs", [
    {"weight_drop": 1.0}, {"weight_drop": -0.1}, {"zoneout": 1.5},
    {"zoneout": -0.1}, {"cell_zoneout": 2.0}, {"projection": 8},
    {"projection": 0}, {"projection": -2}, {"projection": 2.5},
])
def test_bad_rates_and_projection_are_value_errors(kwargs):
    with pytest.raises(ValueError, match="Received"):
        layers.LSTM(8, **kwargs)


@pytest.mark.parametrize("cls,kwargs", [
    (layers.LSTM, {"layer_norm": True}),
    (layers.LSTM, {"zoneout": 0.1}),
    (layers.LSTM, {"cell_zoneout": 0.1}),
    (layers.LSTM, {"projection": 4}),
    (layers.GRU, {"layer_norm": True}),
    (layers.GRU, {"zoneout": 0.1}),
])
def test_use_cudnn_true_with_loop_only_options_fails_at_construction(cls, kwargs):
    with pytest.raises(ValueError, match="use_cudnn=True"):
        cls(8, use_cudnn=True, **kwargs)


@pytest.mark.parametrize("kwargs", [{"layer_norm": True}, {"zoneout": 0.1},
                                    {"projection": 4}])
def test_loop_only_options_take_the_loop_with_auto(monkeypatch, kwargs):
    monkeypatch.setattr(base_module, "fused_device_available", lambda: True)
    layer = layers.LSTM(8, **kwargs)
    assert not layer.fused_kernel_supported()
    layer(_x())
    assert layer.last_path == "loop"
    assert layers.LSTM(8, weight_drop=0.5).fused_kernel_supported()


def test_lstm_only_options_on_other_cells_are_errors():
    with pytest.raises(ValueError, match="LSTM only"):
        layers.RecurrentStack("gru", units=4, projection=2)
    with pytest.raises(ValueError, match="reset_after"):
        layers.GRU(4, layer_norm=True, reset_after=False)


# ---------------------------------------------------------------- saving

ALL_LSTM = {"weight_drop": 0.3, "zoneout": 0.1, "cell_zoneout": 0.2,
            "layer_norm": True, "projection": 3}


@pytest.mark.parametrize("connection", ["none", "residual", "highway", "dense"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_stack_with_every_option_round_trips_keras_file(tmp_path, connection,
                                                        bidirectional):
    x = _x()
    inputs = keras.Input((None, 4))
    stack = layers.RecurrentStack(
        "lstm", units=6, num_layers=2, bidirectional=bidirectional,
        connection=connection, dropout=0.2, locked_dropout=True, **ALL_LSTM)
    model = keras.Model(inputs, stack(inputs))
    assert model(x, training=True).shape[-1] == stack.output_width
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(to_np(loaded(x)), to_np(model(x)), atol=1e-6)
    config = loaded.layers[-1].get_config()
    for key, value in ALL_LSTM.items():
        assert config[key] == value
        inner = loaded.layers[-1].recurrent_layers[0]
        if bidirectional:
            inner = inner.backward_layer
        assert getattr(inner.cell, key) == value


@pytest.mark.parametrize("cell,options", [
    ("lstm", ALL_LSTM),
    ("gru", {"weight_drop": 0.3, "zoneout": 0.1, "layer_norm": True}),
])
def test_language_model_with_every_option_round_trips(tmp_path, cell, options):
    from zoo.models import LanguageModel

    lm = LanguageModel(vocabulary_size=30, embedding_dim=5, cell=cell,
                       units=6, num_layers=2, dropout=0.2,
                       embedding_dropout=0.2, output_dropout=0.2,
                       locked_dropout=True, word_dropout=0.1, ar=2.0, tar=1.0,
                       tie_weights=True, **options)
    ids = np.random.default_rng(0).integers(0, 30, (2, 7)).astype("int32")
    lm(ids, training=True)
    assert len(lm.losses) == 1  # AR/TAR
    path = str(tmp_path / "lm.keras")
    lm.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(to_np(loaded(ids)), to_np(lm(ids)), atol=1e-5)
    for key in ("word_dropout", "locked_dropout", "ar", "tar", *options):
        assert loaded.get_config()[key] == lm.get_config()[key]
