"""Keeps TensorFlow's start-up messages out of the `zoo` command's output.

Importing TensorFlow on a machine without a GPU prints about ten lines to
stderr before a verb's first line: absl's "All log messages before
absl::InitializeLog() ..." warning, oneDNN and cudart notices (each twice,
once per native library that carries its own absl), the CPU-feature notice
and an `E0000 ... failed call to cuInit` error. None of them is the user's
business unless they ask for it (`zoo --tf-logs VERB`).

`quiet_tensorflow()` does two things, in this order:

1. It sets `TF_CPP_MIN_LOG_LEVEL=3` unless the user has set it, which
   silences the C++ logs that honour that setting (the cuInit error, the
   CPU-feature notice, later runtime notices).
2. It installs an import hook: while `tensorflow` and `keras` are first
   imported, file descriptor 2 is redirected to a temporary file, which
   catches the lines printed before absl reads any setting. If the import
   fails, what was captured is written to the real stderr before the
   exception propagates, so a broken installation still explains itself.

Everything after the import is untouched: Python tracebacks, `zoo ...:
error` messages, Python warnings and Keras' progress bars still show.

Nothing here imports TensorFlow, so `zoo --help` and `zoo VERB --help`
stay fast.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
import tempfile
import threading

# The variable TensorFlow's C++ logging reads at start-up, and the value the
# `zoo` command uses unless the user set one: 3 keeps only FATAL messages.
LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
QUIET_LOG_LEVEL = "3"

# Top-level packages whose first import is captured.
QUIET_IMPORTS = ("tensorflow", "keras")

__all__ = ["QUIET_IMPORTS", "capture_stderr_fd", "install_import_hook",
           "quiet_tensorflow", "uninstall_import_hook"]


class _Capture:
    """The state of one fd-2 capture; nested captures share the outermost."""

    def __init__(self):
        self.depth = 0
        self.saved_fd = None
        self.file = None
        self.lock = threading.RLock()


_CAPTURE = _Capture()


def _flush_stderr():
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


@contextlib.contextmanager
def capture_stderr_fd():
    """Redirects file descriptor 2 to a temporary file inside the block.

    Output that native libraries write straight to fd 2 (which Python's
    `sys.stderr` redirection cannot catch) is kept. When the block exits
    normally it is discarded; when the block raises, it is written to the
    real stderr first and the exception propagates unchanged. Nested uses
    share the outermost capture, and only the outermost decides.

    If fd 2 cannot be duplicated (it is closed, say), the block runs
    without a capture.
    """
    state = _CAPTURE
    with state.lock:
        if state.depth == 0:
            _flush_stderr()
            try:
                state.saved_fd = os.dup(2)
            except OSError:
                state.saved_fd = None
            if state.saved_fd is not None:
                state.file = tempfile.TemporaryFile()
                os.dup2(state.file.fileno(), 2)
        state.depth += 1
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        with state.lock:
            state.depth -= 1
            if state.depth == 0 and state.saved_fd is not None:
                _flush_stderr()
                os.dup2(state.saved_fd, 2)
                os.close(state.saved_fd)
                state.saved_fd = None
                captured = b""
                if failed:
                    state.file.seek(0)
                    captured = state.file.read()
                state.file.close()
                state.file = None
                if captured:
                    os.write(2, captured)


class _QuietImportFinder(importlib.abc.MetaPathFinder):
    """Finds `names` with the standard path finder and wraps their loading
    in `capture_stderr_fd`; returns None for every other import.

    It sits just before `importlib.machinery.PathFinder` in `sys.meta_path`,
    so the finders placed before that one (import blockers, recorders) are
    asked first, as without the hook; when the path finder does not find a
    name, the finders after it are asked as usual.
    """

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        exec_module = getattr(loader, "exec_module", None)
        if exec_module is None:
            return None

        def quiet_exec_module(module):
            # One-shot: the loader gets its own method back before running,
            # so the wrapper never outlives this import.
            try:
                del loader.exec_module
            except AttributeError:
                pass
            with capture_stderr_fd():
                exec_module(module)

        try:
            loader.exec_module = quiet_exec_module
        except (AttributeError, TypeError):  # a loader without a __dict__
            return None
        return spec


_HOOK = None


def install_import_hook(names=QUIET_IMPORTS):
    """Captures fd 2 during the first import of each of `names`.

    Packages already imported are not affected. Idempotent; returns the
    finder, placed just before the standard path finder in `sys.meta_path`.
    """
    global _HOOK
    if _HOOK is None:
        _HOOK = _QuietImportFinder(names)
        position = len(sys.meta_path)
        for i, finder in enumerate(sys.meta_path):
            if finder is importlib.machinery.PathFinder:
                position = i
                break
        sys.meta_path.insert(position, _HOOK)
    return _HOOK


def uninstall_import_hook():
    """Removes the hook that `install_import_hook` placed, if any."""
    global _HOOK
    if _HOOK is not None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(_HOOK)
        _HOOK = None


def quiet_tensorflow():
    """Silences TensorFlow's start-up logs for this process.

    Sets `TF_CPP_MIN_LOG_LEVEL=3` unless it is already set (a user's own
    value wins), and captures stderr while TensorFlow and Keras are first
    imported (see `capture_stderr_fd`). Call it before anything imports
    TensorFlow; it imports nothing itself.
    """
    os.environ.setdefault(LOG_LEVEL_VARIABLE, QUIET_LOG_LEVEL)
    names = [name for name in QUIET_IMPORTS if name not in sys.modules]
    if names:
        install_import_hook(names)
