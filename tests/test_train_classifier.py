"""`training.train` / `zoo train` on a tiny classifier: RUN_DIR, config,
clip logging, flags and errors."""

import csv
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest

import training
from training import cli_args, cli_train
from training import run_dir as rd

TINY = {"units": 8, "embedding_dim": 8, "vocabulary_size": 50, "num_layers": 1,
        "max_length": 16}


def write_sentiment_csv(path, n=160, seed=0):
    rng = random.Random(seed)
    pos, neg = ["good", "great", "fine", "lovely"], ["bad", "awful", "poor", "dull"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(n):
            lab = i % 2
            words = rng.choices(pos if lab else neg, k=3) + rng.choices(
                ["film", "movie", "the", "a"], k=3)
            rng.shuffle(words)
            w.writerow([" ".join(words), "pos" if lab else "neg"])
    return str(path)


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    return write_sentiment_csv(tmp_path_factory.mktemp("data") / "reviews.csv")


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_csv):
    out = str(tmp_path_factory.mktemp("runs") / "clf")
    result = training.train("sentiment_classifier", data_csv, out=out, epochs=2,
                            batch_size=16, overrides=TINY, verbose=0,
                            command_line=["zoo", "train", "test"])
    return result


def test_run_dir_contents(run):
    names = set(os.listdir(run.run_dir))
    assert {"config.json", "model.keras", "last.keras", "backup", "history.csv",
            "metrics.json", "curves.png", "tensorboard"} <= names
    assert "vocab.txt" not in names  # classifiers keep their vocabulary inside
    assert not [n for n in names if n.startswith(".")]  # no temp files left
    assert os.listdir(os.path.join(run.run_dir, "tensorboard"))
    with open(os.path.join(run.run_dir, "curves.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_config_fields(run):
    cfg = rd.read_config(run.run_dir)
    assert cfg["preset"] == "sentiment_classifier"
    assert cfg["family"] == "sentiment_classifier"
    assert cfg["model_config"]["units"] == 8
    assert cfg["schema"] == rd.SCHEMA_VERSION
    assert cfg["model_config"]["class_names"] == ["neg", "pos"]
    # Each fact once: the class names live in the model config only.
    assert "class_names" not in cfg and "class_names" not in cfg["data"]
    assert rd.open_run(run.run_dir).class_names == ["neg", "pos"]
    t = cfg["training"]
    assert t["optimizer"] == "adam" and t["epochs"] == 2 and t["batch_size"] == 16
    assert t["clipnorm"] == 1.0 and t["global_clipnorm"] is None  # on by default
    assert t["global_batch_size"] == 16 and t["replicas"] == 1
    assert cfg["data"]["fingerprint"].startswith("sha256:")
    assert cfg["data"]["validation"]["fraction"] == 0.1 and cfg["seed"] == 1337
    assert "seed=1337" in cfg["data"]["description"]
    assert cfg["seed"] == 1337
    assert set(cfg["versions"]) >= {"zoo", "keras", "tensorflow"}
    assert cfg["command_line"] == ["zoo", "train", "test"]


def test_history_and_metrics(run):
    rows = rd.read_history(os.path.join(run.run_dir, "history.csv"))
    assert [r["epoch"] for r in rows] == [0, 1]
    for r in rows:
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "grad_norm",
                    "clipped_fraction", "learning_rate"):
            assert key in r, key
        assert r["grad_norm"] > 0
    with open(os.path.join(run.run_dir, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["status"] == "completed"
    assert metrics["validation"]["num_examples"] == 16
    assert 0.0 <= metrics["validation"]["accuracy"] <= 1.0
    best = metrics["best_epoch"]
    assert metrics["validation"]["accuracy"] == pytest.approx(
        rows[best]["val_accuracy"], abs=1e-6)


def test_load_run(run):
    loaded = rd.load_run(run.run_dir, load_last=True)
    assert loaded.family == "sentiment_classifier"
    assert loaded.class_names == ["neg", "pos"]
    probs = loaded.model.predict(np.array(["a good film"], dtype=object), verbose=0)
    assert probs.shape == (1, 2)
    assert loaded.last is not None and len(loaded.history) == 2


def test_load_run_errors(tmp_path, run):
    with pytest.raises(rd.RunDirError, match="does not exist"):
        rd.load_run(tmp_path / "nope")
    with pytest.raises(rd.RunDirError, match="no config.json"):
        rd.load_run(tmp_path)
    os.makedirs(tmp_path / "r")
    with open(tmp_path / "r" / "config.json", "w") as f:
        json.dump({"family": "sentiment_classifier"}, f)
    with pytest.raises(rd.RunDirError, match="model.keras: missing"):
        rd.load_run(tmp_path / "r")


@pytest.mark.parametrize("kwargs,expected", [
    ({"clipnorm": 1e-7}, 1.0),
    ({"global_clipnorm": 1e-7}, 1.0),
    ({"global_clipnorm": 1e7}, 0.0),
])
def test_clip_logging(tmp_path, data_csv, kwargs, expected):
    result = training.train("sentiment_classifier", data_csv, out=tmp_path / "r",
                            epochs=1, batch_size=16, overrides=TINY, verbose=0,
                            max_steps_per_epoch=2, **kwargs)
    row = result.history[0]
    assert row["clipped_fraction"] == expected
    assert row["grad_norm"] > 0
    assert os.listdir(tmp_path / "r" / "tensorboard")


def test_existing_run_dir_is_not_overwritten(run, data_csv, capsys):
    code = cli_train.main(["sentiment_classifier", "--data", data_csv,
                           "--out", run.run_dir, "--epochs", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "--resume" in err and "--overwrite" in err
    assert "Traceback" not in err


def _fake_run(folder):
    """A run directory by its marks: config.json and a checkpoint."""
    folder.mkdir()
    (folder / rd.CONFIG).write_text(json.dumps(
        {"family": "language_model", "model_config": {"level": "word"}}))
    (folder / "model.keras").write_text("the old run's weights")
    return folder


@pytest.mark.parametrize("argv", [
    ["--data", "no_such_folder/reviews.csv"],                 # a typo in --data
    ["--data", "BAD"],                                        # a CSV without labels
    ["--data", "DATA", "--set", "class_names=neg,pos"],      # a bad model argument
    ["--data", "DATA", "--recipe", "lr_decay=fast"],         # a bad training setting
    ["--data", "DATA", "--set", "units=0"],                  # fails when the model is built
])
def test_overwrite_keeps_the_old_run_when_the_new_one_cannot_start(
        tmp_path, data_csv, capsys, argv):
    old = _fake_run(tmp_path / "run")
    bad = tmp_path / "bad.csv"
    bad.write_text("text,stars\nfine film,5\n")
    argv = [{"DATA": data_csv, "BAD": str(bad)}.get(a, a) for a in argv]
    code = cli_train.main(["sentiment_classifier", *argv, "--out", str(old),
                           "--overwrite", "--epochs", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()
    assert sorted(os.listdir(old)) == [rd.CONFIG, "model.keras"]
    assert (old / "model.keras").read_text() == "the old run's weights"


def test_overwrite_replaces_a_run_once_the_new_one_starts(tmp_path, data_csv):
    old = _fake_run(tmp_path / "run")
    training.train("sentiment_classifier", data_csv, out=old, epochs=1,
                   batch_size=16, overrides=TINY, verbose=0,
                   max_steps_per_epoch=1, overwrite=True)
    with open(old / rd.CONFIG) as f:
        assert json.load(f)["preset"] == "sentiment_classifier"
    probs = rd.load_run(old).model.predict(np.array(["good film"], dtype=object),
                                           verbose=0)
    assert probs.shape == (1, 2)
    # nothing left beside it: the old run was moved aside, then deleted
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_overwrite_refuses_a_folder_whose_config_is_not_a_runs(
        tmp_path, data_csv, capsys):
    folder = tmp_path / "project"
    (folder / "src").mkdir(parents=True)
    (folder / "config.json").write_text('{"lr": 0.1}')
    (folder / "src" / "main.py").write_text("keep me")
    code = cli_train.main(["sentiment_classifier", "--data", data_csv, "--out",
                           str(folder), "--overwrite", "--epochs", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot be read as a run's" in err and "Traceback" not in err
    assert (folder / "src" / "main.py").read_text() == "keep me"
    assert (folder / "config.json").read_text() == '{"lr": 0.1}'
    # a run written by a newer zoo is kept too, and the reason says so
    newer = '{"schema": 99, "family": "sentiment_classifier"}'
    (folder / "config.json").write_text(newer)
    code = cli_train.main(["sentiment_classifier", "--data", data_csv, "--out",
                           str(folder), "--overwrite", "--epochs", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "written by a newer RNN Zoo (config schema 99" in err
    assert "will not delete this folder" in err
    assert (folder / "config.json").read_text() == newer


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path, data_csv, capsys,
                                                      monkeypatch):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "thesis.tex").write_text("keep me")
    code = cli_train.main(["sentiment_classifier", "--data", data_csv, "--out",
                           str(folder), "--overwrite", "--epochs", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "not a run directory" in err and "Traceback" not in err
    assert (folder / "thesis.tex").read_text() == "keep me"
    # nor the current directory, even when it is a run; nor a link to a run
    run = _fake_run(tmp_path / "here")
    link = tmp_path / "link"
    link.symlink_to(run, target_is_directory=True)
    monkeypatch.chdir(run)
    for replace in (lambda d: rd.prepare(d, resume=False, overwrite=True),
                    lambda d: rd.start_new(d, overwrite=True)):
        with pytest.raises(rd.RunDirError, match="current directory"):
            replace(".")
        with pytest.raises(rd.RunDirError, match="current directory"):
            replace(str(tmp_path))
        with pytest.raises(rd.RunDirError, match="symbolic link"):
            replace(str(link))
    # a run written into RUN_DIR after `prepare` saw it empty is not replaced
    # without --overwrite
    with pytest.raises(rd.RunDirError, match="another run wrote there"):
        rd.start_new(str(run), overwrite=False)
    assert sorted(os.listdir(run)) == [rd.CONFIG, "model.keras"]
    assert sorted(os.listdir(tmp_path)) == ["here", "link", "notes"]


def test_start_new_puts_the_old_run_back_when_it_cannot_make_the_folder(
        tmp_path, monkeypatch):
    old = _fake_run(tmp_path / "run")
    real = os.makedirs

    def fail(path, *a, **k):
        if os.fspath(path) == str(old):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(rd.os, "makedirs", fail)
    with pytest.raises(PermissionError):
        rd.start_new(str(old), overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["run"]
    assert (old / "model.keras").read_text() == "the old run's weights"


def test_data_arguments_are_checked_before_loading(tmp_path, data_csv, capsys):
    for value in ("5", "neg,pos", '["pos"]', '["neg", ""]'):
        code = cli_train.main(["sentiment_classifier", "--data", data_csv, "--out",
                               str(tmp_path / "r"), "--set", f"class_names={value}"])
        assert code == 2
        err = capsys.readouterr().err
        assert "`class_names` must be a list" in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "r")


def test_clip_flags_are_mutually_exclusive(tmp_path, data_csv, capsys):
    with pytest.raises(SystemExit) as e:
        cli_train.main(["sentiment_classifier", "--data", data_csv, "--out",
                        str(tmp_path), "--clipnorm", "1", "--global-clipnorm", "1"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--clipnorm" in err and "--global-clipnorm" in err
    with pytest.raises(ValueError, match="mutually exclusive"):
        training.train("sentiment_classifier", data_csv, out=tmp_path / "x",
                       clipnorm=1.0, global_clipnorm=1.0)


def test_unknown_preset_and_override(tmp_path, data_csv, capsys):
    assert cli_train.main(["no_such_preset", "--data", data_csv,
                           "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "Valid presets" in err and "imdb_bilstm" in err and "Traceback" not in err
    assert cli_train.main(["sentiment_classifier", "--data", data_csv, "--out",
                           str(tmp_path / "b"), "--set", "bogus=1"]) == 2
    err = capsys.readouterr().err
    assert "bogus" in err and "Valid arguments" in err
    assert not os.path.exists(tmp_path / "a")


def test_missing_data_names_flag(tmp_path, capsys):
    assert cli_train.main(["sentiment_classifier", "--data", str(tmp_path / "x.csv"),
                           "--out", str(tmp_path / "r")]) == 2
    assert "--data" in capsys.readouterr().err


def test_offline_tfds_fails_fast(tmp_path, monkeypatch, capsys):
    pytest.importorskip("tensorflow_datasets")
    from training.data import sources

    monkeypatch.setattr(sources, "host_reachable", lambda *a: False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    code = cli_train.main(["imdb_bilstm", "--data", "tfds:imdb_reviews",
                           "--out", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err
    assert "--data" in err and "local path" in err


def test_output_file_is_checked_and_expanded(tmp_path, monkeypatch):
    import argparse

    monkeypatch.setenv("HOME", str(tmp_path))
    assert cli_args.output_file("~/e.json") == str(tmp_path / "e.json")
    assert cli_args.output_file(str(tmp_path / "new" / "e.json")).endswith("e.json")
    for bad in (str(tmp_path), str(tmp_path / "new") + "/", " "):
        with pytest.raises(argparse.ArgumentTypeError):
            cli_args.output_file(bad)
    # a run's own files are not output files
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    for name in ("metrics.json", "config.json", "model.keras"):
        with pytest.raises(argparse.ArgumentTypeError, match="file of the run"):
            cli_args.output_file(str(tmp_path / "run" / name))
    assert cli_args.output_file(str(tmp_path / "run" / "test.json"))
    assert cli_args.output_file(str(tmp_path / "metrics.json"))  # not a run


def test_a_data_error_is_put_on_the_flag_of_its_file(tmp_path, data_csv, capsys):
    from training.data import DataError

    flag = cli_args.data_flag
    assert flag(DataError("x", path=tmp_path / "ptb" / "a.valid.txt"), str(tmp_path / "ptb")) \
        == "--data"
    assert flag(DataError("x", path="tfds:imdb_reviews[train]"), "tfds:imdb_reviews") == "--data"
    assert flag(DataError("x"), "d.csv") == "--data"
    assert flag(DataError("x", path=tmp_path / "glove.txt"), str(tmp_path / "ptb")) is None
    assert flag(DataError("x", path=tmp_path / "imdb_dev.csv"), str(tmp_path / "imdb")) is None
    assert flag(DataError("x", path=tmp_path / "d.csv"), str(tmp_path / "d.csv")) == "--data"
    glove = tmp_path / "glove.txt"
    glove.write_text("the 1 2\n")
    code = cli_train.main(["sentiment_classifier", "--data", data_csv, "--out",
                           str(tmp_path / "r"), "--embeddings", str(glove), "--set", "units=4"])
    err = capsys.readouterr().err
    assert code == 2 and f"zoo train: error: {glove}, line 1: expected a word and" in err


def test_set_values_are_parsed():
    assert cli_args.key_value("units=[8, 16]") == ("units", [8, 16])
    assert cli_args.key_value("bidirectional=false") == ("bidirectional", False)
    assert cli_args.key_value("cell=gru") == ("cell", "gru")
    assert cli_args.key_value("dropout=0.5") == ("dropout", 0.5)
    assert cli_args.key_value("connection=none") == ("connection", "none")
    assert cli_args.key_value("max_length=None") == ("max_length", None)
    assert cli_args.key_value("max_length=null") == ("max_length", None)


def test_recipe_null_and_non_finite_clipping_are_refused(data_csv, tmp_path,
                                                        capsys):
    out = tmp_path / "r"
    for setting in ("lr_decay=null", "weight_average=None"):
        code = cli_train.main(["sentiment_classifier", "--data", data_csv,
                               "--out", str(out), "--recipe", setting])
        err = capsys.readouterr().err
        key = setting.split("=")[0]
        assert code == 2 and f"Received: {key}=None" in err, err
        assert "keeps the preset's value" in err
    assert not out.exists()
    for flag in ("--clipnorm", "--global-clipnorm"):
        for value in ("nan", "inf", "-1"):
            with pytest.raises(SystemExit) as e:
                cli_train.main(["sentiment_classifier", "--data", data_csv,
                                "--out", str(out), flag, value])
            assert e.value.code == 2 and flag in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_checkpoints_load_in_fresh_process_with_only_import_zoo(run):
    code = (
        "import sys, numpy as np, keras, zoo\n"
        "for name in ('model.keras', 'last.keras'):\n"
        "    m = keras.saving.load_model(sys.argv[1] + '/' + name)\n"
        "    p = m.predict(np.array(['a good film', 'bad'], dtype=object), verbose=0)\n"
        "    assert p.shape == (2, 2), p.shape\n"
        "    assert m.class_names == ['neg', 'pos']\n"
        "print('OK')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, run.run_dir],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK" in proc.stdout


def test_lr_decay_applies_to_classifiers(tmp_path, data_csv):
    result = training.train("sentiment_classifier", data_csv, out=str(tmp_path / "r"),
                            epochs=3, batch_size=16, overrides=TINY, verbose=0,
                            learning_rate=1e-2, lr_decay=0.5, lr_decay_after=1)
    rates = [r["learning_rate"] for r in result.history]
    assert rates == pytest.approx([1e-2, 5e-3, 2.5e-3], rel=1e-5)
    t = rd.read_config(result.run_dir)["training"]
    assert t["lr_decay"] == 0.5 and t["lr_decay_after"] == 1


def test_bad_schedule_flags_fail_before_run_dir_is_made(tmp_path, data_csv, capsys):
    out = tmp_path / "r"
    assert cli_train.main(["sentiment_classifier", "--data", data_csv, "--out",
                           str(out), "--bptt", "20"]) == 2
    assert "`bptt` applies to language models only" in capsys.readouterr().err
    assert cli_train.main(["sentiment_classifier", "--data", data_csv, "--out",
                           str(out), "--lr-decay", "1.5"]) == 2
    assert "`lr_decay` must be in (0, 1]" in capsys.readouterr().err
    assert not out.exists()
