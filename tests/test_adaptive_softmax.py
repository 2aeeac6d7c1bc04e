"""Language models with an adaptive softmax (`adaptive_cutoffs`): the model's
outputs, its arguments, saving, `zoo train`, evaluation, export and
`--init-from` (a classifier, then a language model). The training step
against the full softmax's is in tests/layers/test_adaptive_softmax.py,
which runs on every backend."""

import json
import os

import keras
import numpy as np
import pytest

import training
from training import run_dir as rd
from training import trainer as tr
from zoo.models.language_model import LanguageModel

V = 30


def _lm(tie_weights=True, units=16, **kwargs):
    kwargs.setdefault("adaptive_cutoffs", [8, 20])
    return LanguageModel(vocabulary_size=V, embedding_dim=16, units=units,
                         num_layers=1, tie_weights=tie_weights, **kwargs)


def _ids(shape=(2, 6), seed=0, v=V):
    return np.random.default_rng(seed).integers(0, v, shape).astype("int32")


def _np(v):
    return keras.ops.convert_to_numpy(v)


@pytest.mark.parametrize("tie_weights,units", [(True, 16), (False, 16),
                                               (True, 12)])
def test_outputs_are_the_layers_log_probabilities(tie_weights, units):
    model = _lm(tie_weights, units=units)
    x = _ids()
    out = _np(model(x))
    assert out.shape == (2, 6, V) and out.dtype == np.float32
    np.testing.assert_allclose(np.exp(out.astype("float64")).sum(-1), 1.0,
                               atol=1e-5)
    features = model.output_features_model()(x)
    assert features.shape[-1] == 16  # projected when the width differs
    assert ("tied_projection" in [l.name for l in model.layers]) == (units != 16)
    np.testing.assert_allclose(
        _np(model.get_layer("embedding")(features, reverse=True)), out,
        atol=1e-6)


def test_a_sampled_softmax_is_refused_and_there_is_no_output_embedding():
    model = _lm()
    with pytest.raises(ValueError, match="one of them"):
        model.output_embedding()
    with pytest.raises(ValueError, match="adaptive_cutoffs=\\[8, 20\\]"):
        tr.Trainer(model, sampled_softmax=4)


@pytest.mark.parametrize("kwargs,match", [
    ({"adaptive_cutoffs": [30]}, "Received: adaptive_cutoffs"),
    ({"adaptive_cutoffs": [0]}, "Received: adaptive_cutoffs"),
    ({"adaptive_cutoffs": [20, 8]}, "Received: adaptive_cutoffs"),
    ({"adaptive_cutoffs": "8"}, "Received: adaptive_cutoffs"),
    ({"adaptive_cutoffs": [8.5]}, "Received: adaptive_cutoffs"),
    ({"adaptive_cutoffs": [8], "adaptive_div_value": 0},
     "Received: adaptive_div_value"),
    ({"adaptive_cutoffs": [8, 20], "adaptive_div_value": 1e300},
     "adaptive_div_value"),
    # checked without cutoffs too, so that a typo is not ignored
    ({"adaptive_cutoffs": None, "adaptive_div_value": "4"},
     "Received: adaptive_div_value"),
    ({"adaptive_cutoffs": [8], "level": "char"}, "word-level"),
])
def test_bad_adaptive_arguments_are_refused_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _lm(**kwargs)


def test_numpy_int_cutoffs_are_taken_as_ints():
    model = _lm(adaptive_cutoffs=[np.int64(8), np.int32(20)])
    assert model.adaptive_cutoffs == [8, 20]
    assert all(type(c) is int for c in model.get_config()["adaptive_cutoffs"])


