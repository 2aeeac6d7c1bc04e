"""`zoo tune`: hyperparameter search over zoo presets with keras-tuner.

`tune(preset, data, directory=DIR, ...)` searches a space of model and
training settings around a preset (or a bare model family) with keras-tuner's
random search, Bayesian optimisation or Hyperband, and writes:

```
DIR/tune_config.json   what is searched: preset, data, space, fixed values,
                       objective, tuner, budget (checked when resuming)
DIR/search/            keras-tuner's project (oracle.json, trial_*/trial.json,
                       written atomically: `search.atomic_state_files`)
DIR/trials.csv         ranked table of trials (hyperparameters, objective,
DIR/trials.json        status, seconds, error); both written atomically
DIR/trials.png         the objective against the main hyperparameters
```

Search space: `default_space(preset)` per family (see `DEFAULT_SPACES`),
narrowed or extended by a JSON file (`space=`) and fixed values (`fix=`);
`training.tune.space` says what an entry can be.

The package: `space` (the search space and objective), `search` (the
hypermodel, the tuners, `tune`, `export_best_run`), `results` (ranked
trials, the table, the results files) and `cli` (`zoo tune`).

Classifier vocabulary is learned once, before the trials, and handed to each
trial's model, so trials do not re-adapt it. Each trial starts from a
cleared Keras session. A trial that raises is recorded as FAILED with its
error and the search goes on, until `max_consecutive_failed_trials` fail in
a row (keras-tuner then stops the search with a RuntimeError).

Rerunning with the same `directory` continues the search (keras-tuner's
`overwrite=False`); `overwrite=True` starts over.

Distributed tuning uses keras-tuner's chief/worker mode: run the same
command on every host with `KERASTUNER_TUNER_ID` (`chief` on one,
`tuner0`, `tuner1`, ... on the others), `KERASTUNER_ORACLE_IP` and
`KERASTUNER_ORACLE_PORT` set; the chief runs the oracle (gRPC) and writes the
results table when every worker is done. See docs/distributed.md.
"""

from training.tune.results import (
    CONFIG_FILE,
    TRIALS_CSV,
    TRIALS_JSON,
    TRIALS_PNG,
    format_table,
    load_results,
    trial_rows,
    write_results,
)
from training.tune.search import PROJECT, TuneResult, export_best_run, tune
from training.tune.space import (
    DEFAULT_OBJECTIVES,
    DEFAULT_SPACES,
    TRAINING_KEYS,
    TUNERS,
    build_space,
    default_space,
    valid_keys,
)
from training.tune.cli import build_parser, main

__all__ = [
    "CONFIG_FILE", "DEFAULT_OBJECTIVES", "DEFAULT_SPACES", "PROJECT",
    "TRAINING_KEYS", "TRIALS_CSV", "TRIALS_JSON", "TRIALS_PNG", "TUNERS",
    "TuneResult", "build_parser", "build_space", "default_space",
    "export_best_run", "format_table", "load_results", "main", "trial_rows",
    "tune", "valid_keys", "write_results",
]
