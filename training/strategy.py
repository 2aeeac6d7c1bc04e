"""Distribution strategies and mixed precision for `zoo train`.

`--strategy`:

- `auto`: `tf.distribute.MirroredStrategy` when more than one GPU is
  visible, else the default (no-op) strategy.
- `mirrored`: `MirroredStrategy` over all visible GPUs (or the CPU).
- `multiworker`: `MultiWorkerMirroredStrategy`, configured by the
  `TF_CONFIG` environment variable. Only the chief writes RUN_DIR; the other
  workers write their (identical) checkpoints and logs to a temporary folder
  that is removed at the end, as the TensorFlow multi-worker guide does.
- `none`: the default strategy.

Batch sizes are per replica: the global batch is
`batch_size * strategy.num_replicas_in_sync`.
"""

from __future__ import annotations

import json
import os

STRATEGIES = ("auto", "mirrored", "multiworker", "none")


def make_strategy(name: str = "auto"):
    """Returns a `tf.distribute.Strategy` for `name` (see module docstring).

    Create it before any other TensorFlow op (MultiWorkerMirroredStrategy
    requires it).

    Args:
        name: one of `STRATEGIES`.

    Raises:
        ValueError: unknown name, or `multiworker` without `TF_CONFIG`.
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}. Valid values: {list(STRATEGIES)}.")
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if not os.environ.get("TF_CONFIG"):
        raise ValueError(
            "--strategy multiworker needs the TF_CONFIG environment variable "
            '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
            '"task": {"type": "worker", "index": 0}}).'
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def task_info():
    """`(task_type, task_id)` from `TF_CONFIG`, or `(None, None)`."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None, None
    try:
        task = json.loads(raw).get("task", {})
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
    return task.get("type"), task.get("index")


def is_chief(strategy=None) -> bool:
    """Whether this process writes RUN_DIR.

    True unless a multi-worker strategy runs and this task is not the chief
    (task type `chief`, or `worker` 0 when the cluster has no chief).
    """
    import tensorflow as tf

    if strategy is None or not isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ):
        return True
    task_type, task_id = task_info()
    if task_type is None:
        return True
    cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
    if task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def mixed_precision_policy(strategy=None) -> str:
    """`mixed_float16` on GPU, `mixed_bfloat16` otherwise (CPU)."""
    import tensorflow as tf

    return "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"
