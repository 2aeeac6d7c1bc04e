"""zoo quickstart: train -> evaluate -> export -> serve -> REST predict."""

import json
import os
import random
import time

import pytest

from serving import quickstart as qs


def test_offline_without_data_fails_fast(monkeypatch, capsys):
    monkeypatch.delenv("ZOO_DATA", raising=False)
    from training.data import sources

    monkeypatch.setattr(sources, "host_reachable", lambda *a, **k: False)
    t0 = time.monotonic()
    assert qs.main(["--out", "unused-quickstart-dir"]) == 2
    assert time.monotonic() - t0 < 10
    err = capsys.readouterr().err
    assert "--data" in err and "ZOO_DATA" in err
    assert not os.path.exists("unused-quickstart-dir")


def test_data_resolution(monkeypatch, tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\nok\t1\n")
    monkeypatch.setenv("ZOO_DATA", str(path))
    assert qs.resolve_data() == str(path)
    assert qs.resolve_data("tfds:glue/sst2") == "tfds:glue/sst2"
    with pytest.raises(qs.QuickstartError, match="does not exist"):
        qs.resolve_data(str(tmp_path / "missing.tsv"))


def test_bad_preset_and_out_are_refused_before_training(tmp_path, capsys):
    data = _tiny_tsv(tmp_path / "train.tsv")
    out = tmp_path / "qs"
    assert qs.main(["--data", data, "--out", str(out), "--preset", "ptb_small"]) == 2
    err = capsys.readouterr().err
    assert "language model" in err and "preset='ptb_small'" in err
    assert qs.main(["--data", data, "--out", str(out), "--preset", "nope"]) == 1
    assert "nope" in capsys.readouterr().err
    assert not out.exists()
    out.write_text("a file, not a folder")
    assert qs.main(["--data", data, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is not a folder" in err and "Traceback" not in err
    assert out.read_text() == "a file, not a folder"
    out.unlink()
    for flag, value in (("--minutes", "0"), ("--minutes", "nan"),
                        ("--minutes", "-3"), ("--max-steps", "0"),
                        ("--max-steps", "-1")):
        with pytest.raises(SystemExit) as e:
            qs.main(["--data", data, "--out", str(out), flag, value])
        assert e.value.code == 2 and flag in capsys.readouterr().err
    for kwargs in ({"minutes": 0}, {"minutes": float("inf")}, {"minutes": 1e307},
                   {"max_steps": -1}, {"max_steps": 2.5}):
        with pytest.raises(qs.QuickstartError, match="Received"):
            qs.quickstart(data, str(out), **kwargs)
    assert not out.exists()


def _tiny_tsv(path, n=96):
    rng = random.Random(0)
    good = ["good", "great", "wonderful", "fun", "moving"]
    bad = ["bad", "dull", "awful", "boring", "weak"]
    rows = ["sentence\tlabel"]
    for i in range(n):
        label = i % 2
        words = rng.sample(good if label else bad, 3) + ["film"]
        rng.shuffle(words)
        rows.append(" ".join(words) + f"\t{label}")
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path, monkeypatch):
    monkeypatch.delenv("ZOO_DATA", raising=False)
    data = _tiny_tsv(tmp_path / "train.tsv")
    lines = []
    summary = qs.quickstart(
        data, str(tmp_path / "qs"), minutes=1, max_steps=3, batch_size=16,
        overrides={"units": 8, "embedding_dim": 8, "vocabulary_size": 64},
        log=lines.append)
    assert summary["version"] == 1
    assert os.path.isfile(os.path.join(summary["run_dir"], "model.keras"))
    assert os.path.isfile(os.path.join(summary["models_dir"], "models.config"))
    assert os.path.isdir(os.path.join(summary["models_dir"], "sentiment", "1"))
    preds = summary["predictions"]
    assert [p["text"] for p in preds] == qs.SENTENCES
    from serving.export import read_model_card

    card = read_model_card(os.path.join(summary["models_dir"], "sentiment",
                                        "1"))
    assert card["class_names"] == ["negative", "positive"]
    assert all(p["label"] in card["class_names"] for p in preds)
    assert all(abs(sum(p["probabilities"]) - 1) < 1e-3 for p in preds)
    assert 0.0 <= summary["metrics"]["accuracy"] <= 1.0
    text = "\n".join(lines)
    assert ":predict" in text and "[4/4]" in text
    json.dumps(summary, default=str)
