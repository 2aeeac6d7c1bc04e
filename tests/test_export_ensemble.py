"""zoo export RUN_DIR RUN_DIR ...: an ensemble of classifiers as one SavedModel."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from serving import export as ex  # noqa: E402
from serving import models_dir as md  # noqa: E402
from tests._files import load_script  # noqa: E402
from test_export_support import (  # noqa: E402
    CLASS_NAMES, TEXTS, WORD_VOCAB, build_classifier, build_lm, write_run)

# Run in a fresh process that imports TensorFlow alone: the exported graph.
_FRESH = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    sig = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    out = sig(text=tf.constant(json.loads(sys.argv[2])))
    print("RESULT" + json.dumps({
        "probabilities": out["probabilities"].numpy().tolist(),
        "label": [x.decode() for x in out["label"].numpy()],
        "class_index": out["class_index"].numpy().tolist(),
        "zoo_imported": "zoo" in sys.modules}))
""")


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """Three classifier runs of other seeds and widths, the second with its
    own vocabulary (each member keeps its own TextVectorization)."""
    root = tmp_path_factory.mktemp("ensemble")
    models = [build_classifier(seed=7),
              build_classifier(seed=8, units=6, texts=TEXTS[::-1] + ["movie"]),
              build_classifier(seed=9, units=5)]
    runs = [write_run(str(root / f"run{i}"), m, family="sentiment_classifier",
                      preset="tiny", seed=i) for i, m in enumerate(models)]
    # The members' own probabilities, from the Keras models in this process.
    probs = [np.asarray(m.predict(np.array(TEXTS, dtype=object), verbose=0),
                        dtype=np.float64) for m in models]
    return {"root": root, "runs": runs, "probs": probs}


