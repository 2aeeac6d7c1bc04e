"""RUN_DIR: the typed run object, config schema 2, and run directories
written before it (tests/fixtures/v1_runs, from the code at 44ac7fb)."""

import json
import os
import pathlib
import re
import shutil

import numpy as np
import pytest

import training
from training import run_dir as rd
from training.data import Vocabulary

V1 = pathlib.Path(__file__).parent / "fixtures" / "v1_runs"
DATA = {"lm_word": V1 / "data" / "tinyptb",
        "lm_char": V1 / "data" / "tiny_chars.txt",
        "classifier": V1 / "data" / "tiny_sentiment.tsv"}


def test_v1_configs_are_read_as_schema_2():
    word = rd.open_run(V1 / "lm_word")
    assert word.config["schema"] == rd.SCHEMA_VERSION
    assert word.config["upgraded_from_schema"] == 1
    assert word.family == "language_model" and word.level == "word"
    assert "level" not in word.config and "level" not in word.data
    assert "seed" not in word.data["validation"] and word.carve.seed == 1337
    assert word.class_names is None
    char = rd.open_run(V1 / "lm_char")
    assert char.level == "char" and char.carve.fraction == 0.1
    clf = rd.open_run(V1 / "classifier")
    assert clf.family == "sentiment_classifier" and clf.level is None
    assert clf.class_names == ["0", "1"]
    assert "class_names" not in clf.config and "class_names" not in clf.data
    # The files on disk are left as they were.
    raw = json.loads((V1 / "classifier" / "config.json").read_text())
    assert "schema" not in raw and raw["class_names"] == ["0", "1"]


def test_v1_char_vocabulary_keeps_newline_and_backslash():
    vocab = rd.open_run(V1 / "lm_char").vocabulary
    assert "\n" in vocab and "\\" in vocab
    assert vocab.count_unknown(list("to be\nor not\\\n")) == 0
    text = (V1 / "data" / "tiny_chars.txt").read_text()
    assert vocab.count_unknown(list(text)) == 0


def test_diagnose_text_on_a_char_run_maps_newlines_to_their_own_id(tmp_path):
    # The old diagnostics loader read vocab.txt raw, so the escaped "\n"
    # token never matched and every newline of --text became <unk>.
    from training.lab import diagnose

    text = tmp_path / "text.txt"
    text.write_text("to be\nor not\n" * 30)
    result = diagnose.diagnose_run(str(V1 / "lm_char"), length=20,
                                   batch_size=2, text=str(text),
                                   out=str(tmp_path / "out"))
    assert result["text_tokens"] == {"count": 13 * 30, "unknown": 0}


@pytest.mark.parametrize("name", ["lm_word", "lm_char", "classifier"])
def test_v1_runs_evaluate(name):
    # The batch size of the run's own final metrics, for the same figure.
    stored = json.loads((V1 / name / "metrics.json").read_text())["validation"]
    result = training.evaluate(str(V1 / name), str(DATA[name]),
                               split="validation",
                               batch_size=stored["batch_size"])
    assert result["same_data_as_training"] is True
    assert result["loss"] == pytest.approx(stored["loss"], rel=1e-4)


@pytest.mark.slow
def test_v1_runs_export_and_serve_their_signatures(tmp_path):
    import tensorflow as tf

    from serving import export as ex

    models = tmp_path / "models"
    for name in ("lm_word", "lm_char", "classifier"):
        result = ex.export(str(V1 / name), str(models), name)
        assert result.version == 1
        assert result.card["run_config_schema"] == rd.SCHEMA_VERSION
        loaded = tf.saved_model.load(result.path)
        fn = loaded.signatures["serving_default"]
        out = fn(text=tf.constant(["to be or not", ""]))
        values = {k: v.numpy() for k, v in out.items()}
        if name == "classifier":
            np.testing.assert_allclose(values["probabilities"].sum(-1), 1.0,
                                       rtol=1e-5)
        else:
            assert np.all(np.isfinite(values["log_prob"]))


def test_v1_language_model_resumes(tmp_path):
    out = tmp_path / "lm_word"
    shutil.copytree(V1 / "lm_word", out)
    result = training.train("ptb_small", str(DATA["lm_word"]), out=str(out),
                            epochs=2, resume=True, verbose=0)
    assert [r["epoch"] for r in result.history] == [0, 1]
    config = json.loads((out / "config.json").read_text())
    assert config["schema"] == rd.SCHEMA_VERSION  # rewritten in the new form
    assert config["resumed"] and config["training"]["epochs"] == 2
    assert rd.open_run(out).level == "word"


