"""The vanilla (Elman 1990) recurrent cell and layer, kept for comparison."""

import keras
from keras import ops

from zoo.layers.base import PACKAGE
from zoo.layers.base import RecurrentCell
from zoo.layers.base import RecurrentSequenceLayer


@keras.saving.register_keras_serializable(package=PACKAGE)
class SimpleRNNCell(RecurrentCell):
    """One step of the Elman RNN: `h_t = tanh(x W + h_{t-1} U + b)`.

    Its gradient through time is a product of Jacobians `diag(1 - h²) U`,
    which vanishes or explodes geometrically (Pascanu et al. 2013): the
    reason gated cells exist. Weights load from `keras.layers.SimpleRNNCell`.

    Args:
        units: positive int, dimensionality of the output space.
        activation: activation of the state. Default: `"tanh"`.
        use_bias: whether the cell has a bias vector. Default: `True`.
        kernel_initializer, recurrent_initializer, bias_initializer:
            initializers of the three weights. Default: `"glorot_uniform"`,
            `"orthogonal"`, `"zeros"`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer:
            optional regularizers. Default: `None`.
        kernel_constraint, recurrent_constraint, bias_constraint: optional
            constraints. Default: `None`.
        dropout: float in [0, 1), input dropout; one mask per sequence.
            Default: `0.0`.
        recurrent_dropout: float in [0, 1), dropout of the recurrent state
            (variational, one mask per sequence). Default: `0.0`.
        seed: random seed for dropout. Default: `None`.
        weight_drop: float in [0, 1), DropConnect on `recurrent_kernel`,
            one mask per batch (see `RecurrentCell`). Default: `0.0`.
        zoneout: float in [0, 1], zoneout rate of `h`. Default: `0.0`.
        layer_norm: `h_t = tanh(LN(x W) + LN(h U) + b)`, with the gains
            `gate_norm_gamma` (2, units). Default: `False`.
        **kwargs: the arguments above that `RecurrentCell` takes (all but
            the cell's own), and `keras.layers.Layer` arguments.

    Call arguments:
        inputs: a 2D tensor `(batch, features)`, one time step.
        states: `[h]`, `(batch, units)`.
        training: Python bool, whether dropout applies.

    Example:

    >>> keras.layers.RNN(SimpleRNNCell(16))(np.zeros((2, 5, 8))).shape
    (2, 16)
    """

    num_gates = 1

    def call(self, inputs, states, training=False):
        h_tm1 = states[0] if isinstance(states, (list, tuple)) else states
        inputs, noise = self._split_noise(inputs)
        inputs, h_rec = self._dropped(inputs, h_tm1, training)
        kernel, recurrent_kernel, bias = self.step_weights()
        z = self._normalized(ops.matmul(inputs, kernel), 0)
        if bias is not None:
            z = z + bias
        h = self.activation(
            z + self._normalized(ops.matmul(h_rec, recurrent_kernel), 1)
        )
        (h,) = self._zoned([h], [h_tm1], noise, training)
        return h, [h]


@keras.saving.register_keras_serializable(package=PACKAGE)
class SimpleRNN(RecurrentSequenceLayer):
    """Elman RNN sequence layer over `zoo.layers.SimpleRNNCell`.

    Args:
        units: positive int, dimensionality of the output space.
        activation, use_bias, kernel_initializer, recurrent_initializer,
            bias_initializer, kernel_regularizer, recurrent_regularizer,
            bias_regularizer, kernel_constraint, recurrent_constraint,
            bias_constraint, dropout, recurrent_dropout, seed, weight_drop,
            zoneout, layer_norm: the `SimpleRNNCell` arguments.
        activity_regularizer: regularizer of the layer's output.
            Default: `None`.
        return_sequences, return_state, go_backwards, stateful, unroll,
            use_cudnn: as for `zoo.layers.LSTM` (no fused kernel exists
            for the vanilla RNN: `use_cudnn=True` is an error at call).
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        sequences: a 3D tensor `(batch, timesteps, features)`.
        initial_state: optional list `[h]` of a `(batch, units)` tensor.
        mask: optional boolean `(batch, timesteps)`.
        training: Python bool, whether dropout applies.

    Example:

    >>> SimpleRNN(8, return_sequences=True)(np.zeros((2, 5, 3))).shape
    (2, 5, 8)
    """

    cell_class = SimpleRNNCell

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        weight_drop=0.0,
        zoneout=0.0,
        layer_norm=False,
        activity_regularizer=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        use_cudnn="auto",
        **kwargs,
    ):
        cell = SimpleRNNCell(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            weight_drop=weight_drop,
            zoneout=zoneout,
            layer_norm=layer_norm,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="simplernncell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            use_cudnn=use_cudnn,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )
