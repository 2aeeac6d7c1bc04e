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
        atomic._replace(str(path), lambda tmp: Model().save(tmp, overwrite=True))
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
    atomic._replace(str(path), lambda tmp: open(tmp, "w").close(), suffix=".keras")
    assert [e[0] for e in events] == ["fsync", "replace"]
    assert events[0][1] == events[1][1]  # the same temporary file
    atomic.atomic_write_bytes(tmp_path / "b.bin", b"x")
    assert [e[0] for e in events[2:]] == ["fsync", "replace"]
    assert (tmp_path / "b.bin").read_bytes() == b"x"