def _serve_default(path, texts):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH="")
    proc = subprocess.run([sys.executable, "-c", _FRESH, path, json.dumps(texts)],
                          capture_output=True, text=True, timeout=180, env=env,
                          cwd=os.path.dirname(path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT"):])


def test_ensemble_serves_the_mean_of_its_members(members, tmp_path):
    models = str(tmp_path / "models")
    result = ex.export_ensemble(members["runs"], models, "ens", label="stable")
    assert result.version == 1 and result.signatures[0] == "serving_default"
    out = _serve_default(result.path, TEXTS)
    assert out["zoo_imported"] is False
    mean = np.mean(members["probs"], axis=0)
    got = np.array(out["probabilities"])
    np.testing.assert_allclose(got, mean, rtol=1e-5, atol=1e-6)
    for p in members["probs"]:  # the mean is no single member's answer
        assert not np.allclose(got, p, atol=1e-4)
    assert out["class_index"] == mean.argmax(-1).tolist()
    assert out["label"] == [CLASS_NAMES[i] for i in mean.argmax(-1)]

    card = ex.read_model_card(result.path)
    assert card["family"] == "sentiment_classifier"
    assert card["class_names"] == CLASS_NAMES
    assert card["ensemble"]["combine"] == "mean of the members' class probabilities"
    assert [m["run_dir"] for m in card["ensemble"]["members"]] == [
        os.path.abspath(r) for r in members["runs"]]
    assert [m["seed"] for m in card["ensemble"]["members"]] == [0, 1, 2]
    assert len(card["vocabulary_size"]) == 3
    # The runs kept no warmup texts: generic ones, said in a note.
    assert result.warmup["source"] == "generic" and "generic" in result.warmup["note"]
    assert md.list_versions(models, "ens") == [1]
    with open(os.path.join(models, "models.config")) as f:
        config = f.read()
    assert 'name: "ens"' in config and '"stable"' in config


def test_cli_exports_an_ensemble_and_refuses_what_cannot_be_averaged(
        members, tmp_path, capsys):
    models = str(tmp_path / "models")
    a, b, _ = members["runs"]
    warm = tmp_path / "warm.txt"
    warm.write_text("a good film\nterrible plot\n", encoding="utf-8")
    assert ex.main([a, b, "--models-dir", models, "--name", "pair",
                    "--warmup-texts", str(warm)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["version"] == 1 and printed["warmup"]["texts"] == 2
    card = ex.read_model_card(printed["path"])
    assert len(card["ensemble"]["members"]) == 2
    out = _serve_default(printed["path"], ["a good film"])
    np.testing.assert_allclose(
        out["probabilities"][0],
        (members["probs"][0][0] + members["probs"][1][0]) / 2, rtol=1e-5, atol=1e-6)

    root = members["root"]
    lm_run = write_run(str(root / "lm"), build_lm(WORD_VOCAB),
                       family="language_model", vocab=WORD_VOCAB, level="word")
    other = write_run(str(root / "other_classes"),
                      build_classifier(class_names=["bad", "good"]),
                      family="sentiment_classifier")
    for argv, message in (([a, lm_run], "language_model run"),
                          ([a, other], "the members must predict the same classes"),
                          ([a, str(root / "missing")], "does not exist")):
        assert ex.main([*argv, "--models-dir", models, "--name", "bad"]) == 1
        assert message in capsys.readouterr().err
    assert ex.main([a, b, "--models-dir", models, "--name", "bad",
                    "--class-names", "x,y,z"]) == 1
    assert "3 class names for a model with 2 classes" in capsys.readouterr().err
    # Nothing was published for the refused exports.
    assert not os.path.exists(os.path.join(models, "bad"))
    with pytest.raises(ex.ExportError, match="two or more"):
        ex.export_ensemble([a], models, "one")
    with pytest.raises(ex.ExportError, match="given twice"):
        ex.export_ensemble([a, b, os.path.join(a, "")], models, "twice")
    with pytest.raises(ex.ExportError, match="list of run directories"):
        ex.export_ensemble(a, models, "one_path")
    with pytest.raises(ex.ExportError, match="last.keras"):  # these runs kept no last
        ex.export_ensemble([a, b], models, "last", which="last")
    assert not os.path.exists(os.path.join(models, "twice"))


@pytest.mark.slow
def test_served_ensemble_scores_what_zoo_evaluate_scores(tmp_path):
    """Trained runs on one carve: the exported ensemble's accuracy and loss on
    that carve (bench/exported_accuracy.py, through serving_default) are
    `evaluate_ensemble`'s."""
    import training
    from test_train_classifier import TINY, write_sentiment_csv

    data = write_sentiment_csv(tmp_path / "reviews.csv")
    runs = []
    for seed, carve in ((1, 7), (2, 7), (3, 8)):
        training.train("sentiment_classifier", data, out=tmp_path / f"s{seed}",
                       epochs=1, batch_size=16, overrides=TINY, verbose=0,
                       seed=seed, validation_seed=carve)
        runs.append(str(tmp_path / f"s{seed}"))
    expected = training.evaluate_ensemble(runs[:2], data)
    # A generator of run directories is read once, as a list would be.
    result = ex.export_ensemble((r for r in runs[:2]), tmp_path / "models", "pair")
    assert len(ex.read_model_card(result.path)["ensemble"]["members"]) == 2
    bench = load_script("bench/exported_accuracy.py", "exported_accuracy")
    got = bench.exported_accuracy(result.path, data, batch_size=5)  # runs from the card
    assert got["runs"] == 2 and got["run_dir"] == os.path.abspath(runs[0])
    assert got["num_examples"] == expected["num_examples"] == 16
    assert got["accuracy"] == pytest.approx(expected["accuracy"])
    assert got["loss"] == pytest.approx(expected["loss"], rel=1e-5)
    assert got["data_fingerprint"] == expected["data_fingerprint"]
    assert got["same_data_as_training"] is True
    # Members of other carves export (nothing is scored) but are not scored:
    # one of them may have trained on the other's validation examples.
    mixed = ex.export_ensemble([runs[0], runs[2]], tmp_path / "models", "mixed")
    with pytest.raises(ValueError, match="carved its validation split"):
        bench.exported_accuracy(mixed.path, data)
    assert bench.main([mixed.path, "--data", data]) == 2
