"""Gated Recurrent Unit cell and layer (Cho et al. 2014)."""

import keras
from keras import activations
from keras import ops
from keras.src import backend

from zoo import checks
from zoo.layers.base import PACKAGE
from zoo.layers.base import RecurrentCell
from zoo.layers.base import RecurrentSequenceLayer


@keras.saving.register_keras_serializable(package=PACKAGE)
class GRUCell(RecurrentCell):
    """One step of a GRU, written from the gate equations.

    Keras' gate order is update (z), reset (r), candidate (h):

        z = σ(x W_z + h U_z + b_z)       r = σ(x W_r + h U_r + b_r)
        reset_after=True:  ĥ = tanh(x W_h + b_h + r * (h U_h + b'_h))
        reset_after=False: ĥ = tanh(x W_h + (r * h) U_h + b_h)
        h_t = z * h_{t-1} + (1 - z) * ĥ

    `reset_after=True` (the cuDNN-compatible form, Keras' default) keeps two
    bias vectors, so `bias` has shape (2, 3 * units); with `False` it has
    shape (3 * units,). Weights load unchanged from `keras.layers.GRUCell`.

    Args:
        units: positive int, dimensionality of the output space.
        activation: activation of the candidate. Default: `"tanh"`.
        recurrent_activation: activation of the gates. Default: `"sigmoid"`.
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
        reset_after: apply the reset gate after the recurrent matmul.
            Default: `True`.
        weight_drop: float in [0, 1), DropConnect on `recurrent_kernel`,
            one mask per batch (see `RecurrentCell`). Default: `0.0`.
        zoneout: float in [0, 1], zoneout rate of `h`. Default: `0.0`.
        layer_norm: layer-normalise `x W` and `h U` separately before the
            biases: `LN(x W) + b` and `LN(h U) + b'`. Needs
            `reset_after=True`. Adds `gate_norm_gamma` (2, 3 * units).
            Default: `False`.
        **kwargs: the arguments above that `RecurrentCell` takes (all but
            the cell's own), and `keras.layers.Layer` arguments.

    Call arguments:
        inputs: a 2D tensor `(batch, features)`, one time step.
        states: `[h]`, `(batch, units)`.
        training: Python bool, whether dropout applies.

    Example:

    >>> layer = keras.layers.RNN(GRUCell(16, reset_after=False))
    >>> layer(np.zeros((2, 5, 8))).shape
    (2, 16)
    """

    num_gates = 3

    def __init__(self, units, recurrent_activation="sigmoid",
                 reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = checks.flag("reset_after", reset_after)
        if self.layer_norm and not self.reset_after:
            raise ValueError(
                "`layer_norm` on the GRU needs reset_after=True (it "
                "normalises h U as a whole). Received: layer_norm=True, "
                "reset_after=False"
            )

    def _bias_shape(self):
        if self.reset_after:
            return (2, 3 * self.units)
        return (3 * self.units,)

    def call(self, inputs, states, training=False):
        h_tm1 = states[0] if isinstance(states, (list, tuple)) else states
        inputs, noise = self._split_noise(inputs)
        inputs, h_rec = self._dropped(inputs, h_tm1, training)
        kernel, recurrent_kernel, bias = self.step_weights()
        units = self.units
        input_bias = recurrent_bias = None
        if bias is not None:
            if self.reset_after:
                input_bias, recurrent_bias = bias[0], bias[1]
            else:
                input_bias = bias
        x = self._normalized(ops.matmul(inputs, kernel), 0)
        if input_bias is not None:
            x = x + input_bias
        x_z, x_r, x_h = ops.split(x, 3, axis=-1)
        if self.reset_after:
            inner = self._normalized(ops.matmul(h_rec, recurrent_kernel), 1)
            if recurrent_bias is not None:
                inner = inner + recurrent_bias
            rec_z, rec_r, rec_h = ops.split(inner, 3, axis=-1)
            z = self.recurrent_activation(x_z + rec_z)
            r = self.recurrent_activation(x_r + rec_r)
            hh = self.activation(x_h + r * rec_h)
        else:
            inner = ops.matmul(h_rec, recurrent_kernel[:, : 2 * units])
            rec_z, rec_r = ops.split(inner, 2, axis=-1)
            z = self.recurrent_activation(x_z + rec_z)
            r = self.recurrent_activation(x_r + rec_r)
            hh = self.activation(
                x_h + ops.matmul(r * h_rec, recurrent_kernel[:, 2 * units :])
            )
        h = z * h_tm1 + (1.0 - z) * hh
        (h,) = self._zoned([h], [h_tm1], noise, training)
        return h, [h]

    def get_config(self):
        config = {
            "recurrent_activation": activations.serialize(
                self.recurrent_activation
            ),
            "reset_after": self.reset_after,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package=PACKAGE)
class GRU(RecurrentSequenceLayer):
    """GRU sequence layer over `zoo.layers.GRUCell`.

    On a GPU with the standard configuration (tanh/sigmoid, bias,
    `reset_after=True`, no recurrent dropout) it runs the fused cuDNN kernel
    with the same weights, as `keras.layers.GRU` does; otherwise the loop.

    Args:
        units: positive int, dimensionality of the output space.
        activation, recurrent_activation, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, kernel_regularizer,
            recurrent_regularizer, bias_regularizer, kernel_constraint,
            recurrent_constraint, bias_constraint, dropout,
            recurrent_dropout, seed, reset_after, weight_drop, zoneout,
            layer_norm: the `GRUCell` arguments.
        activity_regularizer: regularizer of the layer's output.
            Default: `None`.
        return_sequences, return_state, go_backwards, stateful, unroll,
            use_cudnn: as for `zoo.layers.LSTM`.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        sequences: a 3D tensor `(batch, timesteps, features)`.
        initial_state: optional list `[h]` of a `(batch, units)` tensor.
        mask: optional boolean `(batch, timesteps)`.
        training: Python bool, whether dropout applies.

    Example:

    >>> GRU(32)(np.zeros((4, 10, 8))).shape
    (4, 32)
    """

    cell_class = GRUCell
    fused_backend_fn = "gru"

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
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
        reset_after=True,
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
        cell = GRUCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
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
            reset_after=reset_after,
            weight_drop=weight_drop,
            zoneout=zoneout,
            layer_norm=layer_norm,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="grucell",
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

    def fused_kernel_supported(self):
        return super().fused_kernel_supported() and self.cell.reset_after

    def _fused_call(self, sequences, initial_state, mask):
        kernel, recurrent_kernel, bias = self.cell.step_weights()
        return backend.gru(
            sequences,
            initial_state[0],
            mask,
            kernel=kernel,
            recurrent_kernel=recurrent_kernel,
            bias=bias,
            activation=self.cell.activation,
            recurrent_activation=self.cell.recurrent_activation,
            return_sequences=self.return_sequences,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            reset_after=self.cell.reset_after,
        )
