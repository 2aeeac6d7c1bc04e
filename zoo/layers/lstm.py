"""Long Short-Term Memory cell and layer (Hochreiter & Schmidhuber 1997)."""

import keras
from keras import activations
from keras import initializers
from keras import ops
from keras.src import backend

from zoo import checks
from zoo.layers.base import PACKAGE
from zoo.layers.base import RecurrentCell
from zoo.layers.base import RecurrentSequenceLayer
from zoo.layers.base import layer_normalize


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
        use_bias: whether the cell has a bias vector. Default: `True`.
        kernel_initializer, recurrent_initializer, bias_initializer:
            initializers of the three weights. Default: `"glorot_uniform"`,
            `"orthogonal"`, `"zeros"`.
        unit_forget_bias: add 1 to the forget-gate bias at initialisation
            (Jozefowicz et al. 2015). Default: `True`.
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
        cell_zoneout: float in [0, 1], zoneout rate of the cell state `c`
            (Krueger et al. use 0.05 for `h` and 0.5 for `c`).
            Default: `0.0`.
        layer_norm: layer-normalise `x W` and `h U` separately, and `c_t`
            before the output tanh, as haste's LayerNormLSTM:
            `z = LN(x W) + LN(h U) + b`, `h_t = o * tanh(LN(c_t))` (the state
            keeps the unnormalised `c_t`). Adds `gate_norm_gamma` (2, 4 *
            units), `cell_norm_gamma` and `cell_norm_beta` (units,).
            Default: `False`.
        projection: `None` or an int in [1, units): LSTMP (Sak et al. 2014;
            torch's `proj_size`): `h_t = (o * tanh(c_t)) P` with
            `projection_kernel` P of shape (units, projection); `h` has
            width `projection`, `c` keeps `units`, and `recurrent_kernel`
            is (projection, 4 * units). Default: `None`.
        **kwargs: the arguments above that `RecurrentCell` takes (all but
            the cell's own), and `keras.layers.Layer` arguments.

    Call arguments:
        inputs: a 2D tensor `(batch, features)`, one time step.
        states: `[h, c]`, `h` of width `projection or units` and `c` of
            width `units`.
        training: Python bool, whether dropout applies.

    Example:

    >>> cell = LSTMCell(16)
    >>> layer = keras.layers.RNN(cell)
    >>> layer(np.zeros((2, 5, 8))).shape
    (2, 16)
    """

    num_gates = 4

    def __init__(self, units, recurrent_activation="sigmoid",
                 unit_forget_bias=True, cell_zoneout=0.0, projection=None,
                 **kwargs):
        super().__init__(units, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = checks.flag("unit_forget_bias",
                                            unit_forget_bias)
        self.cell_zoneout = checks.probability("cell_zoneout", cell_zoneout)
        if projection is not None and (
            isinstance(projection, bool)
            or not isinstance(projection, int)
            or not 0 < projection < units
        ):
            raise ValueError(
                "`projection` must be None or an integer in [1, units) "
                f"(units={units}). Received: projection={projection!r}"
            )
        self.projection = projection
        h_width = projection or units
        self.state_size = [h_width, units]
        self.output_size = h_width

    def _zoneout_names(self):
        return ["zoneout", "cell_zoneout"]

    def _zoneout_rates(self):
        return [self.zoneout, self.cell_zoneout]

    def loop_only_options(self):
        options = super().loop_only_options()
        if self.projection:
            options["projection"] = self.projection
        return options

    def build(self, input_shape):
        super().build(input_shape)
        if self.projection:
            self.projection_kernel = self.add_weight(
                shape=(self.units, self.projection),
                name="projection_kernel",
                initializer=self.kernel_initializer,
                regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint,
            )
        if self.layer_norm:
            self.cell_norm_gamma = self.add_weight(
                shape=(self.units,), name="cell_norm_gamma",
                initializer="ones",
            )
            self.cell_norm_beta = self.add_weight(
                shape=(self.units,), name="cell_norm_beta",
                initializer="zeros",
            )

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
        inputs, noise = self._split_noise(inputs)
        inputs, h_rec = self._dropped(inputs, h_tm1, training)
        kernel, recurrent_kernel, bias = self.step_weights()
        z = self._normalized(ops.matmul(inputs, kernel), 0)
        z = z + self._normalized(ops.matmul(h_rec, recurrent_kernel), 1)
        if bias is not None:
            z = z + bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_tm1 + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        c_out = c
        if self.layer_norm:
            c_out = layer_normalize(
                c,
                ops.cast(self.cell_norm_gamma, c.dtype),
                ops.cast(self.cell_norm_beta, c.dtype),
            )
        h = o * self.activation(c_out)
        if self.projection:
            h = ops.matmul(h, ops.cast(self.projection_kernel, h.dtype))
        h, c = self._zoned([h, c], [h_tm1, c_tm1], noise, training)
        return h, [h, c]

    def get_config(self):
        config = {
            "recurrent_activation": activations.serialize(
                self.recurrent_activation
            ),
            "unit_forget_bias": self.unit_forget_bias,
            "cell_zoneout": self.cell_zoneout,
            "projection": self.projection,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LSTM(RecurrentSequenceLayer):
    """LSTM sequence layer over `zoo.layers.LSTMCell`.

    On a GPU with the standard configuration (tanh/sigmoid, bias, no
    recurrent dropout, no layer norm, zoneout or projection) it runs the
    fused cuDNN kernel with the same weights, as `keras.layers.LSTM` does;
    otherwise it runs the cell loop. `weight_drop` keeps the fused kernel:
    the recurrent weights are dropped once per batch before it runs.

    Args:
        units: positive int, dimensionality of the output space.
        activation, recurrent_activation, use_bias, kernel_initializer,
            recurrent_initializer, bias_initializer, unit_forget_bias,
            kernel_regularizer, recurrent_regularizer, bias_regularizer,
            kernel_constraint, recurrent_constraint, bias_constraint,
            dropout, recurrent_dropout, seed, weight_drop, zoneout,
            cell_zoneout, layer_norm, projection: the `LSTMCell` arguments.
        activity_regularizer: regularizer of the layer's output.
            Default: `None`.
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
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        sequences: a 3D tensor `(batch, timesteps, features)`.
        initial_state: optional list `[h, c]` of `(batch, units)` tensors.
        mask: optional boolean `(batch, timesteps)`; masked steps keep the
            previous state.
        training: Python bool, whether dropout applies.

    Example:

    >>> layer = LSTM(32, return_sequences=True)
    >>> layer(np.zeros((4, 10, 8))).shape
    (4, 10, 32)
    """

    cell_class = LSTMCell
    fused_backend_fn = "lstm"

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        weight_drop=0.0,
        zoneout=0.0,
        cell_zoneout=0.0,
        layer_norm=False,
        projection=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        use_cudnn="auto",
        **kwargs,
    ):
        cell = LSTMCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias,
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
            cell_zoneout=cell_zoneout,
            layer_norm=layer_norm,
            projection=projection,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="lstmcell",
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

    def _fused_call(self, sequences, initial_state, mask):
        kernel, recurrent_kernel, bias = self.cell.step_weights()
        return backend.lstm(
            sequences,
            initial_state[0],
            initial_state[1],
            mask,
            kernel=kernel,
            recurrent_kernel=recurrent_kernel,
            bias=bias,
            activation=self.cell.activation,
            recurrent_activation=self.cell.recurrent_activation,
            return_sequences=self.return_sequences,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
        )