def test_new_configs_store_each_fact_once(tmp_path):
    config = rd.new_config(
        preset="p", family="language_model", description=None, overrides={},
        model_config={"level": "char"}, training={"epochs": 1},
        data={"source": "x", "level": "char", "vocab_size": 5,
              "fingerprint": "sha256:0"},
        validation={"how": "tail", "fraction": 0.1}, seed=3,
        command_line=["zoo"])
    assert config["schema"] == rd.SCHEMA_VERSION
    assert "level" not in config["data"] and "vocab_size" not in config["data"]
    rd.write_config(tmp_path, config)
    run = rd.open_run(tmp_path)
    assert run.level == "char" and run.carve == rd.Carve("tail", 0.1, 3)


@pytest.mark.parametrize("section, key, value", [
    ("training", "epochs", "10"), ("training", "epochs", -1),
    ("data", "source", ["a.csv"]), ("model_config", "vocabulary_size", "big"),
])
def test_damaged_config_fields_are_clear_errors(tmp_path, section, key, value):
    config = {"family": "language_model", "model_config": {"level": "word"}}
    config.setdefault(section, {})[key] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(rd.RunDirError, match=rf"{section}.{key} must be"):
        rd.open_run(tmp_path)


def test_history_epochs_are_read_as_integers_or_refused(tmp_path):
    f = tmp_path / "history.csv"
    f.write_text("epoch,loss\n0,1.5\n1.0,1.25\n")   # 1.0 as a spreadsheet saves it
    assert rd.read_history(str(f)) == [{"epoch": 0, "loss": 1.5},
                                       {"epoch": 1, "loss": 1.25}]
    for bad in ("one", "1.5", "-1", "nan"):
        f.write_text(f"epoch,loss\n0,1.5\n{bad},1.25\n")
        with pytest.raises(rd.RunDirError, match=r"line 3: the epoch must be"):
            rd.read_history(str(f))
    f.write_bytes(b"epoch,loss\n0,\xe9\n")
    with pytest.raises(rd.RunDirError, match="cannot be read as CSV"):
        rd.read_history(str(f))


def test_bad_run_directories_are_clear_errors(tmp_path):
    with pytest.raises(rd.RunDirError, match="does not exist"):
        rd.open_run(tmp_path / "nope")
    with pytest.raises(rd.RunDirError, match="not a run directory"):
        rd.open_run(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(rd.RunDirError, match="cannot be read as JSON"):
        rd.open_run(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(
        {"schema": rd.SCHEMA_VERSION + 1, "family": "language_model"}))
    with pytest.raises(rd.RunDirError, match="newer RNN Zoo"):
        rd.open_run(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"family": "robot"}))
    with pytest.raises(rd.RunDirError, match="unknown model family"):
        rd.open_run(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(
        {"family": "language_model", "model_config": {"level": "word"}}))
    run = rd.open_run(tmp_path)
    with pytest.raises(rd.RunDirError, match="model.keras: missing"):
        run.load_model()
    with pytest.raises(rd.RunDirError, match="vocab.txt: missing"):
        run.vocabulary  # noqa: B018
    with pytest.raises(rd.RunDirError, match="'best' or 'last'"):
        run.checkpoint_path("middle")


def test_vocabulary_round_trips_tricky_tokens(tmp_path):
    tokens = ["a", "\n", "\\", "\\n", "\r", "\u2028", "\x85", "x y"]
    Vocabulary(tokens).save(tmp_path / "vocab.txt")
    assert Vocabulary.load(tmp_path / "vocab.txt").tokens == tokens + ["<unk>"]
    assert os.path.getsize(tmp_path / "vocab.txt") > 0


@pytest.mark.parametrize("edit, message", [
    ({"data": ["x"]}, "data must be a JSON object"),
    ({"training": "sgd"}, "training must be a JSON object"),
    ({"seed": "7"}, "seed must be an integer"),
    ({"data": {"validation": {"fraction": "0.1"}}},
     "data.validation.fraction must be a number in [0, 1)"),
    ({"data": {"validation": {"fraction": 1.5}}}, "in [0, 1)"),
    ({"data": {"validation": [0.1]}}, "data.validation must be a JSON object"),
    ({"data": {"validation": {"fraction": 0.1, "group": 3}}},
     "data.validation.group must be a string"),
])
def test_hand_edited_configs_of_the_wrong_types_are_clear_errors(
        tmp_path, edit, message):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(V1 / "classifier", run)
    raw = json.loads((run / "config.json").read_text())
    raw.update(edit)
    (run / "config.json").write_text(json.dumps(raw))
    with pytest.raises(rd.RunDirError, match=re.escape(message)) as e:
        rd.open_run(run)
    assert "config.json" in str(e.value) and "Received:" in str(e.value)
