"""The classifier's bag-of-n-grams branch (`ngrams=N`, wide and deep).

Checked against an independent numpy computation: binary uni-/bigram
features built by hand from the branch's vocabulary, a linear layer, and
the recurrent head's logits added before the softmax.
"""

import re
import string

import keras
import numpy as np
import pytest

import zoo
from zoo.models.classifier import SentimentClassifier

tf = pytest.importorskip("tensorflow")

TRAIN = ["A good film, a good cast.", "a bad film", "great movie , loved it",
         "terrible plot", "good acting , bad plot", "awful awful film"]
TEXTS = ["a good film", "bad plot!", "zzz unseen words", "good good acting",
         "the plot was terrible , the film good"]
TINY = dict(vocabulary_size=40, embedding_dim=6, units=4, num_layers=1)


def _build(**overrides):
    keras.utils.set_random_seed(5)
    model = SentimentClassifier(**{**TINY, "ngrams": 2, **overrides})
    model.adapt_vocabulary(TRAIN)
    if model.ngrams is None:
        return model
    rng = np.random.default_rng(0)
    wide = model.get_layer("ngram_head")
    kernel, bias = wide.get_weights()
    wide.set_weights([rng.normal(size=kernel.shape).astype("float32"),
                      np.array([0.3, -0.2], "float32")])
    return model


def _features(text, vocabulary, n):
    """Binary 1..n-gram features, as `TextVectorization` documents them:
    lower case, punctuation stripped, split on whitespace."""
    text = re.sub(f"[{re.escape(string.punctuation)}]", "", text.lower())
    words = text.split()
    grams = [" ".join(words[i:i + k]) for k in range(1, n + 1)
             for i in range(len(words) - k + 1)]
    index = {t: i for i, t in enumerate(vocabulary)}
    x = np.zeros(len(vocabulary))
    for g in grams:
        x[index.get(g, index["[UNK]"])] = 1.0
    return x


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)


def test_vocabulary_holds_unigrams_and_bigrams():
    model = _build()
    vocabulary = model.get_layer("ngram_vectorizer").get_vocabulary()
    assert vocabulary[0] == "[UNK]"
    assert {"good", "film", "good film", "bad plot", "awful awful"} <= set(vocabulary)
    assert not any(len(t.split()) > 2 for t in vocabulary)
    # The word vectorizer keeps unigrams only.
    assert "good film" not in model.get_vocabulary()


def test_wide_branch_matches_numpy():
    model = _build()
    # A deep head that answers its bias only: the prediction is then
    # softmax(head bias + features @ W + b) and nothing else.
    head = model.get_layer("head")
    k, _ = head.get_weights()
    head.set_weights([np.zeros_like(k), np.array([0.1, -0.4], "float32")])
    vocabulary = model.get_layer("ngram_vectorizer").get_vocabulary()
    w, b = model.get_layer("ngram_head").get_weights()
    x = np.stack([_features(t, vocabulary, 2) for t in TEXTS])
    x = np.pad(x, ((0, 0), (0, w.shape[0] - x.shape[1])))
    expected = _softmax(np.array([0.1, -0.4]) + x @ w + b)
    out = model.predict(TEXTS, verbose=0)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_deep_and_wide_logits_add():
    model = _build()
    with_both = model.predict(TEXTS, verbose=0)
    wide = model.get_layer("ngram_head")
    w, b = wide.get_weights()
    wide.set_weights([np.zeros_like(w), np.zeros_like(b)])
    deep_only = model.predict(TEXTS, verbose=0)
    vocabulary = model.get_layer("ngram_vectorizer").get_vocabulary()
    x = np.stack([_features(t, vocabulary, 2) for t in TEXTS])
    x = np.pad(x, ((0, 0), (0, w.shape[0] - x.shape[1])))
    expected = _softmax(np.log(deep_only) + x @ w + b)
    np.testing.assert_allclose(with_both, expected, rtol=1e-4, atol=1e-6)


