"""Distribution strategies, the chief test and mixed precision for `zoo train`.

`--strategy`:

- `auto`: `tf.distribute.MirroredStrategy` when more than one GPU is
  visible, else a single device.
- `mirrored`: `MirroredStrategy` over all visible GPUs (or the CPU).
- `multiworker`: `MultiWorkerMirroredStrategy`, configured by the
  `TF_CONFIG` environment variable. Only the chief writes RUN_DIR; the other
  workers write their (identical) checkpoints and logs to a temporary folder
  that is removed at the end, as the TensorFlow multi-worker guide does.
- `none`: a single device.

The strategies are TensorFlow's. On the JAX and PyTorch backends `auto` and
`none` train on one device (what `keras.distribution` would add is not used
yet) and `mirrored`/`multiworker` are an error that names the backend.

Batch sizes are per replica: the global batch is
`batch_size * strategy.num_replicas_in_sync`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile

STRATEGIES = ("auto", "mirrored", "multiworker", "none")


class SingleDevice:
    """The strategy of a run on one device, on any backend."""

    num_replicas_in_sync = 1

    def scope(self):
        return contextlib.nullcontext()


def _backend():
    import keras

    return keras.backend.backend()


def check_strategy(name: str) -> str:
    """Returns `name` if the Keras backend can run that strategy.

    Raises:
        ValueError: an unknown name, or a TensorFlow strategy on another
            backend.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}. Valid values: "
                         f"{list(STRATEGIES)}. Received: strategy={name!r}")
    backend = _backend()
    if backend != "tensorflow" and name in ("mirrored", "multiworker"):
        raise ValueError(
            f"--strategy {name} is a tf.distribute strategy and needs the "
            f"TensorFlow backend; KERAS_BACKEND is {backend!r}. Use "
            f"--strategy none (or auto). Received: strategy={name!r}")
    return name


def make_strategy(name: str = "auto"):
    """Returns the strategy for `name` (see the module docstring).

    Create it before any other TensorFlow op (MultiWorkerMirroredStrategy
    requires it).

    Args:
        name: one of `STRATEGIES`.

    Raises:
        ValueError: see `check_strategy`; or `multiworker` without
            `TF_CONFIG`.
    """
    check_strategy(name)
    if _backend() != "tensorflow":
        return SingleDevice()
    import tensorflow as tf

    if name == "none":
        return tf.distribute.get_strategy()
    if name == "auto":
        if len(tf.config.list_logical_devices("GPU")) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if not os.environ.get("TF_CONFIG"):
        raise ValueError(
            "--strategy multiworker needs the TF_CONFIG environment variable "
            '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
            '"task": {"type": "worker", "index": 0}}).')
    return tf.distribute.MultiWorkerMirroredStrategy()


def _tf_config():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object. Received: {raw!r}")
    return config


def task_info():
    """`(task_type, task_id)` from `TF_CONFIG`, or `(None, None)`."""
    task = _tf_config().get("task") or {}
    return task.get("type"), task.get("index")


def is_chief(strategy="auto") -> bool:
    """Whether this process writes RUN_DIR: the one chief test.

    Every process is the chief of its own run unless the run is
    multi-worker (`strategy="multiworker"`, or a
    `MultiWorkerMirroredStrategy`). Then the chief is the task of type
    `chief`, or `worker` 0 when the cluster has no `chief` task, as
    `tf.distribute` decides.

    It needs no strategy object (only the strategy's name and `TF_CONFIG`),
    so `training.train` asks it before anything touches RUN_DIR.
    """
    if not isinstance(strategy, str):  # a tf.distribute strategy object
        import tensorflow as tf

        strategy = ("multiworker" if isinstance(
            strategy, tf.distribute.MultiWorkerMirroredStrategy) else "none")
    if strategy != "multiworker":
        return True
    config = _tf_config()
    task = config.get("task") or {}
    task_type, task_id = task.get("type"), task.get("index")
    if task_type is None:
        return True
    if task_type == "chief":
        return True
    cluster = config.get("cluster") or {}
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def accelerator_available() -> bool:
    """Whether the Keras backend sees a GPU."""
    backend = _backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_logical_devices("GPU"))
        if backend == "jax":
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
        if backend == "torch":
            import torch

            return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - a backend that cannot tell: no GPU
        return False
    return False


def mixed_precision_policy() -> str:
    """`mixed_float16` on a GPU, `mixed_bfloat16` otherwise (CPU)."""
    return "mixed_float16" if accelerator_available() else "mixed_bfloat16"


def worker_temp_dir(task_id):
    """A temporary folder for a non-chief multi-worker task's files."""
    return tempfile.mkdtemp(prefix=f"zoo_worker{task_id}_")


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)
