"""MODELS_DIR: the one module that reads and writes a models directory.

TensorFlow Serving's layout:

```
models.config              text ModelServerConfig, one entry per model
batching.config            text BatchingParameters (written once)
NAME/<integer version>/    saved_model.pb, variables/, assets/,
                           assets.extra/model_card.json
```

`zoo export` publishes versions here (`publish`, `register`); the local
server finds them here (`scan_versions`), like TF Serving does. A version
directory appears by rename, never by being written in place: the export
goes to `NAME/.tmp-<uuid>` (not an integer, so every server ignores it), the
model card is added, and the directory is renamed to its version. The two
config files' formats are `serving.config`'s.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
import uuid

from serving import config as serving_config
from training.atomic import atomic_write_json

MODEL_CARD = "model_card.json"
ASSETS_EXTRA = "assets.extra"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
_VERSION_RE = re.compile(r"^[0-9]+$")
# TF Serving's versions are int64: a larger directory number is no version.
MAX_VERSION = 2 ** 63 - 1


class ExportError(ValueError):
    """A model cannot be exported or published (bad name or version, the
    version exists, a model the zoo cannot export); the message says which."""


def check_name(name) -> str:
    """Returns `name` if it is a valid model name (see `serving.config`).

    Raises:
        ExportError: letters, digits, `_`, `-` and `.` only, neither `.`
            nor `..`, nor the name of a file the models directory keeps
            (`models.config`, ...).
    """
    if not isinstance(name, str) or not serving_config.valid_name(name):
        raise ExportError(f"Invalid model name {name!r}: use letters, digits, "
                          "'_', '-' and '.' only ('.' and '..' name folders).")
    if name in serving_config.RESERVED_NAMES:
        raise ExportError(f"Invalid model name {name!r}: the models directory "
                          "keeps a file of that name.")
    return name


def check_label(label):
    """Returns `label` (or `None`) if it is a valid version label.

    Raises:
        ExportError: letters, digits, `_`, `-` and `.` only.
    """
    if label is not None and not serving_config.valid_name(str(label)):
        raise ExportError(f"Invalid version label {label!r}: use letters, "
                          "digits, '_', '-' and '.' only.")
    return label


def model_dir(models_dir, name) -> str:
    """`MODELS_DIR/NAME`, the base path of a model's versions."""
    return os.path.join(os.path.abspath(os.fspath(models_dir)), name)


def list_versions(models_dir, name) -> list:
    """Sorted integer versions present under `MODELS_DIR/NAME`."""
    return sorted(scan_versions(model_dir(models_dir, name)))


def scan_versions(base_path, errors=None) -> dict:
    """`{version: (path, key)}` for the integer subdirectories of `base_path`
    that hold a SavedModel, as TF Serving sees them.

    `key` changes when a version directory is replaced (path, inode,
    modification time), so a server can tell that it must reload.

    A missing `base_path` (or one that is a file) has no versions, and a
    version directory without a SavedModel file is not a version. Any other
    error (no permission, an I/O error) is raised as `OSError`, so that a
    caller never takes an unreadable directory for an empty one; with an
    `errors` dict, an error reading one version directory is recorded there
    (`{version: OSError}`) and that version left out, the others scanned.
    """
    found = {}
    try:
        names = os.listdir(base_path)
    except (FileNotFoundError, NotADirectoryError):
        return found
    for entry in names:
        if not _is_version(entry):
            continue
        path = os.path.join(base_path, entry)
        try:
            st = _version_stat(path)
        except OSError as e:
            if errors is None:
                raise
            errors[int(entry)] = e
            continue
        if st is not None:
            found[int(entry)] = (path, (path, st.st_ino, st.st_mtime_ns))
    return found


def _is_version(entry) -> bool:
    """Whether a directory name is a version number TF Serving reads (an
    int64)."""
    return bool(_VERSION_RE.match(entry)) and int(entry) <= MAX_VERSION


def _version_stat(path):
    """`os.stat` of a version directory that holds a SavedModel file, None
    when it is gone or holds none; other errors are raised."""
    absent = (FileNotFoundError, NotADirectoryError)
    for f in SAVED_MODEL_FILES:
        try:
            if stat.S_ISREG(os.stat(os.path.join(path, f)).st_mode):
                break
        except absent:
            continue
    else:
        return None
    try:
        return os.stat(path)
    except absent:
        return None


def read_model_card(version_dir) -> dict:
    """Reads the model card of an exported version directory."""
    with open(os.path.join(os.fspath(version_dir), ASSETS_EXTRA, MODEL_CARD),
              encoding="utf-8") as f:
        return json.load(f)


def _write_card(version_tmp, card):
    # Non-finite floats become null, as in every JSON the project writes.
    atomic_write_json(os.path.join(version_tmp, ASSETS_EXTRA, MODEL_CARD), card)


def _remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)


