"""Gated Recurrent Unit cell and layer (Cho et al. 2014)."""

import keras
from keras import activations
from keras import ops
from keras.src import backend

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
        recurrent_activation: activation of the gates. Default: `"sigmoid"`.
        reset_after: apply the reset gate after the recurrent matmul.
            Default: `True`.
        **kwargs: every argument of `RecurrentCell` and `keras.layers.Layer`.

    Example:

    >>> layer = keras.layers.RNN(GRUCell(16, reset_after=False))
    >>> layer(np.zeros((2, 5, 8))).shape
    (2, 16)
    """

    num_gates = 3

    def __init__(
        self, units, recurrent_activation="sigmoid", reset_after=True, **kwargs
    ):
        super().__init__(units, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        if self.reset_after:
            return (2, 3 * self.units)
        return (3 * self.units,)

    def call(self, inputs, states, training=False):
        h_tm1 = states[0] if isinstance(states, (list, tuple)) else states
        inputs, h_rec = self._dropped(inputs, h_tm1, training)
        kernel, recurrent_kernel, bias = self.step_weights()
        units = self.units
        input_bias = recurrent_bias = None
        if bias is not None:
            if self.reset_after:
                input_bias, recurrent_bias = bias[0], bias[1]
            else:
                input_bias = bias
        x = ops.matmul(inputs, kernel)
        if input_bias is not None:
            x = x + input_bias
        x_z, x_r, x_h = ops.split(x, 3, axis=-1)
        if self.reset_after:
            inner = ops.matmul(h_rec, recurrent_kernel)
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
        return_sequences, return_state, go_backwards, stateful, unroll,
            use_cudnn: as for `zoo.layers.LSTM`.
        **kwargs: every `GRUCell` argument, plus `name`, `dtype`.

    Example:

    >>> GRU(32)(np.zeros((4, 10, 8))).shape
    (4, 32)
    """

    cell_class = GRUCell
    fused_backend_fn = "gru"

    def fused_kernel_supported(self):
        return super().fused_kernel_supported() and self.cell.reset_after

    def _fused_call(self, sequences, initial_state, mask):
        return backend.gru(
            sequences,
            initial_state[0],
            mask,
            kernel=self.cell.kernel,
            recurrent_kernel=self.cell.recurrent_kernel,
            bias=self.cell.bias,
            activation=self.cell.activation,
            recurrent_activation=self.cell.recurrent_activation,
            return_sequences=self.return_sequences,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            reset_after=self.cell.reset_after,
        )
