"""Gradient-flow diagnostics and spectral norms."""

import json
import os

import keras
import numpy as np
import pytest

import zoo
from training.lab import diagnose as DG
from training.lab import gradient_flow as D
from training.lab.tasks import adding_arrays
from training.lab.tasks import build_adding_model
from zoo.layers import RecurrentStack

T = 24


def _batch(n=4, length=T):
    return adding_arrays(n, length, seed=1)


def test_gradient_flow_one_finite_value_per_step():
    x, y = _batch()
    model = build_adding_model("lstm", 8, length=T)
    flow = D.gradient_flow(model, x, D.last_step_loss("mse", y))
    assert flow.layers == ["lstm_0"]
    assert flow.norms.shape == (1, T)
    assert np.isfinite(flow.norms).all() and (flow.norms > 0).all()
    assert np.isfinite(flow.loss)
    d = flow.to_dict()
    assert len(d["grad_norm_by_distance"]["lstm_0"]) == T
    # the probed step-wise loop computes the same forward pass
    mse = np.mean((model.predict(x, verbose=0) - y) ** 2)
    assert flow.loss == pytest.approx(mse, rel=1e-5)


def test_gradient_equals_direct_gradient_at_last_step():
    x, y = _batch(3)
    model = build_adding_model("simple_rnn", 5, length=T)
    flow = D.gradient_flow(model, x, D.last_step_loss("mse", y))
    # at distance 0 the gradient is d(loss)/d(h_T) through the Dense head
    w = model.get_layer("sum").kernel.numpy()[:, 0]
    pred = model(x).numpy()[:, 0]
    expected = np.mean(np.abs(2 * (pred - y[:, 0])) * np.linalg.norm(w))
    assert flow.norms[0, -1] == pytest.approx(expected, rel=1e-4)


def test_vanilla_rnn_vanishes_much_faster_than_lstm():
    x, y = _batch(8)
    keras.utils.set_random_seed(0)
    small = keras.initializers.Orthogonal(gain=0.5, seed=0)
    rnn = build_adding_model("simple_rnn", 16, length=T,
                             recurrent_initializer=small)
    lstm = build_adding_model("lstm", 16, length=T)  # unit forget bias 1
    f_rnn = D.gradient_flow(rnn, x, D.last_step_loss("mse", y))
    f_lstm = D.gradient_flow(lstm, x, D.last_step_loss("mse", y))
    r_rnn, r_lstm = f_rnn.decay_ratio(), f_lstm.decay_ratio()
    # 0.5**23 ~ 1e-7 for the RNN; the LSTM keeps far more signal.
    assert r_rnn < 1e-5
    assert r_lstm / r_rnn > 1e3
    by = f_rnn.by_distance()[0]
    assert by[10] < by[0] and by[20] < by[10]


@pytest.mark.parametrize("connection", ["none", "residual", "highway", "dense"])
def test_bidirectional_stacks_every_connection(connection):
    length = 10
    x, y = adding_arrays(2, length, seed=2)
    inp = keras.Input((length, 2))
    stack = RecurrentStack("gru", 6, num_layers=2, bidirectional=True,
                           connection=connection)
    model = keras.Model(inp, keras.layers.Dense(1)(stack(inp)))
    flow = D.gradient_flow(model, x, D.last_step_loss("mse", y))
    assert flow.layers == ["bidirectional_0/forward", "bidirectional_0/backward",
                           "bidirectional_1/forward", "bidirectional_1/backward"]
    assert flow.norms.shape == (4, length)
    assert np.isfinite(flow.norms).all()
    # the top backward state at the last step feeds the loss directly
    assert flow.norms[3, -1] > 0
    # every layer receives some gradient
    assert (flow.norms.max(axis=1) > 0).all()


def test_spectral_norms_match_numpy():
    model = build_adding_model("lstm", 7, length=5)
    (row,) = D.spectral_norms(model)
    w = model.get_layer("recurrent_stack").recurrent_layers[0] \
        .cell.recurrent_kernel.numpy()
    assert row["recurrent_kernel"] == pytest.approx(np.linalg.norm(w, 2),
                                                    rel=1e-6)
    assert list(row["gates"]) == ["input", "forget", "cell", "output"]
    assert row["gates"]["forget"] == pytest.approx(
        np.linalg.norm(w[:, 7:14], 2), rel=1e-6)
    gru = build_adding_model("gru", 4, length=5)
    assert list(D.spectral_norms(gru)[0]["gates"]) == [
        "update", "reset", "candidate"]


def _tiny_lm_run(tmp_path, level="word"):
    model = zoo.build("language_model", vocabulary_size=12, embedding_dim=6,
                      units=6, num_layers=2, cell="gru", level=level)
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    vocab = ["<unk>", "<eos>"] + [f"w{i}" for i in range(10)]
    (run / "vocab.txt").write_text("\n".join(vocab) + "\n")
    (run / "config.json").write_text(json.dumps(
        {"family": "language_model", "model_config": model.get_config()}))
    return run


