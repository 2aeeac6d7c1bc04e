"""TFDS sources through `tfds.testing.mock_data` (no network), offline errors."""

import time

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from training.data import DataError, load_language_model, load_text_classification
from training.data import sources


@pytest.fixture
def online(monkeypatch):
    """Pretends the download host answers, so the real tfds.load path runs
    (under mock_data it returns generated examples instead of downloading)."""
    monkeypatch.setattr(sources, "host_reachable", lambda *a: True)


@pytest.fixture
def offline(monkeypatch):
    calls = []

    def unreachable(host, port, timeout):
        calls.append(host)
        return False

    monkeypatch.setattr(sources, "host_reachable", unreachable)
    return calls


def test_imdb_reviews_mock(online, tmp_path):
    with tfds.testing.mock_data(num_examples=20, data_dir=str(tmp_path)):
        data = load_text_classification("tfds:imdb_reviews", splits=("train", "validation", "test"),
                                        validation_split=0.25, seed=3, data_dir=str(tmp_path))
    assert data.class_names == ["neg", "pos"]
    assert len(data.train) + len(data.validation) == 20
    assert len(data.test) == 20
    assert 3 <= len(data.validation) <= 7  # stratified 25% of 20 random labels
    assert set(data.train.labels.tolist()) <= {0, 1}
    assert all(isinstance(t, str) and t for t in data.train.texts)
    assert "tfds:imdb_reviews split 'train'" in data.description
    assert "seed=3" in data.description
    assert data.fingerprint.startswith("sha256:")


def test_glue_sst2_mock_uses_source_validation(online, tmp_path):
    with tfds.testing.mock_data(num_examples=8, data_dir=str(tmp_path)):
        data = load_text_classification("tfds:glue/sst2", data_dir=str(tmp_path))
        with pytest.raises(DataError, match="no labeled 'test' split"):
            load_text_classification("tfds:glue/sst2", splits=("train", "test"),
                                     data_dir=str(tmp_path))
    assert data.class_names == ["negative", "positive"]
    assert len(data.train) == 8 and len(data.validation) == 8  # nothing carved
    assert "validation: tfds:glue/sst2 split 'validation'" in data.description


def test_tiny_shakespeare_mock(online, tmp_path):
    with tfds.testing.mock_data(num_examples=2, data_dir=str(tmp_path)):
        data = load_language_model("tfds:tiny_shakespeare", data_dir=str(tmp_path))
    assert data.level == "char"
    assert data.vocab.tokens[-1] == "<unk>"
    assert data.vocab.tokens[:-1] == sorted(data.vocab.tokens[:-1])
    assert len(data.train) > 0 and len(data.validation) > 0 and len(data.test) > 0
    assert data.train.dtype == np.int32
    assert "".join(data.vocab.decode(data.train)).strip()


def test_offline_fails_fast_with_clear_error(offline, tmp_path):
    start = time.monotonic()
    with pytest.raises(DataError, match=r"tfds:glue/sst2 is not downloaded.*Pass a local path"):
        load_text_classification("tfds:glue/sst2", data_dir=str(tmp_path))
    with pytest.raises(DataError, match=r"tfds:tiny_shakespeare is not downloaded"):
        load_language_model("tfds:tiny_shakespeare", data_dir=str(tmp_path))
    assert time.monotonic() - start < 10
    assert offline == ["dl.fbaipublicfiles.com", "raw.githubusercontent.com"]


def test_unknown_tfds_name():
    with pytest.raises(DataError, match="unknown TFDS dataset"):
        load_text_classification("tfds:no_such_dataset_xyz")


@pytest.mark.parametrize("name", ["glue", "glue:2.0.0"])
def test_a_dataset_of_several_configurations_needs_one(offline, tmp_path,
                                                       name):
    """tfds:glue would load its first configuration, CoLA, without a word."""
    with pytest.raises(DataError, match=rf"tfds:{name} has \d+ "
                       r"configurations and no default; name one, e\.g\. "
                       r"tfds:glue/cola.*cola, sst2, mrpc"):
        load_text_classification(f"tfds:{name}", data_dir=str(tmp_path))
    assert offline == []  # refused before any probe


def test_probe_is_bounded():
    start = time.monotonic()
    assert sources.host_reachable("host.invalid", 443, 1.0) is False
    assert time.monotonic() - start < 3


def test_evaluate_cannot_compare_a_split_training_did_not_read(online, tmp_path,
                                                               monkeypatch):
    """A tfds dataset whose test split training does not read (as for any
    dataset but imdb_reviews; under mock_data only imdb_reviews has a
    labeled test split, so training is made to read train and validation
    alone): the run's fingerprint does not cover test, and `same_data`
    says None instead of a false "different data"."""
    import types

    import training.data
    from training.evaluate import classifier_split, same_data
    from training.run_dir import Carve

    real = training.data.classifier_splits
    monkeypatch.setattr(training.data, "classifier_splits",
                        lambda data: tuple(s for s in real(data)
                                           if s != "test"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    with tfds.testing.mock_data(num_examples=12, data_dir=str(tmp_path)):
        trained = load_text_classification(
            "tfds:imdb_reviews", validation_split=0.25, seed=3,
            data_dir=str(tmp_path))
        run = types.SimpleNamespace(
            carve=Carve(how="", fraction=0.25, seed=3, group=None,
                        validation_data=None),
            class_names=trained.class_names,
            data={"fingerprint": trained.fingerprint})
        loaded, part = classifier_split(run, "tfds:imdb_reviews", "validation")
        assert same_data(loaded, run) is True and loaded.not_compared is None
        loaded, part = classifier_split(run, "tfds:imdb_reviews", "test")
    assert len(part) == 12
    assert same_data(loaded, run) is None
    assert "did not read the 'test' split" in loaded.not_compared
