"""`training.evaluate` / `zoo evaluate` on tiny runs."""

import json
import math
import os
import sys

import pytest

import training
from training import cli_evaluate
from training import run_dir as rd

sys.path.insert(0, os.path.dirname(__file__))
from test_train_classifier import TINY as TINY_CLF  # noqa: E402
from test_train_classifier import write_sentiment_csv  # noqa: E402


def test_evaluate_out_is_checked_before_the_evaluation(clf_run, tmp_path, capsys):
    run_dir, data = clf_run
    (tmp_path / "a_file").write_text("x")
    for out, message in ((tmp_path, "is a folder"),
                         (tmp_path / "a_file" / "eval.json", "is a file, not a folder")):
        with pytest.raises(SystemExit) as e:
            cli_evaluate.main([run_dir, "--data", data, "--out", str(out)])
        assert e.value.code == 2 and message in capsys.readouterr().err
    # a folder that does not exist yet is made, as before
    out = tmp_path / "new" / "eval.json"
    assert cli_evaluate.main([run_dir, "--data", data, "--max-steps", "1",
                              "--out", str(out)]) == 0
    assert json.loads(out.read_text())["num_examples"] > 0


def test_evaluate_classifier_cli(clf_run, tmp_path, capsys):
    run_dir, data = clf_run
    out = tmp_path / "eval.json"
    assert cli_evaluate.main([run_dir, "--data", data, "--split", "validation",
                              "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    with open(out) as f:
        written = json.load(f)
    assert printed == written
    assert written["num_examples"] == 16  # the same stratified carve as training
    assert 0 <= written["accuracy"] <= 1 and written["loss"] > 0
    assert written["same_data_as_training"] is True
    metrics = rd.load_run(run_dir, load_model=False).metrics
    assert written["accuracy"] == pytest.approx(metrics["validation"]["accuracy"])
    assert written["loss"] == pytest.approx(metrics["validation"]["loss"], rel=1e-5)


def test_evaluate_lm_exact_batch_one(lm_run):
    run_dir, data = lm_run
    result = training.evaluate(run_dir, data, split="test")
    assert result["batch_size"] == 1
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]))
    # batch 1: every token of the split but the first is predicted once
    with open(os.path.join(data, "toy.test.txt")) as f:
        n_tokens = sum(len(line.split()) + 1 for line in f)
    assert result["num_tokens"] == n_tokens - 1
    wide = training.evaluate(run_dir, data, split="test", batch_size=4)
    assert wide["num_tokens"] < result["num_tokens"]
    assert wide["perplexity"] == pytest.approx(result["perplexity"], rel=0.2)


