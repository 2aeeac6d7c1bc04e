"""Warmup requests: kept by training, written by export, read for replay.

`zoo export` writes `assets.extra/tf_serving_warmup_requests` (TF Serving's
SavedModel warmup: a TFRecord of `PredictionLog`) from the validation texts
that training keeps in `RUN_DIR/warmup_texts.json`.
"""

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tensorflow_serving.apis import prediction_log_pb2  # noqa: E402

import training  # noqa: E402
from serving import export as ex  # noqa: E402
from serving import warmup as wu  # noqa: E402
from test_export_support import (  # noqa: E402
    WORD_VOCAB, build_classifier, build_lm, write_run)
from training import run_dir as rd  # noqa: E402
from training.data import load_language_model  # noqa: E402

# `training.train` is also the name of the function `training` exports.
train_lib = importlib.import_module("training.train")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VALIDATION = ["a truly good film", "a bad film , awful", "loved it",
              "", "terrible plot"]


def _records(path):
    """The PredictionLog records of a warmup file, parsed as TF Serving
    does (TFRecord, then the proto)."""
    logs = []
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record.numpy())
        logs.append(log)
    return logs


def _replay(version_dir):
    """Runs every request of the version's warmup file through the
    SavedModel's signatures; returns `[(signature, outputs)]`."""
    loaded = tf.saved_model.load(version_dir)
    out = []
    for signature_name, inputs in wu.read_warmup_file(
            wu.warmup_path(version_dir)):
        fn = loaded.signatures[signature_name]
        result = fn(**{k: tf.constant(v) for k, v in inputs.items()})
        out.append((signature_name, {k: v.numpy() for k, v in result.items()}))
    return out


@pytest.fixture(scope="module")
def classifier():
    return build_classifier()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, classifier):
    root = tmp_path_factory.mktemp("warmup")
    clf = write_run(str(root / "clf"), classifier,
                    family="sentiment_classifier", preset="tiny")
    rd.write_warmup_texts(clf, VALIDATION, split="validation")
    old = write_run(str(root / "old"), classifier,
                    family="sentiment_classifier", preset="tiny")
    lm = write_run(str(root / "lm"), build_lm(WORD_VOCAB), family="language_model",
                   vocab=WORD_VOCAB, level="word")
    rd.write_warmup_texts(lm, ["the cat sat on the mat", "dog ran"],
                          split="validation")
    return {"root": root, "clf": clf, "old": old, "lm": lm}


# ---------------------------------------------------------------- run dir


def test_run_dir_round_trip(tmp_path):
    texts = ["une critique \u00e9l\u00e9gante", "line\nbreak", "", "  x  "]
    rd.write_warmup_texts(tmp_path, texts, split="validation")
    assert rd.read_warmup_texts(tmp_path) == texts
    with open(tmp_path / rd.WARMUP_TEXTS, encoding="utf-8") as f:
        assert json.load(f) == {"split": "validation", "texts": texts}
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]
    assert rd.read_warmup_texts(tmp_path / "nothing") is None


def test_run_dir_rejects_bad_texts(tmp_path):
    for bad in ([], "a text", [1, 2], None):
        with pytest.raises(ValueError, match="Received"):
            rd.write_warmup_texts(tmp_path, bad, split="validation")
    (tmp_path / rd.WARMUP_TEXTS).write_text('{"texts": "oops"}')
    with pytest.raises(rd.RunDirError, match=rd.WARMUP_TEXTS):
        rd.read_warmup_texts(tmp_path)
    (tmp_path / rd.WARMUP_TEXTS).write_text("{not json")
    with pytest.raises(rd.RunDirError, match="JSON"):
        rd.read_warmup_texts(tmp_path)


def test_training_keeps_validation_texts(tmp_path):
    rows = ["text,label"] + [f"{'good great' if i % 2 else 'bad awful'} film "
                             f"{i},{i % 2}" for i in range(40)]
    data = tmp_path / "reviews.csv"
    data.write_text("\n".join(rows) + "\n")
    result = training.train(
        "sentiment_classifier", str(data), out=str(tmp_path / "run"),
        epochs=1, batch_size=8, verbose=0, validation_split=0.25,
        overrides={"units": 4, "embedding_dim": 4, "num_layers": 1,
                   "vocabulary_size": 30})
    run = result.run
    texts = run.warmup_texts
    from training.data import load_text_classification

    split = load_text_classification(str(data), validation_split=0.25,
                                     seed=run.seed).validation
    assert texts == split.texts[:train_lib.WARMUP_TEXT_COUNT]
    assert set(texts) <= {r.split(",")[0] for r in rows[1:]}
    with open(run.warmup_texts_path, encoding="utf-8") as f:
        assert json.load(f)["split"] == "validation"


