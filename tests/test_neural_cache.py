"""`training.neural_cache` and `zoo evaluate --cache-window`: the continuous cache."""

import json
import math
import os

import keras
import numpy as np
import pytest

import training
from training import cli_evaluate
from training.evaluate import lm_loss
from training.neural_cache import NeuralCache, cache_lm_loss, cache_probabilities
from zoo.models.language_model import LanguageModel

V = 20


def _lm(tie_weights=True):
    return LanguageModel(vocabulary_size=V, embedding_dim=6, units=6, num_layers=2,
                         tie_weights=tie_weights, init_scale=0.5)


def _stream(n=61, seed=0):
    return np.random.default_rng(seed).integers(0, V, n).astype(np.int64)


def reference_losses(model, ids, window, theta, lam):
    """The cache's equations token by token, from one stateless pass over the
    whole stream (no BPTT windows, no carried state, no vectorisation)."""
    plain = model.with_options(stateful=False)
    x = ids[None, :-1].astype("int32")
    features = keras.ops.convert_to_numpy(plain.output_features_model()(x))[0]
    logits = keras.ops.convert_to_numpy(plain(x))[0].astype(np.float64)
    # the features are the softmax's input: they and the output layer give the logits
    w, b = (keras.ops.convert_to_numpy(t) for t in plain.output_embedding())
    np.testing.assert_allclose(features @ w.T + b, logits, rtol=1e-4, atol=1e-5)
    targets = ids[1:]
    with_cache = alone = 0.0
    for t, y in enumerate(targets):
        probs = np.exp(logits[t] - logits[t].max())
        p_model = probs[y] / probs.sum()
        alone -= math.log(p_model)
        past = range(max(0, t - window), t)
        if not past:
            with_cache -= math.log(p_model)
            continue
        scores = [theta * float(np.dot(features[i], features[t])) for i in past]
        top = max(scores)
        weights = [math.exp(s - top) for s in scores]
        p_cache = sum(w for w, i in zip(weights, past) if targets[i] == y) / sum(weights)
        with_cache -= math.log((1 - lam) * p_model + lam * p_cache)
    return with_cache, alone, len(targets)


@pytest.mark.parametrize("window, theta, lam, bptt", [
    (5, 1.0, 0.1, 7),     # the window cuts inside and across BPTT windows
    (100, 2.5, 0.3, 7),   # longer than the stream: all the history
    (1, 0.5, 0.5, 4),
    (12, 1.0, 0.2, 60),   # one BPTT window for the whole stream
])
def test_cache_matches_the_equations_token_by_token(window, theta, lam, bptt):
    model = _lm()
    ids = _stream()
    stateful = model.with_options(stateful=True, batch_size=1)
    got = cache_lm_loss(stateful, ids, NeuralCache(window, theta, lam), bptt=bptt)
    want = reference_losses(model, ids, window, theta, lam)
    assert got[2] == want[2] == len(ids) - 1
    np.testing.assert_allclose(got[:2], want[:2], rtol=1e-5)
    assert got[0] != pytest.approx(got[1], rel=1e-4)  # the cache changed the score


def test_untied_model_uses_the_softmax_input():
    model = _lm(tie_weights=False)
    ids = _stream(seed=1)
    stateful = model.with_options(stateful=True, batch_size=1)
    got = cache_lm_loss(stateful, ids, NeuralCache(8, 1.0, 0.2), bptt=9)
    np.testing.assert_allclose(got[:2], reference_losses(model, ids, 8, 1.0, 0.2)[:2],
                               rtol=1e-5)


def test_lambda_zero_is_the_model_alone():
    model = _lm().with_options(stateful=True, batch_size=1)
    ids = _stream()
    with_cache, alone, n = cache_lm_loss(model, ids, NeuralCache(10, 1.0, 0.0), bptt=7)
    assert with_cache == pytest.approx(alone, rel=1e-12)
    total, m = lm_loss(model, ids, batch_size=1, bptt=7)
    assert (alone, n) == (pytest.approx(total, rel=1e-5), m)


def test_cache_probabilities_by_hand():
    # two cached steps pointing at tokens 3 and 4; the query is parallel to the first
    hist_h = np.array([[1.0, 0.0], [0.0, 1.0]])
    hist_y = np.array([3, 4])
    features = np.array([[2.0, 0.0], [0.0, 0.0]])
    targets = np.array([3, 3])
    p, has = cache_probabilities(features, targets, hist_h, hist_y, NeuralCache(2, 1.0, 0.1))
    assert has.tolist() == [True, True]
    # step 0: scores (2, 0) over tokens (3, 4) -> p(3) = e^2 / (e^2 + 1)
    assert p[0] == pytest.approx(math.e ** 2 / (math.e ** 2 + 1))
    # step 1: the window of 2 holds the 2nd cached step (token 4) and step 0 (token 3),
    # both scored 0 against a zero query: p(3) = 1/2
    assert p[1] == pytest.approx(0.5)
    # an empty cache: no history for the first step only
    p, has = cache_probabilities(features, targets, np.zeros((0, 2)), np.zeros(0, int),
                                 NeuralCache(5, 1.0, 0.1))
    assert has.tolist() == [False, True] and p[0] == 0.0 and p[1] == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs", [
    {"window": 0}, {"window": -3}, {"window": True}, {"window": 2.5},
    {"theta": 0.0}, {"theta": -1.0}, {"theta": float("inf")}, {"theta": float("nan")},
    {"theta": "big"}, {"lambda_": -0.1}, {"lambda_": 1.0}, {"lambda_": float("nan")},
])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match="Received"):
        NeuralCache(**kwargs)


