"""Sampled softmax for word-level language models (`training.sampled_softmax`,
`--recipe sampled_softmax=K`), checked against TensorFlow's
`tf.nn.sampled_softmax_loss` and against the full softmax."""

import json
import os
import random

import keras
import numpy as np
import pytest
import tensorflow as tf

from training import recipe as R
from training import trainer as tr
from training.sampled_softmax import (log_uniform_candidates,
                                      log_uniform_probability,
                                      sampled_softmax_loss)
from zoo.models.language_model import LanguageModel


def _q(ids, v):
    ids = np.asarray(ids, np.float64)
    return np.log((ids + 2) / (ids + 1)) / np.log(v + 1)


def test_log_uniform_probability_is_zipfs_and_sums_to_one():
    v = 1000
    q = keras.ops.convert_to_numpy(log_uniform_probability(np.arange(v), v))
    np.testing.assert_allclose(q, _q(np.arange(v), v), rtol=1e-5)
    assert abs(q.sum() - 1) < 1e-4 and np.all(np.diff(q) < 0)


def test_candidates_follow_the_log_uniform_distribution():
    v, n = 50, 200_000
    ids = keras.ops.convert_to_numpy(log_uniform_candidates(
        n, v, seed=keras.random.SeedGenerator(3)))
    assert ids.dtype == np.int32 and ids.min() >= 0 and ids.max() < v
    freq = np.bincount(ids, minlength=v) / n
    np.testing.assert_allclose(freq, _q(np.arange(v), v), atol=4e-3)
    again = keras.ops.convert_to_numpy(log_uniform_candidates(
        n, v, seed=keras.random.SeedGenerator(3)))
    np.testing.assert_array_equal(ids, again)


def _problem(n=48, d=6, v=40, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)).astype("float32"),
            rng.integers(0, v, n).astype("int32"),
            rng.normal(size=(v, d)).astype("float32"),
            rng.normal(size=v).astype("float32"))


def test_loss_equals_tensorflows_sampled_softmax_loss():
    v, k = 40, 12
    h, y, w, b = _problem(v=v)
    # accidental hits (targets among the candidates) on purpose; unique ids,
    # since TensorFlow's accidental-hit op keeps one position per id
    candidates = np.array([0, 1, 2, 5, 9, 17, 33, 3, 4, 6, 7, 8], np.int32)
    assert k == len(candidates) and np.isin(y, candidates).sum() > 5
    ours = keras.ops.convert_to_numpy(sampled_softmax_loss(
        h.reshape(6, 8, -1), y.reshape(6, 8), w, b, candidates, v))
    theirs = tf.nn.sampled_softmax_loss(
        weights=w, biases=b, labels=y[:, None].astype("int64"), inputs=h,
        num_sampled=k, num_classes=v,
        sampled_values=(tf.constant(candidates, tf.int64),
                        tf.constant(k * _q(y, v)[:, None], tf.float32),
                        tf.constant(k * _q(candidates, v), tf.float32)),
        remove_accidental_hits=True)
    np.testing.assert_allclose(ours, float(tf.reduce_mean(theirs)), rtol=1e-5)


def test_every_copy_of_the_target_among_repeated_candidates_is_left_out():
    v = 40
    h, y, w, b = _problem(v=v)
    y[:] = 3
    repeated = np.array([3, 3, 1, 3, 7], np.int32)
    ours = keras.ops.convert_to_numpy(sampled_softmax_loss(
        h, y, w, b, repeated, v))
    kept = np.array([1, 7])
    true = (h * w[3]).sum(1) + b[3] - np.log(5 * _q(3, v))
    others = h @ w[kept].T + b[kept] - np.log(5 * _q(kept, v))
    logits = np.concatenate([true[:, None], others], axis=1)
    expected = np.mean(np.log(np.exp(logits).sum(1)) - true)
    np.testing.assert_allclose(ours, expected, rtol=1e-5)


def test_every_id_drawn_once_is_the_full_softmax_of_the_corrected_logits():
    v = 40
    h, y, w, b = _problem(v=v)
    every = np.arange(v, dtype=np.int32)
    ours = keras.ops.convert_to_numpy(sampled_softmax_loss(
        h, y, w, b, every, v))
    corrected = h @ w.T + b - np.log(v * _q(every, v))
    full = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
        y, corrected)
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(full),
                               rtol=1e-5)


def _lm(tie_weights=True, level="word", v=30):
    return LanguageModel(vocabulary_size=v, embedding_dim=12, units=12,
                         num_layers=1, tie_weights=tie_weights, level=level,
                         ar=1.0, tar=1.0)


