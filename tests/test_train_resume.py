"""Resume after SIGKILL, and stopping cleanly on NaN."""

import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import training
from training import cli_train
from training import run_dir as rd
from training.callbacks import TrainingDiverged

sys.path.insert(0, os.path.dirname(__file__))
from test_train_classifier import TINY, write_sentiment_csv  # noqa: E402
from test_train_lm import TINY as TINY_LM, write_ptb  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.mark.slow
def test_resume_after_sigkill_mid_epoch(tmp_path):
    data = write_sentiment_csv(tmp_path / "reviews.csv")
    out = tmp_path / "run"
    # 3 epochs of 3 steps; killed at global step 5 (epoch 1, batch 1).
    script = tmp_path / "killed_run.py"
    script.write_text(textwrap.dedent(f"""
        import os, signal, keras, training

        class KillAt(keras.callbacks.Callback):
            steps = 0
            def on_train_batch_end(self, batch, logs=None):
                KillAt.steps += 1
                if KillAt.steps == 5:
                    os.kill(os.getpid(), signal.SIGKILL)

        training.train("sentiment_classifier", {data!r}, out={str(out)!r},
                       epochs=3, batch_size=16, max_steps_per_epoch=3,
                       overrides={TINY!r}, verbose=0, callbacks=[KillAt()])
    """))
    proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert [r["epoch"] for r in rd.read_history(out / "history.csv")] == [0]
    assert os.path.exists(out / "last.keras")

    set_args = [a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]
    proc = subprocess.run(
        [sys.executable, "-m", "training.cli_train", "sentiment_classifier",
         "--data", data, "--out", str(out), "--epochs", "3", "--batch-size", "16",
         "--max-steps-per-epoch", "3", "--resume", "--verbose", "2"] + set_args,
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Epoch 2/3" in proc.stdout and "Epoch 1/3" not in proc.stdout
    rows = rd.read_history(out / "history.csv")
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    cfg = rd.read_config(out)
    assert len(cfg["resumed"]) == 1
    assert rd.load_run(out).metrics["epochs_completed"] == 3
    # one weights file in the backup: the one its metadata names
    import json
    meta = json.loads((out / "backup" / "training_metadata.json").read_text())
    assert meta["epoch"] == 3
    assert sorted(os.listdir(out / "backup")) == sorted(
        [meta["weights"], "training_metadata.json"])


def test_backup_pairs_weights_with_their_epoch(tmp_path):
    from training import checkpoints as ck

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    backup = ck.RunBackup(str(tmp_path / "b"))
    backup.set_model(model)
    for epoch in range(2):
        backup.on_epoch_end(epoch)
    names = sorted(os.listdir(tmp_path / "b"))
    assert len(names) == 2 and "training_metadata.json" in names
    assert ck.backup_weights(str(tmp_path / "b")).endswith(names[0])
    assert names[0].startswith("epoch2-")
    # a kill after the new weights but before the metadata: the metadata
    # still names the weights of its own epoch, which are still there
    (tmp_path / "b" / "epoch3-deadbeef.weights.h5").write_bytes(b"partial")
    assert ck.backup_weights(str(tmp_path / "b")).endswith(names[0])
    assert rd.backup_epoch(str(tmp_path / "b")) == 2
    # a backup written before backups named their weights
    old = tmp_path / "old"
    old.mkdir()
    (old / "training_metadata.json").write_text('{"epoch": 4, "batch": 0}')
    # its weights missing: a resume would go on from epoch 4 with fresh
    # weights, so the backup is refused, naming the file
    for read in (ck.backup_weights, rd.backup_epoch):
        with pytest.raises(rd.RunDirError, match="weights of epoch 4 "
                           r"\(latest.weights.h5\) are missing"):
            read(str(old))
    model.save_weights(str(old / "latest.weights.h5"))
    assert ck.backup_weights(str(old)) == str(old / "latest.weights.h5")
    fresh = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    fresh.compile(optimizer="adam", loss="mse")
    restore = ck.RunBackup(str(tmp_path / "new"), restore_dir=str(old))
    restore.set_model(fresh)
    restore.on_train_begin()
    assert fresh._initial_epoch == 4
    np.testing.assert_array_equal(fresh.get_weights()[0], model.get_weights()[0])


def test_damaged_backup_weights_are_a_clear_error(tmp_path):
    """Weights cut short (a full disk, an edit): the restore names the file
    and what to do, instead of h5py's message alone."""
    from training import checkpoints as ck

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    backup = ck.RunBackup(str(tmp_path / "b"))
    backup.set_model(model)
    backup.on_epoch_end(0)
    weights = ck.backup_weights(str(tmp_path / "b"))
    with open(weights, "r+b") as f:
        f.truncate(100)
    restore = ck.RunBackup(str(tmp_path / "b"))
    restore.set_model(model)
    with pytest.raises(rd.RunDirError) as info:
        restore.on_train_begin()
    message = str(info.value)
    assert weights in message and "cannot restore this backup" in message
    assert "--overwrite" in message


def test_older_runs_stored_flags_resume_as_they_trained():
    from training.train import _stored_overrides

    stored = {"layer_norm": 1, "bidirectional": 0, "num_layers": 2.0,
              "tie_weights": True, "units": 8, "cell": "lstm"}
    assert _stored_overrides(stored) == {
        "layer_norm": True, "bidirectional": False, "num_layers": 2,
        "tie_weights": True, "units": 8, "cell": "lstm"}
    assert _stored_overrides({"layer_norm": "no"}) == {"layer_norm": "no"}
    # every flag of the models (`zoo.checks.FLAGS`), `reverse` included
    assert _stored_overrides({"reverse": 1, "stateful": 0}) == {
        "reverse": True, "stateful": False}


def test_a_resume_with_nothing_to_train_keeps_the_runs_record(tmp_path):
    data = write_sentiment_csv(tmp_path / "reviews.csv")
    out = tmp_path / "r"
    training.train("sentiment_classifier", data, out=out, epochs=1,
                   batch_size=16, max_steps_per_epoch=2, overrides=TINY,
                   verbose=0, time_budget=30)
    before = rd.load_run(out).metrics
    assert before["time_budget"]["minutes"] == 30
    result = training.train("sentiment_classifier", data, out=out,
                            resume=True, epochs=1, verbose=0)
    assert result.metrics["time_budget"] == before["time_budget"]
    assert rd.load_run(out).metrics["time_budget"] == before["time_budget"]
    assert rd.load_run(out).metrics["epochs_completed"] == 1


def test_damaged_backup_metadata_is_a_clear_error(tmp_path):
    meta = tmp_path / "training_metadata.json"
    for text, match in (("{", "cannot be read as JSON"),
                        ("[4]", "integer \"epoch\""),
                        ('{"batch": 0}', "integer \"epoch\""),
                        ('{"epoch": "4"}', "integer \"epoch\"")):
        meta.write_text(text)
        with pytest.raises(rd.RunDirError, match=match) as info:
            rd.backup_epoch(str(tmp_path))
        assert str(meta) in str(info.value)
    meta.write_text('{"epoch": 0}')  # nothing trained yet: nothing to load
    assert rd.backup_state(str(tmp_path)) == (0, None)


def test_resume_refuses_changed_settings(tmp_path, monkeypatch):
    from training import trainer as tr

    data = write_sentiment_csv(tmp_path / "reviews.csv")
    spans = []
    real = tr.compile_trainer
    monkeypatch.setattr(tr, "compile_trainer", lambda *a, **k: spans.append(
        k.get("total_steps")) or real(*a, **k))
    training.train("sentiment_classifier", data, out=tmp_path / "r", epochs=1,
                   batch_size=16, max_steps_per_epoch=2, overrides=TINY,
                   verbose=0, settings={"lr_schedule": "one_cycle"})
    config = (tmp_path / "r" / "config.json").read_bytes()
    assert rd.read_config(tmp_path / "r")["training"]["total_steps"] == 2
    with pytest.raises(ValueError, match="only epochs may change"):
        training.train("sentiment_classifier", data, out=tmp_path / "r",
                       resume=True, learning_rate=0.5, overrides=TINY, verbose=0)
    # validation given again must be the run's (it was silently ignored)
    for kwargs, match in (
            ({"validation_split": 0.3}, "carved 0.1 of its data"),
            ({"validation_group": "movie"}, "is not grouped"),
            ({"validation_data": data}, "validates on a carve")):
        with pytest.raises(ValueError, match=match):
            training.train("sentiment_classifier", data, out=tmp_path / "r",
                           resume=True, epochs=2, verbose=0, **kwargs)
    assert (tmp_path / "r" / "config.json").read_bytes() == config
    # a step cap other than the run's would change its epochs and schedule
    with pytest.raises(ValueError, match="max_steps_per_epoch=3: the run was "
                       "started with max_steps_per_epoch=2"):
        training.train("sentiment_classifier", data, out=tmp_path / "r",
                       resume=True, epochs=2, max_steps_per_epoch=3, verbose=0)
    # A finished run resumed with more epochs continues its history, with
    # the run's step cap and the length of its one-cycle schedule.
    result = training.train("sentiment_classifier", data, out=tmp_path / "r",
                            resume=True, epochs=2, verbose=0)
    assert [r["epoch"] for r in result.history] == [0, 1]
    assert spans == [2, 2]
    training_config = rd.read_config(tmp_path / "r")["training"]
    assert training_config["max_steps_per_epoch"] == 2
    assert training_config["total_steps"] == 2
    assert config != (tmp_path / "r" / "config.json").read_bytes()
    # fewer epochs than trained: refused before config.json is rewritten
    config = (tmp_path / "r" / "config.json").read_bytes()
    with pytest.raises(ValueError, match="has trained 2 epoch.*Received: epochs=1"):
        training.train("sentiment_classifier", data, out=tmp_path / "r",
                       resume=True, epochs=1, verbose=0)
    assert (tmp_path / "r" / "config.json").read_bytes() == config
    # a run recorded before runs kept `total_steps`: its schedule spans the
    # epochs it was started with, and the length is recorded from then on
    import json
    path = tmp_path / "r" / "config.json"
    old = json.loads(path.read_text())
    del old["training"]["total_steps"]
    old["training"]["epochs"] = 2
    path.write_text(json.dumps(old))
    spans.clear()
    training.train("sentiment_classifier", data, out=tmp_path / "r",
                   resume=True, epochs=3, verbose=0)
    assert spans == [4]  # 2 epochs of 2 steps, not 3
    assert rd.read_config(tmp_path / "r")["training"]["total_steps"] == 4


class InjectNaN(keras.callbacks.Callback):
    """Puts a NaN into the classifier head at the start of an epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.at = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            kernel = self.model.zoo_model.get_layer("head").kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path):
    data = write_sentiment_csv(tmp_path / "reviews.csv")
    out = tmp_path / "r"
    with pytest.raises(TrainingDiverged, match="diverged"):
        training.train("sentiment_classifier", data, out=out, epochs=3,
                       batch_size=16, optimizer="sgd", clipnorm=0,
                       max_steps_per_epoch=4, overrides=TINY, verbose=0,
                       callbacks=[InjectNaN(1)])
    assert [r["epoch"] for r in rd.read_history(out / "history.csv")] == [0]
    run = rd.load_run(out, load_last=True)
    for model in (run.model, run.last):
        assert all(np.isfinite(w).all() for w in model.get_weights())
    assert run.metrics["status"] == "diverged"
    assert run.metrics["last_good_epoch"] == 0
    import json
    with open(out / "backup" / "training_metadata.json") as f:
        assert json.load(f)["epoch"] == 1  # backup of the good epoch only


def test_nan_cli_exits_non_zero(tmp_path, capsys):
    data = write_ptb(tmp_path / "ptb")
    set_args = [a for k, v in TINY_LM.items() for a in ("--set", f"{k}={v}")]
    code = cli_train.main(["language_model", "--data", data, "--out",
                           str(tmp_path / "r"), "--optimizer", "sgd", "--lr", "1e38",
                           "--global-clipnorm", "0", "--epochs", "2",
                           "--batch-size", "4", "--bptt", "5", "--verbose", "0"]
                          + set_args)
    assert code == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "r" / "last.keras")


def test_a_nan_learning_rate_is_refused_before_training(tmp_path, capsys):
    data = write_ptb(tmp_path / "ptb")
    code = cli_train.main(["language_model", "--data", data, "--out",
                           str(tmp_path / "r"), "--lr", "nan"])
    assert code == 2
    assert "Received: learning_rate=nan" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "r")
