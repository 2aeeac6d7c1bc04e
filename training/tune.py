"""`zoo tune`: hyperparameter search over zoo presets with keras-tuner.

`tune(preset, data, directory=DIR, ...)` searches a space of model and
training settings around a preset (or a bare model family) with keras-tuner's
random search, Bayesian optimisation or Hyperband, and writes:

```
DIR/tune_config.json   what is searched: preset, data, space, fixed values,
                       objective, tuner, budget (checked when resuming)
DIR/search/            keras-tuner's project (oracle.json, trial_*/trial.json)
DIR/trials.csv         ranked table of trials (hyperparameters, objective,
DIR/trials.json        status, seconds, error); both written atomically
DIR/trials.png         the objective against the main hyperparameters
```

Search space: `default_space(preset)` per family (see `DEFAULT_SPACES`),
narrowed or extended by a JSON file (`space=`) and fixed values (`fix=`).
An entry is one of

- `{"choice": [v1, v2, ...]}`: categorical (bools, ints, floats or strings);
- `{"min": a, "max": b}` with optional `"step"` and `"sampling"`
  (`"linear"`, `"log"`, `"reverse_log"`): an int range when `a`, `b` (and
  `step`) are ints, else a float range;
- a plain value (fixed: every trial uses it, it is not searched);
- `null`: drop the entry (the preset's value is used).

A space file holds such entries by key; `"defaults": false` at the top level
starts from an empty space instead of the family's default one.

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

from __future__ import annotations

import argparse
import copy
import dataclasses
import gc
import json
import math
import os
import shutil
import sys
import time

from training.cli_args import key_value, positive_int

TUNERS = ("random", "bayesian", "hyperband")
CONFIG_FILE = "tune_config.json"
PROJECT = "search"
TRIALS_CSV = "trials.csv"
TRIALS_JSON = "trials.json"
TRIALS_PNG = "trials.png"
TIME_METRIC = "trial_seconds"

# Default search spaces per model family. `learning_rate` and the clipping
# entry are made relative to the preset's own recipe by `default_space`.
DEFAULT_SPACES = {
    "sentiment_classifier": {
        "cell": {"choice": ["lstm", "gru"]},
        "units": {"choice": [32, 64, 128]},
        "num_layers": {"min": 1, "max": 3},
        "connection": {"choice": ["none", "residual", "highway", "dense"]},
        "bidirectional": {"choice": [True, False]},
        "pooling": {"choice": ["max", "mean", "last"]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
        "embedding_dim": {"choice": [64, 128, 256]},
        "learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"},
        "clipnorm": {"min": 0.1, "max": 10.0, "sampling": "log"},
    },
    "language_model": {
        "cell": {"choice": ["lstm", "gru"]},
        "units": {"choice": [128, 256, 512]},
        "num_layers": {"min": 1, "max": 3},
        "connection": {"choice": ["none", "residual", "highway", "dense"]},
        "dropout": {"min": 0.0, "max": 0.5, "step": 0.1},
        "embedding_dim": {"choice": [64, 128, 256]},
        "learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"},
        "global_clipnorm": {"min": 0.1, "max": 10.0, "sampling": "log"},
    },
}
DEFAULT_OBJECTIVES = {"sentiment_classifier": "val_accuracy",
                      "language_model": "val_loss"}

# Training settings that can be searched (besides model arguments).
TRAINING_KEYS = {
    "sentiment_classifier": ("learning_rate", "optimizer", "clipnorm",
                             "global_clipnorm", "batch_size"),
    "language_model": ("learning_rate", "optimizer", "clipnorm",
                       "global_clipnorm", "batch_size", "bptt"),
}
# Model arguments the tuner sets from the data (not searchable).
_DATA_KEYS = ("vocabulary", "num_classes", "class_names", "stateful",
              "batch_size", "level", "name")
_INT_KEYS = ("units", "num_layers", "embedding_dim", "vocabulary_size",
             "max_length", "batch_size", "bptt")
_BOOL_KEYS = ("bidirectional", "tie_weights", "unit_forget_bias")
_RATE_KEYS = ("dropout", "embedding_dropout", "recurrent_dropout",
              "head_dropout", "output_dropout")
_POSITIVE_FLOAT_KEYS = ("learning_rate", "clipnorm", "global_clipnorm",
                        "init_scale")
_SAMPLINGS = ("linear", "log", "reverse_log")


def _categorical_values():
    from training.train import OPTIMIZERS
    from zoo.layers import CELLS, CONNECTIONS, POOLINGS

    return {"cell": sorted(CELLS), "connection": list(CONNECTIONS),
            "pooling": list(POOLINGS), "optimizer": list(OPTIMIZERS)}


# ----------------------------------------------------------------- results


@dataclasses.dataclass
class TuneResult:
    """What `tune` returns.

    Attributes:
        directory: the search directory.
        objective: `{"name": ..., "direction": "max" | "min"}`.
        trials: one dict per trial, ranked best first (completed trials by
            objective, then failed ones): `rank`, `trial_id`, `status`,
            `objective`, `seconds`, `hyperparameters`, `error`.
        best: the best completed trial's row, or `None`.
        best_hyperparameters: the full settings of the best trial (searched
            and fixed values), or `None`.
        files: paths of `trials.csv`, `trials.json`, `trials.png`.
        resumed: whether an existing search was continued.
        export: the `training.RunResult` of `export_best`, or `None`.
        role: `"single"`, `"chief"` or `"worker"` (distributed tuning);
            workers do not write the results files.
    """

    directory: str
    objective: dict
    trials: list
    best: dict | None
    best_hyperparameters: dict | None
    files: dict
    resumed: bool = False
    export: object = None
    role: str = "single"


# ------------------------------------------------------------ search space


def _family_and_base(preset):
    from zoo.models import factory

    family, config = factory.resolve(preset)
    if preset in factory.list_models():
        recipe = dict(factory.get_preset(preset)["training"])
    else:
        from training.train import FAMILY_TRAINING

        recipe = dict(FAMILY_TRAINING[family])
    return family, config, recipe


def valid_keys(family) -> list:
    """Keys a search space may hold for a model family."""
    from zoo.models import factory

    model = [k for k in factory.family_arguments(family) if k not in _DATA_KEYS]
    return sorted(set(model) | set(TRAINING_KEYS[family]))


def default_space(preset) -> dict:
    """The default search space for a preset (or family), as JSON entries.

    The family's `DEFAULT_SPACES` entry, with `learning_rate` spanning a
    decade either side of the preset's learning rate and the clipping entry
    (`clipnorm` or `global_clipnorm`, as the preset clips) spanning a factor
    4 either side of the preset's threshold.
    """
    family, _, recipe = _family_and_base(preset)
    space = copy.deepcopy(DEFAULT_SPACES[family])
    lr = recipe.get("learning_rate")
    if lr:
        space["learning_rate"] = {"min": _round(lr / 10), "max": _round(lr * 10),
                                  "sampling": "log"}
    clip_key = "global_clipnorm" if recipe.get("global_clipnorm") else (
        "clipnorm" if recipe.get("clipnorm") else None)
    for k in ("clipnorm", "global_clipnorm"):
        space.pop(k, None)
    if clip_key:
        c = recipe[clip_key]
        space[clip_key] = {"min": _round(c / 4), "max": _round(c * 4),
                           "sampling": "log"}
    return space


def _round(x):
    return float(f"{x:.6g}")


def _check_value(key, value, where):
    cats = _categorical_values()
    if key in cats and value not in cats[key]:
        raise ValueError(f"{where}: {key}={value!r} is not valid. "
                         f"Valid values: {cats[key]}.")
    if key in _INT_KEYS and key != "units":
        if key == "max_length" and value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{where}: {key} must be a positive integer, "
                             f"got {value!r}")
    if key == "units":
        vals = value if isinstance(value, list) else [value]
        if not vals or any(isinstance(v, bool) or not isinstance(v, int) or v < 1
                           for v in vals):
            raise ValueError(f"{where}: units must be a positive integer (or a "
                             f"list of them), got {value!r}")
    if key in _BOOL_KEYS and not isinstance(value, bool):
        raise ValueError(f"{where}: {key} must be true or false, got {value!r}")
    if key in _RATE_KEYS:
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0.0 <= value < 1.0:
            raise ValueError(f"{where}: {key} must be a number in [0, 1), "
                             f"got {value!r}")
    if key in _POSITIVE_FLOAT_KEYS and value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                value < 0 or (value == 0 and key == "learning_rate")):
            raise ValueError(f"{where}: {key} must be a positive number, "
                             f"got {value!r}")


def _check_entry(key, entry, where):
    """Validates one space entry; returns it normalised."""
    if not isinstance(entry, dict):
        _check_value(key, entry, where)
        return entry
    kinds = set(entry)
    if "choice" in kinds:
        if kinds - {"choice"}:
            raise ValueError(f"{where}: {key}: a choice entry takes only "
                             f"'choice', got keys {sorted(kinds)}")
        values = entry["choice"]
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}: {key}: 'choice' must be a non-empty list")
        types = {type(v) for v in values}
        if len(types) > 1 and not types <= {int, float}:
            raise ValueError(f"{where}: {key}: choices must share one type, "
                             f"got {values!r}")
        if len(set(map(repr, values))) != len(values):
            raise ValueError(f"{where}: {key}: duplicate choices in {values!r}")
        for v in values:
            if isinstance(v, (list, dict)) or v is None:
                raise ValueError(f"{where}: {key}: a choice must be a bool, "
                                 f"number or string, got {v!r}")
            _check_value(key, v, where)
        if types == {int, float}:
            values = [float(v) for v in values]
        return {"choice": values}
    if {"min", "max"} <= kinds:
        extra = kinds - {"min", "max", "step", "sampling"}
        if extra:
            raise ValueError(f"{where}: {key}: unknown range keys {sorted(extra)}; "
                             "valid: ['max', 'min', 'sampling', 'step']")
        lo, hi = entry["min"], entry["max"]
        for name, v in (("min", lo), ("max", hi), ("step", entry.get("step", 1))):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"{where}: {key}: {name} must be a number, got {v!r}")
        if not lo < hi:
            raise ValueError(f"{where}: {key}: min ({lo}) must be below max ({hi})")
        sampling = entry.get("sampling", "linear")
        if sampling not in _SAMPLINGS:
            raise ValueError(f"{where}: {key}: unknown sampling {sampling!r}. "
                             f"Valid values: {list(_SAMPLINGS)}.")
        if sampling != "linear" and lo <= 0:
            raise ValueError(f"{where}: {key}: {sampling} sampling needs min > 0")
        if key in _BOOL_KEYS or key in _categorical_values():
            raise ValueError(f"{where}: {key} takes a 'choice' list, not a range")
        _check_value(key, lo, where)
        _check_value(key, hi, where)
        out = {"min": lo, "max": hi}
        if "step" in entry:
            if entry["step"] <= 0:
                raise ValueError(f"{where}: {key}: step must be positive")
            out["step"] = entry["step"]
        if sampling != "linear":
            out["sampling"] = sampling
        return out
    raise ValueError(
        f"{where}: {key}: an entry is {{\"choice\": [...]}}, {{\"min\": a, "
        f"\"max\": b[, \"step\": s][, \"sampling\": \"log\"]}}, a fixed value, "
        f"or null; got {entry!r}")


def _is_int_range(entry):
    return all(isinstance(entry.get(k, 1), int) and not isinstance(entry.get(k, 1), bool)
               for k in ("min", "max", "step"))


def build_space(preset, space=None, fix=None):
    """Resolves the search space: `(searched, fixed)`.

    Args:
        preset: preset or family name.
        space: `None`, a dict of entries, or the path of a JSON file of
            entries (see the module docstring). Applied over the defaults.
        fix: dict `{key: value}` of fixed values (applied last).

    Returns:
        `(searched, fixed)`: searched entries by key, fixed values by key.

    Raises:
        ValueError: unknown key or bad entry; the message lists the valid
            keys or values.
    """
    family, _, _ = _family_and_base(preset)
    valid = valid_keys(family)
    entries = default_space(preset)
    where = "search space"
    if space is not None:
        if isinstance(space, (str, os.PathLike)):
            where = os.fspath(space)
            try:
                with open(space, encoding="utf-8") as f:
                    space = json.load(f)
            except OSError as e:
                raise ValueError(f"{where}: cannot read the space file: {e}") from None
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}: not valid JSON: {e}") from None
        if not isinstance(space, dict):
            raise ValueError(f"{where}: the space must be a JSON object of "
                             "entries by key")
        space = dict(space)
        use_defaults = space.pop("defaults", True)
        if not isinstance(use_defaults, bool):
            raise ValueError(f"{where}: 'defaults' must be true or false")
        if not use_defaults:
            entries = {}
        for key, entry in space.items():
            if key not in valid:
                raise ValueError(f"{where}: unknown key {key!r} for {family}. "
                                 f"Valid keys: {valid}.")
            if entry is None:
                entries.pop(key, None)
            else:
                entries[key] = entry
    for key, value in (fix or {}).items():
        if key not in valid:
            raise ValueError(f"--fix: unknown key {key!r} for {family}. "
                             f"Valid keys: {valid}.")
        entries[key] = value
        where_fix = "--fix"
        _check_entry(key, value, where_fix)
    searched, fixed = {}, {}
    for key, entry in entries.items():
        entry = _check_entry(key, entry, where)
        if isinstance(entry, dict):
            searched[key] = entry
        else:
            fixed[key] = entry
    if "clipnorm" in set(searched) | set(fixed) and \
            "global_clipnorm" in set(searched) | set(fixed):
        raise ValueError(f"{where}: clipnorm and global_clipnorm are mutually "
                         "exclusive; keep one (set the other to null)")
    return searched, fixed


# -------------------------------------------------------------- hypermodel


def _declare(hp, key, entry):
    if "choice" in entry:
        values = entry["choice"]
        if sorted(values, key=repr) == [False, True]:
            return hp.Boolean(key, default=values[0])
        return hp.Choice(key, values)
    sampling = entry.get("sampling", "linear")
    if _is_int_range(entry):
        return hp.Int(key, entry["min"], entry["max"], step=entry.get("step", 1),
                      sampling=sampling)
    return hp.Float(key, float(entry["min"]), float(entry["max"]),
                    step=entry.get("step"), sampling=sampling)


def _make_hypermodel_class():
    import keras
    import keras_tuner

    class ZooHyperModel(keras_tuner.HyperModel):
        """Builds a zoo model per trial from `zoo.build(preset, **values)`.

        The data-dependent arguments (classifier vocabulary, classes; LM
        vocabulary size and level) come from `data_overrides`, fixed values
        from `fixed`, searched ones from `hp`. `fit` trains on the data held
        by the hypermodel (the datasets are rebuilt per trial only when the
        batch size is searched).
        """

        def __init__(self, preset, family, recipe, searched, fixed, data,
                     data_overrides, *, seed, max_steps_per_epoch=None):
            super().__init__(name="zoo")
            self.preset, self.family, self.recipe = preset, family, recipe
            self.searched, self.fixed = searched, fixed
            self.data, self.data_overrides = data, data_overrides
            self.seed, self.max_steps = seed, max_steps_per_epoch
            self._datasets = {}

        def values(self, hp):
            """All settings of a trial: fixed values then searched ones."""
            out = dict(self.fixed)
            for key in self.searched:
                if key in hp.values:
                    out[key] = hp.values[key]
            return out

        def declare(self, hp):
            for key, entry in self.searched.items():
                _declare(hp, key, entry)

        def settings(self, values):
            from training.train import _settings

            given = {k: values.get(k) for k in TRAINING_KEYS[self.family]}
            return _settings(self.family, self.preset, given)

        def build(self, hp):
            from training.train import make_optimizer
            from zoo.models import factory

            self.declare(hp)
            values = self.values(hp)
            model_args = {k: v for k, v in values.items()
                          if k not in TRAINING_KEYS[self.family]}
            settings = self.settings(values)
            args = {**model_args, **self.data_overrides}
            if self.family == "sentiment_classifier":
                size = args.get("vocabulary_size") or factory.resolve(
                    self.preset)[1].get("vocabulary_size", 20000)
                vocab = args.pop("vocabulary", None)
                if vocab is not None:
                    args["vocabulary"] = vocab[:size]
                model = factory.build(self.preset, **args)
                loss = keras.losses.SparseCategoricalCrossentropy()
                metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
            else:
                model = factory.build(self.preset, **args, stateful=True,
                                      batch_size=settings["batch_size"])
                loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                metrics = []
            model.compile(
                optimizer=make_optimizer(settings["optimizer"],
                                         settings["learning_rate"],
                                         clipnorm=settings["clipnorm"],
                                         global_clipnorm=settings["global_clipnorm"]),
                loss=loss, metrics=metrics, jit_compile=False)
            return model

        def _classifier_data(self, batch_size):
            from training.data import make_text_classification_dataset

            if batch_size not in self._datasets:
                train = make_text_classification_dataset(
                    self.data.train, batch_size=batch_size, shuffle=True,
                    seed=self.seed, bucket_boundaries="auto")
                val = make_text_classification_dataset(
                    self.data.validation, batch_size=batch_size,
                    bucket_boundaries="auto")
                if self.max_steps:
                    train, val = train.take(self.max_steps), val.take(self.max_steps)
                self._datasets = {batch_size: (train, val)}  # keep one
            return self._datasets[batch_size]

        def fit(self, hp, model, *args, callbacks=None, epochs=1, **kwargs):
            import warnings

            from training import callbacks as cb

            settings = self.settings(self.values(hp))
            callbacks = list(callbacks or [])
            kwargs["verbose"] = 2 if kwargs.get("verbose") else 0
            if self.family == "sentiment_classifier":
                train, val = self._classifier_data(settings["batch_size"])
                own = [cb.StopOnNaN()]
            else:
                from training.data import lm_steps_per_epoch, make_lm_dataset

                b, bptt = settings["batch_size"], settings["bptt"]
                if lm_steps_per_epoch(len(self.data.train), batch_size=b,
                                      bptt=bptt) < 1:
                    raise ValueError(f"training split too short for batch_size={b}"
                                     f", bptt={bptt}")
                train = make_lm_dataset(self.data.train, batch_size=b, bptt=bptt)
                if self.max_steps:
                    train = train.take(self.max_steps)
                val = None
                own = [cb.StopOnNaN(), cb.ResetStates(model),
                       cb.LanguageModelValidation(
                           model, self.data.validation, batch_size=b, bptt=bptt,
                           level=self.data.level, max_steps=self.max_steps)]
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*ran out of data")
                return model.fit(train, validation_data=val, epochs=epochs,
                                 shuffle=False, callbacks=own + callbacks,
                                 **kwargs)

    return ZooHyperModel


def _make_tuner(kind, hypermodel, *, objective, max_trials, epochs, directory,
                overwrite, seed, max_consecutive_failed_trials):
    import keras_tuner

    ZooTunerMixin = _tuner_mixin()
    common = dict(objective=objective, seed=seed, directory=directory,
                  project_name=PROJECT, overwrite=overwrite,
                  max_retries_per_trial=0,
                  max_consecutive_failed_trials=max_consecutive_failed_trials)
    if kind == "random":
        cls = type("ZooRandomSearch", (ZooTunerMixin, keras_tuner.RandomSearch), {})
        tuner = cls(hypermodel, max_trials=max_trials, **common)
    elif kind == "bayesian":
        cls = type("ZooBayesianOptimization",
                   (ZooTunerMixin, keras_tuner.BayesianOptimization), {})
        tuner = cls(hypermodel, max_trials=max_trials,
                    num_initial_points=min(max(2, max_trials // 3), max_trials),
                    **common)
    else:
        cls = type("ZooHyperband", (ZooTunerMixin, keras_tuner.Hyperband), {})
        tuner = cls(hypermodel, max_epochs=max(epochs, 2), factor=3, **common)
    # Caps every kind (Hyperband has no max_trials of its own).
    tuner.oracle.max_trials = max_trials
    return tuner


def _tuner_mixin():
    import keras

    class ZooTunerMixin:
        """Times trials (metric `trial_seconds`) and clears the session."""

        def run_trial(self, trial, *args, **kwargs):
            keras.backend.clear_session()
            gc.collect()
            start = time.perf_counter()
            results = super().run_trial(trial, *args, **kwargs)
            seconds = time.perf_counter() - start
            for h in results if isinstance(results, list) else [results]:
                if isinstance(h, keras.callbacks.History):
                    n = len(next(iter(h.history.values()), []))
                    h.history[TIME_METRIC] = [seconds] * n
            return results

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            keras.backend.clear_session()
            gc.collect()

    return ZooTunerMixin


# --------------------------------------------------------------- the search


def _role():
    from keras_tuner.src.distribute import utils as dist_utils

    if not dist_utils.has_chief_oracle():
        return "single"
    return "chief" if dist_utils.is_chief_oracle() else "worker"


def _load(family, preset, data, seed, validation_split, max_train_examples,
          searched, fixed):
    """Loads the data once; returns `(data, data_overrides)`."""
    from training.data import LabeledTexts, load_language_model
    from training.data import load_text_classification
    from zoo.models import factory

    _, config = factory.resolve(preset)
    if family == "sentiment_classifier":
        obj = load_text_classification(data, validation_split=validation_split,
                                       seed=seed)
        if obj.validation is None or not len(obj.validation):
            raise ValueError(f"{data}: no validation data to tune on "
                             "(use a validation_split > 0)")
        if max_train_examples and max_train_examples < len(obj.train):
            obj.train = LabeledTexts(obj.train.texts[:max_train_examples],
                                     obj.train.labels[:max_train_examples])
        sizes = [fixed.get("vocabulary_size") or config.get("vocabulary_size", 20000)]
        if "vocabulary_size" in searched:
            e = searched["vocabulary_size"]
            sizes += e.get("choice", [e.get("max", 0)])
        import keras

        vectorizer = keras.layers.TextVectorization(
            max_tokens=max(sizes),
            standardize=fixed.get("standardize", config.get(
                "standardize", "lower_and_strip_punctuation")))
        vectorizer.adapt(obj.train.texts, batch_size=256)
        vocab = vectorizer.get_vocabulary()
        del vectorizer
        return obj, {"vocabulary": vocab, "num_classes": obj.num_classes,
                     "class_names": list(obj.class_names)}
    level = config.get("level") or "auto"
    obj = load_language_model(data, level=level,
                              validation_fraction=validation_split or 0.1)
    if max_train_examples and max_train_examples < len(obj.train):
        obj.train = obj.train[:max_train_examples]
    size = max(fixed.get("vocabulary_size") or 0, len(obj.vocab))
    return obj, {"vocabulary_size": size, "level": obj.level}


def _objective(family, objective):
    import keras_tuner

    name = objective or DEFAULT_OBJECTIVES[family]
    direction = None
    if ":" in name:
        name, direction = name.rsplit(":", 1)
        if direction not in ("min", "max"):
            raise ValueError(f"objective direction must be 'min' or 'max', "
                             f"got {direction!r}")
    if direction is None:
        if name.endswith(("accuracy", "acc", "auc", "precision", "recall")):
            direction = "max"
        elif name.endswith(("loss", "perplexity", "bits_per_character", "error")):
            direction = "min"
        else:
            raise ValueError(f"cannot tell whether to minimise or maximise "
                             f"{name!r}; write it as {name}:min or {name}:max")
    return keras_tuner.Objective(name, direction=direction)


def tune(preset, data, *, directory, tuner="random", max_trials=10, epochs=None,
         objective=None, overwrite=False, space=None, fix=None,
         export_best=None, max_steps_per_epoch=None, max_train_examples=None,
         seed=None, validation_split=None, max_consecutive_failed_trials=3,
         export_epochs=None, verbose=1, command_line=None) -> TuneResult:
    """Searches hyperparameters of a preset (or family) with keras-tuner.

    Args:
        preset: a preset name (`zoo.list_models()`) or a family name.
        data: SOURCE (as for `training.train`).
        directory: the search directory (see the module docstring).
        tuner: `"random"`, `"bayesian"` or `"hyperband"`.
        max_trials: trials in all (a resumed search counts the ones it has,
            failed ones included). Hyperband is capped at it too.
        epochs: epochs per trial (Hyperband: the most epochs a trial gets).
            Defaults to the preset's `epochs`.
        objective: metric to optimise, optionally `name:min` / `name:max`.
            Defaults to `val_accuracy` (classifiers) or `val_loss` (LMs).
        overwrite: delete an existing search in `directory` first.
        space: a dict of space entries or a JSON file of them, applied over
            `default_space(preset)`.
        fix: dict of fixed values (`--fix key=value`).
        export_best: a RUN_DIR: retrain the best configuration there with
            `training.train` (same data, seed and `max_steps_per_epoch`).
        max_steps_per_epoch: cap batches per epoch and validation batches.
        max_train_examples: train each trial on the first N training
            examples (LMs: tokens) only (quick searches); validation is whole.
        seed: seed of the validation carve, shuffling, weights and the
            oracle. Defaults to `1337`.
        validation_split: as for `training.train`. Defaults to `0.1`.
        max_consecutive_failed_trials: stop the search after this many
            trials fail in a row. Defaults to `3`.
        export_epochs: epochs of the `export_best` run. Defaults to
            `epochs` (Hyperband: the best trial's epochs).
        verbose: `0` quiet, `1` keras-tuner's per-trial summaries.
        command_line: recorded in `tune_config.json`.

    Returns:
        A `TuneResult`.

    Raises:
        ValueError: unknown preset, tuner, key or value (the message lists
            the valid ones), or a resumed search whose settings differ.
        RuntimeError: `max_consecutive_failed_trials` trials failed in a
            row (the results so far are still written).

    Example:

    ```python
    result = training.tune.tune("sst2_bigru_highway", "data/sst2/train.tsv",
                                directory="tune/sst2", max_trials=10,
                                epochs=1, fix={"cell": "gru"})
    result.best["objective"], result.best_hyperparameters
    ```
    """
    import keras

    from training import run_dir as rd
    from training.train import DEFAULT_SEED, DEFAULT_VALIDATION_SPLIT

    if tuner not in TUNERS:
        raise ValueError(f"Unknown tuner {tuner!r}. Valid values: {list(TUNERS)}.")
    if not isinstance(max_trials, int) or isinstance(max_trials, bool) or max_trials < 1:
        raise ValueError(f"max_trials must be a positive integer, got {max_trials!r}")
    family, _, recipe = _family_and_base(preset)
    searched, fixed = build_space(preset, space, fix)
    epochs = int(epochs or recipe.get("epochs", 1))
    if epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs}")
    obj = _objective(family, objective)
    seed = DEFAULT_SEED if seed is None else int(seed)
    validation_split = (DEFAULT_VALIDATION_SPLIT if validation_split is None
                        else float(validation_split))
    directory = os.fspath(directory)
    role = _role()

    config = {
        "preset": preset, "family": family, "data": str(data), "tuner": tuner,
        "objective": {"name": obj.name, "direction": obj.direction},
        "searched": searched, "fixed": fixed, "epochs": epochs, "seed": seed,
        "validation_split": validation_split,
        "max_steps_per_epoch": max_steps_per_epoch,
        "max_train_examples": max_train_examples,
    }
    cfg_path = os.path.join(directory, CONFIG_FILE)
    project = os.path.join(directory, PROJECT)
    if overwrite and role != "worker" and os.path.isdir(project):
        shutil.rmtree(project)
    resumed = os.path.exists(os.path.join(project, "oracle.json"))
    if resumed and os.path.exists(cfg_path) and role != "worker":
        with open(cfg_path, encoding="utf-8") as f:
            stored = json.load(f)
        diff = sorted(k for k in config if json.dumps(stored.get(k), sort_keys=True)
                      != json.dumps(config[k], sort_keys=True))
        if diff:
            raise ValueError(
                f"{directory}: holds a search with different settings "
                f"({', '.join(f'{k}: {stored.get(k)!r} now {config[k]!r}' for k in diff)}"
                "); pass --overwrite to start over or use another --dir")
    os.makedirs(directory, exist_ok=True)
    if role != "worker":
        rd.atomic_write_json(cfg_path, {
            **config, "max_trials": max_trials,
            "command_line": list(command_line) if command_line is not None
            else list(sys.argv)})

    keras.utils.set_random_seed(seed)
    data_obj, data_overrides = _load(family, preset, data, seed, validation_split,
                                     max_train_examples, searched, fixed)
    HyperModel = _make_hypermodel_class()
    hypermodel = HyperModel(preset, family, recipe, searched, fixed, data_obj,
                            data_overrides, seed=seed,
                            max_steps_per_epoch=max_steps_per_epoch)
    t = _make_tuner(tuner, hypermodel, objective=obj, max_trials=max_trials,
                    epochs=epochs, directory=directory, overwrite=False,
                    seed=seed,
                    max_consecutive_failed_trials=max_consecutive_failed_trials)
    if role != "worker":
        done = len(t.oracle.trials)
        remaining = max(max_trials - done, 0)
        if resumed:
            counts = _status_counts(t.oracle.trials.values())
            print(f"zoo tune: resuming the search in {directory}: {done} trial(s) "
                  f"exist ({counts}), {remaining} remain of --max-trials "
                  f"{max_trials}.", file=sys.stderr)
        else:
            print(f"zoo tune: new search in {directory}: {max_trials} trial(s), "
                  f"{len(searched)} searched setting(s) {sorted(searched)}.",
                  file=sys.stderr)
    error = None
    try:
        t.search(epochs=epochs, verbose=verbose)
    except RuntimeError as e:  # max_consecutive_failed_trials reached
        error = e
    finally:
        keras.backend.clear_session()
        gc.collect()
    if role == "worker":
        if error is not None:
            raise error
        return TuneResult(directory=directory, objective=config["objective"],
                          trials=[], best=None, best_hyperparameters=None,
                          files={}, resumed=resumed, role=role)
    rows = trial_rows(t.oracle, hypermodel)
    files = write_results(directory, rows, config)
    best = next((r for r in rows if r["status"] == "COMPLETED"), None)
    best_hp = dict(fixed, **best["hyperparameters"]) if best else None
    result = TuneResult(directory=directory, objective=config["objective"],
                        trials=rows, best=best, best_hyperparameters=best_hp,
                        files=files, resumed=resumed, role=role)
    if error is not None:
        raise RuntimeError(f"{error}\n(results so far: {files['csv']})") from error
    if export_best:
        if best is None:
            raise ValueError("no trial completed; nothing to export")
        result.export = export_best_run(
            directory, export_best, epochs=export_epochs, verbose=verbose)
    return result


def _status_counts(trials):
    counts = {}
    for trial in trials:
        s = str(trial.status)
        counts[s] = counts.get(s, 0) + 1
    return ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) or "none"


def trial_rows(oracle, hypermodel=None):
    """The trials of an oracle as ranked rows (see `TuneResult.trials`)."""
    direction = oracle.objective.direction
    name = oracle.objective.name
    rows = []
    for trial in oracle.trials.values():
        score = trial.score if str(trial.status) == "COMPLETED" else None
        if score is not None and not math.isfinite(score):
            score = None
        seconds = None
        if trial.metrics.exists(TIME_METRIC):
            seconds = trial.metrics.get_last_value(TIME_METRIC)
        error = None
        if trial.message:
            lines = [ln for ln in str(trial.message).strip().splitlines() if ln.strip()]
            error = lines[-1] if lines else str(trial.message)
        values = {k: v for k, v in trial.hyperparameters.values.items()}
        rows.append({
            "trial_id": trial.trial_id, "status": str(trial.status),
            "objective": score, "objective_name": name,
            "seconds": None if seconds is None else round(float(seconds), 3),
            "best_step": trial.best_step, "hyperparameters": values,
            "error": error, "message": trial.message,
        })
    sign = -1 if direction == "max" else 1
    rows.sort(key=lambda r: (r["objective"] is None,
                             sign * (r["objective"] or 0.0), r["trial_id"]))
    for i, r in enumerate(rows, 1):
        r["rank"] = i if r["objective"] is not None else None
    return [{"rank": r.pop("rank"), **r} for r in rows]


def format_table(rows, max_rows=None) -> str:
    """A plain-text ranked table of trials."""
    if not rows:
        return "(no trials)"
    keys = []
    for r in rows:
        for k in r["hyperparameters"]:
            if k not in keys and not k.startswith("tuner/"):
                keys.append(k)
    name = rows[0]["objective_name"]
    header = ["rank", "trial", "status", name, "seconds"] + keys
    lines = []
    for r in rows[:max_rows]:
        hp = r["hyperparameters"]
        cells = [r["rank"] or "-", r["trial_id"], r["status"],
                 _fmt(r["objective"]), _fmt(r["seconds"])]
        cells += [_fmt(hp.get(k, "")) for k in keys]
        lines.append([str(c) for c in cells])
    widths = [max(len(str(h)), *(len(ln[i]) for ln in lines))
              for i, h in enumerate(header)]
    out = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths))]
    out += ["  ".join(c.ljust(w) for c, w in zip(ln, widths)) for ln in lines]
    for r in rows[:max_rows]:
        if r["error"]:
            out.append(f"trial {r['trial_id']} failed: {r['error']}")
    return "\n".join(out)


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_results(directory, rows, config):
    """Writes trials.csv, trials.json and trials.png atomically."""
    import csv
    import io

    from training import run_dir as rd

    files = {k: os.path.join(directory, n) for k, n in
             (("csv", TRIALS_CSV), ("json", TRIALS_JSON), ("png", TRIALS_PNG))}
    keys = []
    for r in rows:
        for k in r["hyperparameters"]:
            if k not in keys:
                keys.append(k)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["rank", "trial_id", "status", rows[0]["objective_name"]
                if rows else "objective", "seconds"] + keys + ["error"])
    for r in rows:
        w.writerow([r["rank"] if r["rank"] is not None else "", r["trial_id"],
                    r["status"], "" if r["objective"] is None else r["objective"],
                    "" if r["seconds"] is None else r["seconds"]]
                   + [r["hyperparameters"].get(k, "") for k in keys]
                   + [r["error"] or ""])
    rd.atomic_write_text(files["csv"], buf.getvalue())
    rd.atomic_write_json(files["json"], {
        "preset": config["preset"], "tuner": config["tuner"],
        "objective": config["objective"], "fixed": config["fixed"],
        "searched": config["searched"], "trials": rows})
    plot_trials(rows, files["png"], config)
    return files


def plot_trials(rows, path, config):
    """Objective against each searched hyperparameter (completed trials)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from training import run_dir as rd

    done = [r for r in rows if r["objective"] is not None]
    keys = [k for k in config["searched"]][:9]
    n = max(len(keys), 1)
    cols = min(3, n)
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3 * nrows),
                             squeeze=False)
    name = config["objective"]["name"]
    for ax, key in zip(axes.flat, keys):
        xs = [r["hyperparameters"].get(key) for r in done]
        ys = [r["objective"] for r in done]
        pairs = [(x, y) for x, y in zip(xs, ys) if x is not None]
        entry = config["searched"][key]
        numeric = "choice" not in entry or all(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            for v in entry["choice"])
        if numeric:
            ax.scatter([p[0] for p in pairs], [p[1] for p in pairs], s=18)
            if entry.get("sampling") == "log":
                ax.set_xscale("log")
        else:
            cats = [str(v) for v in entry["choice"]]
            ax.scatter([cats.index(str(p[0])) if str(p[0]) in cats else -1
                        for p in pairs], [p[1] for p in pairs], s=18)
            ax.set_xticks(range(len(cats)))
            ax.set_xticklabels(cats)
        ax.set_xlabel(key)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    if not keys:
        axes.flat[0].text(0.5, 0.5, "nothing searched", ha="center")
    fig.suptitle(f"{config['preset']}: {name} of {len(done)} completed trial(s)")
    fig.tight_layout()
    rd.atomic_savefig(fig, path, dpi=80)
    plt.close(fig)