def test_evaluate_errors(lm_run, tmp_path, capsys):
    run_dir, data = lm_run
    assert cli_evaluate.main([str(tmp_path / "missing"), "--data", data]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli_evaluate.main([run_dir, "--data", str(tmp_path / "nope")]) == 2
    assert "--data" in capsys.readouterr().err


def test_a_batch_size_beyond_the_tokens_is_refused_before_the_copy(
        lm_run, capsys, monkeypatch):
    """The stateful copy's states take `batch_size` rows: a huge
    --batch-size is refused before it is made (it would run out of memory)."""
    from zoo.models.language_model import LanguageModel

    def copied(self, **options):
        raise AssertionError(f"a stateful copy was made: {options}")

    monkeypatch.setattr(LanguageModel, "with_options", copied)
    run_dir, data = lm_run
    assert cli_evaluate.main([run_dir, "--data", data, "--split", "test",
                              "--batch-size", "100000000"]) == 2
    err = capsys.readouterr().err
    assert "too few for batch_size=100000000" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def clf_seeds(tmp_path_factory):
    """Two classifier runs of different seeds on one carve (`validation_seed`),
    and a third whose carve has another seed."""
    d = tmp_path_factory.mktemp("ensemble")
    data = write_sentiment_csv(d / "reviews.csv")
    runs = {}
    for name, seed, carve in (("a", 1, 7), ("b", 2, 7), ("other_carve", 3, 8)):
        training.train("sentiment_classifier", data, out=d / name, epochs=1,
                       batch_size=16, overrides=TINY_CLF, verbose=0, seed=seed,
                       validation_seed=carve)
        runs[name] = str(d / name)
    return runs, data


def test_ensemble_averages_the_members_probabilities(clf_seeds, tmp_path, capsys):
    import numpy as np

    from training.data import load_text_classification

    runs, data = clf_seeds
    out = tmp_path / "ensemble.json"
    assert cli_evaluate.main([runs["a"], runs["b"], "--data", data,
                              "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    with open(out) as f:
        assert json.load(f) == printed
    # Independently: the carve of seed 7, each saved model's predict, numpy.
    part = load_text_classification(data, validation_split=0.1, seed=7).validation
    probs = [np.asarray(rd.open_run(runs[k]).load_model().predict(
        np.array(part.texts, dtype=object), verbose=0), dtype=np.float64)
        for k in ("a", "b")]
    labels = np.asarray(part.labels)
    mean = (probs[0] + probs[1]) / 2
    assert printed["num_examples"] == len(labels) == 16
    assert printed["accuracy"] == pytest.approx(np.mean(mean.argmax(-1) == labels))
    assert printed["loss"] == pytest.approx(
        -np.mean(np.log(mean[np.arange(len(labels)), labels])), rel=1e-5)
    for member, p in zip(printed["members"], probs):
        assert member["accuracy"] == pytest.approx(np.mean(p.argmax(-1) == labels))
        assert member["same_data_as_training"] is True
    assert [m["run_dir"] for m in printed["members"]] == [runs["a"], runs["b"]]
    # The two seeds trained different models: the mean is not one of them.
    assert not np.allclose(probs[0], probs[1])
    # A member's own figure is what `zoo evaluate` gives that run alone.
    alone = training.evaluate(runs["b"], data)
    assert printed["members"][1]["accuracy"] == pytest.approx(alone["accuracy"])


def test_ensemble_refuses_other_carves_families_and_single_runs(clf_seeds, lm_run):
    runs, data = clf_seeds
    with pytest.raises(ValueError, match="carved its validation split.*--validation-seed"):
        training.evaluate_ensemble([runs["a"], runs["other_carve"]], data)
    with pytest.raises(ValueError, match="language_model run"):
        training.evaluate_ensemble([runs["a"], lm_run[0]], data)
    with pytest.raises(ValueError, match="two or more"):
        training.evaluate_ensemble([runs["a"]], data)


def test_ensemble_members_without_class_names_are_a_clear_error(
        clf_seeds, tmp_path, capsys):
    """A hand-edited config.json that lost its class names (or holds them
    as a string) is a RunDirError naming the file, not a TypeError."""
    import shutil

    runs, data = clf_seeds
    member = tmp_path / "member"
    shutil.copytree(runs["b"], member)
    config = json.loads((member / rd.CONFIG).read_text())
    for value, match in ((None, "records no class names"),
                         ("neg,pos", "class_names must be a list of strings")):
        config["model_config"]["class_names"] = value
        if value is None:
            del config["model_config"]["class_names"]
        (member / rd.CONFIG).write_text(json.dumps(config))
        with pytest.raises(rd.RunDirError, match=match):
            training.evaluate_ensemble([runs["a"], str(member)], data)
        assert cli_evaluate.main([runs["a"], str(member), "--data", data]) == 2
        err = capsys.readouterr().err
        assert match in err and "Traceback" not in err


def test_ensemble_cli_errors(clf_seeds, tmp_path, capsys):
    runs, data = clf_seeds
    assert cli_evaluate.main([runs["a"], runs["other_carve"], "--data", data]) == 2
    assert "--validation-seed" in capsys.readouterr().err
    assert cli_evaluate.main([runs["a"], str(tmp_path / "missing"), "--data", data]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_damaged_checkpoint_is_a_clear_error(clf_run, tmp_path, capsys,
                                               monkeypatch):
    import shutil

    run_dir, data = clf_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    model = copy / "model.keras"
    model.write_bytes(model.read_bytes()[:200])  # truncated
    assert cli_evaluate.main([str(copy), "--data", data, "--max-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "model.keras: cannot load this checkpoint" in err
    assert "--checkpoint last" in err and "Traceback" not in err
    assert cli_evaluate.main([str(copy), "--data", data, "--max-steps", "1",
                              "--checkpoint", "last"]) == 0
    # a checkpoint that loads but that this version refuses is not "damaged"
    # (Keras raises ValueError, or TypeError for a class it cannot build)
    import keras

    for error in (ValueError, TypeError):
        def refuse(*a, error=error, **k):
            raise error("Could not locate class 'Gone'")

        monkeypatch.setattr(keras.saving, "load_model", refuse)
        with pytest.raises(rd.RunDirError) as e:
            rd.open_run(str(copy)).load_model("last")
        assert "this version of the zoo cannot load" in str(e.value)
        assert error.__name__ in str(e.value) and "Gone" in str(e.value)
        assert "'best' checkpoint" in str(e.value)


def test_a_checkpoint_from_another_zoo_version_is_a_clear_error(
        clf_run, tmp_path, capsys):
    """A whole `.keras` file whose layer config this version's classes do
    not take (a newer zoo's extra argument): Keras raises TypeError, which
    is reported, not a traceback."""
    import json
    import shutil
    import zipfile

    run_dir, data = clf_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    model = copy / "model.keras"
    with zipfile.ZipFile(model) as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    edited = []

    def add_argument(node):
        if isinstance(node, dict):
            if (str(node.get("module", "")).startswith("zoo")
                    and isinstance(node.get("config"), dict) and not edited):
                node["config"]["argument_from_the_future"] = 1
                edited.append(node["class_name"])
            for v in node.values():
                add_argument(v)
        elif isinstance(node, list):
            for v in node:
                add_argument(v)

    add_argument(config)
    assert edited, "no zoo class in the saved config"
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(model, "w") as z:
        for name, data_bytes in files.items():
            z.writestr(name, data_bytes)
    assert cli_evaluate.main([str(copy), "--data", data, "--max-steps",
                              "1"]) == 2
    err = capsys.readouterr().err
    assert "this version of the zoo cannot load this checkpoint" in err
    assert "Traceback" not in err


def test_a_checkpoint_file_given_as_the_run_is_a_clear_error(
        clf_run, capsys):
    run_dir, data = clf_run
    assert cli_evaluate.main([os.path.join(run_dir, "model.keras"),
                              "--data", data]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a run directory" in err
    assert f": {run_dir}" in err


@pytest.mark.slow
def test_an_aclimdb_run_evaluates_as_the_data_it_trained_on(tmp_path):
    """Training reads IMDB's test reviews too; evaluation reads the same
    splits, so the fingerprints agree on every split. A folder without
    test/ still trains."""
    import shutil

    from test_data_sentiment import make_aclimdb

    root = str(make_aclimdb(tmp_path, n=8) / "aclImdb")
    run = str(tmp_path / "run")
    training.train("sentiment_classifier", root, out=run, epochs=1,
                   batch_size=8, overrides=TINY_CLF, verbose=0,
                   validation_split=0.25)
    for split in ("validation", "test", "train"):
        assert training.evaluate(run, root, split=split,
                                 max_steps=1)["same_data_as_training"], split
    shutil.rmtree(os.path.join(root, "test"))
    other = str(tmp_path / "run2")
    training.train("sentiment_classifier", root, out=other, epochs=1,
                   batch_size=8, overrides=TINY_CLF, verbose=0,
                   validation_split=0.25)
    assert training.evaluate(other, root)["same_data_as_training"] is True
    # the test split does not need a --validation-data file that has moved
    dev = tmp_path / "dev.csv"
    dev.write_text("text,label\n" + "".join(
        f"dev review {i} {'nice' if i % 2 else 'awful'},{'pos' if i % 2 else 'neg'}\n"
        for i in range(6)))
    third = str(tmp_path / "run3")
    training.train("sentiment_classifier", root, out=third, epochs=1,
                   batch_size=8, overrides=TINY_CLF, verbose=0,
                   validation_data=str(dev))
    assert training.evaluate(third, root, split="validation")[
        "same_data_as_training"] is True
    dev.rename(tmp_path / "moved.csv")
    moved = training.evaluate(third, root, split="train")
    assert moved["same_data_as_training"] is None
    assert "dev.csv (the run's --validation-data) is not there" in moved["not_compared"]


def test_relative_paths_are_recorded_absolute(tmp_path, monkeypatch):
    # A run trained with paths typed relative to one directory is evaluated
    # from another: its --validation-data is found where it was.
    from training.data.sources import recorded_source

    work = tmp_path / "work"
    work.mkdir()
    write_sentiment_csv(str(work / "train.csv"), n=24)
    (work / "dev.csv").write_text("text,label\n" + "".join(
        f"dev review {i} {'nice' if i % 2 else 'awful'},"
        f"{'pos' if i % 2 else 'neg'}\n" for i in range(6)))
    monkeypatch.chdir(work)
    training.train("sentiment_classifier", "train.csv", out="run", epochs=1,
                   batch_size=8, overrides=TINY_CLF, verbose=0,
                   validation_data="dev.csv")
    data = rd.read_config(str(work / "run"))["data"]
    assert data["source"] == str(work / "train.csv")
    assert data["validation"]["validation_data"] == str(work / "dev.csv")
    monkeypatch.chdir(tmp_path)
    result = training.evaluate(str(work / "run"), str(work / "train.csv"),
                               split="validation")
    assert result["same_data_as_training"] is True
    assert result["num_examples"] == 6
    assert recorded_source("tfds:glue/sst2") == "tfds:glue/sst2"