@pytest.mark.parametrize("tie_weights", [True, False])
def test_output_embedding_and_features_reproduce_the_logits(tie_weights):
    model = _lm(tie_weights)
    x = np.random.default_rng(0).integers(0, 30, (2, 5)).astype("int32")
    features = model.output_features_model()(x)
    w, b = model.output_embedding()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(features) @ keras.ops.convert_to_numpy(w).T
        + keras.ops.convert_to_numpy(b),
        keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6)


def test_a_step_trains_the_output_rows_of_targets_and_candidates_only():
    keras.utils.set_random_seed(0)
    v = 30
    model = _lm(v=v)
    recipe = R.resolve("language_model", "language_model",
                       {"sampled_softmax": 4, "optimizer": "sgd",
                        "learning_rate": 1.0, "global_clipnorm": 0})
    trainer = tr.compile_trainer(model, "language_model", recipe)
    # inputs use ids 0-4, targets ids 25-29: with 4 candidates, most of the
    # rows in between are neither looked up, targets nor candidates
    x = np.tile(np.arange(5, dtype="int32"), (2, 1))
    y = x + 25
    before = keras.ops.convert_to_numpy(model.output_embedding()[1]).copy()
    trainer.train_on_batch(x, y)
    after = keras.ops.convert_to_numpy(model.output_embedding()[1])
    changed = set(np.flatnonzero(before != after).tolist())
    assert set(range(25, 30)) <= changed
    assert len(changed) <= 5 + 4


def test_trainer_refuses_char_models_and_too_many_candidates():
    with pytest.raises(ValueError, match="word-level"):
        tr.Trainer(_lm(level="char"), sampled_softmax=5)
    with pytest.raises(ValueError, match="below the vocabulary size"):
        tr.Trainer(_lm(v=30), sampled_softmax=30)


@pytest.mark.parametrize("given, message", [
    ({"sampled_softmax": -1}, "positive integer"),
    ({"sampled_softmax": "many"}, "positive integer"),
    ({"sampled_softmax": True}, "positive integer"),
])
def test_bad_sampled_softmax_settings(given, message):
    with pytest.raises(ValueError, match=message):
        R.resolve("language_model", "language_model", given)


def test_sampled_softmax_zero_is_the_full_softmax():
    recipe = R.resolve("language_model", "language_model",
                       {"sampled_softmax": 0})
    assert recipe["sampled_softmax"] is None
    trainer = tr.compile_trainer(_lm(), "language_model", recipe)
    assert not trainer.sampled_softmax
    assert not isinstance(trainer(np.zeros((1, 3), "int32"), training=True),
                          dict)


def test_sampled_softmax_is_for_language_models():
    with pytest.raises(ValueError, match="language models only"):
        R.resolve("sst2_bigru_highway", "sentiment_classifier",
                  {"sampled_softmax": 8})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Lines of a fixed cycle of 20 words from random offsets: each word but
    a line's first has one possible successor."""
    rng = random.Random(0)
    words = ("the cat dog sat on a mat and ran to big small red house in "
             "of with it was far".split())

    def lines(n):
        out = []
        for _ in range(n):
            start = rng.randrange(len(words))
            out.append(" ".join(words[(start + i) % len(words)]
                                for i in range(rng.randint(6, 12))))
        return "\n".join(out) + "\n"

    folder = tmp_path_factory.mktemp("ptb")
    (folder / "tiny.train.txt").write_text(lines(300))
    (folder / "tiny.valid.txt").write_text(lines(40))
    return str(folder)


@pytest.mark.slow
def test_zoo_train_with_a_sampled_softmax_learns_under_the_full_softmax(
        corpus, tmp_path):
    from zoo_cli import main

    run = str(tmp_path / "run")
    rc = main(["train", "language_model", "--data", corpus, "--out", run,
               "--set", "units=16", "--set", "embedding_dim=16",
               "--epochs", "3", "--batch-size", "8", "--bptt", "10",
               "--lr", "0.02", "--recipe", "sampled_softmax=6",
               "--verbose", "0"])
    assert rc in (0, None)
    with open(os.path.join(run, "config.json")) as f:
        config = json.load(f)
    assert config["training"]["sampled_softmax"] == 6
    import csv

    with open(os.path.join(run, "history.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    val = [float(r["val_loss"]) for r in rows]
    vocab = sum(1 for _ in open(os.path.join(run, "vocab.txt")))
    # validation is the full softmax: from about log(V) to well below it
    assert val[-1] < val[0] < np.log(vocab) + 0.5
    assert val[-1] < np.log(vocab) - 1.0