# ----------------------------------------------------------------- export


def load_results(directory) -> dict:
    """Reads `DIR/trials.json` (ranked trials) and `DIR/tune_config.json`."""
    directory = os.fspath(directory)
    out = {}
    for key, name in (("config", CONFIG_FILE), ("results", TRIALS_JSON)):
        p = os.path.join(directory, name)
        if not os.path.exists(p):
            raise ValueError(f"{directory}: no {name}; run `zoo tune` there first")
        with open(p, encoding="utf-8") as f:
            out[key] = json.load(f)
    return out


def export_best_run(directory, out, *, epochs=None, overwrite=True, verbose=1,
                    strategy="auto"):
    """Retrains the best configuration of a search into a RUN_DIR.

    Uses `training.train` with the search's data, seed, validation split and
    `max_steps_per_epoch`, the best trial's searched values and the fixed
    ones (model arguments become overrides, the rest training settings). The
    result is a normal run directory, ready for `zoo export`.

    Returns:
        The `training.RunResult`.
    """
    from training.train import train

    loaded = load_results(directory)
    config, trials = loaded["config"], loaded["results"]["trials"]
    best = next((r for r in trials if r["status"] == "COMPLETED"), None)
    if best is None:
        raise ValueError(f"{directory}: no completed trial to export")
    family = config["family"]
    values = dict(config["fixed"])
    values.update({k: v for k, v in best["hyperparameters"].items()
                   if not k.startswith("tuner/")})
    training_args = {k: values.pop(k) for k in list(values)
                     if k in TRAINING_KEYS[family]}
    if epochs is None:
        epochs = best["hyperparameters"].get("tuner/epochs") or config["epochs"]
    print(f"zoo tune: retraining trial {best['trial_id']} "
          f"({config['objective']['name']}={best['objective']:.4g}) into {out}",
          file=sys.stderr)
    return train(config["preset"], config["data"], out=out, epochs=int(epochs),
                 overrides=values, seed=config["seed"],
                 validation_split=config["validation_split"],
                 max_steps_per_epoch=config["max_steps_per_epoch"],
                 overwrite=overwrite, strategy=strategy,
                 verbose=2 if verbose else 0,
                 command_line=["zoo", "tune", "--export-best", out,
                               "--dir", directory],
                 **training_args)


