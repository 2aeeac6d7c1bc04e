"""Long-range synthetic tasks: the adding problem and the copy-memory task.

    from training.lab.tasks import adding_dataset, copy_memory_dataset
    from training.lab.tasks import build_adding_model, matched_units

Both tasks are seeded `tf.data` pipelines (same seed, same batches) with
NumPy twins (`adding_arrays`, `copy_memory_arrays`) for fixed test sets.
"""

from training.lab.tasks.adding import ADDING_BASELINE_MSE
from training.lab.tasks.adding import adding_arrays
from training.lab.tasks.adding import adding_dataset
from training.lab.tasks.copy_memory import copy_memory_arrays
from training.lab.tasks.copy_memory import copy_memory_baseline
from training.lab.tasks.copy_memory import copy_memory_dataset
from training.lab.tasks.models import LastStep
from training.lab.tasks.models import build_adding_model
from training.lab.tasks.models import build_copy_model
from training.lab.tasks.models import matched_units

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
