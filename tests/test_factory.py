"""Factory and models: every preset builds, runs, round-trips through .keras."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import zoo

TINY = {"units": 4, "embedding_dim": 4}


def _tiny(name):
    family = zoo.get_preset(name)["family"]
    if family == "sentiment_classifier":
        model = zoo.build(name, vocabulary_size=60, **TINY)
        model.adapt_vocabulary(["a good film", "a bad film", "great acting here"])
        x = np.array(["a good movie", "terrible film, bad acting", ""])
    else:
        model = zoo.build(name, vocabulary_size=30, **TINY)
        x = np.random.default_rng(0).integers(0, 30, (2, 5)).astype("int32")
    return model, x


def test_list_models_covers_the_required_presets():
    names = zoo.list_models()
    for required in ("imdb_bilstm", "sst2_bigru_highway", "dense_bilstm",
                     "ptb_small", "ptb_regularized", "shakespeare_char"):
        assert required in names
    assert names == sorted(names)


@pytest.mark.parametrize("name", zoo.list_models())
def test_preset_builds_runs_and_round_trips(name, tmp_path):
    model, x = _tiny(name)
    y = keras.ops.convert_to_numpy(model(x))
    if zoo.get_preset(name)["family"] == "sentiment_classifier":
        assert y.shape == (len(x), 2)
        np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-5)
    else:
        assert y.shape == (*x.shape, 30)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), y, atol=1e-6)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()


def test_classifier_built_with_a_vocabulary_keeps_it_through_save(tmp_path):
    """`vocabulary=` at construction (the tuner's trials, users) must reach
    the saved file: Keras skips the vocabulary asset of a layer whose
    vocabulary came in its constructor."""
    model = zoo.build("imdb_bilstm", vocabulary_size=6, **TINY,
                      vocabulary=["good", "bad", "film", "a"])
    x = np.array(["a good film", "bad", "unseen words"])
    y = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_layer("vectorizer").get_vocabulary() == [
        "", "[UNK]", "good", "bad", "film", "a"]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.predict(x, verbose=0)), y, atol=1e-6)
    # adapt_vocabulary keeps a given word vocabulary; a token that the
    # saved file could not hold ("\n" joins the saved vocabulary) is left out
    model.adapt_vocabulary(["other words entirely"])
    assert model.get_vocabulary() == ["", "[UNK]", "good", "bad", "film", "a"]
    odd = zoo.build("imdb_bilstm", vocabulary_size=6, **TINY,
                    vocabulary=["good", "a\nb", "bad\u2028"])
    assert odd.get_vocabulary() == ["", "[UNK]", "good"]


def test_saved_model_loads_in_a_fresh_process_without_custom_objects(tmp_path):
    model, x = _tiny("sst2_bigru_highway")
    path = tmp_path / "m.keras"
    model.save(path)
    expected = keras.ops.convert_to_numpy(model(x)).tolist()
    code = (
        "import json, sys, numpy as np, keras, zoo\n"
        f"m = keras.saving.load_model({str(path)!r})\n"
        f"print(json.dumps(np.asarray(m(np.array({x.tolist()!r}))).tolist()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    got = json.loads(out.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_presets_have_training_recipes_and_configs_that_match_the_family():
    for name in zoo.list_models():
        preset = zoo.get_preset(name)
        assert preset["description"]
        assert "epochs" in preset["training"] and "batch_size" in preset["training"]
        assert preset["family"] in zoo.list_families()


def test_preset_sizes():
    assert zoo.build("ptb_regularized").count_params() <= 10_000_000
    small = zoo.build("ptb_small")
    stack = small.get_layer("recurrent_stack")
    assert [layer.units for layer in stack.recurrent_layers] == [200, 200]


def test_unknown_names_and_bad_overrides_list_what_is_valid():
    with pytest.raises(ValueError, match="Valid presets.*imdb_bilstm"):
        zoo.build("imdb_transformer")
    with pytest.raises(ValueError, match="Valid arguments.*units"):
        zoo.build("imdb_bilstm", unitz=3)
    with pytest.raises(ValueError, match="Valid values.*highway"):
        zoo.build("imdb_bilstm", connection="skip")
    with pytest.raises(ValueError, match="Valid values.*mean"):
        zoo.build("imdb_bilstm", pooling="attention")
    with pytest.raises(ValueError, match="units"):
        zoo.build("ptb_small", units=-1)
    with pytest.raises(ValueError, match="num_classes"):
        zoo.build("sentiment_classifier", num_classes=1)
    with pytest.raises(ValueError, match="batch_size"):
        zoo.build("ptb_small", stateful=True)


@pytest.mark.parametrize("preset,key,value", [
    # `--set tie_weights=no` gives the string "no", which bool() reads as true
    ("ptb_small", "tie_weights", "no"),
    ("ptb_small", "layer_norm", "off"),
    ("ptb_small", "locked_dropout", "no"),
    ("ptb_small", "unit_forget_bias", "no"),
    ("ptb_small", "stateful", "false"),
    ("imdb_bilstm", "bidirectional", "no"),
    ("imdb_bilstm", "layer_norm", 1),
    ("ptb_small", "init_scale", 0),
    ("ptb_small", "init_scale", float("nan")),
    ("ptb_small", "init_scale", "0.1"),
    ("ptb_small", "num_layers", 2.5),
    ("ptb_small", "num_layers", "3"),
    ("imdb_bilstm", "num_layers", 0),
])
def test_wrongly_typed_overrides_are_refused(preset, key, value):
    with pytest.raises(ValueError, match=f"Received: {key}={value!r}"):
        zoo.build(preset, **{key: value})


def test_models_refuse_unknown_arguments():
    """An argument the model does not take (a typo, a newer zoo's setting in
    a saved config) is refused, not silently dropped by Keras' Model."""
    from zoo.models.classifier import SentimentClassifier
    from zoo.models.language_model import LanguageModel

    with pytest.raises(ValueError, match=r"unknown argument.*poolin"):
        SentimentClassifier(vocabulary_size=50, units=4, poolin="max")
    with pytest.raises(ValueError, match=r"Received: unitz"):
        LanguageModel(vocabulary_size=50, embedding_dim=4, unitz=4)
    m = SentimentClassifier(vocabulary_size=50, units=4, name="named",
                            trainable=False)
    assert m.name == "named" and not m.trainable
    # `name` is a model argument too, not the factory's preset name
    assert zoo.build("sentiment_classifier", vocabulary_size=50, units=4,
                     name="mine").name == "mine"


def test_cells_refuse_non_bool_flags():
    from zoo.layers import GRUCell, LSTMCell

    for cell, key in ((LSTMCell, "use_bias"), (LSTMCell, "unit_forget_bias"),
                      (GRUCell, "reset_after"), (GRUCell, "layer_norm")):
        with pytest.raises(ValueError, match=f"Received: {key}='no'"):
            cell(4, **{key: "no"})


def test_family_names_build_with_defaults():
    assert isinstance(zoo.build("language_model", vocabulary_size=20, units=4,
                                embedding_dim=4), zoo.models.LanguageModel)
    assert isinstance(zoo.build("sentiment_classifier", units=4, embedding_dim=4,
                                num_classes=3, class_names=["neg", "neu", "pos"]),
                      zoo.models.SentimentClassifier)


def test_classifier_truncates_and_ignores_padding():
    model = zoo.build("imdb_bilstm", vocabulary_size=50, max_length=3, **TINY)
    model.adapt_vocabulary(["one two three four five six"])
    a = keras.ops.convert_to_numpy(model(np.array(["one two three four five"])))
    b = keras.ops.convert_to_numpy(model(np.array(["one two three"])))
    np.testing.assert_allclose(a, b, atol=1e-6)  # cut to 3 tokens
    pair = keras.ops.convert_to_numpy(model(np.array(["one two", "one two three four"])))
    alone = keras.ops.convert_to_numpy(model(np.array(["one two"])))
    np.testing.assert_allclose(pair[0], alone[0], atol=1e-5)  # padding masked


def test_language_model_weight_tying_and_stateful_copy():
    lm = zoo.build("ptb_regularized", vocabulary_size=40, units=6, embedding_dim=6)
    names = [w.path for w in lm.weights]
    assert not any("logits" in n for n in names)  # output uses the embedding
    tied = zoo.build("ptb_regularized", vocabulary_size=40, units=8, embedding_dim=6)
    assert tied.get_layer("tied_projection") is not None
    stateful = lm.with_options(stateful=True, batch_size=2)
    x = np.random.default_rng(0).integers(0, 40, (2, 4)).astype("int32")
    first = keras.ops.convert_to_numpy(stateful(x))
    np.testing.assert_allclose(first, keras.ops.convert_to_numpy(lm(x)), atol=1e-5)
    second = keras.ops.convert_to_numpy(stateful(x))
    assert not np.allclose(first, second)
    stateful.reset_states()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(stateful(x)), first, atol=1e-5)


