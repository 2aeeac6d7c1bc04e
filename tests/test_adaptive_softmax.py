"""Language models with an adaptive softmax (`adaptive_cutoffs`): the model's
outputs, the training loss against the full softmax's, saving, `zoo train`,
`zoo evaluate`, export and `--init-from`."""

import json
import os

import keras
import numpy as np
import pytest

import training
from training import recipe as R
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


class _FullSoftmaxTrainer(tr.Trainer):
    """The same model trained on Keras' cross-entropy of its full outputs."""

    _adaptive = False


@pytest.mark.parametrize("tie_weights", [True, False])
def test_a_training_step_equals_the_full_softmax_step(tie_weights):
    keras.utils.set_random_seed(0)
    model = _lm(tie_weights, ar=1.0, tar=1.0)
    twin = LanguageModel.from_config(model.get_config())
    twin.set_weights(model.get_weights())
    recipe = R.resolve("language_model", "language_model",
                       {"optimizer": "sgd", "learning_rate": 1.0,
                        "global_clipnorm": 0})
    fast = tr.compile_trainer(model, "language_model", recipe)
    full = _FullSoftmaxTrainer(twin)
    full.compile(optimizer=keras.optimizers.SGD(1.0),
                 loss=keras.losses.SparseCategoricalCrossentropy(
                     from_logits=True))
    x = _ids((4, 7), seed=1)
    y = np.array([0, 7, 8, 19, 20, 29, 3] * 4, "int32").reshape(4, 7)
    assert isinstance(fast(x, training=True), dict)  # the adaptive path
    loss_fast = float(fast.train_on_batch(x, y, return_dict=True)["loss"])
    loss_full = float(full.train_on_batch(x, y, return_dict=True)["loss"])
    assert loss_fast == pytest.approx(loss_full, rel=1e-5)
    for a, b in zip(model.weights, twin.weights):
        np.testing.assert_allclose(_np(a), _np(b), atol=1e-5, err_msg=a.path)
    assert not np.allclose(_np(model.get_layer("embedding").head_bias), 0)


def test_a_sampled_softmax_is_refused_and_there_is_no_output_embedding():
    model = _lm()
    with pytest.raises(ValueError, match="one of them"):
        model.output_embedding()
    with pytest.raises(ValueError, match="adaptive_cutoffs=\\[8, 20\\]"):
        tr.Trainer(model, sampled_softmax=4)


@pytest.mark.parametrize("cutoffs", [[30], [0], [20, 8], "8", [8.5]])
def test_bad_cutoffs_are_refused_at_construction(cutoffs):
    with pytest.raises(ValueError, match="Received: cutoffs"):
        _lm(adaptive_cutoffs=cutoffs)


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
    for lm_id, token in enumerate(lm_dir.vocabulary.tokens):
        if token in tv and token not in ("<eos>", lm_dir.vocabulary.oov_token):
            np.testing.assert_array_equal(table[tv[token]], lm_table[lm_id])
