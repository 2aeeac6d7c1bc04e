"""Stacked recurrent language model (word or character level)."""

import keras
from keras import ops

from zoo import checks
from zoo.layers import LOCKED
from zoo.layers import ActivationRegularization
from zoo.layers import AdaptiveSoftmaxEmbedding
from zoo.layers.adaptive_softmax import check_cutoffs
from zoo.layers.adaptive_softmax import check_div_value
from zoo.layers import BiasAdd
from zoo.layers import WordDropout
from zoo.layers import RecurrentStack
from zoo.layers.base import PACKAGE

LEVELS = ("word", "char")


@keras.saving.register_keras_serializable(package=PACKAGE)
class LanguageModel(keras.Model):
    """Embedding → recurrent stack → dropout → logits over the vocabulary.

    Takes token ids `(batch, time)` and returns float32 logits
    `(batch, time, vocabulary_size)`. With `stateful=True` (and a fixed
    `batch_size`) the hidden state is carried from one call to the next, for
    truncated back-propagation through time; `reset_states()` zeros it.
    `with_options(stateful=False)` gives a copy with the same weights (e.g. to
    evaluate or export with another batch size).

    Args:
        vocabulary_size: number of tokens. Default: `10000`.
        embedding_dim: embedding width. Default: `200`.
        cell: `"lstm"`, `"gru"` or `"simple_rnn"`. Default: `"lstm"`.
        units: units per layer (int or list). Default: `200`.
        num_layers: recurrent layers. Default: `2`.
        connection: `"none"`, `"residual"`, `"highway"` or `"dense"`.
            Default: `"none"`.
        dropout: dropout between recurrent layers. Default: `0.0`.
        embedding_dropout: dropout on the embeddings. Default: `0.0`.
        output_dropout: dropout on the last layer's output. Default: `0.0`.
        recurrent_dropout: variational dropout inside the cells.
            Default: `0.0`.
        tie_weights: share the input embedding with the output projection
            (Press & Wolf 2017; Inan et al. 2017); a linear projection is
            added when the last layer's width differs from `embedding_dim`.
            Default: `False`.
        init_scale: if set, every weight and bias is initialised uniformly
            in `[-init_scale, init_scale]` (Zaremba et al. 2014; with
            `unit_forget_bias` the forget gate's bias still starts at 1).
            Default: `None` (Keras' defaults: Glorot/orthogonal, zero biases).
        unit_forget_bias: LSTM forget-gate bias starts at 1. Default: `True`.
        highway_gate_bias: initial highway gate bias. Default: `-2.0`.
        level: `"word"` or `"char"`; recorded for data and export.
            Default: `"word"`.
        stateful: carry state across calls. Default: `False`.
        batch_size: fixed batch size, required when `stateful`.
            Default: `None`.
        word_dropout: float in [0, 1): drop whole word types from the
            embedding, one mask per batch (AWD-LSTM's embedding dropout,
            `zoo.layers.WordDropout`). `embedding_dropout` stays the
            element-wise dropout of the embedded vectors. Default: `0.0`.
        locked_dropout: `embedding_dropout`, `dropout` and `output_dropout`
            draw one mask per sequence, shared by every time step
            (AWD-LSTM's `dropouti`, `dropouth` and `dropout`).
            Default: `False`.
        weight_drop, zoneout, cell_zoneout, layer_norm, projection: the
            cells' options (see `zoo.layers.LSTMCell`; `cell_zoneout` and
            `projection` for the LSTM only). Default: off.
        ar, tar: AR and TAR coefficients on the last layer's outputs
            (`zoo.layers.ActivationRegularization`; AWD-LSTM: 2 and 1).
            Default: `0.0`.
        reverse: a backward language model (ULMFiT's backward LM): its
            corpus is read from the last token to the first, so it predicts
            each token from the ones after it. The layers are the same; the
            data pipeline (`training.data.load_language_model(reverse=True)`)
            reverses the token stream, and a classifier started from it
            must read its texts reversed too (`SentimentClassifier(
            reverse=True)`). Default: `False`.
        adaptive_cutoffs: list of ints, or `None`: the output layer is an
            adaptive softmax (Grave et al. 2017;
            `zoo.layers.AdaptiveSoftmaxEmbedding`) with the frequent words
            below `adaptive_cutoffs[0]` in its head and a tail cluster
            starting at each cutoff. It computes exact log-probabilities
            of every word at a fraction of a full softmax's cost (the
            outputs are then log-probabilities, which work wherever logits
            do). Word ids must be sorted by frequency, as the zoo's word
            vocabularies are (word level only). With `tie_weights` the
            clusters score against the input embeddings. The features are
            projected to `embedding_dim` when the last layer's width
            differs. Default: `None` (a full softmax).
        adaptive_div_value: number > 0: tail cluster `i` works in
            `embedding_dim // adaptive_div_value ** (i + 1)` dimensions.
            Default: `4.0`.

    Call arguments:
        inputs: int token ids `(batch, time)`.
        training: Python bool, whether dropout applies.

    Example:

    >>> lm = LanguageModel(vocabulary_size=50, embedding_dim=8, units=8)
    >>> lm(np.zeros((2, 5), "int32")).shape
    (2, 5, 50)
    """

    def __init__(
        self,
        vocabulary_size=10000,
        embedding_dim=200,
        cell="lstm",
        units=200,
        num_layers=2,
        connection="none",
        dropout=0.0,
        embedding_dropout=0.0,
        output_dropout=0.0,
        recurrent_dropout=0.0,
        tie_weights=False,
        init_scale=None,
        unit_forget_bias=True,
        highway_gate_bias=-2.0,
        level="word",
        stateful=False,
        batch_size=None,
        word_dropout=0.0,
        locked_dropout=False,
        weight_drop=0.0,
        zoneout=0.0,
        cell_zoneout=0.0,
        layer_norm=False,
        projection=None,
        ar=0.0,
        tar=0.0,
        reverse=False,
        adaptive_cutoffs=None,
        adaptive_div_value=4.0,
        **kwargs,
    ):
        checks.model_kwargs(type(self).__name__, kwargs)
        checks.positive_int("vocabulary_size", vocabulary_size)
        checks.positive_int("embedding_dim", embedding_dim)
        checks.choice("level", level, LEVELS)
        for name, value in (("tie_weights", tie_weights),
                            ("unit_forget_bias", unit_forget_bias),
                            ("stateful", stateful),
                            ("locked_dropout", locked_dropout),
                            ("layer_norm", layer_norm)):
            checks.flag(name, value)
        if stateful and not batch_size:
            raise ValueError(
                "A stateful LanguageModel needs a fixed `batch_size`. "
                f"Received: stateful={stateful}, batch_size={batch_size!r}"
            )
        checks.rate("embedding_dropout", embedding_dropout)
        checks.rate("output_dropout", output_dropout)
        checks.rate("word_dropout", word_dropout)
        checks.flag("reverse", reverse)
        if adaptive_cutoffs is None:
            # checked even when unused, so that a typo is not ignored
            check_div_value(adaptive_div_value, "adaptive_div_value")
        else:
            if level != "word":
                raise ValueError(
                    "An adaptive softmax is for word-level language models "
                    "(their vocabularies are sorted by frequency; a "
                    "character vocabulary is sorted by character). "
                    f"Received: adaptive_cutoffs={adaptive_cutoffs!r}, "
                    f"level={level!r}")
            adaptive_cutoffs = check_cutoffs(
                adaptive_cutoffs, vocabulary_size, adaptive_div_value,
                embedding_dim,
                names=("adaptive_cutoffs", "adaptive_div_value"))
        if init_scale is not None and (
                isinstance(init_scale, bool) or
                not isinstance(init_scale, (int, float)) or
                not 0 < init_scale < float("inf")):
            raise ValueError("`init_scale` must be a finite number > 0 or "
                             f"None. Received: init_scale={init_scale!r}")
        regularization = ActivationRegularization(ar=ar, tar=tar,
                                                  name="activation_reg")
        noise_shape = LOCKED if locked_dropout else None
        if init_scale is not None:
            init = keras.initializers.RandomUniform(-init_scale, init_scale)
            embedding_init = kernel_init = recurrent_init = bias_init = init
        else:
            embedding_init, kernel_init, recurrent_init, bias_init = (
                "uniform", "glorot_uniform", "orthogonal", "zeros"
            )
        cell_options = {
            "kernel_initializer": kernel_init,
            "recurrent_initializer": recurrent_init,
            "bias_initializer": bias_init,
        }
        if cell == "lstm":
            cell_options["unit_forget_bias"] = unit_forget_bias
        if recurrent_dropout:
            cell_options["recurrent_dropout"] = recurrent_dropout
        stack = RecurrentStack(
            cell=cell, units=units, num_layers=num_layers,
            connection=connection, dropout=dropout,
            highway_gate_bias=highway_gate_bias, stateful=stateful,
            cell_options=cell_options, locked_dropout=locked_dropout,
            weight_drop=weight_drop, zoneout=zoneout,
            cell_zoneout=cell_zoneout, layer_norm=layer_norm,
            projection=projection, name="recurrent_stack",
        )
        ids = keras.Input(
            batch_shape=(batch_size if stateful else None, None),
            dtype="int32",
            name="token_ids",
        )
        if adaptive_cutoffs is not None:
            embedding = AdaptiveSoftmaxEmbedding(
                vocabulary_size, embedding_dim, cutoffs=adaptive_cutoffs,
                div_value=adaptive_div_value, tie_weights=tie_weights,
                embeddings_initializer=embedding_init,
                kernel_initializer=kernel_init, name="embedding")
        else:
            embedding = keras.layers.ReversibleEmbedding(
                vocabulary_size,
                embedding_dim,
                tie_weights=True,
                embeddings_initializer=embedding_init,
                name="embedding",
            )
        x = embedding(ids)
        if word_dropout:
            x = WordDropout(word_dropout, vocabulary_size,
                            name="word_dropout")((ids, x))
        if embedding_dropout:
            x = keras.layers.Dropout(embedding_dropout, noise_shape=noise_shape,
                                     name="embedding_dropout")(x)
        raw = x = stack(x)
        if output_dropout:
            x = keras.layers.Dropout(output_dropout, noise_shape=noise_shape,
                                     name="output_dropout")(x)
        if ar or tar:
            x = regularization((raw, x))
        adaptive = adaptive_cutoffs is not None
        if (adaptive or tie_weights) and stack.output_width != embedding_dim:
            # the output layer scores D-wide features
            x = keras.layers.Dense(
                embedding_dim, kernel_initializer=kernel_init,
                name="tied_projection" if tie_weights
                else "output_projection",
            )(x)
        features = x
        if adaptive:
            logits = embedding(x, reverse=True)
        elif tie_weights:
            logits = embedding(x, reverse=True)
            logits = BiasAdd(name="output_bias")(logits)
        else:
            logits = keras.layers.Dense(
                vocabulary_size, kernel_initializer=kernel_init,
                bias_initializer=bias_init, name="logits"
            )(x)
        logits = keras.layers.Activation("linear", dtype="float32",
                                         name="float32_logits")(logits)
        super().__init__(inputs=ids, outputs=logits, **kwargs)
        self._output_features = features

        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.cell = cell
        self.units = units
        self.num_layers = num_layers
        self.connection = connection
        self.dropout = dropout
        self.embedding_dropout = embedding_dropout
        self.output_dropout = output_dropout
        self.recurrent_dropout = recurrent_dropout
        self.tie_weights = tie_weights
        self.init_scale = init_scale
        self.unit_forget_bias = unit_forget_bias
        self.highway_gate_bias = highway_gate_bias
        self.level = level
        self.stateful = stateful
        self.batch_size = batch_size
        self.word_dropout = float(word_dropout)
        self.locked_dropout = locked_dropout
        self.weight_drop = weight_drop
        self.zoneout = zoneout
        self.cell_zoneout = cell_zoneout
        self.layer_norm = layer_norm
        self.projection = projection
        self.ar = float(ar)
        self.tar = float(tar)
        self.reverse = reverse
        self.adaptive_cutoffs = adaptive_cutoffs
        self.adaptive_div_value = float(adaptive_div_value)

    def output_features_model(self, with_logits=False):
        """A model that shares this one's layers and returns what its output
        layer takes, `(batch, time, D)`: the input of the softmax, for
        training with a sampled softmax (`training.sampled_softmax`).

        With `with_logits=True` it returns `[features, logits]`, both from one
        call (and, for a stateful model, one step of the carried state): the
        neural cache (`training.neural_cache`) reads both.
        """
        if with_logits:
            return keras.Model(self.input, [self._output_features, self.outputs[0]],
                               name="output_features_and_logits")
        return keras.Model(self.input, self._output_features,
                           name="output_features")

    def output_embedding(self):
        """`(weights (V, D), bias (V,))` of the output layer: the tied
        embedding and `output_bias`, or the transposed `logits` kernel and
        its bias.

        Raises:
            ValueError: the model has an adaptive softmax, whose output
                layer is not one matrix.
        """
        if self.adaptive_cutoffs is not None:
            raise ValueError(
                "A language model with an adaptive softmax has no single "
                "output embedding (a sampled softmax needs one; the adaptive "
                "softmax is the other way to a cheaper softmax, so use one "
                f"of them). Received: adaptive_cutoffs={self.adaptive_cutoffs}")
        if self.tie_weights:
            return (self.get_layer("embedding").embeddings,
                    self.get_layer("output_bias").bias)
        dense = self.get_layer("logits")
        return ops.transpose(dense.kernel), dense.bias

    def reset_states(self):
        """Zeros the carried hidden state (stateful models)."""
        self.get_layer("recurrent_stack").reset_states()

    def with_options(self, **overrides):
        """A copy of this model with changed options and the same weights.

        Example: `lm.with_options(stateful=False, batch_size=None)`.
        """
        config = {**self.get_config(), **overrides}
        if not config.get("stateful"):
            config["batch_size"] = None
        clone = type(self).from_config(config)
        clone.set_weights(self.get_weights())
        return clone

    def get_config(self):
        return {
            "vocabulary_size": self.vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "cell": self.cell,
            "units": self.units,
            "num_layers": self.num_layers,
            "connection": self.connection,
            "dropout": self.dropout,
            "embedding_dropout": self.embedding_dropout,
            "output_dropout": self.output_dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "tie_weights": self.tie_weights,
            "init_scale": self.init_scale,
            "unit_forget_bias": self.unit_forget_bias,
            "highway_gate_bias": self.highway_gate_bias,
            "level": self.level,
            "stateful": self.stateful,
            "batch_size": self.batch_size,
            "word_dropout": self.word_dropout,
            "locked_dropout": self.locked_dropout,
            "weight_drop": self.weight_drop,
            "zoneout": self.zoneout,
            "cell_zoneout": self.cell_zoneout,
            "layer_norm": self.layer_norm,
            "projection": self.projection,
            "ar": self.ar,
            "tar": self.tar,
            "reverse": self.reverse,
            "adaptive_cutoffs": self.adaptive_cutoffs,
            "adaptive_div_value": self.adaptive_div_value,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