def test_bag_reads_past_max_length():
    # The recurrent branch reads 2 tokens; the bag reads the whole text.
    model = _build(max_length=2)
    a, b = model.predict(["a good film terrible plot", "a good film"],
                         verbose=0)
    assert np.abs(a - b).max() > 1e-4
    plain = _build(max_length=2, ngrams=None)
    a, b = plain.predict(["a good film terrible plot", "a good film"],
                         verbose=0)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_save_load_and_config(tmp_path):
    model = _build(ngram_vocabulary_size=30, ngram_dropout=0.5)
    assert model.get_config()["ngrams"] == 2
    assert model.get_config()["ngram_dropout"] == 0.5
    assert model.get_config()["ngram_vocabulary_size"] == 30
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = zoo.load(path)
    assert loaded.ngrams == 2
    assert (loaded.get_layer("ngram_vectorizer").get_vocabulary()
            == model.get_layer("ngram_vectorizer").get_vocabulary())
    np.testing.assert_allclose(loaded.predict(TEXTS + [""], verbose=0),
                               model.predict(TEXTS + [""], verbose=0),
                               atol=1e-6)


def test_exported_serving_default(tmp_path):
    from serving import export as ex

    model = _build()
    result = ex.export_model(model, str(tmp_path / "models"), "clf")
    serving = tf.saved_model.load(result.path).signatures["serving_default"]
    out = serving(tf.constant(TEXTS + [""]))
    (probs,) = [v for v in out.values() if v.shape[-1] == 2 and v.dtype == tf.float32]
    np.testing.assert_allclose(probs.numpy(),
                               model.predict(TEXTS + [""], verbose=0),
                               atol=1e-5)


def test_trains_and_learns_from_the_bag():
    model = _build(ngram_vocabulary_size=64)
    model.compile(keras.optimizers.Adam(0.05),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    labels = np.array([1, 0, 1, 0, 1, 0])
    model.fit(TRAIN, labels, batch_size=3, epochs=15, verbose=0)
    assert model.evaluate(TRAIN, labels, verbose=0)[1] == 1.0


@pytest.mark.parametrize("bad", [{"ngrams": 0}, {"ngrams": 1.5},
                                 {"ngram_vocabulary_size": 0},
                                 {"ngram_dropout": 1.0}])
def test_bad_values(bad):
    with pytest.raises(ValueError, match="Received"):
        SentimentClassifier(**{**TINY, "ngrams": 2, **bad})


# --------------------------------------------- naive Bayes weighting ("nb")

LABELS = np.array([1, 0, 1, 0, 1, 0])


def _nb_model(**overrides):
    keras.utils.set_random_seed(5)
    model = SentimentClassifier(**{**TINY, "ngrams": 2,
                                   "ngram_weighting": "nb", **overrides})
    model.adapt_vocabulary(TRAIN, LABELS)
    return model


def _ratios_by_counting(vocabulary, size):
    """Wang & Manning's r, counted document by document in plain Python:
    p = 1 + number of positive texts holding the n-gram, q likewise."""
    docs = [_features(t, vocabulary, 2) for t in TRAIN]
    p = np.ones(size)
    q = np.ones(size)
    for x, y in zip(docs, LABELS):
        for j in np.flatnonzero(x):
            if y == 1:
                p[j] += 1
            else:
                q[j] += 1
    return np.log(p / p.sum()) - np.log(q / q.sum())


def test_nb_weights_are_log_count_ratios():
    model = _nb_model()
    vocabulary = model.get_layer("ngram_vectorizer").get_vocabulary()
    scale = keras.ops.convert_to_numpy(model.get_layer("ngram_weights").scale)
    expected = _ratios_by_counting(vocabulary, scale.shape[0])
    np.testing.assert_allclose(scale, expected, rtol=1e-5, atol=1e-6)
    index = {t: i for i, t in enumerate(vocabulary)}
    # "good" is in positive texts only, "bad" in negative ones only.
    assert scale[index["good"]] > 0 > scale[index["bad"]]


def test_nb_branch_matches_numpy():
    model = _nb_model()
    head = model.get_layer("head")
    k, _ = head.get_weights()
    head.set_weights([np.zeros_like(k), np.array([0.1, -0.4], "float32")])
    rng = np.random.default_rng(1)
    wide = model.get_layer("ngram_head")
    w, b = wide.get_weights()
    w = rng.normal(size=w.shape).astype("float32")
    wide.set_weights([w, b])
    vocabulary = model.get_layer("ngram_vectorizer").get_vocabulary()
    r = _ratios_by_counting(vocabulary, w.shape[0])
    x = np.stack([_features(t, vocabulary, 2) for t in TEXTS])
    x = np.pad(x, ((0, 0), (0, w.shape[0] - x.shape[1])))
    expected = _softmax(np.array([0.1, -0.4]) + (x * r) @ w + b)
    np.testing.assert_allclose(model.predict(TEXTS, verbose=0), expected,
                               rtol=1e-4, atol=1e-6)


def test_nb_weights_survive_save_and_export(tmp_path):
    from serving import export as ex

    model = _nb_model()
    assert model.get_config()["ngram_weighting"] == "nb"
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = zoo.load(path)
    assert loaded.ngram_weighting == "nb"
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.get_layer("ngram_weights").scale),
        keras.ops.convert_to_numpy(model.get_layer("ngram_weights").scale))
    expected = model.predict(TEXTS + [""], verbose=0)
    np.testing.assert_allclose(loaded.predict(TEXTS + [""], verbose=0),
                               expected, atol=1e-6)
    result = ex.export_model(model, str(tmp_path / "models"), "clf")
    serving = tf.saved_model.load(result.path).signatures["serving_default"]
    out = serving(tf.constant(TEXTS + [""]))
    (probs,) = [v for v in out.values() if v.shape[-1] == 2 and v.dtype == tf.float32]
    np.testing.assert_allclose(probs.numpy(), expected, atol=1e-5)


