"""`zoo tune` / `training.tune`: search spaces, errors, search, resume,
failed trials, results files and --export-best (tiny models, tiny data)."""

import csv
import json
import os
import random

import pytest

from tests._files import sentiment_tsv

from training import tune as tn

TINY = ["--fix", "units=4", "--fix", "embedding_dim=4", "--fix", "num_layers=1",
        "--fix", "vocabulary_size=40", "--fix", "max_length=12"]
TINY_FIX = {"units": 4, "embedding_dim": 4, "num_layers": 1,
            "vocabulary_size": 40, "max_length": 12}


@pytest.fixture(scope="module")
def tsv(tmp_path_factory):
    return sentiment_tsv(tmp_path_factory.mktemp("data") / "tiny.tsv", 80,
                         extra_words=("the", "film"), lengths=(2, 6))


# ----------------------------------------------------------- space (fast)


def test_default_spaces_follow_the_preset_recipe():
    clf = tn.default_space("sst2_bigru_highway")
    assert set(clf) == {"cell", "units", "num_layers", "connection", "bidirectional",
                        "pooling", "dropout", "embedding_dim", "learning_rate",
                        "clipnorm"}
    assert clf["learning_rate"] == {"min": 1e-4, "max": 1e-2, "sampling": "log"}
    lm = tn.default_space("ptb_small")  # SGD at lr 20, global clip 0.25
    assert "pooling" not in lm and "bidirectional" not in lm
    assert lm["learning_rate"]["min"] == 2.0 and lm["learning_rate"]["max"] == 200.0
    assert "global_clipnorm" in lm and "clipnorm" not in lm


def test_a_space_file_that_is_not_utf8_is_a_clear_error(tmp_path):
    f = tmp_path / "space.json"
    f.write_bytes('{"units": {"choice": [16]}, "note": "caf\u00e9"}'.encode(
        "latin-1"))
    with pytest.raises(ValueError, match=r"space.json: not UTF-8 text"):
        tn.build_space("sst2_bigru_highway", str(f), {})


def test_space_file_and_fix_narrow_and_extend(tmp_path):
    f = tmp_path / "space.json"
    f.write_text(json.dumps({
        "units": {"choice": [16, 32]}, "connection": None, "dropout": 0.25,
        "head_dropout": {"min": 0.0, "max": 0.5, "step": 0.25},
        "batch_size": {"choice": [16, 32]}}))
    searched, fixed = tn.build_space("sst2_bigru_highway", str(f), {"cell": "gru"})
    assert searched["units"] == {"choice": [16, 32]}
    assert "connection" not in searched and "connection" not in fixed
    assert fixed == {"dropout": 0.25, "cell": "gru"}
    assert "head_dropout" in searched and "batch_size" in searched
    searched, fixed = tn.build_space("sst2_bigru_highway",
                                     {"defaults": False, "units": {"choice": [8]}})
    assert searched == {"units": {"choice": [8]}} and fixed == {}
    searched, fixed = tn.build_space(
        "imdb_fast", {"defaults": False,
                      "ngram_weighting": {"choice": ["binary", "nb"]}})
    assert searched == {"ngram_weighting": {"choice": ["binary", "nb"]}}


