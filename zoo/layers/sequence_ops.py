"""Small sequence utilities used by the zoo's models."""

import keras
from keras import ops

from zoo import checks
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
class ReverseTokens(keras.layers.Layer):
    """Reverses the real tokens of each row of right-padded token ids.

    `[[a, b, c, 0, 0]]` becomes `[[c, b, a, 0, 0]]`: the padding (id 0)
    stays at the end, so masking and pooling downstream see the same
    lengths. A classifier started from a backward language model
    (`LanguageModel(reverse=True)`, which read its corpus from the last
    token to the first) reads its texts through this layer.

    Call arguments:
        inputs: integer token ids `(batch, time)`, right-padded with 0
            (as `TextVectorization` gives them).

    Example:

    >>> ids = np.array([[4, 5, 6, 0], [7, 8, 0, 0]])
    >>> ops.convert_to_numpy(ReverseTokens()(ids)).tolist()
    [[6, 5, 4, 0], [8, 7, 0, 0]]
    """

    def call(self, inputs):
        lengths = ops.sum(ops.cast(ops.not_equal(inputs, 0), "int32"),
                          axis=1, keepdims=True)
        steps = ops.expand_dims(
            ops.arange(ops.shape(inputs)[1], dtype="int32"), 0)
        source = ops.where(steps < lengths, lengths - 1 - steps, steps)
        return ops.take_along_axis(inputs, source, axis=1)

    def compute_output_shape(self, input_shape):
        return input_shape


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


@keras.saving.register_keras_serializable(package=PACKAGE)
class WordDropout(keras.layers.Layer):
    """Drops whole word types: AWD-LSTM's embedding dropout (`dropoute`).

    In training, each row of the vocabulary is dropped with probability
    `rate`, one mask per batch, so every occurrence of a dropped word in
    the batch embeds to zeros; kept rows are scaled by `1 / (1 - rate)`.
    This equals looking the ids up in the embedding matrix with those rows
    zeroed (Gal & Ghahramani 2016), at the cost of the ids looked up. At
    inference the embeddings pass unchanged.

    Args:
        rate: float in [0, 1), the probability of dropping a word type.
        vocabulary_size: positive int, the number of rows.
        seed: random seed. Default: `None`.

    Call arguments:
        inputs: `(ids, embedded)`: int ids `(batch, time)` and their
            embeddings `(batch, time, dim)`.
        training: Python bool, whether words are dropped.

    Example:

    >>> ids = np.array([[1, 2, 1]])
    >>> WordDropout(0.5, 4)((ids, np.ones((1, 3, 2)))).shape
    (1, 3, 2)
    """

    def __init__(self, rate, vocabulary_size, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = checks.rate("rate", rate)
        self.vocabulary_size = checks.positive_int(
            "vocabulary_size", vocabulary_size
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        ids, embedded = inputs
        if not training or self.rate == 0.0:
            return embedded
        keep = keras.random.uniform(
            (self.vocabulary_size,), seed=self.seed_generator
        ) >= self.rate
        scale = ops.cast(keep, embedded.dtype) / (1.0 - self.rate)
        rows = ops.take(scale, ops.cast(ids, "int32"), axis=0)
        return embedded * ops.expand_dims(rows, -1)

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            return mask[1]
        return mask

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "vocabulary_size": self.vocabulary_size,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class ActivationRegularization(keras.layers.Layer):
    """AR and TAR (Merity et al. 2017) on a recurrent layer's outputs.

    In training it adds, as a model loss,
    `ar * mean(dropped ** 2) + tar * mean((raw_t - raw_{t-1}) ** 2)`:
    activation regularisation (AR) on the dropped-out outputs, temporal
    activation regularisation (TAR) on the outputs before dropout, as
    AWD-LSTM does on its last layer. It returns `dropped` unchanged.

    Args:
        ar: float >= 0, the AR coefficient (AWD-LSTM: 2). Default: `0.0`.
        tar: float >= 0, the TAR coefficient (AWD-LSTM: 1). Default: `0.0`.

    Call arguments:
        inputs: `(raw, dropped)`, each `(batch, time, units)`.
        training: Python bool, whether the loss is added.

    Example:

    >>> h = np.ones((2, 4, 3), "float32")
    >>> ActivationRegularization(ar=2.0)((h, h)).shape
    (2, 4, 3)
    """

    def __init__(self, ar=0.0, tar=0.0, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("ar", ar), ("tar", tar)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0.0 <= float(value) < float("inf"):
                raise ValueError(
                    f"`{name}` must be a finite number >= 0. "
                    f"Received: {name}={value!r}"
                )
        self.ar = float(ar)
        self.tar = float(tar)

    def call(self, inputs, training=False):
        raw, dropped = inputs
        if training:
            loss = 0.0
            if self.ar:
                loss = loss + self.ar * ops.mean(
                    ops.square(ops.cast(dropped, "float32")))
            if self.tar:
                diff = ops.cast(raw[:, 1:] - raw[:, :-1], "float32")
                loss = loss + self.tar * ops.mean(ops.square(diff))
            if self.ar or self.tar:
                self.add_loss(loss)
        return dropped

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        return {**super().get_config(), "ar": self.ar, "tar": self.tar}
