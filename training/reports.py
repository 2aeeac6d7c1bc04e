"""What every results file records: the machine, its load, the versions,
and commands with paths relative to the repository.

The scripts in `bench/` and the reproduction recipes write their JSON
through `write_report` (atomic, `training.atomic`), with `machine()` and
`versions()` in it; `relative_paths` rewrites the absolute paths of the
machine a run was on (the repository, the data and run folders beside it)
relative to the repository, so that a results file reads the same on every
machine. `zoo bench` records `machine()` and `versions()` too, and the
paths as its command line gave them.
"""

from __future__ import annotations

import os
import platform
import sys

from training.atomic import atomic_write_json


def _cpuinfo():
    """`(model name, flags line)` of the first CPU in /proc/cpuinfo."""
    cpu, flags = None, ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name") and cpu is None:
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = line
    except OSError:
        pass
    return cpu or platform.processor() or "unknown", flags


def _nvidia_gpus():
    """NVIDIA GPUs the driver lists (no framework is imported)."""
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0


def load_average():
    """The 1, 5 and 15-minute load averages, or `None` where unknown."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def machine() -> dict:
    """The CPU, core count, platform and load average of this machine."""
    cpu, flags = _cpuinfo()
    return {"cpu": cpu, "cores": os.cpu_count(), "nvidia_gpus": _nvidia_gpus(),
            "platform": platform.platform(),
            "avx512_bf16": "avx512_bf16" in flags,
            "amx_bf16": "amx_bf16" in flags,
            "loadavg": load_average()}


def versions() -> dict:
    """The versions of the project and of the libraries it runs on: Keras
    and its backend; TensorFlow, JAX and PyTorch where they are loaded (the
    JAX and PyTorch backends train without TensorFlow)."""
    import keras
    import numpy

    import zoo

    out = {"zoo": zoo.__version__, "keras": keras.__version__,
           "keras_backend": keras.backend.backend(),
           "numpy": numpy.__version__, "python": platform.python_version()}
    for name in ("tensorflow", "jax", "torch"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__version__", None):
            out[name] = module.__version__
    return out


def relative_paths(obj, repo):
    """`obj` with absolute paths inside `repo`'s parent folder made
    relative to `repo` (`/work/main/bench/x` -> `bench/x`,
    `/work/shared/data/ptb` -> `../shared/data/ptb`), in every string of
    nested dicts and lists. Other strings are kept."""
    repo = os.path.abspath(repo)
    base = os.path.dirname(repo) + os.sep

    def fix(s):
        if not isinstance(s, str):
            return s
        if s == repo:
            return "."
        out = []
        for part in s.split(" "):
            if part.startswith(base) or part == repo:
                part = os.path.relpath(part, repo)
            out.append(part)
        return " ".join(out)

    def walk(o):
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [walk(v) for v in o]
        return fix(o)

    return walk(obj)


def write_report(path, data, *, repo=None):
    """Writes a results file atomically; with `repo`, its paths are made
    relative to it first (`relative_paths`)."""
    if repo is not None:
        data = relative_paths(data, repo)
    atomic_write_json(path, data)