def publish(models_dir, name, write, card, *, version=None, overwrite=False):
    """Writes a new version of `name` atomically and returns it.

    Args:
        models_dir: the models directory (created if missing).
        name: the model name.
        write: `write(path)` writes the SavedModel into `path` (a temporary
            directory beside the versions).
        card: the model card; `version` is filled in.
        version: the integer version; default: one more than the highest.
        overwrite: replace an existing `version`: on Linux the new and
            the old directory swap places in one step (`renameat2`'s
            `RENAME_EXCHANGE`), elsewhere the old one is renamed aside and
            the new one in; then the old one is deleted.

    Returns:
        `(version, replaced)`.

    Raises:
        ExportError: a bad name or version, or the version exists without
            `overwrite`. A failed write removes its temporary directory and
            leaves no version behind.
    """
    check_name(name)
    if version is not None and (isinstance(version, bool) or
                                not isinstance(version, int) or
                                not 0 <= version <= MAX_VERSION):
        raise ExportError(f"Invalid version {version!r}: expected an integer "
                          f">= 0 and <= {MAX_VERSION} (TF Serving's versions "
                          "are int64).")
    base = model_dir(models_dir, name)
    if version is not None and not overwrite and \
            os.path.exists(os.path.join(base, str(version))):
        raise ExportError(
            f"{os.path.join(base, str(version))} exists; pass overwrite=True "
            "(--overwrite) to replace it, or choose another version.")
    os.makedirs(base, exist_ok=True)
    tmp = os.path.join(base, f".tmp-{uuid.uuid4().hex}")
    try:
        write(tmp)
        return _rename_in(tmp, base, version, overwrite, card)
    except BaseException:
        _remove_tree(tmp)
        raise


def _rename_in(tmp, base, version, overwrite, card):
    if version is None:
        for _ in range(100):
            # Every integer directory holds its number, a broken one too.
            taken = [int(e) for e in os.listdir(base) if _is_version(e)]
            candidate = (max(taken) + 1) if taken else 1
            if candidate > MAX_VERSION:
                raise ExportError(
                    f"{base}: version {MAX_VERSION} exists, so there is no "
                    "next version; pass --version.")
            card["version"] = candidate
            _write_card(tmp, card)
            try:
                os.rename(tmp, os.path.join(base, str(candidate)))
                return candidate, False
            except OSError:
                if not os.path.exists(os.path.join(base, str(candidate))):
                    raise
                # Another export took this version meanwhile: try the next.
        raise ExportError(f"Could not find a free version under {base}.")
    card["version"] = version
    _write_card(tmp, card)
    target = os.path.join(base, str(version))
    if not os.path.exists(target):
        try:
            os.rename(tmp, target)
            return version, False
        except OSError:
            if not os.path.exists(target):
                raise
    if not overwrite:
        raise ExportError(f"{target} exists; pass overwrite=True "
                          "(--overwrite) to replace it.")
    if _exchange(tmp, target):
        # one step: a server scanning meanwhile sees the old or the new one
        _remove_tree(tmp)  # (now the old version)
        return version, True
    # Elsewhere two renames: for a moment the version is missing, and a
    # server that scans then may unload it until its next scan.
    old = os.path.join(base, f".old-{uuid.uuid4().hex}")
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    _remove_tree(old)
    return version, True


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _exchange(a, b) -> bool:
    """Swaps the paths `a` and `b` in one step (Linux's `renameat2` with
    `RENAME_EXCHANGE`); `False` where that is not available (another OS, an
    old C library or kernel, a file system without it), having changed
    nothing.

    Raises:
        OSError: the swap failed otherwise (a missing path, no permission).
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                          ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
                 _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False  # no such call, or a file system without the flag
    raise OSError(code, os.strerror(code), os.fspath(a), None, os.fspath(b))


def _policy_serving(entry, wanted, present):
    """The version policy for an entry with labels: one that serves the
    versions `wanted` (the newest and the labelled ones), or `None` to keep
    the entry's own (`all`, or a `latest N` that already serves them).
    `present`: the versions on disk."""
    kind = None
    if entry is not None and entry.HasField("model_version_policy"):
        policy = entry.model_version_policy
        kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return None
    if kind == "latest":
        # (TF Serving reads num_versions 0 as 1)
        latest = set(sorted(present)[-max(policy.latest.num_versions, 1):])
        if wanted <= latest:
            return None
        wanted = wanted | latest
    return serving_config.specific(sorted(wanted))


def register(models_dir, name, version, label=None) -> str:
    """Serves `version` of `name`: updates `models.config` and writes
    `batching.config` if there is none.

    Without labels the entry keeps its policy (TF Serving's default: the
    newest version). With a label, the policy serves the newest version plus
    every labelled one that exists, and `label` points at `version`: an
    `all` policy is kept, a `latest N` one too when it serves them, and is
    otherwise widened to `specific` of its versions and theirs; any other
    becomes `specific` of the newest and the labelled versions.

    Returns:
        The path of `models.config`.
    """
    check_label(label)
    models_dir = os.path.abspath(os.fspath(models_dir))
    # the labels read and the entry written in one locked step, so that two
    # exports of one model with different labels both keep theirs
    with serving_config.config_lock(models_dir):
        try:
            entry = serving_config.model_entries(models_dir).get(name)
        except FileNotFoundError:
            entry = None
        current = dict(entry.version_labels) if entry is not None else {}
        labels = policy = None
        if label is not None:
            current[str(label)] = int(version)
            labels = current
        if current:
            present = set(list_versions(models_dir, name))
            newest = max(present) if present else version
            policy = _policy_serving(
                entry, {v for v in current.values() if v in present} | {newest},
                present)
        # the versions are published in MODELS_DIR/NAME: the entry points
        # there (a models directory copied elsewhere is pointed at its copy)
        path = serving_config.update_models_config(
            models_dir, name, labels=labels, version_policy=policy,
            base_path=model_dir(models_dir, name))
    if not os.path.exists(os.path.join(models_dir,
                                       serving_config.BATCHING_CONFIG)):
        serving_config.write_batching_config(models_dir)
    return path
