"""Connections and stacks: shapes, identity behaviour, dense wiring, pooling."""

import keras
import numpy as np
import pytest

from zoo import layers

to_np = keras.ops.convert_to_numpy


@pytest.mark.parametrize("connection", ["none", "residual", "highway", "dense"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_stack_shapes(connection, cell, bidirectional):
    stack = layers.RecurrentStack(cell, units=[8, 6, 6], num_layers=3,
                                  bidirectional=bidirectional, connection=connection)
    y = stack(np.zeros((2, 5, 7), "float32"))
    assert tuple(y.shape) == (2, 5, 12 if bidirectional else 6)
    assert stack.compute_output_shape((2, 5, 7)) == tuple(y.shape)


def test_highway_with_strongly_negative_gate_bias_is_identity():
    x = np.random.default_rng(0).normal(size=(2, 4, 6)).astype("float32")
    h = np.random.default_rng(1).normal(size=(2, 4, 6)).astype("float32")
    hw = layers.HighwayConnection(gate_bias=-30.0)
    np.testing.assert_allclose(to_np(hw((x, h))), x, atol=1e-6)
    # and a positive bias passes the transform through
    hw_open = layers.HighwayConnection(gate_bias=30.0)
    np.testing.assert_allclose(to_np(hw_open((x, h))), h, atol=1e-6)


@pytest.mark.parametrize("bias", [float("nan"), float("inf"), "-2", True,
                                  None])
def test_highway_gate_bias_must_be_a_finite_number(bias):
    with pytest.raises(ValueError, match="Received: gate_bias="):
        layers.HighwayConnection(gate_bias=bias)


def test_highway_stack_starts_near_identity():
    x = np.random.default_rng(0).normal(size=(2, 4, 6)).astype("float32")
    stack = layers.RecurrentStack("gru", 6, 3, connection="highway", highway_gate_bias=-30.0)
    np.testing.assert_allclose(to_np(stack(x)), x, atol=1e-5)


def test_residual_adds_input_and_projects_when_widths_differ():
    x = np.random.default_rng(0).normal(size=(2, 4, 6)).astype("float32")
    h = np.random.default_rng(1).normal(size=(2, 4, 6)).astype("float32")
    res = layers.ResidualConnection()
    np.testing.assert_allclose(to_np(res((x, h))), x + h, atol=1e-6)
    assert res.projection is None
    res2 = layers.ResidualConnection()
    y = res2((x, np.zeros((2, 4, 3), "float32")))
    kernel = to_np(res2.projection.kernel)
    np.testing.assert_allclose(to_np(y), x @ kernel, atol=1e-5)


def test_dense_connection_feeds_concatenation_of_all_earlier_outputs():
    stack = layers.RecurrentStack("lstm", units=[3, 4, 5], num_layers=3, connection="dense")
    stack(np.zeros((1, 2, 7), "float32"))
    kernels = [rnn.cell.kernel.shape[0] for rnn in stack.recurrent_layers]
    assert kernels == [7, 7 + 3, 7 + 3 + 4]


def test_stack_rejects_bad_arguments_with_valid_values():
    with pytest.raises(ValueError, match="Valid values.*highway.*"
                       "Received: connection='skip'"):
        layers.RecurrentStack("lstm", connection="skip")
    with pytest.raises(ValueError, match="Received: pooling='top'"):
        layers.SequencePooling("top")
    with pytest.raises(ValueError, match="Received: use_cudnn='yes'"):
        layers.GRU(4, use_cudnn="yes")
    with pytest.raises(ValueError, match="Valid values.*gru"):
        layers.RecurrentStack("transformer")
    with pytest.raises(ValueError, match="num_layers=3"):
        layers.RecurrentStack("lstm", units=[4, 4], num_layers=3)
    with pytest.raises(ValueError, match="units"):
        layers.LSTM(0)
    with pytest.raises(ValueError, match="recurrent_dropout"):
        layers.GRU(4, recurrent_dropout=1.5)
    with pytest.raises(ValueError, match="bogus"):
        layers.LSTM(4, bogus=1)  # Keras: "Unrecognized keyword arguments"


def test_pooling_modes_respect_mask():
    x = np.arange(2 * 4 * 2, dtype="float32").reshape(2, 4, 2)
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool)
    mean = to_np(layers.SequencePooling("mean")(x, mask=mask))
    np.testing.assert_allclose(mean[0], x[0, :3].mean(0))
    np.testing.assert_allclose(mean[1], x[1, :2].mean(0))
    mx = to_np(layers.SequencePooling("max")(-x, mask=mask))
    np.testing.assert_allclose(mx[1], (-x[1, :2]).max(0))
    last = to_np(layers.SequencePooling("last")(x, mask=mask))
    np.testing.assert_allclose(last, [x[0, 2], x[1, 1]])
    bi = to_np(layers.SequencePooling("last", bidirectional=True)(x, mask=mask))
    np.testing.assert_allclose(bi, [[x[0, 2, 0], x[0, 0, 1]], [x[1, 1, 0], x[1, 0, 1]]])


def test_stateful_stack_carries_and_resets_state():
    stack = layers.RecurrentStack("lstm", 4, 2, stateful=True)
    x = np.random.default_rng(0).normal(size=(2, 3, 5)).astype("float32")
    first = to_np(stack(x))
    second = to_np(stack(x))
    assert not np.allclose(first, second)  # state carried over
    stack.reset_states()
    np.testing.assert_allclose(to_np(stack(x)), first, atol=1e-6)


def test_dropout_masks_are_per_sequence_and_only_in_training():
    layer = layers.LSTM(4, dropout=0.5, recurrent_dropout=0.5, seed=3,
                        return_sequences=True)
    x = np.ones((2, 6, 3), "float32")
    inference = to_np(layer(x, training=False))
    np.testing.assert_allclose(inference, to_np(layer(x, training=False)))
    trained = to_np(layer(x, training=True))
    assert not np.allclose(trained, inference)
    assert layer.cell._dropout_mask is None  # reset after the sequence


def test_config_round_trip_serialises_every_argument():
    layer = layers.GRU(7, reset_after=False, recurrent_activation="hard_sigmoid",
                       dropout=0.1, recurrent_dropout=0.2, seed=4,
                       kernel_regularizer="l2", return_sequences=True,
                       go_backwards=True, use_cudnn=False)
    config = layer.get_config()
    clone = layers.GRU.from_config(config)
    assert clone.get_config() == config
    for key in ("units", "reset_after", "recurrent_activation", "dropout",
                "recurrent_dropout", "seed", "kernel_regularizer",
                "return_sequences", "go_backwards", "use_cudnn"):
        assert key in config
    cell = layers.LSTMCell(3, unit_forget_bias=False)
    assert layers.LSTMCell.from_config(cell.get_config()).get_config() == cell.get_config()


def test_cells_work_inside_plain_keras_rnn():
    for cell in (layers.LSTMCell(4), layers.GRUCell(4), layers.SimpleRNNCell(4)):
        y = keras.layers.RNN(cell)(np.zeros((2, 3, 5), "float32"))
        assert tuple(y.shape) == (2, 4)
