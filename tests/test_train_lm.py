"""`training.train` on a tiny language model: stateful BPTT, state reset,
vocab.txt, perplexity, LR decay."""

import json
import math
import os
import random

import keras
import numpy as np
import pytest

import training
from training import run_dir as rd
from training import cli_train
from training.trainer import recurrent_state_variables

TINY = {"units": 8, "embedding_dim": 8, "num_layers": 1}
WORDS = "the cat sat on a mat and the dog ran to it".split()


def write_ptb(folder, seed=0):
    rng = random.Random(seed)
    os.makedirs(folder, exist_ok=True)
    for split, n in (("train", 120), ("valid", 30), ("test", 30)):
        with open(os.path.join(folder, f"toy.{split}.txt"), "w") as f:
            for _ in range(n):
                f.write(" ".join(rng.choices(WORDS, k=6)) + "\n")
    return str(folder)


class StateProbe(keras.callbacks.Callback):
    """Records the L1 norm of the recurrent state at each batch start."""

    def __init__(self):
        super().__init__()
        self.records = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        states = recurrent_state_variables(self.model.zoo_model)
        assert states, "stateful model has no state variables"
        norm = sum(float(np.abs(keras.ops.convert_to_numpy(v)).sum()) for v in states)
        self.records.append((self.epoch, batch, norm))


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    data = write_ptb(tmp_path_factory.mktemp("data") / "ptb")
    out = str(tmp_path_factory.mktemp("runs") / "lm")
    probe = StateProbe()
    result = training.train("language_model", data, out=out, epochs=2,
                            batch_size=4, bptt=5, optimizer="sgd",
                            learning_rate=1.0, lr_decay=0.5, lr_decay_after=1,
                            overrides=TINY, verbose=0, callbacks=[probe])
    return result, probe, data


def test_state_reset_each_epoch_and_carried_across_windows(lm_run):
    _, probe, _ = lm_run
    by_epoch = {}
    for epoch, batch, norm in probe.records:
        by_epoch.setdefault(epoch, {})[batch] = norm
    assert sorted(by_epoch) == [0, 1]
    for epoch, norms in by_epoch.items():
        assert norms[0] == 0.0, f"state not reset at start of epoch {epoch}"
        assert norms[1] > 0.0, f"state not carried to window 1 of epoch {epoch}"


def test_lm_run_dir(lm_run):
    result, _, _ = lm_run
    names = set(os.listdir(result.run_dir))
    assert {"config.json", "model.keras", "last.keras", "backup", "vocab.txt",
            "history.csv", "metrics.json", "curves.png", "tensorboard"} <= names
    cfg = rd.read_config(result.run_dir)
    assert cfg["model_config"]["level"] == "word" and cfg["family"] == "language_model"
    assert "level" not in cfg and "level" not in cfg["data"]  # each fact once
    assert rd.open_run(result.run_dir).level == "word"
    assert cfg["training"]["bptt"] == 5 and cfg["training"]["global_clipnorm"] == 1.0
    assert cfg["model_config"]["stateful"] is True
    assert cfg["model_config"]["batch_size"] == 4
    with open(os.path.join(result.run_dir, "vocab.txt")) as f:
        tokens = f.read().split("\n")[:-1]
    assert len(tokens) == cfg["model_config"]["vocabulary_size"]
    assert len(rd.open_run(result.run_dir).vocabulary) == len(tokens)
    assert "<eos>" in tokens and tokens[0] == "the"  # most frequent first


def test_lm_history_perplexity_and_lr_decay(lm_run):
    result, _, _ = lm_run
    rows = result.history
    assert [r["epoch"] for r in rows] == [0, 1]
    for r in rows:
        assert r["perplexity"] == pytest.approx(math.exp(r["loss"]), rel=1e-5)
        assert r["val_perplexity"] == pytest.approx(math.exp(r["val_loss"]), rel=1e-5)
        assert "grad_norm" in r and "clipped_fraction" in r
    assert rows[0]["learning_rate"] == pytest.approx(1.0)
    assert rows[1]["learning_rate"] == pytest.approx(0.5)
    m = result.metrics
    best = m["best_epoch"]
    # Final metrics use the same protocol (batch 4, carried state) as training.
    assert m["validation"]["loss"] == pytest.approx(rows[best]["val_loss"], rel=1e-4)
    assert m["validation"]["perplexity"] == pytest.approx(
        math.exp(m["validation"]["loss"]), rel=1e-6)
    assert m["test"]["num_tokens"] > 0