def test_zaremba_init_scale_bounds_every_weight_and_bias():
    lm = zoo.build("ptb_small", vocabulary_size=50, units=8, embedding_dim=8)
    biases = 0
    for w in lm.weights:
        values = keras.ops.convert_to_numpy(w)
        assert np.abs(values).max() <= 0.1 + 1e-7, w.path
        if "bias" in w.path:
            biases += 1
            assert np.abs(values).max() > 0, w.path  # drawn, not zeros
    assert biases == 3  # two LSTM layers and the softmax


def test_classifier_predict_accepts_python_strings():
    model, _ = _tiny("imdb_bilstm")
    for texts in (["a good film", "bad"], np.array(["a good film", "bad"])):
        probs = model.predict(texts, verbose=0)
        assert probs.shape == (2, 2)


def test_vocabulary_with_unicode_line_breaks_survives_save_and_load(tmp_path):
    model = zoo.build("imdb_bilstm", vocabulary_size=60, **TINY)
    texts = ["good\x85 film", "bad\u2028movie here", "fine film"]
    model.adapt_vocabulary(texts)
    assert not any("\x85" in t or "\u2028" in t for t in model.get_vocabulary())
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.array(texts, dtype=object)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)),
                               keras.ops.convert_to_numpy(model(x)), atol=1e-6)
