"""Long Short-Term Memory cell and layer (Hochreiter & Schmidhuber 1997)."""

import keras
from keras import activations
from keras import initializers
from keras import ops
from keras.src import backend

from zoo.layers.base import PACKAGE
from zoo.layers.base import RecurrentCell
from zoo.layers.base import RecurrentSequenceLayer


@keras.saving.register_keras_serializable(package=PACKAGE)
class LSTMCell(RecurrentCell):
    """One step of an LSTM, written from the gate equations.

    With `z = x W + h_{t-1} U + b` split into four blocks (Keras' gate order
    i, f, c, o):

        i = σ(z_i)   f = σ(z_f)   o = σ(z_o)
        c_t = f * c_{t-1} + i * tanh(z_c)
        h_t = o * tanh(c_t)

    Weights use Keras' layout, so `keras.layers.LSTMCell` weights load
    unchanged with `set_weights`.

    Args:
        units: positive int, dimensionality of the output space.
        activation: activation of the candidate and of the cell state.
            Default: `"tanh"`.
        recurrent_activation: activation of the gates. Default: `"sigmoid"`.
        unit_forget_bias: add 1 to the forget-gate bias at initialisation
            (Jozefowicz et al. 2015); forces `bias_initializer="zeros"` for
            the other gates. Default: `True`.
        **kwargs: every argument of `RecurrentCell` (initializers,
            regularizers, constraints, `dropout`, `recurrent_dropout`,
            `seed`, `use_bias`) and of `keras.layers.Layer`.

    Example:

    >>> cell = LSTMCell(16)
    >>> layer = keras.layers.RNN(cell)
    >>> layer(np.zeros((2, 5, 8))).shape
    (2, 16)
    """

    num_gates = 4

    def __init__(
        self,
        units,
        recurrent_activation="sigmoid",
        unit_forget_bias=True,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = [units, units]

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, init = self.units, self.bias_initializer

        def bias_initializer(shape, dtype=None):
            return ops.concatenate(
                [
                    init((units,), dtype=dtype),
                    initializers.get("ones")((units,), dtype=dtype),
                    init((units * 2,), dtype=dtype),
                ]
            )

        return bias_initializer

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]
        inputs, h_rec = self._dropped(inputs, h_tm1, training)
        kernel, recurrent_kernel, bias = self.step_weights()
        z = ops.matmul(inputs, kernel)
        z = z + ops.matmul(h_rec, recurrent_kernel)
        if bias is not None:
            z = z + bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_tm1 + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self):
        config = {
            "recurrent_activation": activations.serialize(
                self.recurrent_activation
            ),
            "unit_forget_bias": self.unit_forget_bias,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LSTM(RecurrentSequenceLayer):
    """LSTM sequence layer over `zoo.layers.LSTMCell`.

    On a GPU with the standard configuration (tanh/sigmoid, bias, no
    recurrent dropout) it runs the fused cuDNN kernel with the same weights,
    as `keras.layers.LSTM` does; otherwise it runs the cell loop.

    Args:
        units: positive int, dimensionality of the output space.
        return_sequences: return the full sequence, not only the last
            output. Default: `False`.
        return_state: also return the final states `[h, c]`.
            Default: `False`.
        go_backwards: process the sequence backwards. Default: `False`.
        stateful: carry the last state of each batch row into the next
            batch (needs a fixed batch size). Default: `False`.
        unroll: unroll the time loop. Default: `False`.
        use_cudnn: `"auto"` (fused kernel when possible), `True` (require
            it) or `False` (always the cell loop). Default: `"auto"`.
        **kwargs: every `LSTMCell` argument, plus `name`, `dtype`.

    Example:

    >>> layer = LSTM(32, return_sequences=True)
    >>> layer(np.zeros((4, 10, 8))).shape
    (4, 10, 32)
    """

    cell_class = LSTMCell
    fused_backend_fn = "lstm"

    def _fused_call(self, sequences, initial_state, mask):
        return backend.lstm(
            sequences,
            initial_state[0],
            initial_state[1],
            mask,
            kernel=self.cell.kernel,
            recurrent_kernel=self.cell.recurrent_kernel,
            bias=self.cell.bias,
            activation=self.cell.activation,
            recurrent_activation=self.cell.recurrent_activation,
            return_sequences=self.return_sequences,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
        )
