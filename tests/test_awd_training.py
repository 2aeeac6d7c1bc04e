"""AWD-LSTM's training side: weight averaging in the optimizer hook,
variable-length BPTT with the rate scaled by the window, the recipe
settings, and a language model trained end to end with every option
(resumed, evaluated, searched)."""

import json
import math
import os

import keras
import numpy as np
import pytest

import training
from tests.test_train_lm import write_ptb
from training import optimizer as O
from training import recipe as R
from training import trainer as tr
from training.data import variable_window_starts

to_np = keras.ops.convert_to_numpy


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2),
                              keras.layers.Dense(1)])
    return model


def _xy(n=6):
    rng = np.random.default_rng(0)
    return (rng.random((n, 3)).astype("float32"),
            rng.random((n, 1)).astype("float32"))


class WeightsAfterEachStep(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.after = []

    def on_train_batch_end(self, batch, logs=None):
        self.after.append([to_np(v).copy()
                           for v in self.model.trainable_variables])


def _averaging_optimizer(model, kind, start_step, momentum=0.999):
    opt = O.make_optimizer("sgd", 0.1)
    opt.set_weight_averaging(kind, momentum=momentum)
    opt.build(model.trainable_variables)
    opt.average_from_step.assign(float(start_step))
    return opt


def test_uniform_average_is_the_mean_of_the_weights_from_the_start_step():
    model = _model()
    opt = _averaging_optimizer(model, "uniform", start_step=3)
    model.compile(optimizer=opt, loss="mse")
    record = WeightsAfterEachStep()
    x, y = _xy(8)
    model.fit(x, y, batch_size=1, epochs=1, verbose=0, callbacks=[record],
              shuffle=False)
    assert float(to_np(opt.averaged_steps)) == 6  # steps 3..8
    for i, average in enumerate(opt.averages):
        expected = np.mean([w[i] for w in record.after[2:]], axis=0)
        np.testing.assert_allclose(to_np(average), expected, rtol=1e-5,
                                   atol=1e-7)


def test_ema_follows_its_warmed_up_formula():
    model = _model()
    opt = _averaging_optimizer(model, "ema", start_step=1, momentum=0.5)
    model.compile(optimizer=opt, loss="mse")
    record = WeightsAfterEachStep()
    x, y = _xy(5)
    model.fit(x, y, batch_size=1, epochs=1, verbose=0, callbacks=[record],
              shuffle=False)
    for i, average in enumerate(opt.averages):
        ema = record.after[0][i]
        for n, weights in enumerate(record.after[1:], start=1):
            decay = min(0.5, (1 + n) / (10 + n))
            ema = decay * ema + (1 - decay) * weights[i]
        np.testing.assert_allclose(to_np(average), ema, rtol=1e-5, atol=1e-7)


class SeenAtEpochEdges(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.at_end, self.at_begin = [], []

    def _weights(self):
        return [to_np(v).copy() for v in self.model.trainable_variables]

    def on_epoch_end(self, epoch, logs=None):
        self.at_end.append(self._weights())

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.at_begin.append(self._weights())


def test_averaged_weights_are_swapped_in_at_epoch_end_and_back_after():
    model = _model()
    opt = O.make_optimizer("sgd", 0.1)
    opt.set_weight_averaging("uniform")
    opt.build(model.trainable_variables)
    model.compile(optimizer=opt, loss="mse")
    record, steps = SeenAtEpochEdges(), WeightsAfterEachStep()
    x, y = _xy(4)
    model.fit(x, y, batch_size=1, epochs=3, verbose=0, shuffle=False,
              callbacks=[O.AveragedWeights(opt, start_epoch=1), record, steps])
    # epoch 0 is not averaged: the raw weights
    for got, raw in zip(record.at_end[0], steps.after[3]):
        np.testing.assert_array_equal(got, raw)
    # epochs 1 and 2: the mean of the weights after steps 5.. (1-based)
    for epoch in (1, 2):
        last = 4 * (epoch + 1)
        for i, got in enumerate(record.at_end[epoch]):
            expected = np.mean([w[i] for w in steps.after[4:last]], axis=0)
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    # epoch 2 starts from the raw weights of the end of epoch 1
    for got, raw in zip(record.at_begin[2], steps.after[7]):
        np.testing.assert_array_equal(got, raw)
    assert float(to_np(opt.averages_swapped)) == 1.0  # ends averaged


class ValidationLosses(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.val_losses = []

    def on_epoch_end(self, epoch, logs=None):
        self.val_losses.append(logs["val_loss"])


def test_fits_own_validation_scores_the_averaged_weights():
    """`fit(validation_data=...)` validates before `on_epoch_end`; the
    figure it logs must be the averages' (backend-neutral: plain Keras)."""
    model = _model()
    opt = O.make_optimizer("sgd", 0.1)
    opt.set_weight_averaging("uniform")
    opt.build(model.trainable_variables)
    model.compile(optimizer=opt, loss="mse")
    x, y = _xy(8)
    xv, yv = x[:3] + 0.5, y[:3]
    losses = ValidationLosses()
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, shuffle=False,
              validation_data=(xv, yv),
              callbacks=[O.AveragedWeights(opt, start_epoch=0), losses])
    # fit ends with the averages in the model (see the test above)
    averaged = model.evaluate(xv, yv, verbose=0)
    np.testing.assert_allclose(losses.val_losses[-1], averaged, rtol=1e-5)
    opt.swap_averages()  # the raw weights score differently
    assert abs(model.evaluate(xv, yv, verbose=0) - averaged) > 1e-4


def test_averaging_is_checked():
    opt = O.make_optimizer("sgd", 0.1)
    with pytest.raises(ValueError, match="Unknown weight average"):
        opt.set_weight_averaging("swa")
    with pytest.raises(ValueError, match="momentum"):
        opt.set_weight_averaging("ema", momentum=1.0)


def test_step_learning_rate_scale_scales_the_sgd_step():
    v = keras.Variable(np.ones((2,), "float32"))
    opt = O.make_optimizer("sgd", 0.1)
    opt.build([v])
    opt.step_learning_rate_scale = keras.ops.convert_to_tensor(0.5)
    opt.apply([keras.ops.convert_to_tensor(np.array([1.0, 2.0], "float32"))],
              [v])
    np.testing.assert_allclose(to_np(v), [1 - 0.05, 1 - 0.1], rtol=1e-6)


def test_trainer_scales_the_rate_by_the_window_length():
    """A window of 2 steps with bptt 4 moves SGD by half its plain step."""
    inputs = keras.Input((None, 3))
    net = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    x = np.random.default_rng(0).random((4, 2, 3)).astype("float32")
    y = np.random.default_rng(1).random((4, 2, 1)).astype("float32")
    w0 = [to_np(v).copy() for v in net.trainable_variables]
    plain = []
    for window_bptt in (None, 4):
        for v, w in zip(net.trainable_variables, w0):
            v.assign(w)
        trainer = tr.Trainer(net, window_bptt=window_bptt)
        trainer.compile(optimizer=O.make_optimizer("sgd", 0.1), loss="mse")
        trainer.fit(x, y, batch_size=4, epochs=1, verbose=0)
        step = [to_np(v) - w for v, w in zip(net.trainable_variables, w0)]
        if window_bptt is None:
            plain = step
        else:
            for got, full in zip(step, plain):
                np.testing.assert_allclose(got, 0.5 * full, rtol=1e-5)


# --------------------------------------------------------- variable BPTT


def test_variable_windows_are_contiguous_and_around_bptt():
    bounds = variable_window_starts(10_000, 35, 280, seed=3)
    assert len(bounds) == 280 and bounds[0][0] == 0
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    lengths = np.array([b - a for a, b in bounds])
    assert bounds[-1][1] <= 10_000
    assert lengths.min() >= 5 and lengths.max() <= 55
    assert 30 < lengths.mean() < 36 and len(set(lengths)) > 10
    assert bounds == variable_window_starts(10_000, 35, 280, seed=3)
    assert bounds != variable_window_starts(10_000, 35, 280, seed=4)
    # windows that would overrun the row are scaled down to fit
    tight = variable_window_starts(100, 35, 3, seed=0)
    assert len(tight) == 3 and tight[-1][1] <= 100


def test_variable_windows_dataset_covers_the_stream_in_order():
    ids = np.arange(2 * 400, dtype="int32")
    ds = tr.language_model_windows(ids, batch_size=2, bptt=10, variable=True,
                                   seed=0)
    epochs = []
    for _ in range(2):
        windows = [(to_np(a), to_np(b)) for a, b in ds]
        assert len(windows) == 39  # as many as fixed windows
        inputs = np.concatenate([a for a, _ in windows], axis=1)
        targets = np.concatenate([b for _, b in windows], axis=1)
        rows = ids.reshape(2, 400)
        np.testing.assert_array_equal(inputs, rows[:, :inputs.shape[1]])
        np.testing.assert_array_equal(targets, rows[:, 1:inputs.shape[1] + 1])
        epochs.append([a.shape[1] for a, _ in windows])
    assert epochs[0] != epochs[1]  # drawn anew each epoch


# --------------------------------------------------------------- recipe


@pytest.mark.parametrize("given, message", [
    ({"weight_average": "swa"}, "Unknown weight_average"),
    ({"weight_average": "ema", "average_momentum": 1.5}, "average_momentum"),
    ({"weight_average": "uniform", "average_momentum": 0.9}, "applies to"),
    ({"average_start_epoch": 2}, "need"),
    ({"weight_average": "uniform", "average_start_epoch": -1},
     "average_start_epoch"),
    ({"variable_bptt": "yes"}, "variable_bptt"),
])
def test_bad_averaging_and_bptt_settings(given, message):
    with pytest.raises(ValueError, match=message):
        R.resolve("language_model", "language_model", given)


def test_weight_average_none_turns_a_presets_averaging_off():
    recipe = R.resolve("ptb_awd_cpu", "language_model",
                       {"weight_average": "none"})
    assert recipe["weight_average"] is None
    assert recipe["average_momentum"] is None
    assert recipe["average_start_epoch"] is None


def test_variable_bptt_is_for_language_models():
    with pytest.raises(ValueError, match="language models only"):
        R.resolve("sst2_bigru_highway", "sentiment_classifier",
                  {"variable_bptt": True})


def test_presets_carry_the_awd_settings():
    import zoo

    awd = zoo.get_preset("ptb_awd")
    assert awd["config"]["units"] == [1150, 1150, 400]
    assert zoo.build("ptb_awd").count_params() == pytest.approx(24.2e6,
                                                                rel=0.01)
    cpu = R.resolve("ptb_awd_cpu", "language_model", {})
    assert cpu["weight_average"] == "ema" and cpu["variable_bptt"] is True
    assert zoo.build("ptb_awd_cpu").count_params() <= 10_000_000


# ------------------------------------------------------------ end to end

EVERYTHING = {"units": 8, "embedding_dim": 8, "num_layers": 2,
              "weight_drop": 0.3, "locked_dropout": True, "dropout": 0.2,
              "embedding_dropout": 0.2, "output_dropout": 0.2,
              "word_dropout": 0.1, "zoneout": 0.05, "cell_zoneout": 0.1,
              "layer_norm": True, "projection": 4, "ar": 2.0, "tar": 1.0,
              "tie_weights": True}


@pytest.mark.slow
def test_language_model_with_every_option_trains_resumes_and_evaluates(
        tmp_path):
    from training.evaluate import evaluate

    data = write_ptb(tmp_path / "ptb")
    out = str(tmp_path / "run")
    settings = {"weight_average": "ema", "average_momentum": 0.9,
                "average_start_epoch": 1, "variable_bptt": True}
    training.train("language_model", data, out=out, epochs=1, batch_size=4,
                   bptt=5, optimizer="sgd", learning_rate=1.0,
                   overrides=EVERYTHING, settings=settings, verbose=0)
    result = training.train("language_model", data, out=out, epochs=3,
                            resume=True, verbose=0)
    with open(os.path.join(out, "history.csv")) as f:
        rows = f.read().splitlines()
    header = rows[0].split(",")
    table = [dict(zip(header, r.split(","))) for r in rows[1:]]
    assert len(table) == 3
    assert table[0]["averaged_steps"] == ""  # epoch 0: not averaged
    steps = [float(r["averaged_steps"]) for r in table[1:]]
    assert steps[1] == 2 * steps[0] > 0  # the average carried over resume
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["training"]["weight_average"] == "ema"
    assert config["model_config"]["projection"] == 4
    # the saved best model is the averaged one that validation scored
    best = result.metrics["best_epoch"]
    ev = evaluate(out, data, split="validation", batch_size=4)
    assert math.isclose(ev["loss"], float(table[best]["val_loss"]),
                        rel_tol=1e-4)


def test_a_classifier_validates_and_saves_the_same_averaged_weights(tmp_path):
    """Keras' `fit` validates a classifier (`validation_data`) before the
    epoch-end callbacks: the figures it logs, the checkpoint it picks and
    `zoo evaluate` must all describe the averaged weights."""
    from tests._files import sentiment_tsv
    from training.evaluate import evaluate

    data = sentiment_tsv(tmp_path / "train.tsv", 80)
    out = str(tmp_path / "run")
    tiny = {"units": 8, "embedding_dim": 8, "vocabulary_size": 40,
            "num_layers": 1, "max_length": 8}
    result = training.train(
        "sentiment_classifier", data, out=out, epochs=3, batch_size=8,
        overrides=tiny, verbose=0, validation_split=0.25,
        settings={"weight_average": "ema", "average_momentum": 0.5,
                  "average_start_epoch": 0, "learning_rate": 0.05})
    rows = result.history
    # every epoch validates averages, so whichever epoch is best (ties in
    # accuracy go to the first), the best checkpoint must match its figure
    assert all(row["averaged_steps"] > 0 for row in rows)
    last = evaluate(out, data, checkpoint="last")
    assert math.isclose(last["loss"], rows[-1]["val_loss"], rel_tol=1e-4)
    assert math.isclose(last["accuracy"], rows[-1]["val_accuracy"],
                        rel_tol=1e-6)
    best = evaluate(out, data)
    assert math.isclose(best["loss"],
                        rows[result.best_epoch]["val_loss"], rel_tol=1e-4)


def test_cli_recipe_flags_reach_the_averaging(tmp_path, capsys):
    from training.cli_train import main

    data = write_ptb(tmp_path / "ptb")
    out = str(tmp_path / "run")
    code = main(["language_model", "--data", data, "--out", out,
                 "--epochs", "1", "--batch-size", "4", "--bptt", "5",
                 "--set", "units=8", "--set", "embedding_dim=8",
                 "--set", "num_layers=1", "--set", "weight_drop=0.5",
                 "--recipe", "weight_average=uniform",
                 "--recipe", "variable_bptt=true", "--verbose", "0"])
    assert code == 0
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["training"]["weight_average"] == "uniform"
    assert config["training"]["variable_bptt"] is True
    assert config["model_config"]["weight_drop"] == 0.5
    code = main(["language_model", "--data", data, "--out", out + "2",
                 "--recipe", "weight_average=swa", "--verbose", "0"])
    assert code == 2
    assert "Unknown weight_average 'swa'" in capsys.readouterr().err


def test_tune_space_reaches_the_new_options():
    from training import tune as tn

    searched, fixed = tn.build_space("ptb_awd_cpu", {
        "defaults": False,
        "weight_drop": {"min": 0.0, "max": 0.5, "step": 0.1},
        "zoneout": {"choice": [0.0, 0.1]},
        "layer_norm": {"choice": [True, False]},
        "locked_dropout": True,
        "weight_average": {"choice": ["uniform", "ema"]},
        "variable_bptt": {"choice": [True, False]},
    })
    assert set(searched) == {"weight_drop", "zoneout", "layer_norm",
                             "weight_average", "variable_bptt"}
    assert fixed == {"locked_dropout": True}
    with pytest.raises(ValueError):
        tn.build_space("ptb_awd_cpu", {"weight_drop": {"min": 0.0,
                                                        "max": 1.5}})


@pytest.mark.parametrize("cell,options", [
    ("lstm", {k: v for k, v in EVERYTHING.items()
              if k not in ("units", "embedding_dim", "num_layers")}),
    ("gru", {"weight_drop": 0.3, "zoneout": 0.1, "layer_norm": True,
             "locked_dropout": True, "word_dropout": 0.1, "dropout": 0.2,
             "ar": 2.0, "tar": 1.0}),
])
def test_savedmodel_export_of_a_model_with_the_new_options(tmp_path, cell,
                                                           options):
    tf = pytest.importorskip("tensorflow")
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from test_export_support import WORD_VOCAB, lm_reference_scores, write_run

    import zoo
    from serving import export as ex

    model = zoo.build("language_model", vocabulary_size=len(WORD_VOCAB) + 2,
                      embedding_dim=8, cell=cell, units=8, num_layers=2,
                      **options)
    run = write_run(str(tmp_path / "run"), model, family="language_model",
                    vocab=WORD_VOCAB, level="word")
    result = ex.export(run, str(tmp_path / "models"), "awd")
    texts = ["the cat sat on the mat", "dog ran"]
    score = tf.saved_model.load(result.path).signatures["score"]
    got = score(text=tf.constant(texts))["log_prob"].numpy()
    expected = lm_reference_scores(model, WORD_VOCAB, texts, "word")
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_nonmonotonic_trigger_starts_averaging_as_nt_asgd():
    model = _model()
    opt = O.make_optimizer("sgd", 0.1)
    opt.set_weight_averaging("uniform")
    opt.build(model.trainable_variables)
    callback = O.AveragedWeights(opt, start_epoch="nonmonotonic")
    callback.set_model(model)
    # validation losses: improving for 7 epochs, then one worse than the
    # best before the last 5 (epoch 7: 0.35 > min(0.9, 0.8) is false;
    # epoch 8: 0.95 > min(0.9, 0.8, 0.7) is true, so epoch 9 averages)
    losses = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.35, 0.95]
    started = []
    for epoch, loss in enumerate(losses):
        callback.on_epoch_begin(epoch)
        started.append(opt.averaging_started())
        callback.on_epoch_end(epoch, {"val_loss": loss})
    callback.on_epoch_begin(len(losses))
    assert not any(started)
    assert opt.averaging_started()
    assert R.resolve("ptb_awd", "language_model", {})[
        "average_start_epoch"] == "nonmonotonic"
