"""Long-range synthetic tasks: the adding problem and the copy-memory task.

    from training.tasks import adding_dataset, copy_memory_dataset
    from training.tasks import build_adding_model, matched_units

Both tasks are seeded `tf.data` pipelines (same seed, same batches) with
NumPy twins (`adding_arrays`, `copy_memory_arrays`) for fixed test sets.
"""

from training.tasks.adding import ADDING_BASELINE_MSE
from training.tasks.adding import adding_arrays
from training.tasks.adding import adding_dataset
from training.tasks.copy_memory import copy_memory_arrays
from training.tasks.copy_memory import copy_memory_baseline
from training.tasks.copy_memory import copy_memory_dataset
from training.tasks.models import LastStep
from training.tasks.models import build_adding_model
from training.tasks.models import build_copy_model
from training.tasks.models import matched_units

__all__ = [
    "ADDING_BASELINE_MSE",
    "LastStep",
    "adding_arrays",
    "adding_dataset",
    "build_adding_model",
    "build_copy_model",
    "copy_memory_arrays",
    "copy_memory_baseline",
    "copy_memory_dataset",
    "matched_units",
]