@pytest.mark.parametrize("space, fix, message", [
    ({"unit": {"choice": [8]}}, None, "Valid keys: ["),
    (None, {"cell": "transformer"}, "Valid values: ['gru', 'lstm', 'simple_rnn']"),
    ({"connection": {"choice": ["none", "skip"]}}, None, "Valid values: ['none'"),
    ({"dropout": {"min": 0.0, "max": 1.5}}, None, "must be a number in [0, 1)"),
    ({"units": {"min": 8}}, None, "an entry is"),
    ({"learning_rate": {"min": 0, "max": 1, "sampling": "log"}}, None, "min > 0"),
    ({"cell": {"min": 1, "max": 2}}, None, "takes a 'choice' list"),
    (None, {"pooling": "avg"}, "Valid values: ['last', 'max', 'mean', 'concat']"),
    ({"global_clipnorm": 1.0}, None, "mutually exclusive"),
    ({"ngram_weighting": {"choice": ["binary", "tfidf"]}}, None,
     "Valid values: ['binary', 'nb']"),
    (None, {"reverse": "no"}, "reverse must be true or false"),
    ({"layer_norm": {"choice": [0, 1]}}, None,
     "layer_norm must be true or false"),
    (None, {"learning_rate": float("nan")}, "must be a positive number"),
    (None, {"clipnorm": float("inf")}, "must be a positive number"),
    ({"learning_rate": {"choice": [1e-3, float("inf")]}}, None,
     "must be a positive number"),
    ({"learning_rate": {"choice": [1e-3, 10 ** 400]}}, None,
     "must be a positive number"),
    (None, {"clipnorm": 10 ** 400}, "must be a positive number"),
])
def test_bad_space_is_a_clear_error(space, fix, message):
    with pytest.raises(ValueError) as e:
        tn.build_space("sst2_bigru_highway", space, fix)
    assert message in str(e.value)


def test_lm_space_rejects_classifier_keys():
    with pytest.raises(ValueError, match="Valid keys"):
        tn.build_space("ptb_small", {"pooling": {"choice": ["max"]}})


def test_lm_direction_is_fixed_not_searched():
    """`reverse` (a backward LM) changes how the corpus, loaded once, is
    read: it may be fixed, not searched, and only as a bool."""
    with pytest.raises(ValueError, match="fix it .*Received: reverse="):
        tn.build_space("ptb_small", {"reverse": {"choice": [True, False]}})
    with pytest.raises(ValueError, match="reverse"):
        tn.build_space("ptb_small", None, {"reverse": 1})
    # so is its vocabulary's size, which the corpus gives
    with pytest.raises(ValueError, match="fix its size .*Received: "
                       "vocabulary_size="):
        tn.build_space("ptb_small", {"vocabulary_size": {"choice": [50, 100]}})
    assert tn.build_space("ptb_small", None,
                          {"vocabulary_size": 50})[1]["vocabulary_size"] == 50
    searched, fixed = tn.build_space("ptb_small", None, {"reverse": True})
    assert fixed["reverse"] is True and "reverse" not in searched


