"""Training, evaluation and tuning for RNN Zoo.

Public API:

- `training.train(preset, data, *, out, ...) -> RunResult` (`zoo train`)
- `training.evaluate(run_dir, data, *, split=...) -> dict` (`zoo evaluate`)
- `training.evaluate_ensemble(run_dirs, data, *, split=...) -> dict`
  (`zoo evaluate RUN_DIR RUN_DIR ...`): the mean of classifiers' probabilities
- `training.run_dir.open_run(run_dir) -> Run` (config, best/last model,
  vocabulary) for evaluate, export and tune
- `training.data`: data sources and loaders

`train` and `evaluate` import Keras only when called.
"""

from training.evaluate import evaluate, evaluate_ensemble
from training.train import RunResult, train

__all__ = ["RunResult", "evaluate", "evaluate_ensemble", "train"]
