"""Texts with zero tokens get the classifier's prediction, not an exception.

A zero-token text is whatever `TextVectorization`'s standardisation strips
to nothing: "", whitespace, punctuation. Its prediction is the head's answer
for the zero vector (the recurrent stack's initial state), `softmax(bias)`,
and it does not change the other predictions of its batch.
"""

import os

import keras
import numpy as np
import pytest

import zoo
from zoo.models.classifier import SentimentClassifier

tf = pytest.importorskip("tensorflow")

TRAIN = ["a good film", "a bad film", "great movie , loved it",
         "terrible plot", "good good good", "awful awful film"]
EMPTY = ["", "   ", "!!! ... ?", "\t\n", ",.;:"]
TEXTS = ["a good film", "zzz unseen words", "terrible plot , awful"]
MIXED = ["", "a good film", "   ", "zzz unseen words", "!!!",
         "terrible plot , awful"]
CLASSIFIER_PRESETS = [n for n in zoo.list_models()
                      if zoo.get_preset(n)["family"] == "sentiment_classifier"]
TINY = dict(vocabulary_size=40, embedding_dim=6, units=4)


def _build(name="sentiment_classifier", seed=3, **overrides):
    keras.utils.set_random_seed(seed)
    model = zoo.build(name, **{**TINY, **overrides})
    model.adapt_vocabulary(TRAIN)
    # A non-zero head bias, so that "the head's answer for zero features" is
    # not the uniform distribution any broken path could also produce.
    head = model.get_layer("head")
    kernel, bias = head.get_weights()
    head.set_weights([kernel, np.linspace(-0.7, 0.9, bias.shape[0])
                      .astype(bias.dtype)])
    return model


def _initial_state_prediction(model):
    """softmax(bias): the head applied to the zero vector (plus the bias of
    the n-gram branch, whose features are zero too, when there is one)."""
    bias = model.get_layer("head").get_weights()[1].astype("float64")
    if model.ngrams is not None:
        bias = bias + model.get_layer("ngram_head").get_weights()[1]
    p = np.exp(bias - bias.max())
    return p / p.sum()


def _predict(model, texts):
    return np.asarray(model.predict(texts, verbose=0), dtype="float64")


def _check(predict, model):
    """Every zero-token text gives softmax(bias), alone, in a batch of its
    kind, and mixed with real texts, whose answers do not change."""
    expected = _initial_state_prediction(model)
    for text in EMPTY:
        out = predict([text])
        assert out.shape == (1, model.num_classes)
        np.testing.assert_allclose(out[0], expected, atol=1e-6)
    out = predict(EMPTY)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, np.tile(expected, (len(EMPTY), 1)),
                               atol=1e-6)
    alone = np.concatenate([predict([t]) for t in TEXTS])
    mixed = predict(MIXED)
    assert np.isfinite(mixed).all()
    np.testing.assert_allclose(mixed[[1, 3, 5]], alone, atol=1e-6)
    np.testing.assert_allclose(mixed[[0, 2, 4]],
                               np.tile(expected, (3, 1)), atol=1e-6)
    # The real texts are not all answered with the initial state.
    assert np.abs(alone - expected).max() > 1e-4


@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_every_pooling_and_direction(pooling, bidirectional):
    # With a residual connection, "last" would pool the padding id's
    # embedding if the features of zero-token rows were not set to zero.
    model = _build(pooling=pooling, bidirectional=bidirectional,
                   connection="residual", num_layers=2, cell="gru")
    _check(lambda texts: _predict(model, texts), model)


@pytest.mark.parametrize("preset", CLASSIFIER_PRESETS)
def test_presets(preset):
    model = _build(preset)
    _check(lambda texts: _predict(model, texts), model)


def test_direct_call_and_truncation():
    model = _build(max_length=2)
    _check(lambda texts: np.asarray(model(np.array(texts, dtype=object),
                                          training=False), "float64"), model)
    # Dropout in training mode still returns finite values for empty texts.
    model = _build(head_dropout=0.5, embedding_dropout=0.5)
    out = np.asarray(model(np.array(MIXED, dtype=object), training=True))
    assert np.isfinite(out).all()


def test_fit_on_a_batch_with_empty_texts():
    model = _build()
    model.compile("adam", "sparse_categorical_crossentropy")
    # The first batch has no tokens at all.
    history = model.fit(["", "!!", "a good film", "a bad film"],
                        np.array([0, 0, 1, 0]), batch_size=2, shuffle=False,
                        epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_keras_save_and_load(tmp_path):
    model = _build(pooling="last", connection="highway")
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, SentimentClassifier)
    np.testing.assert_allclose(_predict(loaded, MIXED), _predict(model, MIXED),
                               atol=1e-6)
    _check(lambda texts: _predict(loaded, texts), loaded)


def test_exported_serving_default(tmp_path):
    from serving import export as ex

    model = _build(pooling="last")
    result = ex.export_model(model, str(tmp_path / "models"), "clf")
    serving = tf.saved_model.load(result.path).signatures["serving_default"]

    def predict(texts):
        out = serving(text=tf.constant(texts))
        assert out["label"].shape == (len(texts),)
        return out["probabilities"].numpy().astype("float64")

    _check(predict, model)
    np.testing.assert_allclose(predict(MIXED), _predict(model, MIXED),
                               atol=1e-6)
    assert os.path.isdir(result.path)