def test_cli_show_space_and_usage_errors(capsys):
    assert tn.main(["sst2_bigru_highway", "--show-space", "--fix", "cell=gru"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["fixed"] == {"cell": "gru"} and "cell" not in out["searched"]
    assert "units" in out["valid_keys"]
    assert tn.main(["sst2_bigru_highway", "--show-space", "--fix", "cell=rnn"]) == 2
    assert "Valid values" in capsys.readouterr().err
    assert tn.main(["nope", "--show-space"]) == 2
    assert "Valid presets" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tn.main(["sst2_bigru_highway", "--dir", "x"])  # --data missing


# ----------------------------------------------------------- search (slow)


@pytest.mark.slow
def test_search_resume_results_and_export(tsv, tmp_path, capsys, monkeypatch):
    from zoo.models.classifier import SentimentClassifier

    adapts = []
    real_adapt = SentimentClassifier.adapt_vocabulary
    monkeypatch.setattr(SentimentClassifier, "adapt_vocabulary",
                        lambda self, *a, **k: adapts.append(1) or real_adapt(self, *a, **k))
    d = tmp_path / "search"
    argv = ["sentiment_classifier", "--data", tsv, "--dir", str(d), "--epochs", "1",
            "--max-steps-per-epoch", "2", "--quiet", "--space",
            _space(tmp_path, {"defaults": False,
                              "cell": {"choice": ["lstm", "gru", "simple_rnn"]}})] + TINY
    assert tn.main(argv + ["--max-trials", "2"]) == 0
    out = capsys.readouterr()
    assert "new search" in out.err
    assert "rank" in out.out and "val_accuracy" in out.out
    assert not adapts  # the vocabulary was learned once, outside the trials

    # Resume: the same command with more trials continues the search.
    assert tn.main(argv + ["--max-trials", "3"]) == 0
    err = capsys.readouterr().err
    assert "resuming the search" in err and "2 trial(s) exist" in err
    assert "1 remain" in err
    rows = json.loads((d / "trials.json").read_text())["trials"]
    assert len(rows) == 3 and {r["hyperparameters"]["cell"] for r in rows} == {
        "lstm", "gru", "simple_rnn"}
    scores = [r["objective"] for r in rows]
    assert scores == sorted(scores, reverse=True)  # ranked best first
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert all(r["seconds"] > 0 for r in rows)
    with open(d / "trials.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [t["trial_id"] for t in table] == [r["trial_id"] for r in rows]
    assert {"rank", "status", "val_accuracy", "seconds", "cell",
            "error"} <= set(table[0])
    assert (d / "trials.png").read_bytes()[:4] == b"\x89PNG"
    assert not [n for n in os.listdir(d) if n.startswith(".")]  # no temp files

    # Nothing remains: no new trial, and a changed space is refused.
    assert tn.main(argv + ["--max-trials", "3"]) == 0
    assert "0 remain" in capsys.readouterr().err
    assert len(json.loads((d / "trials.json").read_text())["trials"]) == 3
    assert tn.main(argv + ["--max-trials", "3", "--fix", "pooling=mean"]) == 2
    assert "--overwrite" in capsys.readouterr().err

    # Export: the best configuration becomes a normal run directory.
    from training.run_dir import load_run

    run_dir = tmp_path / "best"
    result = tn.export_best_run(str(d), str(run_dir), verbose=0)
    run = load_run(str(run_dir))
    best = rows[0]["hyperparameters"]
    assert run.config["model_config"]["cell"] == best["cell"]
    assert run.config["model_config"]["units"] == 4
    assert run.model is not None and result.metrics["status"] == "completed"

    # --overwrite with data that cannot load leaves the search as it was.
    before = {n: (d / n).read_bytes() for n in ("trials.json", "tune_config.json")
              if (d / n).exists()}
    assert len(before) == 2
    missing = [str(tmp_path / "missing.tsv") if a == tsv else a for a in argv]
    assert tn.main(missing + ["--max-trials", "1", "--overwrite"]) == 2
    assert "missing.tsv" in capsys.readouterr().err
    assert {n: (d / n).read_bytes() for n in before} == before
    assert tn.main(argv + ["--max-trials", "3"]) == 0  # still resumable
    assert "0 remain" in capsys.readouterr().err

    # --overwrite starts over, and leaves nothing of the old search beside it.
    assert tn.main(argv + ["--max-trials", "1", "--overwrite"]) == 0
    assert "new search" in capsys.readouterr().err
    assert len(json.loads((d / "trials.json").read_text())["trials"]) == 1
    assert not [n for n in os.listdir(d) if n.startswith(".")]


@pytest.mark.slow
def test_failed_trial_is_recorded_and_search_goes_on(tsv, tmp_path, monkeypatch):
    import keras

    from zoo.models import factory

    real_build = factory.build
    cleared = []

    def build(name, **kw):
        if kw.get("cell") == "gru":
            raise ValueError("boom: gru is broken today")
        return real_build(name, **kw)

    real_clear = keras.backend.clear_session
    monkeypatch.setattr(factory, "build", build)
    monkeypatch.setattr(keras.backend, "clear_session",
                        lambda *a, **k: cleared.append(1) or real_clear(*a, **k))
    space = {"defaults": False, "cell": {"choice": ["lstm", "gru"]}}
    # The first model keras-tuner builds (to collect the space) uses the
    # first choice, so order "gru" second.
    result = tn.tune("sentiment_classifier", tsv, directory=tmp_path / "s",
                     max_trials=2, epochs=1, space=space, fix=TINY_FIX,
                     max_steps_per_epoch=2, verbose=0)
    by_cell = {r["hyperparameters"]["cell"]: r for r in result.trials}
    assert by_cell["gru"]["status"] == "FAILED"
    assert "boom: gru is broken today" in by_cell["gru"]["error"]
    assert by_cell["lstm"]["status"] == "COMPLETED"
    assert result.best["hyperparameters"]["cell"] == "lstm"
    assert result.trials[0]["rank"] == 1 and result.trials[1]["rank"] is None
    assert len(cleared) >= 2  # a fresh session for every trial

    # Every trial failing stops the search with a clear error.
    monkeypatch.setattr(factory, "build", real_build)
    with pytest.raises(RuntimeError, match="consecutive failures"):
        tn.tune("sentiment_classifier", tsv, directory=tmp_path / "s2",
                max_trials=3, epochs=1, fix=TINY_FIX, objective="val_nothing:max",
                space={"defaults": False, "learning_rate": {
                    "choice": [0.001, 0.002, 0.003]}},
                max_steps_per_epoch=2, verbose=0, max_consecutive_failed_trials=2)
    assert os.path.exists(tmp_path / "s2" / "trials.csv")


@pytest.mark.slow
def test_hyperband_on_a_language_model(tmp_path):
    text = tmp_path / "lm.txt"
    rng = random.Random(1)
    text.write_text("\n".join(" ".join(rng.choice("a b c d e f".split())
                                       for _ in range(12)) for _ in range(60)))
    result = tn.tune("language_model", str(text), directory=tmp_path / "lm",
                     tuner="hyperband", max_trials=2, epochs=2,
                     space={"defaults": False, "units": {"choice": [4, 8]}},
                     fix={"embedding_dim": 4, "num_layers": 1, "batch_size": 4,
                          "bptt": 5},
                     max_steps_per_epoch=2, verbose=0)
    assert result.objective == {"name": "val_loss", "direction": "min"}
    assert 1 <= len(result.trials) <= 2
    assert result.best["status"] == "COMPLETED" and result.best["objective"] > 0
    assert "tuner/epochs" in result.best["hyperparameters"]


def test_steps_per_epoch_and_one_cycle_presets_train_as_zoo_train_does(
        tsv, tmp_path, monkeypatch):
    """`imdb_transfer` trains "epochs" of `steps_per_epoch` steps over the
    repeated data with a one-cycle rate: a trial's epoch must end after its
    steps (it never ended) and the schedule must span them (it could not be
    built without `schedule_steps`)."""
    from training import trainer as tr

    spans, steps = [], []
    real_compile, real_steps = tr.compile_trainer, tr.steps_per_epoch
    monkeypatch.setattr(tr, "compile_trainer", lambda *a, **k: spans.append(
        k.get("total_steps")) or real_compile(*a, **k))
    monkeypatch.setattr(tr, "steps_per_epoch", lambda *a, **k: steps.append(
        real_steps(*a, **k)) or steps[-1])
    result = tn.tune("imdb_transfer", tsv, directory=tmp_path / "s",
                     max_trials=1, epochs=2, max_steps_per_epoch=3, verbose=0,
                     space={"defaults": False,
                            "learning_rate": {"choice": [0.001]}},
                     fix=dict(TINY_FIX, ngram_vocabulary_size=50))
    assert result.best["status"] == "COMPLETED"
    assert set(spans) == {2 * 3} and set(steps) == {3}


@pytest.mark.slow
def test_a_hyperband_trial_s_cycle_spans_its_own_epochs(tsv, tmp_path,
                                                        monkeypatch):
    """Hyperband trains a trial for 1 epoch, or from epoch 1 to 3 on its
    parent's weights, or for 3: each one-cycle schedule spans the epochs
    the trial runs (it spanned the most epochs, 3, so short trials were
    compared before their rate had come down)."""
    from training import trainer as tr

    spans, starts = [], []
    real_compile = tr.compile_trainer
    monkeypatch.setattr(tr, "compile_trainer", lambda *a, **k: spans.append(
        k.get("total_steps")) or real_compile(*a, **k))
    real_class = tn.search._make_hypermodel_class

    def hypermodel_class():
        class Recording(real_class()):
            def fit(self, hp, model, *args, **kwargs):
                # the step count the trial's schedule starts from
                starts.append(int(model.optimizer.iterations.numpy()))
                return super().fit(hp, model, *args, **kwargs)
        return Recording

    monkeypatch.setattr(tn.search, "_make_hypermodel_class", hypermodel_class)
    result = tn.tune("imdb_transfer", tsv, directory=tmp_path / "s",
                     tuner="hyperband", max_trials=5, epochs=3,
                     max_steps_per_epoch=3, verbose=0,
                     space={"defaults": False,
                            "learning_rate": {"choice": [1e-3, 2e-3, 3e-3, 4e-3]}},
                     fix=dict(TINY_FIX, ngram_vocabulary_size=50))
    ran = [(t["hyperparameters"].get("tuner/initial_epoch", 0),
            t["hyperparameters"]["tuner/epochs"]) for t in result.trials]
    assert (0, 1) in ran and (1, 3) in ran, ran
    # the search builds one model to check the settings, keras-tuner one
    # to declare the space (no `tuner/epochs`: the most epochs); then one
    # per trial
    assert spans[:2] == [3 * 3, 3 * 3]
    assert sorted(spans[2:]) == sorted(3 * (end - start)
                                       for start, end in ran)
    # a continued trial's optimizer is new (not restored from its parent)
    assert starts == [0] * len(ran)


def test_export_best_refuses_a_run_before_searching_and_takes_lm_settings(
        tmp_path, capsys):
    text = tmp_path / "lm.txt"
    rng = random.Random(2)
    text.write_text("\n".join(" ".join(rng.choice("a b c d e f".split())
                                       for _ in range(12)) for _ in range(60)))
    argv = ["language_model", "--data", str(text), "--dir", str(tmp_path / "s"),
            "--max-trials", "1", "--epochs", "1", "--max-steps-per-epoch", "2",
            "--quiet", "--space", _space(tmp_path, {
                "defaults": False, "units": {"choice": [4]}}),
            "--fix", "embedding_dim=4", "--fix", "num_layers=1",
            "--fix", "batch_size=4", "--fix", "bptt=5",
            "--fix", "variable_bptt=true"]
    best = tmp_path / "best"
    best.mkdir()
    (best / "notes.txt").write_text("not a run")
    # refused before the search: nothing is searched or written
    assert tn.main(argv + ["--export-best", str(best)]) == 2
    assert "--export-overwrite" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
    # so is the search's own --dir, or a path the search writes there
    for taken in (tmp_path / "s", tmp_path / "s" / "search",
                  tmp_path / "s" / "search" / "best",
                  tmp_path / "s" / "trials.csv"):
        assert tn.main(argv + ["--export-best", str(taken)]) == 2
        assert "is the search's --dir, a file" in capsys.readouterr().err
        assert not (tmp_path / "s").exists()
    # a training setting of the search (variable_bptt) reaches the retrain
    (best / "notes.txt").unlink()
    assert tn.main(argv + ["--export-best", str(best)]) == 0
    capsys.readouterr()
    config = json.loads((best / "config.json").read_text())
    assert config["training"]["variable_bptt"] is True
    # a second export into the run is refused, then allowed by the flag
    assert tn.main(argv + ["--export-best", str(best)]) == 2
    assert tn.main(argv + ["--export-best", str(best),
                           "--export-overwrite"]) == 0


@pytest.mark.slow
def test_a_choice_of_lists_reaches_the_models_and_the_export(tmp_path):
    """`adaptive_cutoffs` and per-layer `units` are lists: keras-tuner holds
    them as JSON strings, the models and the retrained run get lists."""
    from zoo.models import factory

    text = tmp_path / "lm.txt"
    rng = random.Random(3)
    text.write_text("\n".join(" ".join(rng.choice("a b c d e f".split())
                                       for _ in range(12)) for _ in range(60)))
    built = []
    real_build = factory.build

    def build(*args, **kwargs):
        built.append({k: kwargs.get(k) for k in ("units", "adaptive_cutoffs")})
        return real_build(*args, **kwargs)

    space = {"defaults": False,
             "adaptive_cutoffs": {"choice": [None, [3], [2, 4]]},
             "units": {"choice": [[4, 6], [6, 4]]}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(factory, "build", build)
        result = tn.tune("ptb_small", str(text), directory=tmp_path / "lm",
                         tuner="random", max_trials=6, epochs=1, seed=1,
                         space=space,
                         fix={"embedding_dim": 16, "num_layers": 2,
                              "batch_size": 4, "bptt": 5},
                         max_steps_per_epoch=2, verbose=0,
                         export_best=str(tmp_path / "best"))
    assert built and all(
        b["adaptive_cutoffs"] in (None, [3], [2, 4]) and
        b["units"] in ([4, 6], [6, 4]) for b in built)
    assert len({json.dumps(b["adaptive_cutoffs"]) for b in built}) > 1
    assert all(r["status"] == "COMPLETED" for r in result.trials)
    best = result.best_hyperparameters
    assert best["adaptive_cutoffs"] in (None, [3], [2, 4])
    assert best["units"] in ([4, 6], [6, 4])
    config = json.loads((tmp_path / "best" / "config.json").read_text())
    model_config = json.dumps(config)
    assert str(best["units"][0]) in model_config  # the run got the lists
    assert built[-1] == {k: best[k] for k in ("units", "adaptive_cutoffs")}


@pytest.mark.parametrize("entry", [
    {"choice": [[4, 2]]}, {"choice": [[0]]}, {"choice": [[2.5]]},
    {"choice": [[]]}, {"choice": ["2,4"]}])
def test_bad_cutoff_choices(entry):
    with pytest.raises(ValueError, match="adaptive_cutoffs"):
        tn.build_space("ptb_small", {"adaptive_cutoffs": entry})


def test_lists_are_choices_only_where_a_list_is_a_value():
    with pytest.raises(ValueError, match="a choice must be a bool, number "
                       "or string"):
        tn.build_space("ptb_small", {"dropout": {"choice": [[0.1], [0.2]]}})


def test_a_language_model_search_refuses_a_zero_carve_before_searching(tmp_path):
    text = tmp_path / "lm.txt"
    text.write_text("a b c d e f\n" * 60)
    with pytest.raises(ValueError, match=r"must be in \(0, 1\) for .*lm.txt.*"
                       r"Received: validation_split=0.0"):
        tn.tune("language_model", str(text), directory=tmp_path / "lm", max_trials=1,
                epochs=1, validation_split=0, verbose=0)
    assert not os.path.exists(tmp_path / "lm" / "tune_config.json")


def test_overwrite_keeps_the_earlier_search_when_the_model_refuses_a_value(
        tmp_path, capsys):
    """--overwrite replaces a search only once a model of the new settings
    has been built: a fixed value only the model checks (cutoffs beyond the
    vocabulary) leaves the earlier search as it was."""
    text = tmp_path / "lm.txt"
    text.write_text("a b c d e f\n" * 60)
    d = tmp_path / "search_dir"
    (d / "search").mkdir(parents=True)
    (d / "search" / "oracle.json").write_text('{"kept": true}')
    (d / "tune_config.json").write_text('{"preset": "language_model"}')
    (d / "trials.csv").write_text("trial,status\n")
    before = {p: p.read_text() for p in d.rglob("*") if p.is_file()}
    assert tn.main(["language_model", "--data", str(text), "--dir", str(d),
                    "--epochs", "1", "--max-trials", "1", "--quiet",
                    "--overwrite", "--fix", "adaptive_cutoffs=[20000]",
                    "--fix", "units=4", "--fix", "embedding_dim=4"]) == 2
    err = capsys.readouterr().err
    assert "adaptive_cutoffs" in err and "Traceback" not in err
    assert {p: p.read_text() for p in d.rglob("*") if p.is_file()} == before


def test_a_language_model_search_caps_a_review_corpus_as_zoo_train_does(
        tmp_path):
    """On a CSV of reviews the fixed vocabulary_size caps the vocabulary
    (the preset's when not fixed), as in `zoo train`."""
    from training.tune.search import _load

    rows = "".join(f"{i},w{i % 30} w{i % 7} common words here\n"
                   for i in range(120))
    corpus = tmp_path / "unsup.csv"
    corpus.write_text("id,text\n" + rows)
    _, capped = _load("language_model", "imdb_lm", str(corpus), 1, 0.1, None, {},
                      {"vocabulary_size": 12})
    data, full = _load("language_model", "imdb_lm", str(corpus), 1, 0.1, None, {}, {})
    assert capped["vocabulary_size"] == 12
    assert full["vocabulary_size"] == len(data.vocab) > 12
    # a text file's vocabulary is not capped: a smaller size is refused
    text = tmp_path / "lm.txt"
    text.write_text("a b c d e f\n" * 60)
    with pytest.raises(ValueError, match="smaller than the data's vocabulary"):
        _load("language_model", "ptb_small", str(text), 1, 0.1, None, {},
              {"vocabulary_size": 3})


def test_a_language_model_search_resumes_only_with_its_vocabulary(tmp_path,
                                                                  capsys):
    text = tmp_path / "lm.txt"
    text.write_text("a b c d e f\n" * 60)
    d = tmp_path / "s"
    argv = ["language_model", "--data", str(text), "--dir", str(d),
            "--max-trials", "1", "--epochs", "1", "--max-steps-per-epoch", "1",
            "--quiet", "--space", _space(tmp_path, {
                "defaults": False, "units": {"choice": [4]}}),
            "--fix", "embedding_dim=4", "--fix", "num_layers=1",
            "--fix", "batch_size=4", "--fix", "bptt=5"]
    assert tn.main(argv) == 0
    config = json.loads((d / "tune_config.json").read_text())
    assert config["vocabulary_size"] == 9  # characters: a-f, " ", "\n", <unk>
    assert tn.main(argv) == 0  # the same corpus resumes
    config["vocabulary_size"] = 20000  # as if the corpus had read otherwise
    (d / "tune_config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert tn.main(argv) == 2
    err = capsys.readouterr().err
    assert "had a vocabulary of 20000, this corpus gives 9" in err


def test_a_choice_of_0_and_1_is_numbers_not_a_boolean():
    import keras_tuner

    from training.tune.search import _declare

    hp = keras_tuner.HyperParameters()
    _declare(hp, "clipnorm", {"choice": [0.0, 1.0]})
    _declare(hp, "init_scale", {"choice": [0, 1]})
    _declare(hp, "layer_norm", {"choice": [False, True]})
    kinds = {p.name: type(p).__name__ for p in hp.space}
    assert kinds == {"clipnorm": "Choice", "init_scale": "Choice",
                     "layer_norm": "Boolean"}
    assert hp.get("clipnorm") == 0.0 and hp.get("init_scale") == 0


def test_a_folder_that_holds_no_search_is_never_replaced(tsv, tmp_path,
                                                          capsys):
    d = tmp_path / "mine"
    (d / "search").mkdir(parents=True)
    (d / "search" / "notes.txt").write_text("not a search")
    argv = ["sentiment_classifier", "--data", tsv, "--dir", str(d),
            "--epochs", "1", "--quiet"] + TINY
    for extra in ([], ["--overwrite"]):
        assert tn.main(argv + extra) == 2
        err = capsys.readouterr().err
        assert "holds no search" in err and "Traceback" not in err
    assert (d / "search" / "notes.txt").read_text() == "not a search"
    assert sorted(os.listdir(d / "search")) == ["notes.txt"]


@pytest.mark.parametrize("stored", ["", "[1, 2]", "{not json"])
def test_a_damaged_search_config_is_a_clear_error(tsv, tmp_path, capsys,
                                                  stored):
    d = tmp_path / "search_dir"
    (d / "search").mkdir(parents=True)
    (d / "search" / "oracle.json").write_text("{}")
    (d / "tune_config.json").write_text(stored)
    argv = ["sentiment_classifier", "--data", tsv, "--dir", str(d),
            "--epochs", "1", "--quiet"] + TINY
    assert tn.main(argv) == 2
    err = capsys.readouterr().err
    assert "tune_config.json" in err and "--overwrite" in err
    assert "Traceback" not in err
    (d / "trials.json").write_text("[]")
    with pytest.raises(ValueError, match="tune_config.json"):
        tn.load_results(str(d))


def _space(tmp_path, space):
    p = tmp_path / "space.json"
    p.write_text(json.dumps(space))
    return str(p)


def test_keras_tuner_state_files_are_written_atomically(tmp_path, monkeypatch):
    # keras-tuner writes oracle.json, trial.json and tuner JSON in place;
    # under the search they are replaced whole, so a write that dies leaves
    # the previous file for the resume.
    import keras_tuner
    from keras_tuner.src import utils as kt_utils
    from keras_tuner.src.engine import trial as trial_module

    from training import atomic
    from training.tune.search import atomic_state_files

    original = kt_utils.save_json
    path = tmp_path / "trial.json"
    first = trial_module.Trial(keras_tuner.HyperParameters(),
                               trial_id="0")
    with atomic_state_files():
        first.save(str(path))
    assert json.loads(path.read_text())["trial_id"] == "0"
    assert kt_utils.save_json is original      # restored afterwards

    def dies(src, dst):
        raise OSError("killed before the rename")

    monkeypatch.setattr(atomic.os, "replace", dies)
    second = trial_module.Trial(keras_tuner.HyperParameters(),
                                trial_id="1")
    with atomic_state_files(), pytest.raises(OSError, match="killed"):
        second.save(str(path))
    assert json.loads(path.read_text())["trial_id"] == "0"
    assert os.listdir(tmp_path) == ["trial.json"]   # no temporary left


def test_trial_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    # keras-tuner's SaveBestEpoch saves a trial's best weights in place
    # (trial_*/checkpoint.weights.h5, which load_model reads); under the
    # search a save replaces the file whole, and one that dies before its
    # rename leaves the previous weights.
    import keras
    import keras_tuner
    import numpy as np
    from keras_tuner.src.engine import tuner_utils

    from training import atomic
    from training.tune.search import atomic_state_files

    original = tuner_utils.SaveBestEpoch._save_model
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = str(tmp_path / "checkpoint.weights.h5")
    callback = tuner_utils.SaveBestEpoch(
        keras_tuner.Objective("val_loss", "min"), path)
    callback.set_model(model)
    first = [np.ones((2, 1), "float32"), np.ones((1,), "float32")]
    model.set_weights(first)
    with atomic_state_files():
        callback.on_epoch_end(0, {"val_loss": 1.0})
    assert tuner_utils.SaveBestEpoch._save_model is original   # restored
    assert callback.filepath == path

    def dies(src, dst):
        raise OSError("killed before the rename")

    monkeypatch.setattr(atomic.os, "replace", dies)
    model.set_weights([np.zeros((2, 1), "float32"),
                       np.zeros((1,), "float32")])
    with atomic_state_files(), pytest.raises(OSError, match="killed"):
        callback.on_epoch_end(1, {"val_loss": 0.5})
    assert callback.filepath == path
    assert os.listdir(tmp_path) == ["checkpoint.weights.h5"]  # no temporary
    model.load_weights(path)
    np.testing.assert_array_equal(model.get_weights()[0], first[0])
    monkeypatch.undo()
    model.set_weights([np.zeros((2, 1), "float32"),
                       np.zeros((1,), "float32")])
    with atomic_state_files():
        callback.on_epoch_end(2, {"val_loss": 0.25})
    model.set_weights(first)
    model.load_weights(path)
    np.testing.assert_array_equal(model.get_weights()[0], 0.0)