# -------------------------------------------------------------------- CLI

EPILOG = """\
The default search space of a preset is printed by --show-space. Narrow or
extend it with --space FILE (JSON: {"units": {"choice": [32, 64]},
"learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"},
"num_layers": {"min": 1, "max": 4}, "connection": null, "dropout": 0.2};
"defaults": false starts from an empty space) and --fix KEY=VALUE.

Rerunning the same command continues the search in DIR (and says how many
trials exist and remain); --overwrite starts over. Results: DIR/trials.csv,
DIR/trials.json, DIR/trials.png. --export-best RUN_DIR retrains the best
configuration with `zoo train` settings into a run directory.

Distributed: run the same command on every host with KERASTUNER_TUNER_ID
(chief / tuner0 / tuner1 ...), KERASTUNER_ORACLE_IP and
KERASTUNER_ORACLE_PORT set (see docs/distributed.md).

examples:
  zoo tune sst2_bigru_highway --data ../shared/data/sst2/train.tsv \\
      --tuner random --max-trials 10 --dir tune/sst2 --epochs 1 \\
      --max-steps-per-epoch 50 --fix cell=gru
  zoo tune sst2_bigru_highway --data ../shared/data/sst2/train.tsv \\
      --tuner random --max-trials 20 --dir tune/sst2 --epochs 1 \\
      --max-steps-per-epoch 50 --fix cell=gru --export-best runs/sst2_best
"""