def test_binary_weighting_has_no_scale_layer():
    model = _build()
    assert model.get_config()["ngram_weighting"] == "binary"
    assert "ngram_weights" not in [layer.name for layer in model.layers]


@pytest.mark.parametrize("bad, match", [
    ({"ngram_weighting": "tfidf"}, "ngram_weighting='tfidf'"),
    ({"ngram_weighting": "nb", "ngrams": None}, "ngrams=None"),
    ({"ngram_weighting": "nb", "num_classes": 3}, "num_classes=3"),
])
def test_nb_bad_arguments(bad, match):
    with pytest.raises(ValueError, match=match):
        SentimentClassifier(**{**TINY, "ngrams": 2, **bad})


def test_nb_needs_binary_labels():
    model = SentimentClassifier(**TINY, ngrams=2, ngram_weighting="nb")
    with pytest.raises(ValueError, match="labels=None"):
        model.adapt_vocabulary(TRAIN)
    with pytest.raises(ValueError, match="one entry per text"):
        model.adapt_vocabulary(TRAIN, LABELS[:3])
    with pytest.raises(ValueError, match=r"\[0, 1, 2\]"):
        model.adapt_vocabulary(TRAIN, np.array([0, 1, 2, 0, 1, 0]))


@pytest.mark.parametrize("source", ["generator", "tf.data", "tf.data batched",
                                    "tensor", "generator of batches"])
def test_adapt_reads_every_documented_kind_of_texts(source):
    """A generator is read by both vectorizers, and `tf.data` texts are
    decoded, not read as the repr of a tensor."""
    reference = _nb_model()
    if source == "generator":
        texts = (t for t in TRAIN)
    elif source == "generator of batches":
        texts = (np.array(TRAIN[i:i + 4]) for i in range(0, len(TRAIN), 4))
    elif source == "tensor":
        texts = tf.constant(TRAIN)
    else:
        texts = tf.data.Dataset.from_tensor_slices(TRAIN)
        if source.endswith("batched"):
            texts = texts.batch(4)
    keras.utils.set_random_seed(5)
    model = SentimentClassifier(**TINY, ngrams=2, ngram_weighting="nb")
    model.adapt_vocabulary(texts, LABELS)
    for name in ("vectorizer", "ngram_vectorizer"):
        assert (model.get_layer(name).get_vocabulary()
                == reference.get_layer(name).get_vocabulary()), name
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.get_layer("ngram_weights").scale),
        keras.ops.convert_to_numpy(reference.get_layer("ngram_weights").scale))


def test_standardize_must_be_one_the_model_can_save():
    with pytest.raises(ValueError, match="Received: standardize="):
        SentimentClassifier(**TINY, standardize=str.lower)
    with pytest.raises(ValueError, match="Received: standardize='upper'"):
        SentimentClassifier(**TINY, standardize="upper")
