"""Mask-aware pooling of a recurrent stack's output sequence."""

import keras
from keras import ops

from zoo import checks
from zoo.layers.base import PACKAGE

POOLINGS = ("last", "max", "mean", "concat")


@keras.saving.register_keras_serializable(package=PACKAGE)
class SequencePooling(keras.layers.Layer):
    """Pools `(batch, time, features)` to `(batch, features)` using the mask.

    Modes:
    - `"last"`: the output at the last real (unmasked) step; inputs are
      assumed right-padded. With `bidirectional=True` the first half of the
      features (forward direction) is taken at the last real step and the
      second half (backward direction, which has read the whole sequence at
      step 0) at step 0, i.e. the concatenated final states.
    - `"max"`: the maximum over real steps (0 for an all-padding row).
    - `"mean"`: the average over real steps.
    - `"concat"`: `last`, `max` and `mean` concatenated, `3 * features`
      wide (ULMFiT's concat pooling, Howard & Ruder 2018).

    Args:
        mode: `"last"`, `"max"`, `"mean"` or `"concat"`. Default: `"last"`.
        bidirectional: see `"last"`. Default: `False`.

    Call arguments:
        inputs: a tensor `(batch, time, features)`.
        mask: optional boolean `(batch, time)`; `True` marks real steps.

    Example:

    >>> SequencePooling("mean")(np.ones((2, 5, 3))).shape
    (2, 3)
    """

    def __init__(self, mode="last", bidirectional=False, **kwargs):
        super().__init__(**kwargs)
        checks.choice("pooling", mode, POOLINGS)
        self.mode = mode
        self.bidirectional = checks.flag("bidirectional", bidirectional)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if self.mode == "concat":
            return ops.concatenate(
                [self._pool(inputs, mask, mode)
                 for mode in ("last", "max", "mean")], axis=-1)
        return self._pool(inputs, mask, self.mode)

    def _pool(self, x, mask, mode):
        if mask is None:
            mask = ops.ones(ops.shape(x)[:2], dtype="bool")
        m = ops.cast(ops.expand_dims(mask, -1), x.dtype)
        if mode == "mean":
            total = ops.sum(x * m, axis=1)
            count = ops.maximum(ops.sum(m, axis=1), 1.0)
            return total / count
        if mode == "max":
            lowest = ops.cast(-1e4 if x.dtype != "float32" else -1e30, x.dtype)
            masked = ops.where(ops.cast(m, "bool"), x, lowest)
            pooled = ops.max(masked, axis=1)
            any_real = ops.cast(ops.sum(m, axis=1) > 0, x.dtype)
            return pooled * any_real
        lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
        last = ops.maximum(lengths - 1, 0)
        index = ops.reshape(last, (-1, 1, 1))
        at_last = ops.squeeze(ops.take_along_axis(x, index, axis=1), axis=1)
        if not self.bidirectional:
            return at_last
        half = x.shape[-1] // 2
        return ops.concatenate([at_last[:, :half], x[:, 0, half:]], axis=-1)

    def compute_output_shape(self, input_shape):
        width = input_shape[-1]
        if self.mode == "concat" and width is not None:
            width = 3 * width
        return (input_shape[0], width)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {
            **super().get_config(),
            "mode": self.mode,
            "bidirectional": self.bidirectional,
        }