def build_parser():
    p = argparse.ArgumentParser(
        prog="zoo tune",
        description="Hyperparameter search over a preset with keras-tuner.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("preset", metavar="PRESET_OR_FAMILY")
    p.add_argument("--data", metavar="SOURCE",
                   help="a data SOURCE, as for `zoo train` (required to search)")
    p.add_argument("--dir", dest="directory", metavar="DIR",
                   help="search directory (required to search)")
    p.add_argument("--tuner", choices=TUNERS, default="random",
                   help="search algorithm (default: random)")
    p.add_argument("--max-trials", type=positive_int, default=10,
                   help="trials in all, failed ones included (default: 10)")
    p.add_argument("--epochs", type=positive_int,
                   help="epochs per trial (hyperband: at most); default: the preset's")
    p.add_argument("--objective", metavar="METRIC[:min|max]",
                   help="default: val_accuracy (classifiers), val_loss (LMs)")
    p.add_argument("--overwrite", action="store_true",
                   help="delete the search in DIR and start over")
    p.add_argument("--space", metavar="FILE", help="JSON search space entries")
    p.add_argument("--fix", action="append", default=[], type=key_value,
                   metavar="KEY=VALUE", help="fix a setting, repeatable")
    p.add_argument("--export-best", metavar="RUN_DIR",
                   help="retrain the best configuration into RUN_DIR")
    p.add_argument("--export-epochs", type=positive_int,
                   help="epochs of the --export-best run (default: --epochs)")
    p.add_argument("--max-steps-per-epoch", type=positive_int,
                   help="cap batches per epoch and validation batches")
    p.add_argument("--max-train-examples", type=positive_int,
                   help="train trials on the first N training examples only")
    p.add_argument("--seed", type=int, help="default: 1337")
    p.add_argument("--validation-split", type=float, help="default: 0.1")
    p.add_argument("--max-consecutive-failed-trials", type=positive_int, default=3)
    p.add_argument("--show-space", action="store_true",
                   help="print the resolved search space as JSON and exit")
    p.add_argument("--quiet", action="store_true", help="less output")
    return p


def main(argv=None) -> int:
    """Runs `zoo tune`; returns the exit status (2: usage error, 1: failed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    fix = dict(args.fix)
    try:
        if args.show_space:
            searched, fixed = build_space(args.preset, args.space, fix)
            print(json.dumps({"searched": searched, "fixed": fixed,
                              "valid_keys": valid_keys(
                                  _family_and_base(args.preset)[0])}, indent=2))
            return 0
        missing = [f for f, v in (("--data", args.data), ("--dir", args.directory))
                   if not v]
        if missing:
            parser.error(f"the following arguments are required: {', '.join(missing)}")
        result = tune(
            args.preset, args.data, directory=args.directory, tuner=args.tuner,
            max_trials=args.max_trials, epochs=args.epochs,
            objective=args.objective, overwrite=args.overwrite,
            space=args.space, fix=fix, export_best=args.export_best,
            export_epochs=args.export_epochs,
            max_steps_per_epoch=args.max_steps_per_epoch,
            max_train_examples=args.max_train_examples, seed=args.seed,
            validation_split=args.validation_split,
            max_consecutive_failed_trials=args.max_consecutive_failed_trials,
            verbose=0 if args.quiet else 1,
            command_line=["zoo", "tune"] + argv)
    except RuntimeError as e:
        print(f"zoo tune: search stopped: {e}", file=sys.stderr)
        return 1
    except ValueError as e:  # includes DataError and RunDirError
        print(f"zoo tune: error: {e}", file=sys.stderr)
        return 2
    if result.role == "worker":
        print("zoo tune: worker finished; the chief writes the results.")
        return 0
    print(format_table(result.trials))
    print(f"\nresults: {result.files['csv']}, {result.files['json']}, "
          f"{result.files['png']}")
    if result.export is not None:
        print(f"best configuration retrained into {result.export.run_dir} "
              "(ready for `zoo export`)")
    return 0
