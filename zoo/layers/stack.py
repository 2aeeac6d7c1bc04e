"""`RecurrentStack`: N recurrent layers of any cell, with skip connections."""

import keras
from keras import ops

from zoo import checks
from zoo.layers.base import PACKAGE
from zoo.layers.connections import CONNECTIONS
from zoo.layers.connections import HighwayConnection
from zoo.layers.connections import ResidualConnection
from zoo.layers.gru import GRU
from zoo.layers.lstm import LSTM
from zoo.layers.simple_rnn import SimpleRNN

CELLS = {"lstm": LSTM, "gru": GRU, "simple_rnn": SimpleRNN}
# `keras.layers.Dropout(noise_shape=LOCKED)`: one mask per sequence
# (batch, 1, features), shared by every time step.
LOCKED = (None, 1, None)


@keras.saving.register_keras_serializable(package=PACKAGE)
class RecurrentStack(keras.layers.Layer):
    """A stack of recurrent layers joined by a chosen connection.

    Every layer returns sequences; the stack maps `(batch, time, d_in)` to
    `(batch, time, d_out)` where `d_out` is the last layer's width (doubled
    when bidirectional with `merge_mode="concat"`). Masks flow through.

    Args:
        cell: `"lstm"`, `"gru"` or `"simple_rnn"`. Default: `"lstm"`.
        units: int (every layer) or list of ints (one per layer).
            Default: `128`.
        num_layers: number of recurrent layers; must equal `len(units)` when
            `units` is a list. Default: `1`.
        bidirectional: wrap each layer in `keras.layers.Bidirectional`.
            Default: `False`.
        merge_mode: Bidirectional merge mode, `"concat"`, `"sum"`, `"ave"`
            or `"mul"`. Default: `"concat"`.
        connection: `"none"`, `"residual"`, `"highway"` or `"dense"`, used
            between consecutive layers (and from the stack's input into the
            first layer's output for residual/highway). Default: `"none"`.
        dropout: dropout rate applied to each layer's output except the last.
            Default: `0.0`.
        highway_gate_bias: initial transform-gate bias of highway
            connections. Default: `-2.0`.
        stateful: stateful recurrent layers (truncated BPTT; needs a fixed
            batch size). Default: `False`.
        cell_options: dict of extra arguments for every cell (e.g.
            `{"recurrent_dropout": 0.25, "kernel_initializer": ...}`).
            Default: `None`.
        locked_dropout: the dropout between layers draws one mask per
            sequence, shared by every time step (variational or "locked"
            dropout, Gal & Ghahramani 2016; AWD-LSTM's `dropouth`), rather
            than one per step. Default: `False`.
        weight_drop, zoneout, layer_norm: the cells' options of the same
            names (see `zoo.layers.LSTMCell`), for every layer.
            Default: `0.0`, `0.0`, `False`.
        cell_zoneout, projection: the LSTM's cell-state zoneout and LSTMP
            projection (`cell="lstm"` only). Default: `0.0`, `None`.

    Call arguments:
        inputs: a tensor `(batch, time, d_in)`.
        mask: optional boolean `(batch, time)`, passed to every layer.
        training: Python bool, whether dropout applies.

    Example:

    >>> stack = RecurrentStack("gru", units=32, num_layers=3,
    ...                        bidirectional=True, connection="highway")
    >>> stack(np.zeros((2, 7, 16))).shape
    (2, 7, 64)
    """

    def __init__(
        self,
        cell="lstm",
        units=128,
        num_layers=1,
        bidirectional=False,
        merge_mode="concat",
        connection="none",
        dropout=0.0,
        highway_gate_bias=-2.0,
        stateful=False,
        cell_options=None,
        locked_dropout=False,
        weight_drop=0.0,
        zoneout=0.0,
        cell_zoneout=0.0,
        layer_norm=False,
        projection=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        checks.choice("cell", cell, sorted(CELLS))
        checks.choice("connection", connection, CONNECTIONS)
        checks.choice("merge_mode", merge_mode, ("concat", "sum", "ave", "mul"))
        checks.positive_int("num_layers", num_layers)
        if isinstance(units, int):
            units_list = [units] * int(num_layers)
        else:
            units_list = [int(u) for u in units]
            if len(units_list) != num_layers:
                raise ValueError(
                    f"`units` has {len(units_list)} entries but "
                    f"num_layers={num_layers}. Received: units={units!r}"
                )
        checks.rate("dropout", dropout)
        self.cell = cell
        self.units = units
        self.units_list = units_list
        self.num_layers = int(num_layers)
        self.bidirectional = checks.flag("bidirectional", bidirectional)
        self.merge_mode = merge_mode
        self.connection = connection
        self.dropout = float(dropout)
        self.highway_gate_bias = float(highway_gate_bias)
        self.stateful = checks.flag("stateful", stateful)
        self.cell_options = dict(cell_options or {})
        self.locked_dropout = checks.flag("locked_dropout", locked_dropout)
        self.weight_drop = checks.rate("weight_drop", weight_drop)
        self.zoneout = checks.probability("zoneout", zoneout)
        self.cell_zoneout = checks.probability("cell_zoneout", cell_zoneout)
        self.layer_norm = checks.flag("layer_norm", layer_norm)
        self.projection = projection
        if cell != "lstm" and (cell_zoneout or projection is not None):
            raise ValueError(
                "`cell_zoneout` and `projection` apply to the LSTM only. "
                f"Received: cell={cell!r}, cell_zoneout={cell_zoneout!r}, "
                f"projection={projection!r}"
            )
        layer_options = dict(self.cell_options)
        for key, value, off in (("weight_drop", self.weight_drop, 0.0),
                                ("zoneout", self.zoneout, 0.0),
                                ("cell_zoneout", self.cell_zoneout, 0.0),
                                ("layer_norm", self.layer_norm, False),
                                ("projection", projection, None)):
            if value != off:
                layer_options[key] = value
        self.supports_masking = True

        layer_class = CELLS[cell]
        # `Bidirectional` copies the layer it wraps by serialising it. While a
        # model loads, Keras tracks serialised objects by `id()`; a template
        # freed in an earlier iteration can hand its id to the next one, and
        # Keras then returns the earlier copy (a forward layer) as the backward
        # layer. Keeping every template alive for the whole loop keeps the
        # ids distinct.
        templates = []
        self.recurrent_layers = []
        self.connections = []
        self.dropouts = []
        for k, u in enumerate(units_list):
            rnn = layer_class(
                u,
                return_sequences=True,
                stateful=self.stateful,
                name=f"{cell}_{k}",
                **layer_options,
            )
            if self.bidirectional:
                templates.append(rnn)
                rnn = keras.layers.Bidirectional(
                    rnn, merge_mode=merge_mode, name=f"bidirectional_{k}"
                )
            self.recurrent_layers.append(rnn)
            if connection == "residual":
                self.connections.append(ResidualConnection(name=f"residual_{k}"))
            elif connection == "highway":
                self.connections.append(
                    HighwayConnection(
                        gate_bias=self.highway_gate_bias, name=f"highway_{k}"
                    )
                )
            if self.dropout and k < self.num_layers - 1:
                self.dropouts.append(
                    keras.layers.Dropout(
                        self.dropout,
                        noise_shape=LOCKED if self.locked_dropout else None,
                        name=f"dropout_{k}",
                    )
                )

    def _layer_width(self, k):
        rnn = self.recurrent_layers[k]
        if isinstance(rnn, keras.layers.Bidirectional):
            rnn = rnn.forward_layer
        u = rnn.cell.output_size  # the projection of an LSTMP
        if self.bidirectional and self.merge_mode == "concat":
            return 2 * u
        return u

    @property
    def output_width(self):
        return self._layer_width(self.num_layers - 1)

    def build(self, input_shape):
        batch, time, d_in = input_shape
        width = d_in
        dense_width = d_in
        for k, rnn in enumerate(self.recurrent_layers):
            in_width = dense_width if self.connection == "dense" else width
            rnn.build((batch, time, in_width))
            out_width = self._layer_width(k)
            if self.connections:
                self.connections[k].build(
                    ((batch, time, in_width), (batch, time, out_width))
                )
            width = out_width
            dense_width += out_width

    def call(self, inputs, mask=None, training=None):
        x = inputs
        features = [inputs]
        for k, rnn in enumerate(self.recurrent_layers):
            layer_in = (
                ops.concatenate(features, axis=-1)
                if self.connection == "dense" and k > 0
                else x
            )
            h = rnn(layer_in, mask=mask, training=training)
            if self.connections:
                h = self.connections[k]((layer_in, h))
            if k < len(self.dropouts):
                h = self.dropouts[k](h, training=training)
            features.append(h)
            x = h
        return x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_width)

    def compute_mask(self, inputs, mask=None):
        return mask

    def reset_states(self):
        """Zeros the carried state of every stateful layer."""
        for rnn in self.recurrent_layers:
            layers = (
                [rnn.forward_layer, rnn.backward_layer]
                if isinstance(rnn, keras.layers.Bidirectional)
                else [rnn]
            )
            for layer in layers:
                layer.reset_state()

    def get_config(self):
        return {
            **super().get_config(),
            "cell": self.cell,
            "units": self.units,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "merge_mode": self.merge_mode,
            "connection": self.connection,
            "dropout": self.dropout,
            "highway_gate_bias": self.highway_gate_bias,
            "stateful": self.stateful,
            "cell_options": self.cell_options,
            "locked_dropout": self.locked_dropout,
            "weight_drop": self.weight_drop,
            "zoneout": self.zoneout,
            "cell_zoneout": self.cell_zoneout,
            "layer_norm": self.layer_norm,
            "projection": self.projection,
        }
