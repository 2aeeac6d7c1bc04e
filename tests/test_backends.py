"""Language models train end to end on the JAX and PyTorch backends, on a
machine without TensorFlow (as the lent GPU machines are): gradient
statistics are logged and vary from epoch to epoch, and `--resume` works.

Each run is a subprocess (`tests/_without_tensorflow.py`) that cannot import
TensorFlow and reports every attempt the project's code makes to import it;
one attempt fails the test, even if the code would have survived it.
"""

import csv
import importlib.util
import json
import os
import pathlib
import random
import subprocess
import sys
import sysconfig

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "_without_tensorflow.py"
HIDDEN = ("tensorflow", "tf_keras")


@pytest.fixture(scope="module")
def site_view(tmp_path_factory):
    """site-packages without TensorFlow: a folder of links to the rest."""
    site = sysconfig.get_paths()["purelib"]
    view = tmp_path_factory.mktemp("site_without_tensorflow")
    for entry in os.listdir(site):
        if entry.lower().startswith(HIDDEN) or entry.endswith(".pth"):
            continue
        os.symlink(os.path.join(site, entry), view / entry)
    return str(view)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    rng = random.Random(0)
    words = "the cat dog sat on a mat and ran to big small red house".split()

    def lines(n):
        return "".join(" ".join(rng.choice(words) for _ in
                                range(rng.randint(3, 9))) + "\n"
                       for _ in range(n))

    folder = tmp_path_factory.mktemp("ptb")
    (folder / "tiny.train.txt").write_text(lines(300))
    (folder / "tiny.valid.txt").write_text(lines(40))
    return str(folder)


def _zoo(backend, site_view, *args):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(KERAS_BACKEND=backend, CUDA_VISIBLE_DEVICES="")
    out = subprocess.run(
        [sys.executable, "-S", str(SCRIPT), site_view, str(ROOT), *args],
        capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["rc"] == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert report["project_tensorflow_imports"] == []
    assert report["tensorflow_loaded"] is False
    return report


def _history(run_dir):
    with open(os.path.join(run_dir, "history.csv"), newline="") as f:
        return [{k: float(v) for k, v in row.items() if v}
                for row in csv.DictReader(f)]


def _train_and_resume(backend, site_view, corpus, tmp_path):
    run = str(tmp_path / "run")
    common = ["train", "language_model", "--data", corpus, "--out", run,
              "--set", "units=8", "--set", "embedding_dim=8",
              "--verbose", "0"]
    _zoo(backend, site_view, *common, "--epochs", "2", "--batch-size", "4",
         "--bptt", "5", "--lr", "0.01", "--global-clipnorm", "0.28")
    first = _history(run)
    assert [r["epoch"] for r in first] == [0, 1]
    for row in first:
        assert row["grad_norm"] > 0 and 0.0 <= row["clipped_fraction"] <= 1.0
        assert row["val_loss"] > 0
    assert first[0]["grad_norm"] != first[1]["grad_norm"]
    assert first[0]["clipped_fraction"] != first[1]["clipped_fraction"]
    _zoo(backend, site_view, *common, "--epochs", "3", "--resume")
    resumed = _history(run)
    assert [r["epoch"] for r in resumed] == [0, 1, 2]
    assert resumed[:2] == first
    with open(os.path.join(run, "config.json")) as f:
        config = json.load(f)
    assert config["versions"]["keras_backend"] == backend
    assert "tensorflow" not in config["versions"]
    assert len(config["resumed"]) == 1
    metrics = json.load(open(os.path.join(run, "metrics.json")))
    assert metrics["epochs_completed"] == 3
    assert os.path.exists(os.path.join(run, "model.keras"))
    return resumed


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_language_model_trains_without_tensorflow(backend, site_view, corpus,
                                                  tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    _train_and_resume(backend, site_view, corpus, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_sampled_softmax_trains_without_tensorflow(backend, site_view, corpus,
                                                   tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    run = str(tmp_path / "run")
    _zoo(backend, site_view, "train", "language_model", "--data", corpus,
         "--out", run, "--set", "units=8", "--set", "embedding_dim=8",
         "--verbose", "0", "--epochs", "2", "--batch-size", "4", "--bptt",
         "5", "--lr", "0.01", "--recipe", "sampled_softmax=4")
    rows = _history(run)
    with open(os.path.join(run, "config.json")) as f:
        assert json.load(f)["training"]["sampled_softmax"] == 4
    # validation is the full softmax, and it improves
    assert rows[1]["val_loss"] < rows[0]["val_loss"]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="jax is not installed")
def test_a_classifier_on_jax_is_a_clear_error(site_view, tmp_path):
    data = tmp_path / "s.tsv"
    data.write_text("sentence\tlabel\n" + "a good film\t1\na bad film\t0\n" * 5)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(KERAS_BACKEND="jax")
    out = subprocess.run(
        [sys.executable, "-S", str(SCRIPT), site_view, str(ROOT), "train",
         "sentiment_classifier", "--data", str(data), "--out",
         str(tmp_path / "r")], capture_output=True, text=True, env=env,
        timeout=300)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["rc"] == 2
    assert "TensorFlow backend only" in out.stderr and "'jax'" in out.stderr
    assert not os.path.exists(tmp_path / "r")
