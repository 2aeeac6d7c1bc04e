"""Connections between stacked recurrent layers: residual, highway, dense.

Each connection combines a recurrent layer's input `x` with its output `h`
(both `(batch, time, features)`) into the input of the next layer:

- residual: `y = h + P x`, with `P` a learned linear projection when the
  widths differ, the identity otherwise (He et al. 2016).
- highway: `y = T(x) * h + (1 - T(x)) * P x`, `T(x) = σ(x W_T + b_T)`, with
  `b_T` initialised negative so the layer starts near the identity
  (carry behaviour; Srivastava et al. 2015).
- dense: the next layer sees the concatenation of the stack's input and all
  earlier layers' outputs (densely connected Bi-LSTMs, Ding et al. 2018);
  that is done by `RecurrentStack`, so there is no layer for it here.
"""

import math
import numbers

import keras
from keras import ops

from zoo.layers.base import PACKAGE

CONNECTIONS = ("none", "residual", "highway", "dense")


def _projection(in_width, out_width, name):
    if in_width == out_width:
        return None
    return keras.layers.Dense(out_width, use_bias=False, name=name)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResidualConnection(keras.layers.Layer):
    """`y = h + P x`: identity skip, or a linear projection when widths differ.

    Call arguments:
        inputs: `(x, h)`, the layer's input `(batch, time, d_x)` and the
            recurrent layer's output `(batch, time, d_h)`. Returns
            `(batch, time, d_h)`.
        mask: optional boolean `(batch, time)`, passed through.

    Example:

    >>> ResidualConnection()((np.ones((2, 3, 4)), np.ones((2, 3, 4)))).shape
    (2, 3, 4)
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.projection = None

    def build(self, input_shape):
        x_shape, h_shape = input_shape
        self.projection = _projection(x_shape[-1], h_shape[-1], "projection")
        if self.projection is not None:
            self.projection.build(x_shape)

    def call(self, inputs):
        x, h = inputs
        if self.projection is not None:
            x = self.projection(x)
        return h + ops.cast(x, h.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) else mask


@keras.saving.register_keras_serializable(package=PACKAGE)
class HighwayConnection(keras.layers.Layer):
    """`y = T(x) * h + (1 - T(x)) * P x` with a learned transform gate `T`.

    Args:
        gate_bias: initial bias of the transform gate; negative values make
            the connection start close to carrying `x` through unchanged.
            Default: `-2.0`.
        kernel_initializer: initializer of the gate's kernel.
            Default: `"glorot_uniform"`.

    Call arguments:
        inputs: `(x, h)`, as for `ResidualConnection`. Returns a tensor
            shaped like `h`.
        mask: optional boolean `(batch, time)`, passed through.

    Example:

    >>> hw = HighwayConnection(gate_bias=-20.0)
    >>> x = np.random.rand(2, 3, 4).astype("float32")
    >>> y = keras.ops.convert_to_numpy(hw((x, np.zeros_like(x))))
    >>> np.allclose(y, x, atol=1e-6)
    True
    """

    def __init__(self, gate_bias=-2.0, kernel_initializer="glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        if (isinstance(gate_bias, bool)
                or not isinstance(gate_bias, numbers.Real)
                or not math.isfinite(float(gate_bias))):
            raise ValueError("`gate_bias` must be a finite number. Received: "
                             f"gate_bias={gate_bias!r}")
        self.gate_bias = float(gate_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True
        self.projection = None

    def build(self, input_shape):
        x_shape, h_shape = input_shape
        self.gate = keras.layers.Dense(
            h_shape[-1],
            activation="sigmoid",
            kernel_initializer=self.kernel_initializer,
            bias_initializer=keras.initializers.Constant(self.gate_bias),
            name="transform_gate",
        )
        self.gate.build(x_shape)
        self.projection = _projection(x_shape[-1], h_shape[-1], "projection")
        if self.projection is not None:
            self.projection.build(x_shape)

    def call(self, inputs):
        x, h = inputs
        t = ops.cast(self.gate(x), h.dtype)
        carry = self.projection(x) if self.projection is not None else x
        return t * h + (1.0 - t) * ops.cast(carry, h.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def get_config(self):
        return {
            **super().get_config(),
            "gate_bias": self.gate_bias,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer
            ),
        }
