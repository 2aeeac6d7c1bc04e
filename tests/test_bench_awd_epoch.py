"""`bench/awd_epoch.py`: the train-step timing's policies, settings and errors."""

import json
import sys

import keras
import pytest

from tests._files import load_script


def _bench():
    return load_script("bench/awd_epoch.py", "awd_epoch")


@pytest.fixture
def float32_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_measure_times_the_policy_and_settings_asked_for(float32_policy):
    bench = _bench()
    row = bench.measure("ptb_small", 1, batch_size=2, policy="mixed_bfloat16",
                        settings={"sampled_softmax": 64})
    # read back from the model and the trainer that were timed
    assert row["policy"] == "mixed_bfloat16"
    assert row["sampled_softmax"] == 64
    assert row["settings"] == {"sampled_softmax": 64}
    assert (row["batch_size"], row["bptt"]) == (2, 20)  # ptb_small's bptt
    assert row["tokens_per_s"] > 0 and row["seconds_per_step"] > 0
    # PTB's 929,589 training tokens in 2 rows, less the last position,
    # in windows of 20
    assert row["epoch_steps"] == (929_589 // 2 - 1) // 20
    plain = bench.measure("ptb_small", 1, batch_size=2)
    assert (plain["policy"], plain["sampled_softmax"]) == ("float32", None)


def test_measure_puts_the_previous_policy_back_even_when_it_fails(
        float32_policy):
    bench = _bench()
    keras.mixed_precision.set_global_policy("mixed_float16")
    with pytest.raises(ValueError, match="below the vocabulary size"):
        bench.measure("ptb_small", 1, batch_size=2, policy="mixed_bfloat16",
                      settings={"sampled_softmax": 10_000})
    assert keras.mixed_precision.global_policy().name == "mixed_float16"


def test_rows_alternate_with_the_baseline_and_the_file_records_them(
        monkeypatch, tmp_path):
    bench = _bench()
    calls = []

    def fake(preset, steps, batch, policy, settings):
        calls.append((preset, batch, policy, settings))
        return {"preset": preset, "batch_size": batch, "policy": policy,
                "settings": settings}

    monkeypatch.setattr(bench, "measure", fake)
    out = tmp_path / "out.json"
    monkeypatch.setattr(sys, "argv", [
        "awd_epoch.py", "--presets", "ptb_small", "--batch-sizes", "10", "20",
        "--recipe", "sampled_softmax=512", "--with-baseline", "--out",
        str(out)])
    bench.main()
    ss = {"sampled_softmax": 512}
    assert calls == [("ptb_small", 10, "float32", {}),
                     ("ptb_small", 10, "float32", ss),
                     ("ptb_small", 20, "float32", {}),
                     ("ptb_small", 20, "float32", ss)]
    result = json.loads(out.read_text())
    assert [r["settings"] for r in result["rows"]] == [{}, ss, {}, ss]
    assert result["command"][:2] == [".venv/bin/python", "bench/awd_epoch.py"]
    assert set(result["loadavg"]) == {"before", "after"}


@pytest.mark.parametrize("argv, message", [
    (["--presets", "ptb_regularized", "--with-baseline"],
     "--with-baseline compares against --recipe"),
    (["--presets", "ptb_regularized", "--recipe", "bogus=1"],
     "Unknown training setting"),
    (["--presets", "ptb_regularized", "--recipe", "sampled_softmax=-3"],
     "sampled_softmax"),
    (["--presets", "ptb_regularized", "--recipe", "sampled_softmax=10000"],
     "below the vocabulary size (10000). Received: sampled_softmax=10000"),
    (["--presets", "ptb_regularized", "shakespeare_char", "--recipe",
      "sampled_softmax=32"], "shakespeare_char: `sampled_softmax` trains word-level"),
    (["--presets", "ptb_regularized", "--policies", "float16"],
     "invalid choice"),
    (["--presets", "sst2_bigru_highway"], "not language models"),
])
def test_bad_arguments_fail_before_any_timing(argv, message, monkeypatch,
                                              capsys, tmp_path):
    bench = _bench()
    out = tmp_path / "out.json"
    monkeypatch.setattr(sys, "argv", ["awd_epoch.py", *argv,
                                      "--out", str(out)])
    monkeypatch.setattr(bench, "measure", lambda *a, **k: pytest.fail(
        "timed despite bad arguments"))
    with pytest.raises(SystemExit) as e:
        bench.main()
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
