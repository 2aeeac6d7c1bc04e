"""Bidirectional recurrent sentiment classifier that takes raw strings."""

import keras
import numpy as np
from keras import ops

from zoo import checks
from zoo.layers import LOCKED
from zoo.layers import POOLINGS
from zoo.layers import RecurrentStack
from zoo.layers import SequencePooling
from zoo.layers import ReverseTokens
from zoo.layers import TruncateSequence
from zoo.layers import WordDropout
from zoo.layers.base import PACKAGE
from zoo.models.text import STANDARDIZATIONS
from zoo.models.text import as_text
from zoo.models.text import vectorizer_standardize


# `ngram_weighting` values: binary features, or naive Bayes log-count ratios.
NGRAM_WEIGHTINGS = ("binary", "nb")


def _as_strings(x):
    """Numpy unicode arrays and lists of str become object arrays for Keras."""
    if isinstance(x, np.ndarray) and x.dtype.kind in "US":
        return x.astype(object)
    if isinstance(x, (list, tuple)) and x and all(isinstance(s, str) for s in x):
        return np.array(x, dtype=object)
    return x


def _reiterable(texts):
    """Whether `texts` can be read twice (a generator cannot)."""
    return (isinstance(texts, (list, tuple, np.ndarray))
            or hasattr(texts, "as_numpy_iterator")  # tf.data
            or hasattr(texts, "shape"))  # a tensor


def _text_array(texts):
    """A 1-D object array of `str` from a list, an array, a tensor or a
    `tf.data` dataset of strings (batched or not)."""
    if hasattr(texts, "as_numpy_iterator"):
        parts = [np.asarray(b, dtype=object).reshape(-1)
                 for b in texts.as_numpy_iterator()]
        flat = np.concatenate(parts) if parts else np.array([], dtype=object)
    elif hasattr(texts, "shape") and not isinstance(texts, np.ndarray):
        flat = np.asarray(texts.numpy() if hasattr(texts, "numpy")
                          else ops.convert_to_numpy(texts), dtype=object)
    elif isinstance(texts, np.ndarray):
        flat = texts.astype(object)
    else:  # an iterable of texts, or of batches of them
        flat = np.array([t for item in texts for t in (
            [item] if isinstance(item, (str, bytes))
            else np.asarray(item, dtype=object).reshape(-1))], dtype=object)
    return np.array([as_text(t) for t in flat.reshape(-1)], dtype=object)


# "\n" and the characters `str.splitlines()` breaks lines on. Keras saves a
# TextVectorization vocabulary joined with "\n" but reads it back with
# `splitlines()`, so a token holding one of these (IMDB reviews contain
# U+0085) makes the saved model unloadable. Such tokens are left out of the
# vocabulary (they map to the OOV token) so that every model saves and loads.
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def saveable_vocabulary(tokens):
    """`tokens` without those that would not survive a `.keras` round trip."""
    return [t for t in tokens if not _LINE_BREAKS.intersection(t)]


def _adapt(vectorizer, texts, batch_size):
    """`vectorizer.adapt(texts)`, keeping only tokens a saved model can
    read back."""
    vectorizer.adapt(_as_strings(texts), batch_size=batch_size)
    vocabulary = vectorizer.get_vocabulary()
    kept = saveable_vocabulary(vocabulary)
    if len(kept) != len(vocabulary):
        vectorizer.set_vocabulary(kept)