def test_language_model_texts_are_validation_lines(tmp_path):
    folder = tmp_path / "ptb"
    folder.mkdir()
    (folder / "tiny.train.txt").write_text("the cat sat\nthe dog ran\n" * 20)
    valid = ["a cat ran", "", "the dog sat on the mat"] + [
        f"line {i}" for i in range(20)]
    (folder / "tiny.valid.txt").write_text("\n".join(valid) + "\n")
    data = load_language_model(str(folder), level="word")
    split, texts = train_lib._warmup_texts("language_model", data)
    unk = data.vocab.oov_token
    assert split == "validation"
    # Words outside the training vocabulary read as <unk>, as the model
    # sees them; the blank line is skipped.
    assert texts[:2] == [f"{unk} cat ran", f"the dog sat {unk} the {unk}"]
    assert len(texts) == train_lib.WARMUP_TEXT_COUNT
    assert all(t.strip() for t in texts)


# ----------------------------------------------------------------- format


def test_requests_and_file_format(tmp_path):
    requests = wu.build_requests("language_model", ["the cat", "dog ran", "x"],
                                 max_generate_length=16)
    assert [r.signature_name for r in requests] == ["serving_default"] * 4 + [
        "generate", "sample"]
    path = str(tmp_path / "assets.extra" / wu.WARMUP_FILE)
    assert wu.write_warmup_file(path, requests, model_name="lm") == 6
    logs = _records(path)
    assert len(logs) == 6
    for log in logs:
        assert log.WhichOneof("log_type") == "predict_log"
        assert log.predict_log.request.model_spec.name == "lm"
    sample = logs[-1].predict_log.request
    assert sample.model_spec.signature_name == "sample"
    assert tf.make_ndarray(sample.inputs["top_k"]) == 8
    assert sample.inputs["ban_unk"].dtype == tf.bool.as_datatype_enum
    gen = logs[-2].predict_log.request
    assert gen.model_spec.signature_name == "generate"
    assert tf.make_ndarray(gen.inputs["max_length"]) == wu.GENERATE_MAX_LENGTH
    assert gen.inputs["max_length"].dtype == tf.int32.as_datatype_enum
    assert tf.make_ndarray(gen.inputs["temperature"]) == 0.0
    back = wu.read_warmup_file(path)
    assert [r.signature_name for r in back] == [r.signature_name for r in requests]
    for got, want in zip(back, requests):
        assert got.inputs.keys() == want.inputs.keys()
        for key in want.inputs:
            np.testing.assert_array_equal(got.inputs[key], want.inputs[key])
    assert not [n for n in os.listdir(tmp_path / "assets.extra")
                if n.startswith(".")]


def test_format_errors(tmp_path):
    with pytest.raises(ValueError, match="Received"):
        wu.build_requests("sentiment_classifier", [])
    with pytest.raises(ValueError, match="family"):
        wu.build_requests("regressor", ["a"])
    with pytest.raises(ValueError, match="at most"):
        wu.build_requests("sentiment_classifier", ["a"] * (wu.MAX_TEXTS + 1))
    with pytest.raises(ValueError, match=str(wu.MAX_RECORDS)):
        wu.write_warmup_file(str(tmp_path / "w"),
                             [("serving_default", {"text": np.array([b"a"])})]
                             * (wu.MAX_RECORDS + 1))
    (tmp_path / "junk").write_bytes(b"not a tfrecord at all")
    with pytest.raises(ValueError, match="junk"):
        wu.read_warmup_file(str(tmp_path / "junk"))
    with pytest.raises(ValueError, match="no such"):
        wu.read_warmup_file(str(tmp_path / "missing"))
    with tf.io.TFRecordWriter(str(tmp_path / "classify")) as w:
        log = prediction_log_pb2.PredictionLog()
        log.classify_log.request.model_spec.name = "m"
        w.write(log.SerializeToString())
    with pytest.raises(ValueError, match="record 0 is a classify_log"):
        wu.read_warmup_file(str(tmp_path / "classify"))


# ----------------------------------------------------------------- export


