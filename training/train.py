"""`training.train`: trains a zoo preset on a data source into a RUN_DIR.

The preset's `training` settings are the defaults; arguments override them.
See `training.run_dir` for what is written, `training.strategy` for
distribution, and `training.callbacks` for how gradient norms, checkpoints,
resume and NaN are handled.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import shutil
import sys
import warnings

from training import run_dir as rd

DEFAULT_SEED = 1337
DEFAULT_VALIDATION_SPLIT = 0.1

# Recipes for the bare family names (presets carry their own).
FAMILY_TRAINING = {
    "sentiment_classifier": {"optimizer": "adam", "learning_rate": 1e-3,
                             "clipnorm": 1.0, "epochs": 3, "batch_size": 64},
    "language_model": {"optimizer": "adam", "learning_rate": 1e-3,
                       "global_clipnorm": 1.0, "epochs": 5, "batch_size": 20,
                       "bptt": 35},
}
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
# Settings a resumed run takes from config.json; only `epochs` may change.
_SETTINGS = ("optimizer", "learning_rate", "clipnorm", "global_clipnorm",
             "epochs", "batch_size", "bptt", "lr_decay", "lr_decay_after")


@dataclasses.dataclass
class RunResult:
    """What `train` returns.

    Attributes:
        run_dir: the RUN_DIR written.
        family: `"sentiment_classifier"` or `"language_model"`.
        config: the `config.json` contents.
        history: one dict per epoch (as in `history.csv`).
        metrics: the `metrics.json` contents.
        best_epoch: epoch of `model.keras` (0-based), or `None`.
    """

    run_dir: str
    family: str
    config: dict
    history: list
    metrics: dict
    best_epoch: int | None = None


def _settings(family, preset, given):
    from zoo.models import factory

    if preset in factory.list_models():
        base = dict(factory.get_preset(preset)["training"])
    else:
        base = dict(FAMILY_TRAINING[family])
    if given.get("clipnorm") is not None and given.get("global_clipnorm") is not None:
        raise ValueError("clipnorm and global_clipnorm are mutually exclusive; "
                         "pass one of them")
    if given.get("clipnorm") is not None:
        base.pop("global_clipnorm", None)
    if given.get("global_clipnorm") is not None:
        base.pop("clipnorm", None)
    for k, v in given.items():
        if v is not None:
            base[k] = v
    for k in ("clipnorm", "global_clipnorm"):
        if k in base and not base[k]:
            base[k] = None  # 0 turns clipping off
        base.setdefault(k, None)
    base.setdefault("lr_decay", None)
    base.setdefault("lr_decay_after", None)
    if family == "language_model":
        base.setdefault("bptt", 35)
    elif given.get("bptt") is not None:
        raise ValueError(f"bptt applies to language models only; {preset!r} is a "
                         f"{family}")
    else:
        base.pop("bptt", None)
    if base["lr_decay"] is not None and not 0 < base["lr_decay"] <= 1:
        raise ValueError(f"lr_decay must be in (0, 1], got {base['lr_decay']!r}")
    if base["lr_decay_after"] is not None and base["lr_decay_after"] < 0:
        raise ValueError(f"lr_decay_after must be >= 0, got {base['lr_decay_after']!r}")
    if base["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {base['optimizer']!r}. "
                         f"Valid values: {list(OPTIMIZERS)}.")
    for k in ("epochs", "batch_size") + (("bptt",) if family == "language_model" else ()):
        if not isinstance(base[k], int) or base[k] < 1:
            raise ValueError(f"{k} must be a positive integer, got {base[k]!r}")
    return base


def make_optimizer(name, learning_rate, *, clipnorm=None, global_clipnorm=None):
    """A Keras optimizer by name with the given clipping."""
    import keras

    cls = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
           "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}[name]
    return cls(learning_rate=learning_rate, clipnorm=clipnorm or None,
               global_clipnorm=global_clipnorm or None)


def _versions():
    import keras
    import numpy
    import tensorflow as tf

    import zoo

    return {"zoo": zoo.__version__, "keras": keras.__version__,
            "tensorflow": tf.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


def _prepare_run_dir(out, resume, overwrite):
    """Returns the stored config when resuming a run, else `None`."""
    exists = os.path.isdir(out) and bool(os.listdir(out))
    if os.path.exists(out) and not os.path.isdir(out):
        raise rd.RunDirError(f"{out}: exists and is not a directory")
    if exists and resume:
        if not os.path.exists(rd.path(out, rd.CONFIG)):
            raise rd.RunDirError(
                f"{out}: cannot resume, no {rd.CONFIG} (not a run directory)")
        return rd.read_config(out)
    if exists and not overwrite:
        raise rd.RunDirError(
            f"{out}: run directory exists and is not empty; pass --resume to "
            "continue that run or --overwrite to replace it")
    if exists and overwrite:
        shutil.rmtree(out)
    os.makedirs(out, exist_ok=True)
    return None


def train(preset, data, *, out, epochs=None, batch_size=None, learning_rate=None,
          optimizer=None, clipnorm=None, global_clipnorm=None, bptt=None,
          lr_decay=None, lr_decay_after=None, overrides=None, strategy="auto",
          mixed_precision=False, seed=None, validation_split=None,
          resume=False, overwrite=False, max_steps_per_epoch=None,
          time_budget=None, callbacks=None, verbose="auto", command_line=None) -> RunResult:
    """Trains a preset (or a bare model family) and writes a RUN_DIR.

    Classifiers read `(text, label)` data, learn their vocabulary from the
    training texts (`adapt_vocabulary`) and train with sparse categorical
    cross-entropy and accuracy; the best checkpoint is the highest
    `val_accuracy`. Language models read a token stream, cut into
    `batch_size` rows read in BPTT windows in order by a stateful model
    whose state is carried across windows and reset at each epoch start;
    the loss is the mean cross-entropy from logits, reported as perplexity
    (word) or bits per character (char) over the whole validation stream;
    the best checkpoint is the lowest `val_loss`.

    Args:
        preset: a preset name (`zoo.list_models()`) or a family name.
        data: SOURCE: `tfds:NAME[/CONFIG]`, a CSV/TSV/text file or a folder.
        out: the RUN_DIR to write.
        epochs, batch_size, learning_rate, optimizer, bptt, lr_decay,
            lr_decay_after: override the preset's training settings.
            `batch_size` is per replica (global = per replica x replicas).
            `lr_decay`: multiply the learning rate by this factor at each
            epoch after `lr_decay_after` (both families; `bptt` is for
            language models only).
        clipnorm: per-variable gradient clipping threshold; `0` disables.
            Mutually exclusive with `global_clipnorm`.
        global_clipnorm: global-norm clipping threshold; `0` disables.
        overrides: dict of model constructor arguments (`--set k=v`).
        strategy: `"auto"`, `"mirrored"`, `"multiworker"` or `"none"`.
        mixed_precision: `mixed_float16` on GPU, `mixed_bfloat16` on CPU.
        seed: random seed (weights, shuffling, validation carve).
            Defaults to `1337`.
        validation_split: share of train held out as validation when the
            source has no validation split (stratified for classifiers, the
            last share of the characters for a char-level text file).
            Defaults to `0.1`.
        resume: continue the run in `out` from `out/backup/` (a missing or
            empty `out` starts a new run). Settings come from its
            `config.json`; only `epochs` may be changed.
        overwrite: delete a non-empty `out` first.
        max_steps_per_epoch: cap batches per epoch (and validation
            batches), for smoke runs.
        time_budget: stop after this many minutes of training (wall
            clock, counted from the first batch of this invocation). The
            epoch in progress ends early and is validated and checkpointed
            as usual; `metrics.json` records where training stopped.
            Defaults to `None` (no limit).
        callbacks: extra `keras.callbacks.Callback`s (run after the run's
            own; `callback.model.zoo_model` is the zoo model).
        verbose: `"auto"` (progress bar on a TTY, one line per epoch
            otherwise), `0`, `1` or `2`.
        command_line: recorded in config.json. Defaults to `sys.argv`.

    Returns:
        A `RunResult`.

    Raises:
        ValueError: unknown preset/argument/setting (the message lists the
            valid ones), or mutually exclusive clipping options.
        training.data.DataError: bad data source (or TFDS while offline).
        training.run_dir.RunDirError: `out` is not empty and neither
            `resume` nor `overwrite` is set.
        training.callbacks.TrainingDiverged: the loss became NaN/inf; the
            checkpoints of the last finished epoch are kept.

    Example:

    ```python
    result = training.train("ptb_small", "../shared/data/ptb", out="runs/ptb",
                            epochs=1, max_steps_per_epoch=50)
    result.metrics["validation"]["perplexity"]
    ```
    """
    import keras

    from zoo.models import factory

    out = os.fspath(out)
    if time_budget is not None and not float(time_budget) > 0:
        raise ValueError(f"time_budget must be > 0 minutes, received {time_budget!r}")
    given = {"optimizer": optimizer, "learning_rate": learning_rate,
             "clipnorm": clipnorm, "global_clipnorm": global_clipnorm,
             "epochs": epochs, "batch_size": batch_size, "bptt": bptt,
             "lr_decay": lr_decay, "lr_decay_after": lr_decay_after}
    overrides = dict(overrides or {})
    family, _ = factory.resolve(preset, **overrides)  # validates early
    _settings(family, preset, given)  # bad settings fail before RUN_DIR is touched

    if _is_chief_env():
        stored = _prepare_run_dir(out, resume, overwrite)
    elif resume and os.path.exists(rd.path(out, rd.CONFIG)):
        stored = rd.read_config(out)  # workers only read RUN_DIR
    else:
        stored = None
    if stored is not None:
        settings, overrides, seed, validation_split = _resume_settings(
            stored, preset, given, overrides, seed, validation_split)
    else:
        settings = _settings(family, preset, given)
    seed = DEFAULT_SEED if seed is None else int(seed)
    validation_split = (DEFAULT_VALIDATION_SPLIT if validation_split is None
                        else float(validation_split))

    from training import callbacks as cb
    from training import strategy as st

    dist = st.make_strategy(strategy)
    chief = st.is_chief(dist)
    write_dir = out if chief else cb.worker_temp_dir(st.task_info()[1])
    replicas = dist.num_replicas_in_sync
    previous_policy = keras.mixed_precision.global_policy().name
    policy = st.mixed_precision_policy() if mixed_precision else None
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    if family == "language_model" and replicas > 1:
        raise ValueError(
            f"language models train statefully with a fixed batch; "
            f"{replicas} replicas are not supported. Use --strategy none.")

    keras.utils.set_random_seed(seed)
    try:
        if policy:
            keras.mixed_precision.set_global_policy(policy)
        data_obj, model_overrides = _load_data(
            family, preset, data, overrides, stored, seed, validation_split, out,
            settings)
        per_replica = settings["batch_size"]
        global_batch = per_replica * replicas
        with dist.scope():
            if family == "language_model":
                model = factory.build(preset, **model_overrides, stateful=True,
                                      batch_size=per_replica)
            else:
                model = factory.build(preset, **model_overrides)
                model.adapt_vocabulary(data_obj.train.texts)
            opt = make_optimizer(settings["optimizer"], settings["learning_rate"],
                                 clipnorm=settings["clipnorm"],
                                 global_clipnorm=settings["global_clipnorm"])
            trainer = cb.GradientTrackingTrainer(
                model, clipnorm=settings["clipnorm"],
                global_clipnorm=settings["global_clipnorm"])
            if family == "language_model":
                loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                metrics = []
            else:
                loss = keras.losses.SparseCategoricalCrossentropy()
                metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
            trainer.compile(optimizer=opt, loss=loss, metrics=metrics,
                            jit_compile=False)

        train_ds, val_ds, val_ids = _datasets(family, data_obj, settings,
                                              global_batch, seed,
                                              max_steps_per_epoch)
        if stored is None:
            config = _config(preset, family, model, settings, data_obj, seed,
                             validation_split, strategy, replicas, global_batch,
                             policy, max_steps_per_epoch, overrides, command_line)
        else:
            config = stored
            config["training"]["epochs"] = settings["epochs"]
            config.setdefault("resumed", []).append({
                "at": _now(), "command_line": _command_line(command_line)})
        if chief:
            rd.atomic_write_json(rd.path(out, rd.CONFIG), config)
            if family == "language_model":
                data_obj.vocab.save(rd.path(out, rd.VOCAB))
                os.chmod(rd.path(out, rd.VOCAB), 0o644)

        if family == "language_model":
            monitor, mode = "val_loss", "min"
            export = lambda: model.with_options(stateful=False)  # noqa: E731
        else:
            monitor, mode = "val_accuracy", "max"
            export = lambda: model  # noqa: E731
        if val_ds is None and val_ids is None:
            monitor = None
        backup_dir = rd.path(write_dir, rd.BACKUP)
        restore_dir = rd.path(out, rd.BACKUP)
        start = cb.backup_epoch(restore_dir)
        history = cb.RunHistory(rd.path(write_dir, rd.HISTORY), initial_epoch=start)
        checkpoints = cb.RunCheckpoints(write_dir, export, monitor, mode,
                                        history_rows=lambda: history.rows,
                                        initial_epoch=start)
        cbs = [cb.StopOnNaN()]
        budget = cb.TimeBudget(float(time_budget) * 60) if time_budget else None
        if budget is not None:
            cbs.append(budget)
        if settings.get("lr_decay"):
            cbs.append(keras.callbacks.LearningRateScheduler(
                cb.lr_decay_schedule(settings["learning_rate"],
                                     settings["lr_decay"],
                                     settings.get("lr_decay_after") or 0)))
        if family == "language_model":
            cbs.append(cb.ResetStates(model))
            cbs.append(cb.LanguageModelValidation(
                model, val_ids, batch_size=per_replica, bptt=settings["bptt"],
                level=data_obj.level, max_steps=max_steps_per_epoch))
        cbs += [
            history,
            checkpoints,
            cb.LearningCurves(rd.path(write_dir, rd.CURVES), lambda: history.rows,
                              title=f"{preset} on {os.path.basename(os.path.normpath(str(data)))}"),
            cb.RunBackup(backup_dir, restore_dir=restore_dir),
            keras.callbacks.TensorBoard(rd.path(write_dir, rd.TENSORBOARD),
                                        write_graph=False, profile_batch=0),
        ] + list(callbacks or [])

        if start >= settings["epochs"]:
            print(f"zoo train: {out} already finished {start} epoch(s); "
                  "nothing to train (pass a larger --epochs to continue).",
                  file=sys.stderr)
        try:
            with warnings.catch_warnings():
                # Bucketed datasets have unknown cardinality; Keras warns
                # when it first reaches their end. That is expected.
                warnings.filterwarnings("ignore", message=".*ran out of data")
                trainer.fit(train_ds, validation_data=val_ds, shuffle=False,
                            epochs=settings["epochs"], callbacks=cbs,
                            verbose=verbose)
        except cb.TrainingDiverged as e:
            if chief:
                rd.atomic_write_json(rd.path(out, rd.METRICS), {
                    "status": "diverged", "message": str(e),
                    "epoch": e.epoch, "batch": e.batch,
                    "last_good_epoch": (history.rows[-1]["epoch"]
                                        if history.rows else None),
                })
            raise

        metrics = _final_metrics(family, write_dir, data_obj, settings, val_ids,
                                 global_batch, max_steps_per_epoch, checkpoints,
                                 monitor, history.rows)
        if budget is not None:
            metrics["time_budget"] = {"minutes": float(time_budget),
                                      "stopped_at": budget.stopped_at}
        if chief:
            rd.atomic_write_json(rd.path(out, rd.METRICS), metrics)
            cb.plot_curves(history.rows, rd.path(out, rd.CURVES),
                           title=f"{preset}")
        return RunResult(run_dir=out, family=family, config=config,
                         history=list(history.rows), metrics=metrics,
                         best_epoch=checkpoints.best_epoch)
    finally:
        if policy:
            keras.mixed_precision.set_global_policy(previous_policy)
        if not chief:
            cb.remove_tree(write_dir)


def _is_chief_env():
    from training import strategy as st

    task_type, task_id = st.task_info()
    if task_type is None:
        return True
    return task_type == "chief" or (task_type == "worker" and task_id == 0)


def _resume_settings(stored, preset, given, overrides, seed, validation_split):
    if stored.get("preset") != preset:
        raise ValueError(f"cannot resume: the run trains {stored.get('preset')!r}, "
                         f"not {preset!r}")
    settings = dict(stored["training"])
    for k, v in given.items():
        if v is None or k == "epochs":
            continue
        if settings.get(k) != v:
            raise ValueError(
                f"cannot resume with {k}={v!r}: the run was started with "
                f"{k}={settings.get(k)!r} (resume uses config.json; only "
                "epochs may change)")
    if given.get("epochs") is not None:
        settings["epochs"] = given["epochs"]
    if overrides and overrides != stored.get("overrides", {}):
        raise ValueError(f"cannot resume with model overrides {overrides}: the "
                         f"run was started with {stored.get('overrides', {})}")
    carve = stored.get("data", {}).get("validation", {})
    if seed is not None and seed != stored.get("seed"):
        raise ValueError(f"cannot resume with seed={seed}: the run used "
                         f"seed={stored.get('seed')}")
    return (settings, dict(stored.get("overrides", {})), stored.get("seed"),
            carve.get("fraction", validation_split))


def _load_data(family, preset, data, overrides, stored, seed, validation_split,
               out, settings):
    """Loads the data and returns `(data, model_overrides)`."""
    from training.data import Vocabulary, load_language_model, load_text_classification
    from training.data import resolve_source
    from zoo.models import factory

    _, config = factory.resolve(preset, **overrides)
    model_overrides = dict(overrides)
    if family == "sentiment_classifier":
        splits = ("train", "validation")
        src = resolve_source(data)
        if src.kind == "aclimdb" or (src.kind == "tfds" and src.tfds_name == "imdb_reviews"):
            splits += ("test",)
        class_names = overrides.get("class_names")
        obj = load_text_classification(data, class_names=class_names,
                                       validation_split=validation_split,
                                       seed=seed, splits=splits)
        if "num_classes" in overrides and overrides["num_classes"] != obj.num_classes:
            raise ValueError(
                f"num_classes={overrides['num_classes']} but the data has "
                f"{obj.num_classes} classes {obj.class_names}")
        model_overrides["num_classes"] = obj.num_classes
        model_overrides["class_names"] = list(obj.class_names)
    else:
        vocab = None
        if stored is not None and os.path.exists(rd.path(out, rd.VOCAB)):
            vocab = Vocabulary.load(rd.path(out, rd.VOCAB))
        level = overrides.get("level") or (config.get("level") if preset in
                                           factory.list_models() else None) or "auto"
        obj = load_language_model(data, level=level, vocab=vocab,
                                  validation_fraction=validation_split or 0.1)
        size = overrides.get("vocabulary_size")
        if size is not None and size < len(obj.vocab):
            raise ValueError(
                f"vocabulary_size={size} is smaller than the data's vocabulary "
                f"({len(obj.vocab)} tokens)")
        model_overrides["vocabulary_size"] = size or len(obj.vocab)
        model_overrides["level"] = obj.level
    if stored is not None and stored.get("data", {}).get("fingerprint") != obj.fingerprint:
        raise ValueError(
            f"cannot resume: {data} is not the data the run was started with "
            f"(fingerprint {obj.fingerprint} != "
            f"{stored.get('data', {}).get('fingerprint')})")
    return obj, model_overrides


def _datasets(family, data, settings, global_batch, seed, max_steps):
    """`(train_ds, val_ds, val_ids)`; LMs validate via a callback (val_ids)."""
    from training.data import lm_steps_per_epoch, make_lm_dataset
    from training.data import make_text_classification_dataset

    if family == "language_model":
        bptt = settings["bptt"]
        if lm_steps_per_epoch(len(data.train), batch_size=global_batch, bptt=bptt) < 1:
            raise ValueError(
                f"the training split ({len(data.train)} tokens) is too short for "
                f"batch_size={global_batch} and bptt={bptt}")
        train_ds = make_lm_dataset(data.train, batch_size=global_batch, bptt=bptt)
        if max_steps:
            train_ds = train_ds.take(max_steps)
        return train_ds, None, data.validation
    train_ds = make_text_classification_dataset(
        data.train, batch_size=global_batch, shuffle=True, seed=seed,
        bucket_boundaries="auto")
    val_ds = None
    if data.validation is not None and len(data.validation):
        val_ds = make_text_classification_dataset(
            data.validation, batch_size=global_batch, bucket_boundaries="auto")
    if max_steps:
        train_ds = train_ds.take(max_steps)
        val_ds = val_ds.take(max_steps) if val_ds is not None else None
    return train_ds, val_ds, None


def _command_line(command_line):
    return list(command_line) if command_line is not None else list(sys.argv)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _config(preset, family, model, settings, data, seed, validation_split,
            strategy, replicas, global_batch, policy, max_steps, overrides,
            command_line):
    from zoo.models import factory

    summary = data.summary()
    summary["validation"] = {"fraction": validation_split, "seed": seed}
    if family == "language_model":
        summary["validation"]["how"] = (
            "the source's validation file" if data.counts.get("validation_tokens")
            and "valid" in data.description else
            f"last {validation_split:g} of the characters, contiguous")
    config = {
        "preset": preset,
        "family": family,
        "description": (factory.get_preset(preset)["description"]
                        if preset in factory.list_models() else None),
        "overrides": overrides,
        "model_config": model.get_config(),
        "training": {
            **settings,
            "batch_size_is": "per replica",
            "replicas": replicas,
            "global_batch_size": global_batch,
            "strategy": strategy,
            "mixed_precision": policy,
            "max_steps_per_epoch": max_steps,
            "loss": ("mean sparse categorical cross-entropy from logits per token"
                     if family == "language_model" else
                     "sparse categorical cross-entropy"),
            "jit_compile": False,
        },
        "data": summary,
        "seed": seed,
        "versions": _versions(),
        "command_line": _command_line(command_line),
        "created": _now(),
    }
    if family == "language_model":
        config["level"] = data.level
        config["vocab_size"] = len(data.vocab)
        config["checkpoints"] = ("model.keras and last.keras are stateless copies "
                                 "(stateful=False); use with_options(stateful=True, "
                                 "batch_size=B) to carry state")
    else:
        config["class_names"] = list(data.class_names)
    return config


def _final_metrics(family, write_dir, data, settings, val_ids, global_batch,
                   max_steps, checkpoints, monitor, rows):
    import keras

    from training.evaluate import evaluate_classifier, evaluate_language_model

    best_path = rd.path(write_dir, rd.BEST)
    metrics = {"status": "completed", "monitor": monitor,
               "best_epoch": checkpoints.best_epoch,
               "epochs_completed": len(rows)}
    if not os.path.exists(best_path):
        return metrics
    best = keras.saving.load_model(best_path, compile=False)
    splits = {"validation": getattr(data, "validation", None),
              "test": getattr(data, "test", None)}
    for name, part in splits.items():
        if part is None or len(part) == 0:
            continue
        if family == "language_model":
            metrics[name] = evaluate_language_model(
                best, part, level=data.level, batch_size=settings["batch_size"],
                bptt=settings["bptt"], max_steps=max_steps)
        else:
            metrics[name] = evaluate_classifier(
                best, part.texts, part.labels, batch_size=global_batch,
                max_steps=max_steps)
    return metrics
