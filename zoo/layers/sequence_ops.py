"""Small sequence utilities used by the zoo's models."""

import keras
from keras import ops

from zoo.layers.base import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class TruncateSequence(keras.layers.Layer):
    """Keeps at most the first `max_length` steps of `(batch, time, ...)`.

    Unlike `TextVectorization(output_sequence_length=...)`, short batches are
    not padded up to `max_length`, so a batch of short texts stays short.

    Args:
        max_length: positive int, or `None` for no truncation.

    Call arguments:
        inputs: a tensor `(batch, time, ...)`.

    Example:

    >>> TruncateSequence(3)(np.ones((2, 10), "int32")).shape
    (2, 3)
    """

    def __init__(self, max_length=None, **kwargs):
        super().__init__(**kwargs)
        if max_length is not None and int(max_length) <= 0:
            raise ValueError(
                f"`max_length` must be positive or None. "
                f"Received: max_length={max_length}"
            )
        self.max_length = None if max_length is None else int(max_length)

    def call(self, inputs):
        if self.max_length is None:
            return inputs
        return inputs[:, : self.max_length]

    def compute_output_shape(self, input_shape):
        time = input_shape[1]
        if self.max_length is not None and time is not None:
            time = min(time, self.max_length)
        elif self.max_length is not None:
            time = None
        return (input_shape[0], time, *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length}


@keras.saving.register_keras_serializable(package=PACKAGE)
class BiasAdd(keras.layers.Layer):
    """Adds a learned bias over the last axis (e.g. to tied output logits).

    Call arguments:
        inputs: a tensor `(..., features)`.

    Example:

    >>> BiasAdd()(np.zeros((2, 3, 5))).shape
    (2, 3, 5)
    """

    def build(self, input_shape):
        self.bias = self.add_weight(
            shape=(input_shape[-1],), name="bias", initializer="zeros"
        )

    def call(self, inputs):
        return inputs + ops.cast(self.bias, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape
