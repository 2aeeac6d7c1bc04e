"""A one-cycle learning rate counted in minutes of training
(`--recipe schedule_minutes=M`, `training.callbacks.TimedOneCycle`)."""

import math

import keras
import numpy as np
import pytest

import training
from training import callbacks as cb_lib
from training import run_dir as rd
from training import trainer as tr
from tests.test_train_lm import TINY, write_ptb


@pytest.mark.parametrize("warmup", [0.0, 0.1, 0.3])
def test_rate_follows_keras_cosine_decay_over_the_same_fraction(warmup):
    # Keras' CosineDecay with warm-up over 200 steps is the reference: the
    # timed rate at progress s/200 equals the step schedule at step s.
    steps = 200
    sched = tr.learning_rate({"learning_rate": 3e-3, "lr_schedule": "one_cycle",
                              "warmup_fraction": warmup}, total_steps=steps)
    for s in range(0, steps + 1, 7):
        assert cb_lib.one_cycle_rate(s / steps, 3e-3, warmup) == pytest.approx(
            float(sched(s)), rel=1e-5), s
    # Past the end (a budget overrun) the rate stays at the floor.
    assert cb_lib.one_cycle_rate(1.7, 3e-3, warmup) == pytest.approx(3e-3 * 0.04)
    assert cb_lib.one_cycle_rate(0.0, 3e-3, warmup) == pytest.approx(
        3e-3 / 25 if warmup else 3e-3)


class FakeClock:  # patched in as training.callbacks' clock
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class Tick(keras.callbacks.Callback):
    """Moves the fake clock 30 s on before each batch; records the rate the
    optimizer trained each batch with."""

    def __init__(self, clock):
        super().__init__()
        self.clock, self.rates = clock, []

    def on_train_batch_begin(self, batch, logs=None):
        self.clock.t += 30.0

    def on_train_batch_end(self, batch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(
            self.model.optimizer.learning_rate)))


def test_callback_sets_the_rate_from_the_seconds_trained(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(cb_lib, "_clock", clock)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    recipe = {"learning_rate": 1e-2, "lr_schedule": "one_cycle",
              "warmup_fraction": 0.2, "schedule_minutes": 5}
    model.compile(optimizer=keras.optimizers.SGD(tr.learning_rate(recipe)),
                  loss="mse")
    tick = Tick(clock)
    sched = cb_lib.TimedOneCycle(300, 1e-2, 0.2)
    x = np.ones((12, 3), "float32")
    history = model.fit(x, x[:, :1], batch_size=1, epochs=1, verbose=0,
                        shuffle=False, callbacks=[tick, sched])
    # Batch k (0-based) starts 30 * (k + 1) s into a 300 s schedule.
    want = [cb_lib.one_cycle_rate(30 * (k + 1) / 300, 1e-2, 0.2)
            for k in range(12)]
    np.testing.assert_allclose(tick.rates, want, rtol=1e-6)
    assert tick.rates[1] == pytest.approx(1e-2)  # the peak at 60 s = 20 %
    assert tick.rates[-1] == pytest.approx(1e-2 * 0.04)  # past 300 s: floor
    assert history.history["schedule_seconds"] == [360.0]


def test_callback_continues_from_start_seconds(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(cb_lib, "_clock", clock)
    sched = cb_lib.TimedOneCycle(100, 1.0, 0.0, start_seconds=40)
    sched.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    sched.model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    sched.on_train_begin()
    clock.t += 10
    sched.on_train_batch_begin(0)
    lr = float(keras.ops.convert_to_numpy(sched.model.optimizer.learning_rate))
    assert lr == pytest.approx(cb_lib.one_cycle_rate(0.5, 1.0, 0.0))
    with pytest.raises(ValueError, match="Received: seconds=0"):
        cb_lib.TimedOneCycle(0, 1.0, 0.1)


def test_recipe_checks_schedule_minutes():
    from training import recipe as rl

    r = rl.resolve("language_model", "language_model",
                   {"lr_schedule": "one_cycle", "schedule_minutes": 29})
    assert r["schedule_minutes"] == 29
    assert rl.resolve("language_model", "language_model", {})["schedule_minutes"] is None
    bad = [({"schedule_minutes": 10}, "add `lr_schedule=one_cycle`"),
           ({"lr_schedule": "one_cycle", "schedule_minutes": 0},
            "schedule_minutes=0"),
           ({"lr_schedule": "one_cycle", "schedule_minutes": True},
            "schedule_minutes=True"),
           ({"lr_schedule": "one_cycle", "schedule_minutes": float("inf")},
            "schedule_minutes=inf"),
           # finite minutes whose seconds overflow
           ({"lr_schedule": "one_cycle", "schedule_minutes": 1e307},
            "schedule_minutes=1e"),
           ({"lr_schedule": "one_cycle", "schedule_minutes": 10 ** 400},
            "schedule_minutes=1000"),
           ({"lr_schedule": "one_cycle", "schedule_minutes": 5,
             "schedule_steps": 100}, "exclude each other")]
    for given, match in bad:
        with pytest.raises(ValueError, match=match):
            rl.resolve("language_model", "language_model", given)
    # The length given replaces the preset's, counted the other way.
    r = rl.resolve("shakespeare_cpu", "language_model", {"schedule_minutes": 29})
    assert r["schedule_minutes"] == 29 and r["schedule_steps"] is None
    r = rl.resolve("shakespeare_cpu", "language_model", {"schedule_steps": 800})
    assert r["schedule_steps"] == 800 and r["schedule_minutes"] is None


def test_zoo_train_logs_the_timed_rate_and_resume_continues_it(tmp_path):
    data = write_ptb(tmp_path / "ptb")
    out = str(tmp_path / "timed")
    settings = {"lr_schedule": "one_cycle", "schedule_minutes": 60,
                "warmup_fraction": 0.5, "learning_rate": 0.01}
    first = training.train("language_model", data, out=out, epochs=1,
                           batch_size=4, bptt=5, overrides=TINY, verbose=0,
                           settings=settings)
    row = first.history[-1]
    # Seconds into a 60-minute warm-up: the rate is barely above its start.
    assert 0 < row["schedule_seconds"] < 600
    assert row["learning_rate"] == pytest.approx(
        cb_lib.one_cycle_rate(row["schedule_seconds"] / 3600, 0.01, 0.5),
        rel=0.05)
    assert row["learning_rate"] < 0.01 / 25 * 1.5
    # Say epoch 0 ended half-way through the hour (at the peak): the resumed
    # epoch must go on from there, not warm up again from the start.
    hist = rd.path(out, rd.HISTORY)
    rows = rd.read_history(hist)
    rows[0]["schedule_seconds"] = 1800.0
    rd.write_history(hist, rows)
    resumed = training.train("language_model", data, out=out, epochs=2,
                             resume=True, verbose=0)
    rows = rd.read_history(hist)
    assert [r["epoch"] for r in rows] == [0, 1]
    assert 1800 < rows[1]["schedule_seconds"] < 2400
    assert rows[1]["learning_rate"] == pytest.approx(0.01, rel=0.01)
    assert resumed.run.training["schedule_minutes"] == 60
    assert math.isfinite(rows[1]["val_loss"])


def test_a_schedule_given_replaces_the_presets_kind_of_schedule():
    from training import recipe as rl

    # ptb_awd_cpu halves its rate per epoch; a one-cycle rate given
    # replaces that decay instead of being refused beside it.
    preset = rl.resolve("ptb_awd_cpu", "language_model", {})
    assert preset["lr_decay"] == 0.5 and preset["lr_schedule"] == "constant"
    r = rl.resolve("ptb_awd_cpu", "language_model",
                   {"lr_schedule": "one_cycle", "schedule_minutes": 57})
    assert r["lr_schedule"] == "one_cycle" and r["schedule_minutes"] == 57
    assert r["lr_decay"] is None and r["lr_decay_after"] is None
    # shakespeare_cpu has a timed one-cycle rate; a per-epoch decay given
    # replaces it (and its length).
    r = rl.resolve("shakespeare_cpu", "language_model",
                   {"lr_decay": 0.5, "lr_decay_after": 2})
    assert r["lr_schedule"] == "constant" and r["schedule_minutes"] is None
    assert (r["lr_decay"], r["lr_decay_after"]) == (0.5, 2)
    # Both given together are still refused.
    with pytest.raises(ValueError, match="exclude each other"):
        rl.resolve("ptb_awd_cpu", "language_model",
                   {"lr_schedule": "one_cycle", "lr_decay": 0.5})
    # Constant given keeps the preset's decay.
    r = rl.resolve("ptb_awd_cpu", "language_model", {"lr_schedule": "constant"})
    assert r["lr_decay"] == 0.5