def test_lm_checkpoint_is_stateless_and_loads(lm_run):
    result, _, _ = lm_run
    run = rd.load_run(result.run_dir)
    assert run.model.stateful is False
    assert len(run.vocabulary) == run.model.vocabulary_size
    logits = run.model(np.zeros((3, 7), "int32"))
    assert tuple(logits.shape) == (3, 7, len(run.vocabulary))


def test_char_level_bits_per_character(tmp_path):
    path = tmp_path / "chars.txt"
    path.write_text("to be or not to be, that is the question. " * 40)
    result = training.train("language_model", str(path), out=tmp_path / "r",
                            epochs=1, batch_size=4, bptt=8, overrides=TINY,
                            verbose=0, max_steps_per_epoch=5)
    row = result.history[0]
    assert row["bits_per_character"] == pytest.approx(row["loss"] / math.log(2), rel=1e-5)
    assert "val_bits_per_character" in row
    assert result.run.level == "char"
    assert "bits_per_character" in result.metrics["validation"]


def test_time_budget_stops_mid_epoch_and_keeps_the_partial_epoch(tmp_path):
    data = write_ptb(tmp_path / "ptb")
    out = str(tmp_path / "budget")
    # A budget of ~0 s: the first batch crosses it, so training stops there.
    result = training.train("language_model", data, out=out, epochs=3,
                            batch_size=4, bptt=5, overrides=TINY, verbose=0,
                            time_budget=1e-9)
    assert len(result.history) == 1, result.history
    assert math.isfinite(result.history[0]["val_loss"])
    stopped = result.metrics["time_budget"]["stopped_at"]
    assert stopped["epoch"] == 0 and stopped["batch"] == 0
    with open(rd.path(out, rd.METRICS)) as f:
        assert json.load(f)["time_budget"]["stopped_at"] == stopped
    assert os.path.exists(rd.path(out, rd.BEST))
    assert result.metrics["best_epoch"] == 0


@pytest.mark.parametrize("setting", ["batch_size=32", "stateful=false",
                                     "name=lm"])
def test_set_refuses_what_training_sets_for_a_language_model(
        tmp_path, capsys, setting):
    text = tmp_path / "t.txt"
    text.write_text("a b c d e f g h " * 50)
    code = cli_train.main(["language_model", "--data", str(text), "--out",
                           str(tmp_path / "o"), "--set", setting])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot be set with --set" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_time_budget_rejects_non_positive(tmp_path, capsys):
    from training import cli_train

    with pytest.raises(SystemExit) as e:
        cli_train.main(["language_model", "--data", str(tmp_path), "--out",
                        str(tmp_path / "o"), "--time-budget", "0"])
    assert e.value.code == 2
    assert "--time-budget" in capsys.readouterr().err
    with pytest.raises(ValueError, match="time_budget"):
        training.train("language_model", str(tmp_path), out=str(tmp_path / "o"),
                       time_budget=-1)
    # finite minutes whose seconds overflow: refused before RUN_DIR is made
    for budget in (1e307, 10 ** 400):
        with pytest.raises(ValueError, match="time_budget"):
            training.train("language_model", str(tmp_path),
                           out=str(tmp_path / "o"), time_budget=budget)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("value", ["3e4", "abc", "0", "true"])
def test_vocabulary_size_is_checked_before_loading(tmp_path, capsys, value):
    from training import cli_train

    data = write_ptb(tmp_path / "ptb")
    code = cli_train.main(["language_model", "--data", data, "--out",
                           str(tmp_path / "o"), "--set", f"vocabulary_size={value}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "vocabulary_size" in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "o")


def test_a_corpus_carve_of_zero_is_refused_before_the_run_starts(tmp_path):
    path = tmp_path / "chars.txt"
    path.write_text("to be or not to be, that is the question. " * 40)
    with pytest.raises(ValueError, match=r"must be in \(0, 1\) for .*chars.txt.*"
                       r"Received: validation_split=0.0"):
        training.train("language_model", str(path), out=tmp_path / "r",
                       epochs=1, batch_size=4, bptt=8, overrides=TINY,
                       verbose=0, validation_split=0)
    assert not os.path.exists(tmp_path / "r" / rd.CONFIG)


def test_a_validation_split_too_short_for_its_rows_is_refused_before_training(tmp_path):
    data = write_ptb(tmp_path / "ptb")
    with open(os.path.join(data, "toy.valid.txt"), "w") as f:
        f.write("the cat\n")  # 3 tokens with <eos>: too few for 4 rows of 2
    with pytest.raises(training.data.DataError, match=r"the validation split \(3 tokens\) "
                       r"is too short for batch_size=4"):
        training.train("language_model", data, out=tmp_path / "r", epochs=1,
                       batch_size=4, bptt=5, overrides=TINY, verbose=0)
    assert not os.path.exists(tmp_path / "r" / rd.CONFIG)
