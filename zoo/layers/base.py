"""Shared plumbing for the zoo's recurrent cells and sequence layers.

Everything here uses `keras.ops` only, so the layers run on every Keras
backend (TensorFlow, JAX, PyTorch).
"""

import contextlib

import keras
from keras import activations
from keras import constraints
from keras import initializers
from keras import ops
from keras import regularizers

from zoo import checks

# Keras' own cells mix this class in: it caches one dropout mask per sequence
# and `keras.layers.RNN` creates and resets the masks outside the time loop.
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

PACKAGE = "zoo"


class RecurrentCell(keras.layers.Layer, DropoutRNNCell):
    """Base class of the zoo's cells: weights in Keras' layout, dropout, config.

    A subclass sets `num_gates` (4 for LSTM, 3 for GRU, 1 for the Elman RNN),
    and implements `call(inputs, states, training)` reading its weights
    through `self.step_weights()`.

    Weights follow Keras' layout so they move between `keras.layers.LSTM`/
    `GRU`/`SimpleRNN` and the zoo's layers with `set_weights` unchanged:
    `kernel` (input_dim, num_gates * units), `recurrent_kernel`
    (units, num_gates * units) and `bias` (num_gates * units,).

    Args:
        units: positive int, dimensionality of the output space.
        activation: activation of the candidate/output. Default: `"tanh"`.
        use_bias: whether the cell has a bias vector. Default: `True`.
        kernel_initializer: initializer of `kernel`. Default:
            `"glorot_uniform"`.
        recurrent_initializer: initializer of `recurrent_kernel`. Default:
            `"orthogonal"`.
        bias_initializer: initializer of `bias`. Default: `"zeros"`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer:
            optional regularizers. Default: `None`.
        kernel_constraint, recurrent_constraint, bias_constraint: optional
            constraints. Default: `None`.
        dropout: float in [0, 1), fraction of the inputs dropped; one mask
            per sequence. Default: `0.0`.
        recurrent_dropout: float in [0, 1), fraction of the recurrent state
            dropped before the recurrent matmul; one mask per sequence
            (variational dropout, Gal & Ghahramani 2016). Default: `0.0`.
        seed: random seed for dropout. Default: `None`.
        weight_drop: float in [0, 1), DropConnect on `recurrent_kernel`
            (Wan et al. 2013; AWD-LSTM's `WeightDrop`): during training the
            sequence layer drops entries of the recurrent weight matrix,
            scaled by `1 / (1 - weight_drop)`, once per batch (one mask for
            every time step), outside the time loop, so the fused kernel
            still runs. At inference the weights are used as they are.
            Default: `0.0`.
        zoneout: float in [0, 1], zoneout of the hidden state (Krueger et
            al. 2017): in training each unit keeps its previous value with
            this probability at each step; at inference the state is the
            expectation `zoneout * h_{t-1} + (1 - zoneout) * h_t`.
            Default: `0.0`.
        layer_norm: layer-normalise the input and the recurrent
            pre-activations separately (`LN(x W) + LN(h U) + b`, Ba et al.
            2016, as haste's LayerNormLSTM), each with its own gain
            (`gate_norm_gamma`, shape `(2, num_gates * units)`).
            Default: `False`.

    Call arguments (of a subclass's `call`):
        inputs: a 2D tensor `(batch, features)`, one time step.
        states: the list of state tensors, each `(batch, state_size)`.
        training: Python bool, whether dropout applies.
    """

    num_gates = 1

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
        **kwargs,
    ):
        checks.positive_int("units", units)
        super().__init__(**kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = checks.flag("use_bias", use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = checks.rate("dropout", dropout)
        self.recurrent_dropout = checks.rate(
            "recurrent_dropout", recurrent_dropout
        )
        self.weight_drop = checks.rate("weight_drop", weight_drop)
        self.zoneout = checks.probability("zoneout", zoneout)
        self.layer_norm = checks.flag("layer_norm", layer_norm)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = units
        self.output_size = units
        self._cached_weights = None
        # Width of the zoneout noise the sequence layer appends to each
        # step's inputs (0: none; see `zoneout_noise_width`).
        self._noise_width = 0

    # -- weights -----------------------------------------------------------
    def _bias_shape(self):
        return (self.num_gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        input_dim = input_shape[-1]
        n = self.num_gates * self.units
        self.kernel = self.add_weight(
            shape=(input_dim, n),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            # rows: the width of h (an LSTMP's projection)
            shape=(self._state_sizes()[0], n),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self._bias_shape(),
                name="bias",
                initializer=self._bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        if self.layer_norm:
            self.gate_norm_gamma = self.add_weight(
                shape=(2, self._recurrent_width()),
                name="gate_norm_gamma",
                initializer="ones",
            )

    def _recurrent_width(self):
        """Width of `h U` (the recurrent pre-activations)."""
        return self.num_gates * self.units

    def loop_only_options(self):
        """The options set that only the cell loop implements (not the
        fused kernel): `{"layer_norm": True, "zoneout": 0.1, ...}`."""
        options = {"layer_norm": self.layer_norm}
        options.update(zip(self._zoneout_names(), self._zoneout_rates()))
        return {k: v for k, v in options.items() if v}

    def step_weights(self):
        """Returns `(kernel, recurrent_kernel, bias)` for one time step.

        Inside `sequence_weights()` these are tensors computed once per
        sequence (cast to the compute dtype; the recurrent kernel dropped
        by `weight_drop` in training); otherwise the variables themselves
        (which Keras casts on every read under a mixed-precision policy).
        """
        if self._cached_weights is not None:
            return self._cached_weights
        return self.kernel, self.recurrent_kernel, self.bias

    @contextlib.contextmanager
    def sequence_weights(self, training=False):
        """The weights of one sequence (one batch), fixed for every step.

        Inside this context `step_weights()` returns tensors computed once:
        under `mixed_bfloat16`/`mixed_float16` the float32 variables cast to
        the compute dtype (rather than at every step), and in training with
        `weight_drop` the recurrent kernel with one DropConnect mask drawn
        for the whole batch. The sequence layer enters it around its time
        loop, or around the fused kernel.
        """
        dropped = bool(training) and self.weight_drop > 0.0
        cast = self.compute_dtype != self.variable_dtype
        if not dropped and not cast:
            yield
            return
        kernel, recurrent_kernel, bias = (
            self.kernel, self.recurrent_kernel, self.bias
        )
        if dropped:
            recurrent_kernel = keras.random.dropout(
                ops.convert_to_tensor(recurrent_kernel),
                self.weight_drop,
                seed=self.seed_generator,
            )
        weights = (kernel, recurrent_kernel, bias)
        if cast:
            weights = tuple(
                None if w is None else ops.cast(w, self.compute_dtype)
                for w in weights
            )
        self._cached_weights = weights
        try:
            yield
        finally:
            self._cached_weights = None

    # -- layer normalisation ----------------------------------------------
    def _normalized(self, x, row):
        """`LN(x)` with gain `gate_norm_gamma[row]` (0: input, 1: recurrent)
        when `layer_norm`, else `x`."""
        if not self.layer_norm:
            return x
        gamma = ops.cast(self.gate_norm_gamma[row], x.dtype)
        return layer_normalize(x, gamma)

    # -- zoneout -----------------------------------------------------------
    def _zoneout_names(self):
        return ["zoneout"]

    def _zoneout_rates(self):
        """One zoneout rate per state tensor."""
        return [self.zoneout]

    def _state_sizes(self):
        sizes = self.state_size
        return [sizes] if isinstance(sizes, int) else list(sizes)

    def zoneout_noise_width(self):
        """Features of uniform noise one step needs for zoneout in training
        (the sizes of the states with a zoneout rate > 0)."""
        return sum(
            size
            for size, rate in zip(self._state_sizes(), self._zoneout_rates())
            if rate > 0.0
        )

    def _split_noise(self, inputs):
        """`(inputs, noise)`: the noise the sequence layer appended, if any."""
        if not self._noise_width:
            return inputs, None
        w = self._noise_width
        return inputs[:, :-w], inputs[:, -w:]

    def _zoned(self, new_states, old_states, noise, training):
        """Applies zoneout to each state: keep the previous value where the
        noise is below the rate (training), or mix by the rate (inference).
        """
        out, offset = [], 0
        for new, old, rate in zip(new_states, old_states,
                                  self._zoneout_rates()):
            if rate <= 0.0:
                out.append(new)
                continue
            if training:
                size = new.shape[-1]
                if noise is not None:
                    u = noise[:, offset:offset + size]
                    offset += size
                else:  # the cell used alone, in a plain keras.layers.RNN
                    u = keras.random.uniform(
                        ops.shape(new), dtype=new.dtype,
                        seed=self.seed_generator,
                    )
                keep = ops.cast(ops.less(u, rate), new.dtype)
                out.append(keep * old + (1.0 - keep) * new)
            else:
                out.append(rate * old + (1.0 - rate) * new)
        return out

    # -- dropout -----------------------------------------------------------
    def _dropped(self, inputs, h_tm1, training):
        """Applies the per-sequence input and recurrent dropout masks."""
        if training and self.dropout > 0.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and self.recurrent_dropout > 0.0:
            h_tm1 = h_tm1 * self.get_recurrent_dropout_mask(h_tm1)
        return inputs, h_tm1

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size
        if isinstance(sizes, int):
            return [ops.zeros((batch_size, sizes), dtype=self.compute_dtype)]
        return [
            ops.zeros((batch_size, d), dtype=self.compute_dtype) for d in sizes
        ]

    def get_config(self):
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(
                self.kernel_initializer
            ),
            "recurrent_initializer": initializers.serialize(
                self.recurrent_initializer
            ),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(
                self.kernel_regularizer
            ),
            "recurrent_regularizer": regularizers.serialize(
                self.recurrent_regularizer
            ),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(
                self.recurrent_constraint
            ),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "weight_drop": self.weight_drop,
            "zoneout": self.zoneout,
            "layer_norm": self.layer_norm,
        }
        return {**super().get_config(), **config}


def layer_normalize(x, gamma, beta=None, epsilon=1e-5):
    """`gamma * (x - mean) / sqrt(var + epsilon) (+ beta)` over the last
    axis (the statistics of each row)."""
    mean = ops.mean(x, axis=-1, keepdims=True)
    centered = x - mean
    var = ops.mean(ops.square(centered), axis=-1, keepdims=True)
    y = centered * ops.rsqrt(var + epsilon) * gamma
    if beta is not None:
        y = y + beta
    return y


def fused_device_available():
    """Whether the backend sees a GPU on which a fused cuDNN kernel can run.

    On a CPU the cell loop is used (the PyTorch backend would otherwise run a
    loop of its own instead of the zoo's cell).
    """
    try:
        name = keras.backend.backend()
        if name == "tensorflow":
            from keras.src.backend.tensorflow.rnn import _is_gpu_available

            return bool(_is_gpu_available())
        if name == "torch":
            from keras.src.backend.torch.rnn import _is_cuda_cudnn_available

            return bool(_is_cuda_cudnn_available())
        if name == "jax":
            from keras.src.backend.jax.rnn import _is_gpu_available

            return bool(_is_gpu_available())
    except Exception:  # a backend without these probes: no fused kernel
        return False
    return False


class RecurrentSequenceLayer(keras.layers.RNN):
    """A `keras.layers.RNN` over one of the zoo's cells.

    Subclasses (`LSTM`, `GRU`, `SimpleRNN`) list their cell's arguments
    explicitly, as Keras' own layers do, build the cell and pass it here
    with the layer arguments. Everything `keras.layers.RNN` offers works:
    `return_sequences`, `return_state`, `go_backwards`, `stateful`,
    `unroll`, masking, and `keras.layers.Bidirectional`. `get_config` is
    flat (cell and layer arguments together), so `from_config` calls the
    subclass's constructor.

    Under a mixed-precision policy the weights are cast to the compute dtype
    once per sequence rather than at every time step.

    Args:
        cell: the cell (an instance of the subclass's `cell_class`).
        return_sequences, return_state, go_backwards, stateful, unroll: as
            for `keras.layers.RNN`.
        use_cudnn: `"auto"`, `True` or `False` (see `zoo.layers.LSTM`).
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).
    """

    cell_class = None
    # Backend function implementing the fused (cuDNN) kernel, or None.
    fused_backend_fn = None

    def __init__(
        self,
        cell,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        use_cudnn="auto",
        **kwargs,
    ):
        if use_cudnn not in ("auto", True, False):
            raise ValueError(
                "`use_cudnn` must be one of 'auto', True, False. "
                f"Received: use_cudnn={use_cudnn!r}"
            )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            **kwargs,
        )
        self.input_spec = keras.layers.InputSpec(ndim=3)
        loop_only = cell.loop_only_options()
        if use_cudnn is True and loop_only:
            raise ValueError(
                "use_cudnn=True requires the fused cuDNN kernel, which does "
                f"not implement {sorted(loop_only)}; pass use_cudnn='auto' "
                "(these options then take the cell loop). Received: "
                f"use_cudnn=True with {loop_only}"
            )
        self.use_cudnn = use_cudnn
        # Which implementation the last traced call used: "fused" or "loop".
        self.last_path = None

    @property
    def units(self):
        return self.cell.units

    def fused_kernel_supported(self):
        """Whether the configuration is the one the fused kernel implements.

        The standard configuration: tanh activation, sigmoid recurrent
        activation, a bias, no recurrent dropout and none of the loop-only
        options (layer norm, zoneout, projection; `weight_drop` keeps the
        fused kernel, since the weights are dropped before it runs), plus
        what a subclass
        adds, e.g. `reset_after=True` for the GRU). The backend may still
        decline (e.g. a mask that is not right-padded), and without a GPU
        the cell loop runs.
        """
        cell = self.cell
        return (
            self.fused_backend_fn is not None
            and self.use_cudnn in ("auto", True)
            and cell.activation is activations.tanh
            and getattr(cell, "recurrent_activation", None)
            is activations.sigmoid
            and cell.use_bias
            and not cell.recurrent_dropout
            and not cell.loop_only_options()
            and not self.unroll
        )

    def _fused_call(self, sequences, initial_state, mask):
        raise NotImplementedError

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        cell = self.cell
        with cell.sequence_weights(training=training):
            if self.fused_kernel_supported() and fused_device_available():
                try:
                    fused_in = sequences
                    if training and cell.dropout:
                        dp_mask = cell.get_dropout_mask(sequences[:, 0, :])
                        fused_in = sequences * ops.expand_dims(dp_mask, 1)
                    out = self._fused_call(fused_in, initial_state, mask)
                    if keras.backend.backend() == "tensorflow":
                        self.supports_jit = False  # cuDNN ops are not XLA ops.
                    self.last_path = "fused"
                    return out
                except NotImplementedError:
                    pass
            if self.use_cudnn is True:
                raise ValueError(
                    "use_cudnn=True was specified, but the fused cuDNN kernel "
                    "is not available for this configuration on this "
                    "backend/device. Pass use_cudnn='auto' to fall back to "
                    "the cell loop. Received: use_cudnn=True"
                )
            self.last_path = "loop"
            width = cell.zoneout_noise_width() if training else 0
            if width:
                # Zoneout's per-step noise, drawn for the whole sequence
                # outside the loop (a stateless loop on every backend) and
                # appended to each step's inputs; the cell splits it off.
                shape = ops.shape(sequences)
                noise = keras.random.uniform(
                    (shape[0], shape[1], width), dtype=sequences.dtype,
                    seed=cell.seed_generator,
                )
                sequences = ops.concatenate([sequences, noise], axis=-1)
            cell._noise_width = width
            try:
                return super().inner_loop(
                    sequences, initial_state, mask=mask, training=training
                )
            finally:
                cell._noise_width = 0

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(
            sequences, initial_state=initial_state, mask=mask, training=training
        )

    def get_config(self):
        cell_config = self.cell.get_config()
        for key in ("name", "dtype", "trainable"):
            cell_config.pop(key, None)
        base = super().get_config()
        del base["cell"]
        return {**base, **cell_config, "use_cudnn": self.use_cudnn}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