def test_diagnose_run_dir_and_cli(tmp_path, capsys):
    run = _tiny_lm_run(tmp_path)
    rc = DG.main([str(run), "--length", "12", "--batch-size", "3"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["layers"]) == 2
    data = json.loads((run / "diagnostics" / "gradient_flow.json").read_text())
    assert data["length"] == 12
    assert len(data["spectral_norms"]) == 2
    assert os.path.getsize(run / "diagnostics" / "gradient_flow.png") > 1000
    text = tmp_path / "t.txt"
    text.write_text(" ".join(f"w{i % 10}" for i in range(60)))
    rc = DG.main([str(run), "--length", "8", "--batch-size", "2", "--text",
                 str(text), "--out", str(tmp_path / "d2")])
    assert rc == 0


def test_compare_cli(tmp_path, capsys):
    out = tmp_path / "cmp"
    rc = DG.main(["--compare", "simple_rnn,lstm", "--length", "8",
                 "--connections", "residual", "--layers", "2", "--units", "4",
                 "--batch-size", "4", "--train-steps", "2", "--out", str(out)])
    assert rc == 0
    data = json.loads((out / "compare.json").read_text())
    names = [m["name"] for m in data["models"]]
    assert names == ["simple_rnn", "lstm", "lstm x2 residual"]
    assert set(data["models"][0]["stages"]) == {"init", "trained"}
    assert (out / "compare.png").exists()


def test_cli_errors(capsys):
    with pytest.raises(SystemExit):
        DG.main([])
    with pytest.raises(SystemExit):
        DG.main(["--compare", "nope", "--length", "4"])
    # --train-steps -1 trained forever (Keras reads steps <= 0 as no limit)
    for flag in ("--length", "--batch-size", "--layers", "--units",
                 "--train-steps", "--seed"):
        with pytest.raises(SystemExit) as e:
            DG.main(["--compare", "lstm", flag, "-1"])
        assert e.value.code == 2 and flag in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        DG.main(["--compare", "lstm", "--seed", str(2 ** 31)])
    assert e.value.code == 2 and "from 0 to 2147483647" in capsys.readouterr().err


def test_diagnose_out_is_checked_before_the_work(tmp_path, capsys,
                                                 monkeypatch):
    taken = tmp_path / "a_file"
    taken.write_text("x")
    for out in (str(taken), str(taken / "sub")):
        with pytest.raises(SystemExit) as e:
            DG.main(["--compare", "lstm", "--out", out])
        assert e.value.code == 2 and "--out" in capsys.readouterr().err
    # an exploding run's farthest norm is None (not finite): no crash
    monkeypatch.setattr(DG, "diagnose_run", lambda *a, **k: {
        "plot": str(tmp_path / "p.png"), "layers": ["l"], "loss": 1.0,
        "grad_norm_by_distance": {"l": [2.0, None], "m": [0.0, 1.0]},
        "spectral_norms": []})
    assert DG.main([str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ratio_farthest_to_last"] == {"l": None, "m": None}


def test_bench_counts_are_checked(capsys):
    from training.lab import benchmarks

    for argv in (["longrange", "--lengths", "100,-5"], ["longrange", "--lengths", "a"],
                 ["longrange", "--steps", "0"], ["exploding", "--length", "-1"],
                 # the adding problem needs two positions to mark
                 ["longrange", "--lengths", "100,1"], ["exploding", "--length", "1"],
                 ["exploding", "--length", "5,6"],
                 ["exploding", "--learning-rate", "0"],
                 # a threshold <= 0 or NaN trained without clipping and
                 # reported clipped fractions all the same
                 ["exploding", "--threshold", "0"], ["exploding", "--threshold", "nan"],
                 ["exploding", "--gain", "nan"], ["longrange", "--seed", "-1"],
                 ["exploding", "--seed", "-1"],
                 # numpy's seeds end at 2**32 - 1, and the runs add to it
                 ["longrange", "--seed", "5000000000"],
                 ["exploding", "--seed", str(2 ** 31)]):
        with pytest.raises(SystemExit) as e:
            benchmarks.build_parser().parse_args(argv)
        assert e.value.code == 2
        assert argv[1] in capsys.readouterr().err


def test_bench_out_and_errors_are_clear(tmp_path, capsys, monkeypatch):
    from training.lab import benchmarks

    taken = tmp_path / "a_file"
    taken.write_text("x")
    with pytest.raises(SystemExit) as e:
        benchmarks.main(["exploding", "--out", str(taken)])
    assert e.value.code == 2 and "--out" in capsys.readouterr().err

    def must_not_train(*a, **k):
        raise AssertionError("a budget no model fits must stop before training")

    monkeypatch.setattr(benchmarks, "longrange", must_not_train)
    assert benchmarks.main(["longrange", "--budget", "10",
                            "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "zoo bench: error: No 1-layer" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_sentiment_classifier_bidirectional():
    model = zoo.build("sentiment_classifier", vocabulary_size=50,
                      embedding_dim=4, units=4, num_layers=1,
                      bidirectional=True, max_length=16)
    model.adapt_vocabulary(["a good film", "a bad film", "the plot"])
    model, flow = DG.diagnose_model(model, "sentiment_classifier", length=9,
                                   batch_size=2)
    assert flow.norms.shape == (2, 9)
    assert np.isfinite(flow.norms).all()
