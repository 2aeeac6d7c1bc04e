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
        **kwargs: every argument of `RecurrentCell` and `keras.layers.Layer`.

    Example:

    >>> keras.layers.RNN(SimpleRNNCell(16))(np.zeros((2, 5, 8))).shape
    (2, 16)
    """

    num_gates = 1

    def call(self, inputs, states, training=False):
        h_tm1 = states[0] if isinstance(states, (list, tuple)) else states
        inputs, h_rec = self._dropped(inputs, h_tm1, training)
        kernel, recurrent_kernel, bias = self.step_weights()
        z = ops.matmul(inputs, kernel)
        if bias is not None:
            z = z + bias
        h = self.activation(z + ops.matmul(h_rec, recurrent_kernel))
        return h, [h]


@keras.saving.register_keras_serializable(package=PACKAGE)
class SimpleRNN(RecurrentSequenceLayer):
    """Elman RNN sequence layer over `zoo.layers.SimpleRNNCell`.

    Args:
        units: positive int, dimensionality of the output space.
        return_sequences, return_state, go_backwards, stateful, unroll:
            as for `zoo.layers.LSTM`.
        **kwargs: every `SimpleRNNCell` argument, plus `name`, `dtype`.

    Example:

    >>> SimpleRNN(8, return_sequences=True)(np.zeros((2, 5, 3))).shape
    (2, 5, 8)
    """

    cell_class = SimpleRNNCell
