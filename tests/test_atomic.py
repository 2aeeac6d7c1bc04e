"""`training.atomic`: a failed write leaves the old file; the new one is on
disk before it is renamed into place."""

import json
import os

import pytest

from training import atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    atomic.atomic_write_json(path, {"v": 1})

    class Model:
        def save(self, tmp, overwrite):
            with open(tmp, "w") as f:
                f.write("half a model")
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomic.atomic_write_with(str(path), lambda tmp: Model().save(tmp, overwrite=True))
    assert json.loads(path.read_text()) == {"v": 1}
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_the_temporary_file_is_flushed_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_replace = os.replace
    monkeypatch.setattr(atomic, "_fsync", lambda p: events.append(("fsync", p)))
    monkeypatch.setattr(atomic.os, "replace",
                        lambda a, b: (events.append(("replace", a)),
                                      real_replace(a, b)))
    path = tmp_path / "model.keras"
    atomic.atomic_write_with(str(path), lambda tmp: open(tmp, "w").close(), suffix=".keras")
    assert [e[0] for e in events] == ["fsync", "replace"]
    assert events[0][1] == events[1][1]  # the same temporary file
    atomic.atomic_write_bytes(tmp_path / "b.bin", b"x")
    assert [e[0] for e in events[2:]] == ["fsync", "replace"]
    assert (tmp_path / "b.bin").read_bytes() == b"x"


def _tree(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder)
                  for d, _, files in os.walk(folder) for f in files)


def test_replacing_deletes_what_it_moved_aside_after_the_body(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    (tmp_path / "trials.csv").write_text("a\n")
    (tmp_path / "keep.txt").write_text("k")
    with atomic.replacing([tmp_path / "run", tmp_path / "trials.csv",
                           tmp_path / "missing"], within=tmp_path, label="x"):
        # inside the body the old entries are gone from their names
        assert sorted(os.listdir(tmp_path))[1:] == ["keep.txt"]
        (tmp_path / "run").mkdir()
    assert sorted(os.listdir(tmp_path)) == ["keep.txt", "run"]
    assert os.listdir(tmp_path / "run") == []


def test_replacing_puts_everything_back_when_the_body_or_a_move_fails(
        tmp_path, monkeypatch):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    (tmp_path / "trials.csv").write_text("a\n")
    before = _tree(tmp_path)
    with pytest.raises(OSError, match="read-only"):
        with atomic.replacing([tmp_path / "run"], within=tmp_path, label="x"):
            raise OSError(30, "read-only file system")
    assert _tree(tmp_path) == before and sorted(os.listdir(tmp_path)) == [
        "run", "trials.csv"]

    real_replace = os.replace  # the second move fails: the first comes back

    def replace(a, b):
        if os.path.basename(a) == "trials.csv" and ".replaced-" in os.fspath(b):
            raise OSError(16, "busy")
        real_replace(a, b)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(OSError, match="busy"):
        with atomic.replacing([tmp_path / "run", tmp_path / "trials.csv"],
                              within=tmp_path, label="x"):
            pytest.fail("the body must not run")
    assert _tree(tmp_path) == before and sorted(os.listdir(tmp_path)) == [
        "run", "trials.csv"]


def test_replacing_an_interrupt_just_after_a_rename_loses_nothing(tmp_path, monkeypatch):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    before = _tree(tmp_path)
    real_replace = os.replace
    calls = []

    def replace(a, b):  # Ctrl-C lands after the rename, before Python notes it
        real_replace(a, b)
        calls.append(a)
        if len(calls) == 1:
            raise KeyboardInterrupt
    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        with atomic.replacing([tmp_path / "run"], within=tmp_path, label="x"):
            pytest.fail("the body must not run")
    assert _tree(tmp_path) == before and os.listdir(tmp_path) == ["run"]


def test_replacing_rollback_removes_what_the_body_made_there(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text('{"old": 1}')
    with pytest.raises(RuntimeError, match="half-way"):
        with atomic.replacing([tmp_path / "run/"], within=tmp_path, label="x"):
            (tmp_path / "run").mkdir()
            (tmp_path / "run" / "history.csv").write_text("new")
            raise RuntimeError("half-way")
    assert os.listdir(tmp_path) == ["run"]
    assert os.listdir(tmp_path / "run") == ["config.json"]
    assert (tmp_path / "run" / "config.json").read_text() == '{"old": 1}'


def test_replacing_refuses_a_path_outside_its_folder(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_text("x")
    with pytest.raises(ValueError, match="not directly inside"):
        with atomic.replacing([tmp_path / "a" / "f"], within=tmp_path, label="x"):
            pass
    assert (tmp_path / "a" / "f").read_text() == "x"
    assert sorted(os.listdir(tmp_path)) == ["a"]


def test_json_text_is_standard_json_like_the_written_file(tmp_path):
    import numpy as np

    obj = {"perplexity": float("inf"), "loss": float("nan"), "ok": [1.5, -float("inf")],
           "f32": np.float32("nan"), "array": np.array([1.0, np.inf])}
    text = atomic.json_text(obj)
    assert json.loads(text) == {"perplexity": None, "loss": None, "ok": [1.5, None],
                                "f32": None, "array": [1.0, None]}
    assert "Infinity" not in text and "NaN" not in text
    atomic.atomic_write_json(tmp_path / "r.json", obj)
    assert (tmp_path / "r.json").read_text() == text + "\n"
