"""The search of `zoo tune`: the hypermodel, the tuners and `tune`.

Each trial trains exactly as `zoo train` does: the recipe comes from
`training.recipe`, the model is compiled and fed by `training.trainer`
(with the same callbacks), so a trial's figures and a `zoo train` run's
are comparable, and `export_best_run` retrains the best trial with
`training.train`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import os
import sys
import threading
import time

from training.tune import results as results_lib
from training.tune import space as space_lib
from training.tune.results import CONFIG_FILE, TIME_METRIC
from training.atomic import (atomic_write_json, atomic_write_text,
                             atomic_write_with, replacing)
from training.tune.space import TRAINING_KEYS, TUNERS

PROJECT = "search"


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


def _clear_search(directory):
    """Removes an earlier search (keras-tuner's project and the trials
    tables) for `--overwrite`: moved aside in one rename each, then deleted,
    so no half-deleted search is left to resume and no old table is read
    with the new settings."""
    names = (PROJECT, results_lib.TRIALS_CSV, results_lib.TRIALS_JSON,
             results_lib.TRIALS_PNG)
    with replacing([os.path.join(directory, n) for n in names],
                   within=directory, label="search"):
        pass


def _declare(hp, key, entry):
    if space_lib.is_json_choice(entry):
        return hp.Choice(key, [json.dumps(v) for v in entry["choice"]])
    if "choice" in entry:
        values = entry["choice"]
        if all(isinstance(v, bool) for v in values) and len(set(values)) == 2:
            return hp.Boolean(key, default=values[0])
        return hp.Choice(key, values)
    sampling = entry.get("sampling", "linear")
    if space_lib.is_int_range(entry):
        return hp.Int(key, entry["min"], entry["max"], step=entry.get("step", 1),
                      sampling=sampling)
    return hp.Float(key, float(entry["min"]), float(entry["max"]),
                    step=entry.get("step"), sampling=sampling)


def _make_hypermodel_class():
    import keras_tuner

    from training import recipe as recipe_lib
    from training import trainer as tr

    class ZooHyperModel(keras_tuner.HyperModel):
        """Builds and trains a zoo model per trial as `zoo train` does.

        The model is `zoo.build(preset, **values)`; the data-dependent
        arguments (classifier vocabulary, classes; LM vocabulary size and
        level) come from `data_overrides`, fixed values from `fixed`,
        searched ones from `hp`. The recipe is `training.recipe.resolve`
        with the trial's training values, and `training.trainer` compiles
        the model and gives its inputs and callbacks.
        """

        def __init__(self, preset, family, searched, fixed, data,
                     data_overrides, *, seed, max_steps_per_epoch=None,
                     epochs=None):
            super().__init__(name="zoo")
            self.preset, self.family = preset, family
            self.searched, self.fixed = searched, fixed
            self.data, self.data_overrides = data, data_overrides
            self.seed, self.max_steps = seed, max_steps_per_epoch
            self.epochs = epochs  # the search's (Hyperband: the most a trial runs)
            self._inputs = {}

        def values(self, hp):
            """All settings of a trial: fixed values then searched ones."""
            out = dict(self.fixed)
            for key in self.searched:
                if key in hp.values:
                    out[key] = hp.values[key]
            return space_lib.decode(self.searched, out)

        def declare(self, hp):
            for key, entry in self.searched.items():
                _declare(hp, key, entry)

        def recipe(self, values):
            given = {k: values.get(k) for k in TRAINING_KEYS[self.family]}
            return recipe_lib.resolve(self.preset, self.family, given)

        def build(self, hp):
            from zoo.models import factory

            self.declare(hp)
            values = self.values(hp)
            model_args = {k: v for k, v in values.items()
                          if k not in TRAINING_KEYS[self.family]}
            recipe = self.recipe(values)
            args = {**model_args, **self.data_overrides}
            if self.family == "sentiment_classifier":
                size = args.get("vocabulary_size") or factory.resolve(
                    self.preset)[1].get("vocabulary_size", 20000)
                vocab = args.pop("vocabulary", None)
                if vocab is not None:
                    args["vocabulary"] = vocab[:size]
                model = factory.build(self.preset, **args)
                # The n-gram branch's vocabulary, when the trial has one.
                model.adapt_ngram_vocabulary(self.data.train.texts,
                                             self.data.train.labels)
            else:
                model = factory.build(self.preset, **args, stateful=True,
                                      batch_size=recipe["batch_size"])
            # A one-cycle schedule spans the trial's steps, as in `zoo train`.
            # A Hyperband trial runs epochs `tuner/initial_epoch` to
            # `tuner/epochs` from its parent's checkpoint. Keras restores the
            # optimizer from it only when the optimizer is built before the
            # weights load (`weight_average` builds it at compile): then the
            # step count goes on and the cycle spans all `tuner/epochs`;
            # otherwise the optimizer is new and the cycle spans the epochs
            # the trial runs, so each rung compares annealed models.
            epochs = hp.values.get("tuner/epochs")
            if epochs is None:
                epochs = self.epochs or recipe["epochs"]
            elif not recipe.get("weight_average"):
                epochs = max(1, epochs - hp.values.get("tuner/initial_epoch", 0))
            return tr.compile_trainer(
                model, self.family, recipe,
                total_steps=tr.total_steps(
                    self.family, self.data, {**recipe, "epochs": epochs},
                    recipe["batch_size"], self.max_steps))

        def _fit_data(self, recipe):
            key = (recipe["batch_size"], recipe.get("bptt"))
            if key not in self._inputs:
                self._inputs = {key: tr.fit_data(  # keep one
                    self.family, self.data, recipe,
                    global_batch=recipe["batch_size"], seed=self.seed,
                    max_steps=self.max_steps)}
            return self._inputs[key]

        def fit(self, hp, model, *args, callbacks=None, epochs=1, **kwargs):
            import warnings

            recipe = self.recipe(self.values(hp))
            train, val = self._fit_data(recipe)
            own = tr.family_callbacks(
                self.family, model, recipe, data=self.data,
                batch_size=recipe["batch_size"], max_steps=self.max_steps)
            kwargs["verbose"] = 2 if kwargs.get("verbose") else 0
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*ran out of data")
                # a recipe's `steps_per_epoch` repeats the data: without
                # it the first epoch would never end
                kwargs.setdefault("steps_per_epoch", tr.steps_per_epoch(
                    recipe, self.max_steps))
                return model.fit(train, validation_data=val, epochs=epochs,
                                 shuffle=False,
                                 callbacks=own + list(callbacks or []),
                                 **kwargs)

    return ZooHyperModel


@contextlib.contextmanager
def atomic_state_files():
    """While active, keras-tuner writes its oracle, trial and tuner JSON
    (`keras_tuner`'s `utils.save_json`) and each trial's best weights
    (`trial_*/checkpoint.weights.h5`, written by its `SaveBestEpoch`
    callback) atomically, where keras-tuner writes them in place: a search
    killed mid-write leaves the previous file, which its resume and
    `load_model` read, not a truncated one. Remote paths (`gs://...`) are
    left to keras-tuner."""
    from keras_tuner.src import utils as kt_utils
    from keras_tuner.src.engine import tuner_utils

    with _patch_lock:
        if _patch["depth"] == 0:
            original = _patch["save_json"] = kt_utils.save_json
            save_best = _patch["save_best"] = (
                tuner_utils.SaveBestEpoch._save_model)

            def save_json(path, obj):
                if "://" in os.fspath(path):
                    return original(path, obj)
                text = json.dumps(obj)
                atomic_write_text(path, text)
                return text

            def _save_model(callback):
                final = callback.filepath
                strategy = getattr(callback.model, "distribute_strategy",
                                   None)
                if ("://" in os.fspath(final) or not getattr(
                        getattr(strategy, "extended", None),
                        "should_checkpoint", True)):
                    # remote, or a worker that keras-tuner has write to a
                    # temporary directory of its own
                    return save_best(callback)

                def write(tmp):
                    callback.filepath = tmp
                    try:
                        save_best(callback)
                    finally:
                        callback.filepath = final

                atomic_write_with(final, write, suffix=".weights.h5")

            kt_utils.save_json = save_json
            tuner_utils.SaveBestEpoch._save_model = _save_model
        _patch["depth"] += 1
    try:
        yield
    finally:
        with _patch_lock:   # the last of nested or concurrent users restores
            _patch["depth"] -= 1
            if _patch["depth"] == 0:
                kt_utils.save_json = _patch.pop("save_json")
                tuner_utils.SaveBestEpoch._save_model = _patch.pop(
                    "save_best")


_patch_lock = threading.Lock()
_patch = {"depth": 0}


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
          searched, fixed, validation_data=None, validation_group=None):
    """Loads the data once; returns `(data, data_overrides)`."""
    from training.data import LabeledTexts, check_carve_fraction, load_language_model
    from training.data import load_text_classification, resolve_source
    from zoo.models import factory

    _, config = factory.resolve(preset)
    if family == "sentiment_classifier":
        obj = load_text_classification(data, validation_split=validation_split,
                                       seed=seed, validation_data=validation_data,
                                       validation_group=validation_group)
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

        from zoo.models.text import vectorizer_standardize

        vectorizer = keras.layers.TextVectorization(
            max_tokens=max(sizes),
            standardize=vectorizer_standardize(fixed.get(
                "standardize", config.get(
                    "standardize", "lower_and_strip_punctuation"))))
        vectorizer.adapt(obj.train.texts, batch_size=256)
        vocab = vectorizer.get_vocabulary()
        del vectorizer
        return obj, {"vocabulary": vocab, "num_classes": obj.num_classes,
                     "class_names": list(obj.class_names)}
    level = config.get("level") or "auto"
    check_carve_fraction(data, validation_split)
    size = fixed.get("vocabulary_size")
    max_tokens = None
    if resolve_source(data).kind in ("csv", "tsv"):
        # as `zoo train`: the size caps a review corpus's vocabulary
        max_tokens = size or config.get("vocabulary_size")
    obj = load_language_model(data, level=level, max_tokens=max_tokens,
                              validation_fraction=validation_split or 0.1,
                              reverse=bool(fixed.get("reverse",
                                                     config.get("reverse", False))))
    if size is not None and size < len(obj.vocab):
        raise ValueError(
            f"vocabulary_size={size} is smaller than the data's vocabulary "
            f"({len(obj.vocab)} tokens)")
    if max_train_examples and max_train_examples < len(obj.train):
        obj.train = obj.train[:max_train_examples]
    return obj, {"vocabulary_size": size or len(obj.vocab), "level": obj.level}


def tune(preset, data, *, directory, tuner="random", max_trials=10, epochs=None,
         objective=None, overwrite=False, space=None, fix=None,
         export_best=None, max_steps_per_epoch=None, max_train_examples=None,
         seed=None, validation_split=None, max_consecutive_failed_trials=3,
         export_epochs=None, verbose=1, command_line=None,
         validation_data=None, validation_group=None,
         export_overwrite=False) -> TuneResult:
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
        overwrite: replace an existing search in `directory`; it is
            cleared once the data has loaded.
        space: a dict of space entries or a JSON file of them, applied over
            `default_space(preset)`.
        fix: dict of fixed values (`--fix key=value`).
        export_best: a RUN_DIR: retrain the best configuration there with
            `training.train` (same data, seed and `max_steps_per_epoch`).
            A RUN_DIR that holds a run is refused before the search starts
            unless `export_overwrite`.
        export_overwrite: let `export_best` replace the run in RUN_DIR.
        max_steps_per_epoch: cap batches per epoch and validation batches.
        max_train_examples: train each trial on the first N training
            examples (LMs: tokens) only (quick searches); validation is whole.
        seed: seed of the validation carve, shuffling, weights and the
            oracle. Defaults to `1337`.
        validation_split: as for `training.train`. Defaults to `0.1`.
        validation_data, validation_group: classifiers: as for
            `training.train` (trials are scored on the separate validation
            set, or on a carve by group).
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

    from training.recipe import DEFAULT_SEED, DEFAULT_VALIDATION_SPLIT

    if tuner not in TUNERS:
        raise ValueError(f"Unknown tuner {tuner!r}. Valid values: {list(TUNERS)}.")
    if not isinstance(max_trials, int) or isinstance(max_trials, bool) or max_trials < 1:
        raise ValueError(f"max_trials must be a positive integer, got {max_trials!r}")
    family, _, recipe = space_lib.family_and_recipe(preset)
    searched, fixed = space_lib.build_space(preset, space, fix)
    epochs = int(epochs or recipe.get("epochs", 1))
    if epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs}")
    obj = space_lib.objective(family, objective)
    seed = DEFAULT_SEED if seed is None else int(seed)
    validation_split = (DEFAULT_VALIDATION_SPLIT if validation_split is None
                        else float(validation_split))
    directory = os.fspath(directory)
    role = _role()
    from training.data.sources import recorded_source

    config = {
        "preset": preset, "family": family, "data": recorded_source(data),
        "tuner": tuner,
        "objective": {"name": obj.name, "direction": obj.direction},
        "searched": searched, "fixed": fixed, "epochs": epochs, "seed": seed,
        "validation_split": validation_split,
        "validation_data": (None if validation_data is None
                            else recorded_source(validation_data)),
        "validation_group": validation_group,
        "max_steps_per_epoch": max_steps_per_epoch,
        "max_train_examples": max_train_examples,
    }
    cfg_path = os.path.join(directory, CONFIG_FILE)
    project = os.path.join(directory, PROJECT)
    # --overwrite replaces an earlier search only once the data has loaded,
    # so that a wrong --data or column leaves that search as it was
    if (role != "worker" and os.path.isdir(project)
            and not os.path.exists(cfg_path)
            and not os.path.exists(os.path.join(project, "oracle.json"))):
        # not a search of ours (no tune_config.json, no keras-tuner oracle):
        # never replaced or written into
        raise ValueError(
            f"{directory}: its {PROJECT}/ folder holds no search (no "
            f"{CONFIG_FILE}, no {PROJECT}/oracle.json); use another --dir")
    replace = overwrite and role != "worker" and os.path.isdir(project)
    resumed = not replace and os.path.exists(os.path.join(project, "oracle.json"))
    stored = None
    if resumed and os.path.exists(cfg_path) and role != "worker":
        stored = results_lib.read_json_object(
            cfg_path, "; pass --overwrite to start over or use another --dir")
        for key in ("data", "validation_data"):   # a search recorded as typed
            if isinstance(stored.get(key), str):
                stored[key] = recorded_source(stored[key])
        diff = sorted(k for k in config if json.dumps(stored.get(k), sort_keys=True)
                      != json.dumps(config[k], sort_keys=True))
        if diff:
            raise ValueError(
                f"{directory}: holds a search with different settings "
                f"({', '.join(f'{k}: {stored.get(k)!r} now {config[k]!r}' for k in diff)}"
                "); pass --overwrite to start over or use another --dir")
    keras.utils.set_random_seed(seed)
    if export_best and role != "worker":
        _check_export_dir(export_best, export_overwrite, directory)
    if family != "sentiment_classifier" and (validation_data or validation_group):
        raise ValueError("--validation-data and --validation-group apply to "
                         f"classifiers; {preset!r} is a {family}")
    data_obj, data_overrides = _load(family, preset, data, seed, validation_split,
                                     max_train_examples, searched, fixed,
                                     validation_data, validation_group)
    if family == "language_model":
        # the size the corpus gave every trial's model (searches recorded
        # before it was kept are not checked)
        config["vocabulary_size"] = data_overrides["vocabulary_size"]
        before = (stored or {}).get("vocabulary_size")
        if before is not None and before != config["vocabulary_size"]:
            raise ValueError(
                f"{directory}: its trials' models had a vocabulary of "
                f"{before}, this corpus gives {config['vocabulary_size']}; "
                "pass --overwrite to start over or use another --dir")
    HyperModel = _make_hypermodel_class()
    hypermodel = HyperModel(preset, family, searched, fixed, data_obj,
                            data_overrides, seed=seed,
                            max_steps_per_epoch=max_steps_per_epoch,
                            epochs=max(epochs, 2) if tuner == "hyperband"
                            else epochs)
    if role == "single":
        # One model of the fixed values and each searched entry's first,
        # built and compiled as a trial does: a value the model or the
        # recipe refuses fails here, before an earlier search is replaced
        # or anything is written. (Not on a distributed search's chief:
        # with it there, the chief-and-two-workers test hung in two runs of
        # three, a cause not yet found.)
        import keras_tuner

        hypermodel.build(keras_tuner.HyperParameters())
        keras.utils.set_random_seed(seed)  # the trials' as before
    if replace:
        _clear_search(directory)
    os.makedirs(directory, exist_ok=True)
    if role != "worker":
        atomic_write_json(cfg_path, {
            **config, "max_trials": max_trials,
            "command_line": list(command_line) if command_line is not None
            else list(sys.argv)})
    with atomic_state_files():
        t = _make_tuner(
            tuner, hypermodel, objective=obj, max_trials=max_trials,
            epochs=epochs, directory=directory, overwrite=False, seed=seed,
            max_consecutive_failed_trials=max_consecutive_failed_trials)
    if role != "worker":
        done = len(t.oracle.trials)
        remaining = max(max_trials - done, 0)
        if resumed:
            counts = results_lib.status_counts(t.oracle.trials.values())
            print(f"zoo tune: resuming the search in {directory}: {done} trial(s) "
                  f"exist ({counts}), {remaining} remain of --max-trials "
                  f"{max_trials}.", file=sys.stderr)
        else:
            print(f"zoo tune: new search in {directory}: {max_trials} trial(s), "
                  f"{len(searched)} searched setting(s) {sorted(searched)}.",
                  file=sys.stderr)
    error = None
    try:
        with atomic_state_files():
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
    rows = results_lib.trial_rows(t.oracle)
    files = results_lib.write_results(directory, rows, config)
    best = next((r for r in rows if r["status"] == "COMPLETED"), None)
    best_hp = (dict(fixed, **space_lib.decode(searched, best["hyperparameters"]))
               if best else None)
    result = TuneResult(directory=directory, objective=config["objective"],
                        trials=rows, best=best, best_hyperparameters=best_hp,
                        files=files, resumed=resumed, role=role)
    if error is not None:
        raise RuntimeError(f"{error}\n(results so far: {files['csv']})") from error
    if export_best:
        if best is None:
            raise ValueError("no trial completed; nothing to export")
        result.export = export_best_run(
            directory, export_best, epochs=export_epochs, verbose=verbose,
            overwrite=export_overwrite)
    return result


def _check_export_dir(out, overwrite, directory=None):
    """`RunDirError` before the search when `--export-best RUN_DIR` could not
    be written after it: a file, a run that `overwrite` does not let go, or
    the search's own `--dir`."""
    from training import run_dir as rd

    if directory is not None:
        mine = os.path.realpath(out)
        project = os.path.realpath(os.path.join(directory, PROJECT))
        if mine in {os.path.realpath(os.path.join(directory, name))
                    for name in ("", CONFIG_FILE, results_lib.TRIALS_CSV,
                                 results_lib.TRIALS_JSON,
                                 results_lib.TRIALS_PNG)} or \
                os.path.commonpath([mine, project]) == project:
            raise rd.RunDirError(
                f"--export-best {out}: is the search's --dir, a file the "
                f"search writes there or a path inside its {PROJECT}/ "
                "folder (which --overwrite clears); the run needs a folder "
                "of its own (another folder inside --dir will do). Choose "
                "another RUN_DIR")
    if os.path.exists(out) and not os.path.isdir(out):
        raise rd.RunDirError(f"--export-best {out}: exists and is not a "
                             "folder; choose another RUN_DIR")
    if os.path.isdir(out) and os.listdir(out):
        if not overwrite:
            raise rd.RunDirError(
                f"--export-best {out}: holds files; pass --export-overwrite "
                "to replace the run there, or choose another RUN_DIR")
        rd.prepare(out, resume=False, overwrite=True)  # a run it may replace


def export_best_run(directory, out, *, epochs=None, overwrite=False, verbose=1,
                    strategy="auto"):
    """Retrains the best configuration of a search into a RUN_DIR.

    Uses `training.train` with the search's data, seed, validation split and
    `max_steps_per_epoch`, the best trial's searched values and the fixed
    ones (model arguments become overrides, the rest training settings). The
    result is a normal run directory, ready for `zoo export`.

    Args:
        directory: the search directory.
        out: the RUN_DIR to write.
        epochs: epochs of the run (default: the best trial's, else the
            search's).
        overwrite: replace a run already in `out` (else it is refused).
        verbose: progress output.
        strategy: as for `training.train`.

    Returns:
        The `training.RunResult`.
    """
    from training.train import train

    loaded = results_lib.load_results(directory)
    config, trials = loaded["config"], loaded["results"]["trials"]
    best = next((r for r in trials if r["status"] == "COMPLETED"), None)
    if best is None:
        raise ValueError(f"{directory}: no completed trial to export")
    family = config["family"]
    values = dict(config["fixed"])
    values.update({k: v for k, v in space_lib.decode(
        config.get("searched", {}), best["hyperparameters"]).items()
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
                 validation_data=config.get("validation_data"),
                 validation_group=config.get("validation_group"),
                 max_steps_per_epoch=config["max_steps_per_epoch"],
                 overwrite=overwrite, strategy=strategy,
                 verbose=2 if verbose else 0,
                 command_line=["zoo", "tune", "--export-best", out,
                               "--dir", directory],
                 # None kept the preset's value in the trials (`resolve`)
                 settings={k: v for k, v in training_args.items()
                           if v is not None})
