"""Training, evaluation and tuning for RNN Zoo.

Public API:

- `training.train(preset, data, *, out, ...) -> RunResult` (`zoo train`)
- `training.evaluate(run_dir, data, *, split=...) -> dict` (`zoo evaluate`)
- `training.run_dir.open_run(run_dir) -> Run` (config, best/last model,
  vocabulary) for evaluate, export and tune
- `training.data`: data sources and loaders

`train` and `evaluate` import Keras only when called.
"""

from training.evaluate import evaluate
from training.train import RunResult, train

__all__ = ["RunResult", "evaluate", "train"]