def test_keras_file_and_with_options_keep_the_outputs(tmp_path):
    model = LanguageModel(vocabulary_size=V, embedding_dim=16, units=16,
                          num_layers=2, tie_weights=True,
                          adaptive_cutoffs=[8], adaptive_div_value=2,
                          stateful=True, batch_size=2)
    x = _ids()
    model.reset_states()
    want = _np(model(x))
    model.reset_states()
    path = str(tmp_path / "lm.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.adaptive_cutoffs == [8] and loaded.adaptive_div_value == 2.0
    loaded.reset_states()
    np.testing.assert_allclose(_np(loaded(x)), want, atol=1e-6)
    stateless = model.with_options(stateful=False)
    np.testing.assert_allclose(_np(stateless(x)), want, atol=1e-6)


def test_zoo_train_evaluate_and_export(tmp_path):
    import tensorflow as tf

    from serving import export as ex
    from test_export_support import lm_reference_scores
    from test_train_lm import write_ptb

    data = write_ptb(tmp_path / "ptb")
    out = str(tmp_path / "run")
    result = training.train(
        "language_model", data, out=out, epochs=2, batch_size=4, bptt=5,
        overrides={"units": 16, "embedding_dim": 16, "num_layers": 1,
                   "tie_weights": True, "adaptive_cutoffs": [4, 8]},
        verbose=0)
    run = rd.open_run(result.run_dir)
    with open(os.path.join(out, "config.json")) as f:
        assert json.load(f)["model_config"]["adaptive_cutoffs"] == [4, 8]
    with open(os.path.join(out, "history.csv")) as f:
        rows = f.read().splitlines()
    header = rows[0].split(",")
    val = [float(r.split(",")[header.index("val_loss")]) for r in rows[1:]]
    assert val[-1] < val[0] < np.log(len(run.vocabulary)) + 0.5

    # evaluation reads the outputs as logits: on one stream with the state
    # carried, it is the mean NLL of the model run over the whole stream
    from training.evaluate import evaluate_language_model

    model = run.load_model()
    assert model.adaptive_cutoffs == [4, 8]
    ids = _ids((41,), seed=3, v=model.vocabulary_size)
    report = evaluate_language_model(model, ids, level="word", batch_size=1,
                                     bptt=5)
    lp = _np(model.with_options(stateful=False)(ids[None, :-1]))[0]
    nll = -lp[np.arange(40), ids[1:]].mean()
    assert report["loss"] == pytest.approx(nll, rel=1e-5)
    assert report["perplexity"] == pytest.approx(np.exp(nll), rel=1e-5)

    exported = ex.export(out, str(tmp_path / "models"), "lm")
    m = tf.saved_model.load(exported.path)
    texts = ["the cat sat on the mat", "dog ran"]
    got = m.signatures["score"](text=tf.constant(texts))["log_prob"].numpy()
    want = lm_reference_scores(model, list(run.vocabulary.tokens), texts,
                               "word")
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_a_classifier_starts_from_an_adaptive_language_model(tmp_path):
    import zoo
    from tests._files import write_csv
    from test_transfer import CLF, LM_SHAPE, _reviews
    from training import transfer

    unsup = write_csv(tmp_path / "unsup.csv", ["id", "text"],
                      [[str(i), t] for i, (t,) in
                       enumerate(_reviews(120, 1, False))])
    unsup2 = write_csv(tmp_path / "unsup2.csv", ["id", "text"],
                       [[str(i), t] for i, (t,) in
                        enumerate(_reviews(60, 7, False))])
    lm_run = training.train(
        "imdb_lm", unsup, out=str(tmp_path / "lm"), epochs=1, batch_size=4,
        bptt=10, validation_split=0.05,
        overrides=dict(LM_SHAPE, vocabulary_size=40, adaptive_cutoffs=[10]),
        max_steps_per_epoch=3, verbose=0)
    lm_dir = rd.open_run(lm_run.run_dir)
    lm = lm_dir.load_model()
    clf = zoo.build("imdb_transfer", **CLF, **transfer.classifier_overrides(
        lm_dir, dict(zoo.get_preset("imdb_transfer")["config"], **CLF), CLF))
    transfer.copy_language_model(clf, lm_dir)
    lm_table = _np(lm.get_layer("embedding").embeddings)
    table = _np(clf.get_layer("embedding").embeddings)
    tv = {t: i for i, t in enumerate(clf.get_vocabulary())}
    compared = 0
    for lm_id, token in enumerate(lm_dir.vocabulary.tokens):
        if token in tv and token not in ("<eos>", lm_dir.vocabulary.oov_token):
            np.testing.assert_array_equal(table[tv[token]], lm_table[lm_id])
            compared += 1
    assert compared == len(lm_dir.vocabulary) - 2 > 10

    # a language model goes on from it with its adaptive softmax and every
    # weight, without repeating --set adaptive_cutoffs
    again = training.train(
        "imdb_lm", unsup2, out=str(tmp_path / "lm2"), epochs=1, batch_size=4,
        bptt=10, validation_split=0.1, init_from=lm_run.run_dir,
        max_steps_per_epoch=1, learning_rate=1e-9, verbose=0)
    second = rd.open_run(again.run_dir)
    assert second.model_config["adaptive_cutoffs"] == [10]
    b = second.load_model()
    assert [v.path for v in b.weights] == [v.path for v in lm.weights]
    for x, y in zip(lm.weights, b.weights):
        np.testing.assert_allclose(_np(y), _np(x), atol=1e-5, err_msg=x.path)
    with pytest.raises(transfer.TransferError, match="adaptive_cutoffs"):
        transfer.language_model_overrides(lm_dir, {"adaptive_cutoffs": [12]})


def test_the_tuner_space_reaches_the_adaptive_softmax():
    from training.tune.space import build_space

    searched, fixed = build_space(
        "ptb_regularized", {"adaptive_div_value": {"min": 2.0, "max": 8.0}},
        fix={"adaptive_cutoffs": [2000, 5000]})
    assert searched["adaptive_div_value"] == {"min": 2.0, "max": 8.0}
    assert fixed["adaptive_cutoffs"] == [2000, 5000]