def test_export_writes_replayable_classifier_warmup(runs, tmp_path, classifier):
    assert rd.open_run(runs["clf"]).warmup_texts == VALIDATION
    assert rd.open_run(runs["old"]).warmup_texts is None
    result = ex.export(runs["clf"], str(tmp_path / "models"), "clf")
    path = wu.warmup_path(result.path)
    assert result.warmup == {"path": path, "requests": len(VALIDATION) + 1,
                             "texts": len(VALIDATION), "source": "run"}
    assert ex.read_model_card(result.path)["warmup"]["source"] == "run"
    logs = _records(path)
    assert len(logs) == len(VALIDATION) + 1
    first = logs[0].predict_log.request
    assert first.model_spec.name == "clf"
    assert first.model_spec.signature_name == "serving_default"
    assert [t.decode() for t in tf.make_ndarray(first.inputs["text"])] == \
        VALIDATION[:1]
    replayed = _replay(result.path)
    assert [s for s, _ in replayed] == ["serving_default"] * len(logs)
    # The batch request (the zero-token text included) gives the model's
    # own predictions.
    np.testing.assert_allclose(
        replayed[-1][1]["probabilities"],
        classifier.predict(VALIDATION, verbose=0), atol=1e-6)


def test_export_writes_replayable_language_model_warmup(runs, tmp_path):
    result = ex.export(runs["lm"], str(tmp_path / "models"), "lm",
                       max_generate_length=16)
    replayed = _replay(result.path)
    assert [s for s, _ in replayed] == ["serving_default"] * 3 + [
        "generate", "sample"]
    for _, generated in replayed[-2:]:
        assert generated["num_generated"].shape == (2,)
        assert (generated["num_generated"] <= wu.GENERATE_MAX_LENGTH).all()
    assert np.isfinite(replayed[0][1]["log_prob"]).all()


def test_warmup_file_is_inside_the_published_version(runs, tmp_path,
                                                     monkeypatch):
    from serving import models_dir as md

    seen = {}
    real = md._rename_in

    def spy(tmp, base, version, overwrite, card):
        seen["before_rename"] = os.path.exists(wu.warmup_path(tmp))
        return real(tmp, base, version, overwrite, card)

    monkeypatch.setattr(md, "_rename_in", spy)
    result = ex.export(runs["clf"], str(tmp_path / "models"), "clf")
    assert seen["before_rename"] is True
    assert os.path.exists(wu.warmup_path(result.path))

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(wu, "atomic_write_bytes", boom)
    with pytest.raises(OSError, match="disk full"):
        ex.export(runs["clf"], str(tmp_path / "models"), "clf")
    assert sorted(os.listdir(os.path.join(tmp_path, "models", "clf"))) == ["1"]


def test_old_run_falls_back_to_generic_texts(runs, tmp_path):
    result = ex.export(runs["old"], str(tmp_path / "models"), "old")
    assert result.warmup["source"] == "generic"
    assert rd.WARMUP_TEXTS in result.warmup["note"]
    requests = wu.read_warmup_file(result.warmup["path"])
    assert [t.decode() for t in requests[-1].inputs["text"]] == list(
        wu.GENERIC_TEXTS)
    assert len(_replay(result.path)) == len(wu.GENERIC_TEXTS) + 1
    none = ex.export(runs["old"], str(tmp_path / "models"), "old",
                     warmup=False)
    assert none.warmup["source"] == "none"
    assert not os.path.exists(wu.warmup_path(none.path))


def _zoo_export(run_dir, models, *args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "zoo_cli", "export", run_dir, "--models-dir",
         models, "--name", "clf", *args],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def test_cli_warmup_texts_file_and_old_run_note(runs, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("first text\n\n  \nsecond , text\r\n", encoding="utf-8")
    models = str(tmp_path / "models")
    out = _zoo_export(runs["clf"], models, "--warmup-texts", str(texts))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["warmup"]["source"] == "file"
    assert report["warmup"]["texts"] == 2
    requests = wu.read_warmup_file(report["warmup"]["path"])
    assert [t.decode() for t in requests[-1].inputs["text"]] == [
        "first text", "second , text"]

    out = _zoo_export(runs["old"], models)
    assert out.returncode == 0, out.stderr
    assert "zoo export: note:" in out.stderr and "--warmup-texts" in out.stderr
    assert json.loads(out.stdout)["warmup"]["source"] == "generic"


def test_cli_warmup_texts_errors(runs, tmp_path):
    models = str(tmp_path / "models")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\t\n")
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"fine\ncaf\xe9\n")
    cases = [(str(tmp_path / "missing.txt"), "cannot read"),
             (str(blank), "no warmup text"),
             (str(latin), "line 2: not UTF-8")]
    for path, message in cases:
        out = _zoo_export(runs["clf"], models, "--warmup-texts", path)
        assert out.returncode == 1, out.stderr
        assert out.stderr.startswith("zoo export: error: --warmup-texts: ")
        assert path in out.stderr and message in out.stderr, out.stderr
    assert not os.path.exists(os.path.join(models, "clf"))
