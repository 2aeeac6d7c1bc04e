"""Atomic file writes: a temporary file in the same directory, then rename.

Anything another process may read (run directories, exports, configs,
reports, bench results) is written through these helpers, so a reader never
sees a half-written file and a crash leaves the previous version intact. The
parent folder is created if missing. Files get the usual permissions (0666
less the umask), not `mkstemp`'s 0600.
"""

import contextlib
import dataclasses
import io
import json
import math
import os
import shutil
import tempfile

_UMASK = os.umask(0)
os.umask(_UMASK)


def _temp_path(path, suffix=".tmp"):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=directory, prefix="." + os.path.basename(path) + ".", suffix=suffix
    )
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give normal modes
    return tmp


def _fsync(path):
    """Flushes a written file to disk, so that the rename cannot reach the
    disk before its contents (a power loss then leaves the old file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_with(path, write, suffix=".tmp"):
    """`write(tmp)` to a temporary file beside `path`, flush it to disk,
    then rename it over `path`; a failure removes the temporary file and
    leaves `path` as it was. `suffix` ends the temporary name, for writers
    that check it (`.keras`, `.weights.h5`)."""
    tmp = _temp_path(path, suffix=suffix)
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    """Writes `data` to `path` atomically (temp file + fsync + os.replace)."""

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write_with(path, write)


def atomic_write_text(path, text: str) -> None:
    """Writes UTF-8 `text` to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return _finite(o.item())
        if isinstance(o, np.ndarray):
            return _finite(o.tolist())
    except ImportError:  # pragma: no cover
        pass
    if dataclasses.is_dataclass(o):
        return dataclasses.asdict(o)
    return str(o)


def _finite(o):
    """Replaces NaN/inf floats by None so the JSON stays standard."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def json_text(obj, indent=2) -> str:
    """`obj` as standard JSON (NaN/inf become null): what a command prints
    is what its `--out` file holds."""
    return json.dumps(_finite(obj), indent=indent, sort_keys=False,
                      default=_json_default)


def atomic_write_json(path, obj) -> None:
    """Writes `obj` as indented, standard JSON (NaN/inf become null)."""
    atomic_write_text(path, json_text(obj) + "\n")


def atomic_save_model(model, path) -> None:
    """Saves a Keras model to `path` (`.keras`) atomically.

    `model.save` writes in place, so the model is saved to a temporary
    `.keras` file beside `path` and renamed over it: a run killed while
    saving leaves the previous checkpoint intact.
    """
    atomic_write_with(path, lambda tmp: model.save(tmp, overwrite=True),
             suffix=".keras")


def atomic_save_weights(model, path) -> None:
    """Saves a Keras model's weights (and optimizer state) to `path`
    (`.weights.h5`) atomically."""
    atomic_write_with(path, lambda tmp: model.save_weights(tmp, overwrite=True),
             suffix=".weights.h5")


def atomic_savefig(figure, path, **kwargs) -> None:
    """Saves a matplotlib figure atomically (format from `path`'s suffix)."""
    fmt = os.path.splitext(path)[1].lstrip(".") or "png"
    buf = io.BytesIO()
    figure.savefig(buf, format=fmt, **kwargs)
    atomic_write_bytes(path, buf.getvalue())


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


@contextlib.contextmanager
def replacing(paths, *, within, label):
    """Moves `paths` aside for the body of a `with`, then deletes them.

    Each path (a file or folder directly inside the folder `within`; missing
    ones are skipped) is moved into a new hidden folder
    `within/.LABEL.replaced-*` with one rename, so a reader sees either the
    old entry or none, never half of one. If the body raises (or a move
    fails, or an interrupt arrives), everything moved is put back under its
    name, and what the body made there is deleted; otherwise the hidden
    folder is deleted after the body. Whatever cannot be put back stays in
    the hidden folder, never deleted.

        with replacing([run_dir], within=parent, label="run"):
            os.makedirs(run_dir)  # the new run's empty folder
    """
    aside = tempfile.mkdtemp(prefix=f".{label}.replaced-", dir=within)
    moved = []  # (where it is aside, its name); noted before the rename
    try:
        for i, source in enumerate(paths):
            source = os.path.abspath(source)
            if os.path.dirname(source) != os.path.abspath(within):
                raise ValueError(f"replacing: {source} is not directly inside "
                                 f"{within}")
            if os.path.lexists(source):
                target = os.path.join(aside, str(i))
                moved.append((target, source))
                os.replace(source, target)
        yield
    except BaseException:
        _put_back(moved, aside)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _put_back(moved, aside):
    """`replacing`'s rollback: each moved entry back under its name (what
    the body made there goes aside first); the hidden folder is deleted only
    when nothing of the old entries is left in it."""
    restored = True
    for n, (target, source) in enumerate(reversed(moved)):
        if not os.path.lexists(target):
            continue  # the rename never happened
        try:
            if os.path.lexists(source):
                os.replace(source, os.path.join(aside, f"made-{n}"))
            os.replace(target, source)
        except OSError:
            restored = False
    if restored:
        shutil.rmtree(aside, ignore_errors=True)