def test_needs_one_stateful_row():
    with pytest.raises(ValueError, match="batch_size=1"):
        cache_lm_loss(_lm().with_options(stateful=True, batch_size=2), _stream(),
                      NeuralCache(), bptt=5)


def test_zoo_evaluate_with_the_cache(lm_run, tmp_path, capsys):
    run_dir, data = lm_run
    out = tmp_path / "cache.json"
    assert cli_evaluate.main([run_dir, "--data", data, "--split", "test",
                              "--cache-window", "20", "--cache-lambda", "0.25",
                              "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    with open(out) as f:
        written = json.load(f)
    assert printed == written
    assert written["cache"]["window"] == 20 and written["cache"]["theta"] == 1.0
    assert written["cache"]["lambda"] == 0.25
    plain = training.evaluate(run_dir, data, split="test")
    assert written["without_cache"]["perplexity"] == pytest.approx(plain["perplexity"],
                                                                   rel=1e-5)
    assert written["num_tokens"] == plain["num_tokens"]
    assert written["perplexity"] == pytest.approx(math.exp(written["loss"]))
    assert written["perplexity"] != pytest.approx(plain["perplexity"], rel=1e-4)


@pytest.mark.parametrize("extra, message", [
    (["--cache-theta", "2"], "--cache-theta needs --cache-window"),
    (["--cache-theta", "2", "--cache-lambda", "0.2"],
     "--cache-theta and --cache-lambda need --cache-window"),
    (["--cache-window", "0"], "--cache-window: must be a positive integer"),
    (["--cache-window", "5", "--cache-theta", "nan"], "--cache-theta: must be a number > 0"),
    (["--cache-window", "5", "--cache-lambda", "1"], "lambda must be in [0, 1)"),
    (["--cache-window", "5", "--batch-size", "4"], "needs batch_size=1"),
    (["--batch-size", "0"], "--batch-size: must be a positive integer"),
])
def test_zoo_evaluate_refuses_bad_cache_flags(lm_run, capsys, extra, message):
    run_dir, data = lm_run
    try:
        rc = cli_evaluate.main([run_dir, "--data", data, *extra])
    except SystemExit as e:  # argparse's own refusals
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err
    assert "zoo evaluate: error:" in err and message in err


def test_zoo_evaluate_refuses_the_cache_for_classifiers(clf_run, capsys):
    run_dir, data = clf_run
    assert cli_evaluate.main([run_dir, "--data", data, "--cache-window", "5"]) == 2
    assert "scores language models" in capsys.readouterr().err
    assert cli_evaluate.main([run_dir, run_dir, "--data", data, "--cache-window", "5"]) == 2
    assert "several RUN_DIRs" in capsys.readouterr().err


def test_ptb_cache_recipe_records_both_figures(lm_run, tmp_path, monkeypatch):
    """`bench/reproduce/ptb_cache.py` end to end on a tiny run: the real
    `zoo evaluate` subprocess, the model's results file linked."""
    from tests._files import load_script

    run_dir, data = lm_run
    recipe = load_script(os.path.join("bench", "reproduce", "ptb_cache.py"), "ptb_cache")
    c = recipe.c
    plain = training.evaluate(run_dir, data)
    results = tmp_path / "results"
    results.mkdir()
    recorded = {"preset": "language_model", "value": plain["perplexity"],
                "split": "validation (toy)", "training_seconds": 5.0, "params": 42,
                "command": ["zoo", "train"]}
    (results / "run.json").write_text(json.dumps(recorded))
    monkeypatch.setattr(c, "RESULTS_DIR", str(results))
    monkeypatch.setattr(c, "DATA", os.path.dirname(data))
    written = {}
    monkeypatch.setattr(c, "write_result", lambda name, r: written.update({name: r}))
    recipe.main(["--run", run_dir, "--window", "20", "--lambda", "0.2"])
    r = written["ptb_cache_run"]
    assert r["model_alone"] == pytest.approx(plain["perplexity"], rel=1e-5)
    assert r["value"] == r["evaluation"]["perplexity"] != pytest.approx(r["model_alone"])
    assert r["cache"]["window"] == 20 and r["cache"]["lambda"] == 0.2
    assert r["target"] is None and r["met"] is None
    assert r["model_results"] == "bench/results/run.json"
    assert r["model_value_recorded"] == plain["perplexity"]
    assert r["training_seconds"] == 5.0 and r["params"] == 42
    assert r["command"][1:3] == ["evaluate", run_dir] and "--cache-window" in r["command"]
    # the plain evaluation's file is not overwritten
    assert r["command"][-1] == os.path.join(run_dir, "eval_validation_cache.json")
    # a results file of another model under the same folder name is refused
    (results / "run.json").write_text(json.dumps(dict(recorded, value=123.4)))
    written.clear()
    with pytest.raises(SystemExit, match="another model; nothing written"):
        recipe.main(["--run", run_dir, "--window", "20"])
    assert written == {}


def test_ptb_cache_recipe_needs_the_models_results(lm_run, tmp_path, monkeypatch):
    from tests._files import load_script

    run_dir, _ = lm_run
    recipe = load_script(os.path.join("bench", "reproduce", "ptb_cache.py"), "ptb_cache")
    monkeypatch.setattr(recipe.c, "RESULTS_DIR", str(tmp_path))
    with pytest.raises(SystemExit, match="no results file"):
        recipe.main(["--run", run_dir])
    with pytest.raises(SystemExit, match="not a run directory"):
        recipe.main(["--run", str(tmp_path / "missing")])
