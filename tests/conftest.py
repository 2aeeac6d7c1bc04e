"""Shared test set-up: quiet TensorFlow logs, deterministic seeds, tiny trained runs."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    import keras

    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture(scope="module")
def clf_run(tmp_path_factory):
    """A one-epoch tiny sentiment classifier run: (run directory, its CSV)."""
    import training
    from test_train_classifier import TINY, write_sentiment_csv

    d = tmp_path_factory.mktemp("clf")
    data = write_sentiment_csv(d / "reviews.csv")
    training.train("sentiment_classifier", data, out=d / "run", epochs=1,
                   batch_size=16, overrides=TINY, verbose=0)
    return str(d / "run"), data


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    """A one-epoch tiny word-level language model run: (run directory, its PTB folder)."""
    import training
    from test_train_lm import TINY, write_ptb

    d = tmp_path_factory.mktemp("lm")
    data = write_ptb(d / "ptb")
    training.train("language_model", data, out=d / "run", epochs=1, batch_size=4,
                   bptt=5, overrides=TINY, verbose=0)
    return str(d / "run"), data