@keras.saving.register_keras_serializable(package=PACKAGE)
class FloatFeatures(keras.layers.Layer):
    """Casts `TextVectorization`'s int64 multi-hot output to float32."""

    def call(self, inputs):
        return ops.cast(inputs, "float32")

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package=PACKAGE)
class FeatureScale(keras.layers.Layer):
    """Multiplies each feature by a fixed (non-trainable) weight.

    The weights start at 1; `SentimentClassifier.adapt_ngram_vocabulary`
    sets them to naive Bayes log-count ratios (`ngram_weighting="nb"`).

    Example:

    >>> layer = FeatureScale()
    >>> layer(np.ones((2, 3), "float32")).shape
    (2, 3)
    """

    def build(self, input_shape):
        self.scale = self.add_weight(
            shape=(input_shape[-1],), initializer="ones", trainable=False,
            name="scale")

    def call(self, inputs):
        return inputs * ops.cast(self.scale, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def log_count_ratios(batches, alpha=1.0):
    """Naive Bayes log-count ratios of binary features (Wang & Manning
    2012): `log((p / |p|_1) / (q / |q|_1))` with `p = alpha + sum of the
    feature rows of class 1`, `q` the same for class 0.

    Args:
        batches: an iterable of `(rows, labels)`, `rows` of shape
            `(batch, features)` and `labels` (0 or 1) of shape `(batch,)`.
        alpha: the smoothing count. Default: `1.0`.

    Returns:
        A float32 numpy array `(features,)`.
    """
    p = q = None
    for rows, y in batches:
        rows = np.asarray(rows, dtype="float64")
        y = np.asarray(y).reshape(-1)
        if p is None:
            p = np.full(rows.shape[-1], float(alpha))
            q = np.full(rows.shape[-1], float(alpha))
        p += rows[y == 1].sum(axis=0)
        q += rows[y == 0].sum(axis=0)
    return (np.log(p / p.sum()) - np.log(q / q.sum())).astype("float32")


@keras.saving.register_keras_serializable(package=PACKAGE)
class EnsureTokens(keras.layers.Layer):
    """Makes token ids of texts with no tokens safe for a recurrent stack.

    A text that standardisation strips to nothing (`""`, whitespace only,
    punctuation only) has no token ids: a batch of such texts is a
    `(batch, 0)` tensor, which a recurrent layer cannot run over, and a
    fully masked row is a zero-length sequence, which cuDNN rejects. This
    layer pads the time axis to at least one step with the padding id 0,
    puts the OOV id 1 at step 0 of every row without tokens (so no row
    reaches the recurrent stack empty), and returns which rows had tokens.
    Rows with tokens are unchanged. `ZeroTokenRows` then replaces the pooled
    features of the other rows.

    Call arguments:
        inputs: integer token ids `(batch, time)`, 0 for padding; `time`
            may be 0.

    Returns:
        `(ids, has_tokens)`: ids `(batch, max(time, 1))` and a boolean
        `(batch,)`.

    Example:

    >>> ids, has_tokens = EnsureTokens()(np.array([[4, 2], [0, 0]]))
    >>> ops.convert_to_numpy(ids).tolist()
    [[4, 2], [1, 0]]
    >>> ops.convert_to_numpy(has_tokens).tolist()
    [True, False]
    """

    def call(self, inputs):
        ids = inputs
        batch, time = ops.shape(ids)[0], ops.shape(ids)[1]
        missing = ops.maximum(1 - time, 0)
        ids = ops.concatenate(
            [ids, ops.zeros((batch, missing), dtype=ids.dtype)], axis=1)
        has_tokens = ops.any(ops.not_equal(ids, 0), axis=1)
        first_step = ops.expand_dims(
            ops.equal(ops.arange(ops.shape(ids)[1]), 0), 0)
        fill = ops.logical_and(
            ops.expand_dims(ops.logical_not(has_tokens), 1), first_step)
        ids = ops.where(fill, ops.ones_like(ids), ids)
        return ids, has_tokens

    def compute_output_shape(self, input_shape):
        batch, time = input_shape[0], input_shape[1]
        if time is not None:
            time = max(time, 1)
        return (batch, time), (batch,)

    def compute_output_spec(self, inputs):
        batch_shape, time_shape = self.compute_output_shape(inputs.shape)
        return (keras.KerasTensor(batch_shape, dtype=inputs.dtype),
                keras.KerasTensor(time_shape, dtype="bool"))


@keras.saving.register_keras_serializable(package=PACKAGE)
class ZeroTokenRows(keras.layers.Layer):
    """Sets the pooled features of texts without tokens to zero.

    Zero is the recurrent stack's initial state, what it holds before it has
    read anything, and what every pooling gives a sequence with no real
    step. The prediction for a text with no tokens is therefore the head's
    answer for the zero vector (`softmax(bias)` of the output layer),
    whatever the pooling, cell or connection.

    Call arguments:
        inputs: `(features, has_tokens)`: `(batch, d)` and a boolean
            `(batch,)` from `EnsureTokens`.

    Example:

    >>> x = ZeroTokenRows()((np.ones((2, 3)), np.array([True, False])))
    >>> ops.convert_to_numpy(x).tolist()
    [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    """

    def call(self, inputs):
        x, has_tokens = inputs
        keep = ops.expand_dims(ops.cast(has_tokens, "bool"), -1)
        return ops.where(keep, x, ops.zeros_like(x))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


@keras.saving.register_keras_serializable(package=PACKAGE)
class SentimentClassifier(keras.Model):
    """Text classifier: raw strings in, class probabilities out.

    The graph is `TextVectorization` (inside the model, so the model takes
    raw strings) → `TruncateSequence(max_length)` → `Embedding(mask_zero)` →
    `RecurrentStack` → `SequencePooling` → dropout → softmax head. The
    vectorizer's vocabulary must be learned with `adapt_vocabulary(texts)`
    before training; it is saved with the model.

    A text with no tokens (empty, whitespace or punctuation only: whatever
    the standardization strips to nothing) is pooled to the zero vector, the
    recurrent stack's initial state, so its prediction is the head's answer
    before reading anything, `softmax(bias)`. It can share a batch with
    other texts without changing their predictions (`EnsureTokens`,
    `ZeroTokenRows`).

    Args:
        vocabulary_size: maximum vocabulary size including padding and OOV.
            Default: `20000`.
        max_length: texts are cut to their first `max_length` tokens;
            `None` keeps them whole. Default: `400`.
        embedding_dim: embedding width. Default: `128`.
        cell: `"lstm"`, `"gru"` or `"simple_rnn"`. Default: `"lstm"`.
        units: units per direction per layer (int or list). Default: `64`.
        num_layers: recurrent layers. Default: `2`.
        bidirectional: bidirectional layers. Default: `True`.
        connection: `"none"`, `"residual"`, `"highway"` or `"dense"`.
            Default: `"none"`.
        pooling: `"last"`, `"max"`, `"mean"` or `"concat"` (all three
            concatenated). Default: `"max"`.
        dropout: dropout between recurrent layers. Default: `0.0`.
        embedding_dropout: dropout on the embeddings. Default: `0.0`.
        recurrent_dropout: variational dropout inside the cells.
            Default: `0.0`.
        head_dropout: dropout before the output layer. Default: `0.0`.
        num_classes: number of classes (>= 2). Default: `2`.
        class_names: optional list of `num_classes` label names, in index
            order. Default: `["0", "1", ...]`.
        standardize: `TextVectorization` standardization. Default:
            `"lower_and_strip_punctuation"`; `"lower"`,
            `"strip_punctuation"` or `None`. `None` splits on Unicode
            whitespace, as `str.split()` and the zoo's word-level language
            models do (`zoo.models.text`).
        highway_gate_bias: initial highway gate bias. Default: `-2.0`.
        vocabulary: optional initial vocabulary (list of tokens).
        word_dropout: float in [0, 1), drop whole word types from the
            embedding, one mask per batch (`zoo.layers.WordDropout`).
            Default: `0.0`.
        locked_dropout: `embedding_dropout` and the dropout between
            recurrent layers draw one mask per sequence. Default: `False`.
        weight_drop, zoneout, cell_zoneout, layer_norm, projection: the
            cells' options (see `zoo.layers.LSTMCell`). Default: off.
        ngrams: `None`, or an int N >= 1 that adds a linear bag-of-n-grams
            branch beside the recurrent one ("wide and deep", Cheng et al.
            2016; the features of NBSVM, Wang & Manning 2012): a second
            `TextVectorization` (`output_mode="multi_hot"`, 1..N-grams,
            the same standardization) over the whole text, not cut to
            `max_length`, feeds a `Dense(num_classes)` whose logits are
            added to the recurrent head's before the softmax. Its
            vocabulary is learned by `adapt_vocabulary`. Default: `None`.
        ngram_vocabulary_size: the n-gram vocabulary's size (most frequent
            first, including `[UNK]`). Default: `200000`.
        ngram_dropout: dropout on the n-gram features in training, which
            slows the branch's over-fitting. Default: `0.0`.
        ngram_weighting: `"binary"` (0/1 features), or `"nb"`: each n-gram
            feature is scaled by its naive Bayes log-count ratio, learned
            with the vocabulary from the training texts and labels
            (NBSVM's features, Wang & Manning 2012; two classes only).
            Default: `"binary"`.
        reverse: the recurrent stack reads each text from its last token
            to its first (after the cut to `max_length`;
            `zoo.layers.ReverseTokens`), as a backward language model
            (`LanguageModel(reverse=True)`) read its corpus, so that a
            classifier can start from one (ULMFiT's backward model; average
            it with a forward one for ULMFiT's bidirectional ensemble).
            The n-gram branch is unchanged. Default: `False`.

    Call arguments:
        inputs: a string tensor `(batch,)` of raw texts (`predict`,
            `evaluate` and `fit` also take a list or array of `str`).
        training: Python bool, whether dropout applies.

    Example:

    >>> model = SentimentClassifier(vocabulary_size=100, units=8)
    >>> model.adapt_vocabulary(["a good film", "a bad film"])
    >>> model(np.array(["good film"])).shape
    (1, 2)
    """

    def __init__(
        self,
        vocabulary_size=20000,
        max_length=400,
        embedding_dim=128,
        cell="lstm",
        units=64,
        num_layers=2,
        bidirectional=True,
        connection="none",
        pooling="max",
        dropout=0.0,
        embedding_dropout=0.0,
        recurrent_dropout=0.0,
        head_dropout=0.0,
        num_classes=2,
        class_names=None,
        standardize="lower_and_strip_punctuation",
        highway_gate_bias=-2.0,
        vocabulary=None,
        word_dropout=0.0,
        locked_dropout=False,
        weight_drop=0.0,
        zoneout=0.0,
        cell_zoneout=0.0,
        layer_norm=False,
        projection=None,
        ngrams=None,
        ngram_vocabulary_size=200000,
        ngram_dropout=0.0,
        ngram_weighting="binary",
        reverse=False,
        **kwargs,
    ):
        checks.model_kwargs(type(self).__name__, kwargs)
        checks.positive_int("vocabulary_size", vocabulary_size)
        checks.positive_int("embedding_dim", embedding_dim)
        if max_length is not None:
            checks.positive_int("max_length", max_length)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) \
                or num_classes < 2:
            raise ValueError(
                "`num_classes` must be an integer >= 2. "
                f"Received: num_classes={num_classes!r}"
            )
        if class_names is None:
            class_names = [str(i) for i in range(num_classes)]
        class_names = [str(c) for c in class_names]
        if len(class_names) != num_classes:
            raise ValueError(
                f"`class_names` has {len(class_names)} entries but "
                f"num_classes={num_classes}. Received: {class_names!r}"
            )
        checks.choice("pooling", pooling, POOLINGS)
        checks.choice("standardize", standardize, STANDARDIZATIONS)
        checks.flag("reverse", reverse)
        checks.flag("bidirectional", bidirectional)
        checks.rate("embedding_dropout", embedding_dropout)
        checks.rate("head_dropout", head_dropout)
        checks.rate("word_dropout", word_dropout)
        if ngrams is not None:
            checks.positive_int("ngrams", ngrams)
        checks.positive_int("ngram_vocabulary_size", ngram_vocabulary_size)
        checks.rate("ngram_dropout", ngram_dropout)
        checks.choice("ngram_weighting", ngram_weighting, NGRAM_WEIGHTINGS)
        if ngram_weighting != "binary" and ngrams is None:
            raise ValueError(
                "`ngram_weighting` weights the n-gram branch, which needs "
                f"`ngrams`. Received: ngram_weighting={ngram_weighting!r}, "
                "ngrams=None")
        if ngram_weighting == "nb" and num_classes != 2:
            raise ValueError(
                "`ngram_weighting=\"nb\"` (log-count ratios) needs two "
                f"classes. Received: num_classes={num_classes!r}")

        # The stack validates cell, connection, units and dropout.
        stack = RecurrentStack(
            cell=cell,
            units=units,
            num_layers=num_layers,
            bidirectional=bidirectional,
            connection=connection,
            dropout=dropout,
            highway_gate_bias=highway_gate_bias,
            cell_options={"recurrent_dropout": recurrent_dropout}
            if recurrent_dropout
            else None,
            locked_dropout=locked_dropout,
            weight_drop=weight_drop,
            zoneout=zoneout,
            cell_zoneout=cell_zoneout,
            layer_norm=layer_norm,
            projection=projection,
            name="recurrent_stack",
        )
        if vocabulary is not None and not isinstance(vocabulary, str):
            vocabulary = saveable_vocabulary(list(vocabulary))
        vectorizer = keras.layers.TextVectorization(
            max_tokens=vocabulary_size,
            standardize=vectorizer_standardize(standardize),
            name="vectorizer",
        )
        if vocabulary is not None:
            # Set, not passed to the constructor: a constructor vocabulary
            # lives in the layer's own config, which the classifier's
            # `from_config` does not use, and Keras then skips the saved
            # vocabulary asset, so a reloaded model had no vocabulary.
            vectorizer.set_vocabulary(vocabulary)
        text = keras.Input(shape=(), dtype="string", name="text")
        ids = vectorizer(text)
        ids = TruncateSequence(max_length, name="truncate")(ids)
        if reverse:
            ids = ReverseTokens(name="reverse_tokens")(ids)
        ids, has_tokens = EnsureTokens(name="ensure_tokens")(ids)
        x = keras.layers.Embedding(
            vocabulary_size, embedding_dim, mask_zero=True, name="embedding"
        )(ids)
        if word_dropout:
            x = WordDropout(word_dropout, vocabulary_size,
                            name="word_dropout")((ids, x))
        if embedding_dropout:
            x = keras.layers.Dropout(
                embedding_dropout,
                noise_shape=LOCKED if locked_dropout else None,
                name="embedding_dropout")(x)
        x = stack(x)
        x = SequencePooling(pooling, bidirectional=bidirectional, name="pooling")(x)
        x = ZeroTokenRows(name="zero_token_rows")((x, has_tokens))
        if head_dropout:
            x = keras.layers.Dropout(head_dropout, name="head_dropout")(x)
        if ngrams is None:
            probs = keras.layers.Dense(
                num_classes, activation="softmax", dtype="float32", name="head"
            )(x)
        else:
            bag = keras.layers.TextVectorization(
                max_tokens=ngram_vocabulary_size,
                standardize=vectorizer_standardize(standardize),
                ngrams=ngrams,
                output_mode="multi_hot",
                pad_to_max_tokens=True,
                name="ngram_vectorizer",
            )(text)
            bag = FloatFeatures(name="ngram_features")(bag)
            if ngram_weighting == "nb":
                bag = FeatureScale(name="ngram_weights")(bag)
            if ngram_dropout:
                bag = keras.layers.Dropout(ngram_dropout,
                                           name="ngram_dropout")(bag)
            deep = keras.layers.Dense(num_classes, dtype="float32",
                                      name="head")(x)
            wide = keras.layers.Dense(num_classes, dtype="float32",
                                      name="ngram_head")(bag)
            logits = keras.layers.Add(dtype="float32", name="logits")(
                [deep, wide])
            probs = keras.layers.Activation(
                "softmax", dtype="float32", name="probabilities")(logits)
        super().__init__(inputs=text, outputs=probs, **kwargs)

        self.vocabulary_size = vocabulary_size
        self.max_length = max_length
        self.embedding_dim = embedding_dim
        self.cell = cell
        self.units = units
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.connection = connection
        self.pooling = pooling
        self.dropout = dropout
        self.embedding_dropout = embedding_dropout
        self.recurrent_dropout = recurrent_dropout
        self.head_dropout = head_dropout
        self.num_classes = num_classes
        self.class_names = class_names
        self.standardize = standardize
        self.highway_gate_bias = highway_gate_bias
        self.word_dropout = float(word_dropout)
        self.locked_dropout = checks.flag("locked_dropout", locked_dropout)
        self.weight_drop = weight_drop
        self.zoneout = zoneout
        self.cell_zoneout = cell_zoneout
        self.layer_norm = checks.flag("layer_norm", layer_norm)
        self.projection = projection
        self.ngrams = ngrams
        self.ngram_vocabulary_size = ngram_vocabulary_size
        self.ngram_dropout = float(ngram_dropout)
        self.ngram_weighting = ngram_weighting
        self.reverse = reverse
        # a word vocabulary given here is kept by `adapt_vocabulary`
        self._given_vocabulary = vocabulary is not None

    def predict(self, x, *args, **kwargs):
        """`keras.Model.predict`, also accepting a list or array of str."""
        return super().predict(_as_strings(x), *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        return super().evaluate(_as_strings(x), *args, **kwargs)

    def fit(self, x=None, *args, **kwargs):
        return super().fit(_as_strings(x), *args, **kwargs)

    @property
    def vectorizer(self):
        return self.get_layer("vectorizer")

    def adapt_vocabulary(self, texts, labels=None, batch_size=256):
        """Learns the vocabulary from an iterable/array/`tf.data` of strings.

        Tokens holding a line-break character (e.g. U+0085) are dropped,
        since Keras cannot read them back from a saved model. `labels` (the
        texts' class ids) are needed with `ngram_weighting="nb"` only. A
        word vocabulary given to the constructor (`vocabulary=`) is kept;
        the n-gram branch still learns its own.
        """
        if self.ngrams is not None and not _reiterable(texts):
            texts = _text_array(texts)  # both vectorizers read it
        if not self._given_vocabulary:
            _adapt(self.vectorizer, texts, batch_size)
        self.adapt_ngram_vocabulary(texts, labels, batch_size=batch_size)

    def adapt_ngram_vocabulary(self, texts, labels=None, batch_size=256):
        """Learns the n-gram branch's vocabulary (`ngrams`), and with
        `ngram_weighting="nb"` its log-count ratios from `labels`; a no-op
        without an n-gram branch. `adapt_vocabulary` calls it; a classifier
        that takes its word vocabulary elsewhere (`--init-from`) calls it
        alone."""
        if self.ngrams is None:
            return
        vectorizer = self.get_layer("ngram_vectorizer")
        if self.ngram_weighting != "nb":
            _adapt(vectorizer, texts, batch_size)
            return
        if labels is None:
            raise ValueError(
                "`ngram_weighting=\"nb\"` learns its weights from the "
                "training labels. Received: labels=None")
        texts = _text_array(texts)
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != len(texts):
            raise ValueError(
                f"`labels` must have one entry per text ({len(texts)}). "
                f"Received: {len(labels)} labels")
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("`ngram_weighting=\"nb\"` needs labels 0 and "
                             f"1. Received: {sorted(set(labels.tolist()))}")
        _adapt(vectorizer, texts, batch_size)
        step = 128  # 128 rows of ngram_vocabulary_size int64 features
        ratios = log_count_ratios(
            (ops.convert_to_numpy(vectorizer(texts[i:i + step])),
             labels[i:i + step])
            for i in range(0, len(texts), step))
        self.get_layer("ngram_weights").scale.assign(ratios)

    def get_vocabulary(self):
        return self.vectorizer.get_vocabulary()

    def get_config(self):
        return {
            "vocabulary_size": self.vocabulary_size,
            "max_length": self.max_length,
            "embedding_dim": self.embedding_dim,
            "cell": self.cell,
            "units": self.units,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "connection": self.connection,
            "pooling": self.pooling,
            "dropout": self.dropout,
            "embedding_dropout": self.embedding_dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "head_dropout": self.head_dropout,
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "standardize": self.standardize,
            "highway_gate_bias": self.highway_gate_bias,
            "word_dropout": self.word_dropout,
            "locked_dropout": self.locked_dropout,
            "weight_drop": self.weight_drop,
            "zoneout": self.zoneout,
            "cell_zoneout": self.cell_zoneout,
            "layer_norm": self.layer_norm,
            "projection": self.projection,
            "ngrams": self.ngrams,
            "ngram_vocabulary_size": self.ngram_vocabulary_size,
            "ngram_dropout": self.ngram_dropout,
            "ngram_weighting": self.ngram_weighting,
            "reverse": self.reverse,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
