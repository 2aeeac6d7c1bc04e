"""`training.train`: trains a zoo preset on a data source into a RUN_DIR.

The preset's recipe gives the defaults and arguments override them
(`training.recipe`); `training.trainer` compiles the model and builds its
inputs and callbacks (shared with `zoo tune`); `training.checkpoints`
writes RUN_DIR during `fit` and `training.run_dir` owns its layout;
`training.strategy` decides the distribution and who writes.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
import os
import sys
import warnings

from training import recipe as recipe_lib
from training import run_dir as rd
from training.recipe import DEFAULT_SEED, DEFAULT_VALIDATION_SPLIT


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

    @property
    def run(self):
        """The run directory, opened (`training.run_dir.Run`)."""
        return rd.open_run(self.run_dir)


def train(preset, data, *, out, epochs=None, batch_size=None, learning_rate=None,
          optimizer=None, clipnorm=None, global_clipnorm=None, bptt=None,
          lr_decay=None, lr_decay_after=None, overrides=None, strategy="auto",
          mixed_precision=False, seed=None, validation_split=None,
          validation_data=None, validation_group=None, init_from=None,
          embeddings=None, resume=False, overwrite=False, max_steps_per_epoch=None,
          time_budget=None, callbacks=None, verbose="auto",
          command_line=None, settings=None, add_texts=None,
          leave_out_group=None, leave_out_split=None, validation_seed=None,
          leave_out_seed=None) -> RunResult:
    """Trains a preset (or a bare model family) and writes a RUN_DIR.

    Classifiers read `(text, label)` data, learn their vocabulary from the
    training texts (`adapt_vocabulary`) and train with sparse categorical
    cross-entropy and accuracy; the best checkpoint is the highest
    `val_accuracy`. They train on the TensorFlow backend. Language models
    read a token stream, cut into `batch_size` rows read in BPTT windows in
    order by a stateful model whose state is carried across windows and
    reset at each epoch start; the loss is the mean cross-entropy from
    logits, reported as perplexity (word) or bits per character (char) over
    the whole validation stream; the best checkpoint is the lowest
    `val_loss`. They train on the TensorFlow, JAX and PyTorch backends.

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
        validation_data: classifiers: a separate validation SOURCE (e.g.
            SST-2's official `dev.tsv`), never trained on; the best
            checkpoint is selected on it. Defaults to `None`.
        validation_group: classifiers: carve validation so that no value of
            this CSV column (`"movie"` for IMDB; an aclImdb folder's
            `urls_*.txt` give it too) is on both sides. Recorded in
            `config.json`; `zoo evaluate` re-creates the same carve.
            Defaults to `None` (a stratified random carve).
        validation_seed: classifiers: seed of the validation carve alone,
            so that runs of several `seed`s are selected and compared on
            one validation set (and can all start from an LM that left out
            that carve). Recorded with the carve. Defaults to `None`
            (`seed` seeds the carve too).
        init_from: a language model's RUN_DIR. Classifiers (from a
            word-level LM) take its vocabulary, tokenisation, embedding and
            recurrent stack, and their shape must match the LM's. Language
            models (ULMFiT's second stage) take its vocabulary, shape and
            every weight and train on a corpus it has not read
            (`training.transfer`). Defaults to `None`.
        embeddings: classifiers: a GloVe / word2vec text file whose vectors
            initialise the embedding rows of the words they cover (the
            count found is printed and recorded). Defaults to `None`.
        resume: continue the run in `out` from `out/backup/` (a missing or
            empty `out` starts a new run). Settings come from its
            `config.json`; only `epochs` may be changed.
        overwrite: replace the run in a non-empty `out`: it is deleted only
            when the new run writes its first file (its data loaded, its
            model built), so a failed start leaves it whole.
        max_steps_per_epoch: cap batches per epoch (and validation
            batches), for smoke runs.
        time_budget: stop after this many minutes of training (wall
            clock, counted from the start of `fit` in this invocation). The
            epoch in progress ends early and is validated and checkpointed
            as usual; `metrics.json` records where training stopped.
            Defaults to `None` (no limit).
        callbacks: extra `keras.callbacks.Callback`s (run after the run's
            own; `callback.model.zoo_model` is the zoo model).
        verbose: `"auto"` (progress bar on a TTY, one line per epoch
            otherwise), `0`, `1` or `2`.
        command_line: recorded in config.json. Defaults to `sys.argv`.
        settings: `{setting: value}` for any training setting
            (`training.recipe.SETTINGS`: the ones above and the fine-tuning
            levers `lr_schedule`, `warmup_fraction`, `schedule_steps`,
            `layer_lr_decay`, `unfreeze_steps`), as `--recipe KEY=VALUE`
            gives them. A setting may not be given both ways.
        add_texts: language models on a CSV/TSV corpus of reviews: also
            train on this file's text column (e.g. the labelled training
            reviews; their labels are not learned). Validation stays the
            corpus's last `validation_split`. Recorded in `config.json`;
            a resumed run reads it again. Defaults to `None`.
        leave_out_group: with `add_texts`: leave out the validation carve
            that a classifier trained on that file with `validation_group=`
            this column, `validation_split=leave_out_split` and
            `validation_seed=leave_out_seed` validates on. A classifier
            `--init-from` this LM must carve the same way
            (`training.transfer.check_held_out`).
            Defaults to `None` (every text is added).
        leave_out_split: the carve's share. Defaults to `0.1`, the
            classifiers' default `validation_split`.
        leave_out_seed: the carve's seed. Defaults to `None` (this run's
            `seed`).

    Returns:
        A `RunResult`.

    Raises:
        ValueError: unknown preset/argument/setting (the message lists the
            valid ones), mutually exclusive clipping options, or a family
            the Keras backend cannot train.
        training.data.DataError: bad data source (or TFDS while offline).
        training.run_dir.RunDirError: `out` is not empty and neither
            `resume` nor `overwrite` is set, or `overwrite` would delete a
            folder that is not a run directory (no `config.json`), a
            symbolic link, or the current directory or one above it.
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

    from training import strategy as st
    from training import trainer as tr
    from training.callbacks import TrainingDiverged
    from zoo.models import factory

    out = os.fspath(out)
    _check_seeds(seed=seed, validation_seed=validation_seed,
                 leave_out_seed=leave_out_seed)
    if time_budget is not None and not recipe_lib.finite_minutes(time_budget):
        raise ValueError("`time_budget` must be a finite number of minutes "
                         f"> 0. Received: time_budget={time_budget!r}")
    given = {"optimizer": optimizer, "learning_rate": learning_rate,
             "clipnorm": clipnorm, "global_clipnorm": global_clipnorm,
             "epochs": epochs, "batch_size": batch_size, "bptt": bptt,
             "lr_decay": lr_decay, "lr_decay_after": lr_decay_after}
    for key, value in dict(settings or {}).items():
        if value is None:
            # a null would keep the preset's value without a word
            raise ValueError(
                f"the training setting {key!r} was given as null, which "
                "keeps the preset's value; give the value itself "
                "(weight_average=none ends averaging, lr_decay=1 ends decay, "
                f"clipnorm=0 ends clipping). Received: {key}=None")
        if given.get(key) is not None and given[key] != value:
            raise ValueError(
                f"the training setting {key!r} was given twice, as "
                f"{given[key]!r} and as --recipe {key}={value!r}")
        given[key] = value
    overrides = dict(overrides or {})
    family, _ = factory.resolve(preset, **overrides)  # validates early
    _check_data_arguments(overrides, family)
    tr.require_backend_for(family)
    recipe_lib.resolve(preset, family, given)  # fails before RUN_DIR is touched
    st.check_strategy(strategy)
    lm_run = _check_transfer(family, preset, overrides, init_from, embeddings,
                             data=data, out=out)
    _check_validation_seed(family, preset, validation_seed, validation_data,
                           validation_split)
    if family == "language_model":
        _check_lm_validation(preset, validation_data, validation_group)
    if family == "sentiment_classifier" and validation_group is not None \
            and validation_split is not None and float(validation_split) == 0:
        raise ValueError(
            "--validation-group carves validation from train by group; "
            "--validation-split 0 carves nothing. Received: "
            f"validation_group={validation_group!r}, validation_split=0")
    # `--resume` of a missing or empty RUN_DIR starts a new run.
    resuming = resume and os.path.exists(rd.path(out, rd.CONFIG))
    if lm_run is not None and not resuming and family == "sentiment_classifier":
        from training import transfer

        transfer.check_held_out(
            lm_run, data, validation_data=validation_data,
            validation_group=validation_group,
            validation_split=(DEFAULT_VALIDATION_SPLIT if validation_split is None
                              else validation_split),
            seed=(validation_seed if validation_seed is not None
                  else DEFAULT_SEED if seed is None else seed))
    _check_added_texts(family, preset, add_texts, leave_out_group,
                       leave_out_split, leave_out_seed)

    reload_vectors = False   # a resumed run's --embeddings, read again
    chief = st.is_chief(strategy)
    if chief:
        stored = rd.prepare(out, resume=resume, overwrite=overwrite)
    elif resume and os.path.exists(rd.path(out, rd.CONFIG)):
        stored = rd.open_run(out)  # workers only read RUN_DIR
    else:
        stored = None
    if stored is not None:
        recipe, overrides, seed, validation_split = _resume(
            stored, preset, given, overrides, seed, validation_split)
        max_steps_per_epoch = _resumed_max_steps(stored, max_steps_per_epoch)
        # a damaged backup is refused here, before anything is written
        done = rd.backup_epoch(rd.path(out, rd.BACKUP))
        if recipe["epochs"] < done:
            raise ValueError(
                f"cannot resume {out} with epochs={recipe['epochs']}: the run "
                f"has trained {done} epoch(s); give --epochs {done} or more. "
                f"Received: epochs={recipe['epochs']}")
        validation_data, validation_group, validation_seed = \
            _resumed_validation(stored, validation_data, validation_group,
                                validation_seed)
        add_texts = _resumed_added_texts(stored, out, add_texts,
                                         leave_out_group, leave_out_split,
                                         leave_out_seed)
        lm_run = _resumed_source(stored, out, family, init_from, lm_run, done)
        embeddings, reload_vectors = _resumed_embeddings(stored, out,
                                                         embeddings, done)
    else:
        recipe = recipe_lib.resolve(preset, family, given)
        if lm_run is not None and family == "language_model":
            from training import transfer

            # The source's shape, recorded with the run's model arguments so
            # that a resumed run builds the same model.
            overrides = {**overrides,
                         **transfer.language_model_overrides(lm_run, overrides)}
    seed = DEFAULT_SEED if seed is None else int(seed)
    validation_split = (DEFAULT_VALIDATION_SPLIT if validation_split is None
                        else float(validation_split))
    if isinstance(add_texts, (str, os.PathLike)):
        from training.data import AddedTexts

        add_texts = AddedTexts(
            os.fspath(add_texts), leave_out_group=leave_out_group,
            leave_out_split=(DEFAULT_VALIDATION_SPLIT if leave_out_split is None
                             else float(leave_out_split)),
            seed=seed if leave_out_seed is None else int(leave_out_seed))

    dist = st.make_strategy(strategy)
    write_dir = out if chief else st.worker_temp_dir(st.task_info()[1])
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
            family, preset, data, overrides, stored, seed, validation_split,
            validation_data, validation_group, add_texts, validation_seed,
            lm_run=lm_run)
        per_replica = recipe["batch_size"]
        global_batch = per_replica * replicas
        if family == "language_model":
            _check_lm_lengths(data_obj, data, recipe["bptt"], per_replica,
                              global_batch)
        transfer_report = {}
        with dist.scope():
            if family == "language_model":
                model = factory.build(preset, **model_overrides, stateful=True,
                                      batch_size=per_replica)
                if lm_run is not None:
                    from training import transfer

                    # (a resumed run then restores its backup, if any)
                    report = transfer.copy_language_model_weights(model, lm_run)
                    if stored is None:
                        transfer_report["init_from"] = report
            elif lm_run is not None:
                from training import transfer

                _, config = factory.resolve(preset, **model_overrides)
                model = factory.build(preset, **{
                    **model_overrides,
                    **transfer.classifier_overrides(lm_run, config, overrides)})
                report = transfer.copy_language_model(model, lm_run)
                model.adapt_ngram_vocabulary(data_obj.train.texts,
                                             data_obj.train.labels)
                if stored is None:  # a resumed run restores its own weights
                    transfer_report["init_from"] = report
            else:
                model = factory.build(preset, **model_overrides)
                model.adapt_vocabulary(data_obj.train.texts,
                                       data_obj.train.labels)
                if embeddings is not None and (stored is None
                                               or reload_vectors):
                    from training import transfer

                    report = transfer.load_word_vectors(model, embeddings)
                    transfer_report["embeddings"] = report
                    print(f"zoo train: --embeddings {embeddings}: "
                          f"{report['found']} of {report['vocabulary']} "
                          "vocabulary words found", file=sys.stderr)
            # a resumed run keeps its schedule's length (more epochs run on
            # at the schedule's last rate rather than stretch it)
            schedule_total = (stored.training.get("total_steps")
                              if stored is not None else None)
            if schedule_total is None:  # new, or recorded before runs kept it
                first = (stored.training.get("epochs") if stored is not None
                         else None)
                schedule_total = tr.total_steps(
                    family, data_obj, {**recipe, "epochs": first or recipe["epochs"]},
                    global_batch, max_steps_per_epoch)
            trainer = tr.compile_trainer(model, family, recipe,
                                         total_steps=schedule_total)
        train_data, val_data = tr.fit_data(
            family, data_obj, recipe, global_batch=global_batch, seed=seed,
            max_steps=max_steps_per_epoch)

        if stored is None:
            config = rd.new_config(
                preset=preset, family=family,
                description=(factory.get_preset(preset)["description"]
                             if preset in factory.list_models() else None),
                overrides=overrides, model_config=model.get_config(),
                training={**recipe, "batch_size_is": "per replica",
                          "replicas": replicas, "global_batch_size": global_batch,
                          "strategy": strategy, "mixed_precision": policy,
                          "max_steps_per_epoch": max_steps_per_epoch,
                          "total_steps": schedule_total,
                          "loss": _LOSS[family],
                          "jit_compile": tr.jit_compile()},
                data=data_obj.summary(), validation=data_obj.validation_carve,
                seed=seed, command_line=_command_line(command_line))
            if transfer_report:
                config["transfer"] = transfer_report
        else:
            config = stored.config
            config["training"].setdefault("total_steps", schedule_total)
            config["training"]["epochs"] = recipe["epochs"]
            config.setdefault("resumed", []).append({
                "at": rd.now(), "command_line": _command_line(command_line)})
        if chief:
            if stored is None:  # the run --overwrite replaces goes only now
                rd.start_new(out, overwrite=overwrite)
            rd.write_config(out, config)
            if family == "language_model":
                rd.write_vocabulary(out, data_obj.vocab)
            split, texts = _warmup_texts(family, data_obj)
            if texts:
                rd.write_warmup_texts(out, texts, split=split)

        if family == "language_model":
            monitor, mode = "val_loss", "min"
            export = lambda: model.with_options(stateful=False)  # noqa: E731
            has_validation = data_obj.validation is not None
        else:
            monitor, mode = "val_accuracy", "max"
            export = lambda: model  # noqa: E731
            has_validation = val_data is not None
        if not has_validation:
            monitor = None
        # Only a resumed run restores: a worker of a new run must not read
        # the backup of the run the chief is about to replace (--overwrite).
        restore = rd.path(out if stored is not None else write_dir, rd.BACKUP)
        cbs, history, checkpoints, budget = _callbacks(
            family, trainer, recipe, data_obj, restore, write_dir, monitor, mode,
            export, per_replica, max_steps_per_epoch, time_budget,
            title=f"{preset} on {os.path.basename(os.path.normpath(str(data)))}")
        cbs += list(callbacks or [])
        start = rd.backup_epoch(restore)
        if start >= recipe["epochs"]:
            print(f"zoo train: {out} already finished {start} epoch(s); "
                  "nothing to train (pass a larger --epochs to continue).",
                  file=sys.stderr)
        try:
            with warnings.catch_warnings():
                # Bucketed datasets have unknown cardinality; Keras warns
                # when it first reaches their end. That is expected.
                warnings.filterwarnings("ignore", message=".*ran out of data")
                trainer.fit(train_data, validation_data=val_data, shuffle=False,
                            epochs=recipe["epochs"], callbacks=cbs,
                            steps_per_epoch=tr.steps_per_epoch(
                                recipe, max_steps_per_epoch),
                            verbose=verbose)
        except TrainingDiverged as e:
            if chief:
                rd.write_metrics(out, {
                    "status": "diverged", "message": str(e),
                    "epoch": e.epoch, "batch": e.batch,
                    "last_good_epoch": (history.rows[-1]["epoch"]
                                        if history.rows else None),
                })
            raise

        metrics = _final_metrics(family, write_dir, data_obj, recipe,
                                 global_batch, max_steps_per_epoch,
                                 checkpoints, monitor, history.rows, config)
        if stored is not None and start >= recipe["epochs"]:
            # nothing trained now: the record of how the run stopped stays
            try:
                before = (stored.metrics or {}).get("time_budget")
            except rd.RunDirError:  # a damaged metrics.json is rewritten
                before = None
            if before is not None:
                metrics["time_budget"] = before
        elif budget is not None:
            metrics["time_budget"] = {"minutes": float(time_budget),
                                      "stopped_at": budget.stopped_at}
        if chief:
            from training import plots

            rd.write_metrics(out, metrics)
            plots.plot_curves(history.rows, rd.path(out, rd.CURVES),
                              title=f"{preset}")
        return RunResult(run_dir=out, family=family, config=config,
                         history=list(history.rows), metrics=metrics,
                         best_epoch=checkpoints.best_epoch)
    finally:
        if policy:
            keras.mixed_precision.set_global_policy(previous_policy)
        if not chief:
            st.remove_tree(write_dir)


def _check_lm_validation(preset, validation_data, validation_group):
    """A language model holds out the last share of its corpus: the
    classifiers' validation flags are refused, before the RUN_DIR is
    touched."""
    if validation_data is not None or validation_group is not None:
        raise ValueError(
            "--validation-data and --validation-group apply to "
            f"classifiers; {preset!r} is a language model (it holds out "
            "the last --validation-split of its corpus). Received: "
            f"validation_data={validation_data!r}, "
            f"validation_group={validation_group!r}")


def _check_seeds(**seeds):
    """Seeds are integers numpy takes (0 to 2**32 - 1), checked before the
    RUN_DIR is touched."""
    from training.cli_args import MAX_SEED

    for key, value in seeds.items():
        if value is None:
            continue
        try:
            number = operator.index(value)  # ints, numpy ints; not bools
        except TypeError:
            number = None
        if isinstance(value, bool) or number is None or \
                not 0 <= number <= MAX_SEED:
            raise ValueError(f"`{key}` must be an integer from 0 to "
                             f"{MAX_SEED}. Received: {key}={value!r}")


def _check_validation_seed(family, preset, validation_seed, validation_data,
                           validation_split):
    """`--validation-seed` checked before the RUN_DIR is touched."""
    if validation_seed is None:
        return
    if family != "sentiment_classifier":
        raise ValueError(
            f"--validation-seed seeds a classifier's validation carve; "
            f"{preset!r} is a {family} (it holds out the last "
            "--validation-split of its corpus). Received: "
            f"validation_seed={validation_seed!r}")
    if validation_data is not None:
        raise ValueError(
            "--validation-seed seeds a carve of train; --validation-data is "
            "a separate set, not carved. Received: "
            f"validation_seed={validation_seed!r}, "
            f"validation_data={validation_data!r}")
    if validation_split is not None and float(validation_split) == 0:
        raise ValueError(
            "--validation-seed seeds a carve of train; --validation-split 0 "
            f"carves nothing. Received: validation_seed={validation_seed!r}")


def _check_added_texts(family, preset, add_texts, leave_out_group,
                       leave_out_split, leave_out_seed=None):
    """`--add-texts` and the `--leave-out-*` flags checked before the
    RUN_DIR is touched."""
    if add_texts is None:
        if (leave_out_group is not None or leave_out_split is not None
                or leave_out_seed is not None):
            raise ValueError(
                "--leave-out-group, --leave-out-split and --leave-out-seed "
                "say which texts of --add-texts to leave out; pass "
                "--add-texts FILE too. "
                f"Received: leave_out_group={leave_out_group!r}, "
                f"leave_out_split={leave_out_split!r}, "
                f"leave_out_seed={leave_out_seed!r}")
        return
    if family != "language_model":
        raise ValueError(
            f"--add-texts adds texts to a language model's corpus; {preset!r} "
            f"is a {family}. Received: add_texts={add_texts!r}")
    path = os.fspath(getattr(add_texts, "source", add_texts))  # or AddedTexts
    if not os.path.isfile(path):
        from training.data import DataError

        raise DataError("--add-texts: no such file", path=path)
    if leave_out_seed is not None and leave_out_group is None:
        raise ValueError(
            "--leave-out-seed is the seed of the carve by --leave-out-group; "
            f"pass the group too. Received: leave_out_seed={leave_out_seed!r}")
    if leave_out_split is not None:
        if leave_out_group is None:
            raise ValueError(
                "--leave-out-split is the share of the carve by "
                "--leave-out-group; pass the group too. Received: "
                f"leave_out_split={leave_out_split!r}")
        if not 0.0 < float(leave_out_split) < 1.0:
            raise ValueError("--leave-out-split must be in (0, 1). Received: "
                             f"leave_out_split={leave_out_split!r}")


def _check_transfer(family, preset, overrides, init_from, embeddings,
                    data=None, out=None):
    """The LM run of `--init-from` (checked), or `None`; fails before the
    RUN_DIR is touched."""
    if init_from is None and embeddings is None:
        return None
    if (init_from is not None and out is not None and os.path.isdir(init_from)
            and os.path.exists(out) and os.path.samefile(init_from, out)):
        raise ValueError(
            "--init-from and --out are the same folder: the new run would "
            "replace the language model it starts from. Give the new run "
            f"another --out. Received: init_from={init_from!r}, out={out!r}")
    from training import transfer
    from zoo.models import factory

    if family == "language_model":
        if embeddings is not None:
            raise ValueError(
                f"--embeddings starts a classifier's embedding; {preset!r} is "
                f"a {family}. Received: embeddings={embeddings!r}")
        # ULMFiT's second stage: an LM goes on from another LM.
        run = transfer.open_language_model(init_from, word_level=False)
        transfer.language_model_overrides(run, overrides)  # shape check
        transfer.check_new_corpus(run, data)
        return run
    if family != "sentiment_classifier":
        raise ValueError(
            f"--init-from and --embeddings start classifiers and language "
            f"models; {preset!r} is a {family}. Received: "
            f"init_from={init_from!r}, embeddings={embeddings!r}")
    if init_from is not None and embeddings is not None:
        raise ValueError(
            "--init-from takes the LM's embedding; --embeddings would "
            "overwrite it. Pass one of them. Received: "
            f"init_from={init_from!r}, embeddings={embeddings!r}")
    if embeddings is not None:
        from training.data import DataError

        if os.path.isdir(embeddings):
            raise DataError("is a folder; --embeddings takes a GloVe or "
                            "word2vec text file", path=embeddings)
        if not os.path.isfile(embeddings):
            raise DataError("embeddings file does not exist", path=embeddings)
        return None
    run = transfer.open_language_model(init_from)
    _, config = factory.resolve(preset, **overrides)
    transfer.classifier_overrides(run, config, overrides)  # shape check
    return run


def _check_lm_lengths(data_obj, data, bptt, per_replica, global_batch):
    """Before the RUN_DIR is touched: a corpus too short for one training
    window, or a validation or test split too short for the rows the
    whole-stream scoring cuts it into (`per_replica`, two tokens each), is
    a `DataError` now, not a crash after the first or the last epoch."""
    from training.data import DataError, lm_steps_per_epoch

    n = len(data_obj.train)
    if lm_steps_per_epoch(n, batch_size=global_batch, bptt=bptt) < 1:
        raise DataError(
            f"the training split ({n} tokens) is too short for one window of "
            f"batch_size={global_batch} and bptt={bptt}", path=data)
    for split in ("validation", "test"):  # read whole in rows of `per_replica`
        ids = getattr(data_obj, split, None)
        if ids is not None and len(ids) < 2 * per_replica:
            raise DataError(
                f"the {split} split ({len(ids)} tokens) is too short for "
                f"batch_size={per_replica}: it is scored in {per_replica} rows "
                "of 2 tokens or more", path=data)


_LOSS = {"language_model": "mean sparse categorical cross-entropy from "
                           "logits per token",
         "sentiment_classifier": "sparse categorical cross-entropy"}


def _callbacks(family, trainer, recipe, data, restore, write_dir, monitor, mode,
               export, batch_size, max_steps, time_budget, title):
    """The run's callbacks, in order: the family's (NaN stop, gradient log,
    decay, LM state and validation), the time budget, then the RUN_DIR
    writers (history and checkpoints before the resume backup, which is
    restored from the folder `restore`)."""
    import keras

    from training import checkpoints as ck
    from training import trainer as tr
    from training.callbacks import TimeBudget, TimedOneCycle

    cbs = tr.family_callbacks(family, trainer, recipe, data=data,
                              batch_size=batch_size, max_steps=max_steps)
    budget = TimeBudget(float(time_budget) * 60) if time_budget else None
    if budget is not None:
        cbs.append(budget)
    start = rd.backup_epoch(restore)
    history = ck.RunHistory(rd.path(write_dir, rd.HISTORY), initial_epoch=start)
    for cb in cbs:
        if isinstance(cb, TimedOneCycle):
            # A resumed run's schedule goes on from the seconds trained.
            done = [r["schedule_seconds"] for r in history.rows
                    if r.get("schedule_seconds") is not None]
            cb.start_seconds = float(done[-1]) if done else 0.0
    checkpoints = ck.RunCheckpoints(write_dir, export, monitor, mode,
                                    history_rows=lambda: history.rows,
                                    initial_epoch=start)
    cbs += [history, checkpoints,
            ck.LearningCurves(rd.path(write_dir, rd.CURVES),
                              lambda: history.rows, title=title),
            ck.RunBackup(rd.path(write_dir, rd.BACKUP), restore_dir=restore)]
    if keras.backend.backend() == "tensorflow":
        # Keras writes TensorBoard events with TensorFlow's summary ops.
        cbs.append(keras.callbacks.TensorBoard(
            rd.path(write_dir, rd.TENSORBOARD), write_graph=False,
            profile_batch=0))
    return cbs, history, checkpoints, budget


def _resume(stored, preset, given, overrides, seed, validation_split):
    """The recipe, overrides, seed and validation split of a resumed run."""
    if stored.preset != preset:
        raise ValueError(f"cannot resume: the run trains {stored.preset!r}, "
                         f"not {preset!r}")
    recipe = recipe_lib.for_resume(stored.training, given)
    # Those given again must be the run's (a language model started from
    # another also recorded the source's shape among them).
    if overrides and {**stored.overrides, **overrides} != stored.overrides:
        raise ValueError(f"cannot resume with model overrides {overrides}: the "
                         f"run was started with {stored.overrides}")
    if seed is not None and seed != stored.seed:
        raise ValueError(f"cannot resume with seed={seed}: the run used "
                         f"seed={stored.seed}")
    fraction = stored.carve.fraction
    # (a run that validates on a split of its own ignored the flag when it
    # started, and ignores it again)
    if (validation_split is not None and fraction is not None
            and validation_split != fraction):
        raise ValueError(
            f"cannot resume with validation_split={validation_split}: the run "
            f"carved {fraction} of its data")
    return (recipe, _stored_overrides(stored.overrides), stored.seed,
            validation_split if fraction is None else fraction)


def _resumed_validation(stored, validation_data, validation_group,
                        validation_seed):
    """`(validation_data, validation_group, validation_seed)` of a resumed
    run: its own; the flags given again must be the run's."""
    carve = stored.carve
    if validation_seed is not None and validation_seed != carve.seed:
        raise ValueError(
            f"cannot resume with validation_seed={validation_seed}: the "
            f"run's carve used seed {carve.seed}")
    _check_resumed_validation(carve, validation_data, validation_group)
    return (carve.validation_data, carve.group,
            (stored.data.get("validation") or {}).get("seed"))


def _resumed_added_texts(stored, out, add_texts, leave_out_group,
                         leave_out_split, leave_out_seed):
    """The `--add-texts` of a resumed run (an `AddedTexts`, or `None`): the
    one it started with. Given again, the file and its carve must be the
    run's; a file that has moved since may be given where it is now (the
    data's fingerprint then checks its texts)."""
    from training.data import AddedTexts
    from training.data.sources import recorded_source

    record = stored.data.get("added_texts")
    if not record:
        if add_texts is not None:
            raise ValueError(
                f"cannot resume {out} with --add-texts: the run was started "
                "without added texts, and its vocabulary and data are "
                f"fixed. Received: add_texts={add_texts!r}")
        return None
    added = AddedTexts.from_record(record)
    if isinstance(add_texts, AddedTexts):  # its carve, given again too
        leave_out_group = (add_texts.leave_out_group if leave_out_group is None
                           else leave_out_group)
        leave_out_split = (add_texts.leave_out_split if leave_out_split is None
                           and add_texts.leave_out_group is not None
                           else leave_out_split)
        leave_out_seed = (add_texts.seed if leave_out_seed is None
                          and add_texts.leave_out_group is not None
                          else leave_out_seed)
    if add_texts is not None:
        given = os.fspath(getattr(add_texts, "source", add_texts))
        if recorded_source(given) != recorded_source(added.source):
            if os.path.isfile(added.source):
                raise ValueError(
                    f"cannot resume {out} with --add-texts {given}: the run "
                    f"added the texts of {added.source}")
            added = dataclasses.replace(added, source=given)  # moved
    for flag, value, theirs, kind in (
            ("leave_out_group", leave_out_group, added.leave_out_group, str),
            ("leave_out_split", leave_out_split, added.leave_out_split, float),
            ("leave_out_seed", leave_out_seed, added.seed, int)):
        if value is not None and kind(value) != theirs:
            raise ValueError(
                f"cannot resume {out} with {flag}={value!r}: the run left "
                f"out its added texts' carve with {flag}={theirs!r}")
    return added


def _resumed_source(stored, out, family, init_from, lm_run, done):
    """The LM run a resumed run (started with `--init-from`) needs, or
    `lm_run` (the `--init-from` given again, or `None`).

    A classifier needs its LM's vocabulary, whose digest is checked; a
    language model needs its source only when it stopped before its first
    backup (it then starts again from the source's weights)."""
    from training import transfer

    record = (stored.config.get("transfer") or {}).get("init_from")
    if init_from is None and record:
        if family == "sentiment_classifier":
            try:
                lm_run = transfer.open_language_model(record["run_dir"])
            except transfer.TransferError as e:
                raise transfer.TransferError(
                    f"--resume {out}: the language model the run started "
                    f"from cannot be opened ({e}); if it has moved, pass "
                    "--init-from where it is now") from None
        elif done == 0:
            lm_run = transfer.open_language_model(record["run_dir"],
                                                  word_level=False)
    if lm_run is not None and family == "sentiment_classifier":
        transfer.check_resumed_source(stored, lm_run, backed_up=done > 0)
    return lm_run


def _resumed_embeddings(stored, out, embeddings, done):
    """`(embeddings, reload)` of a resumed run: the word vectors to read
    again (`reload`) when it stopped before its first backup; otherwise its
    backup holds the embedding and `--embeddings` is not read."""
    vectors = (stored.config.get("transfer") or {}).get("embeddings")
    if vectors and done == 0:
        # it starts again from the word vectors it was started with
        # (recorded absolute; older runs recorded the path as typed)
        recorded = vectors.get("file")
        if embeddings is not None and recorded is not None and \
                os.path.isfile(recorded) and \
                os.path.abspath(embeddings) != os.path.abspath(recorded):
            raise ValueError(
                f"cannot resume {out} with --embeddings {embeddings}: "
                f"the run was started from {recorded}")
        embeddings = embeddings or recorded
        if embeddings is None or not os.path.isfile(embeddings):
            raise ValueError(
                f"--resume {out}: the run stopped before its first "
                "backup, so it starts again from its word vectors, but "
                f"{recorded!r} is not there; pass --embeddings where the "
                "file is now")
        return embeddings, True
    if embeddings is not None and not vectors:
        raise ValueError(
            f"cannot resume {out} with --embeddings: the run was started "
            f"without word vectors. Received: embeddings={embeddings!r}")
    if embeddings is not None:
        print(f"zoo train: --resume {out}: the run's backup holds its "
              f"embedding; --embeddings {embeddings} is not read again",
              file=sys.stderr)
    return embeddings, False


def _check_resumed_validation(carve, validation_data, validation_group):
    """A resumed run validates as it started; `--validation-data` or
    `--validation-group` given again must be the run's."""
    from training.data.sources import recorded_source

    if validation_data is not None and (
            carve.validation_data is None
            or recorded_source(validation_data)
            != recorded_source(carve.validation_data)):
        raise ValueError(
            f"cannot resume with validation_data={validation_data!r}: the run "
            "validates on " + (
                carve.validation_data or "a carve of its data"
                if carve.fraction is not None or carve.validation_data
                else "its source's own validation split"))
    if validation_group is not None and validation_group != carve.group:
        raise ValueError(
            f"cannot resume with validation_group={validation_group!r}: the "
            "run's validation " + (f"carve was grouped by {carve.group!r}"
                                   if carve.group else "is not grouped"))


def _stored_overrides(overrides):
    """A run's stored `--set` overrides as it trained with them: 0/1 flags
    as bools, an integral float `num_layers` as an int. Other values
    (`layer_norm="no"`, which trained as True) stay, for a clear error."""
    # Older runs stored the models' flags as 0/1, which trained as
    # bool(value); the models now refuse non-bools.
    from zoo import checks

    out = dict(overrides)
    for key in checks.FLAGS:
        if out.get(key) in (0, 1) and not isinstance(out[key], bool):
            out[key] = bool(out[key])
    layers = out.get("num_layers")
    if isinstance(layers, float) and layers.is_integer():
        out["num_layers"] = int(layers)
    return out


def _resumed_max_steps(stored, given):
    """The `max_steps_per_epoch` of a resumed run: the stored one; a
    different one given now is refused (it would change the epochs and the
    schedule of the run)."""
    before = stored.training.get("max_steps_per_epoch")
    if given is not None and given != before:
        raise ValueError(
            f"cannot resume with max_steps_per_epoch={given!r}: the run was "
            f"started with max_steps_per_epoch={before!r} (resume uses "
            "config.json; only epochs may change)")
    return before


def _load_data(family, preset, data, overrides, stored, seed, validation_split,
               validation_data=None, validation_group=None, add_texts=None,
               validation_seed=None, lm_run=None):
    """Loads the data and returns `(data, model_overrides)`.

    A language model started from another (`lm_run`, not resumed) reads
    its corpus with that LM's vocabulary and level."""
    from training.data import load_language_model, load_text_classification
    from training.data import (check_carve_fraction, classifier_splits,
                               resolve_source)
    from zoo.models import factory

    _, config = factory.resolve(preset, **overrides)
    model_overrides = dict(overrides)
    if family == "sentiment_classifier":
        splits = classifier_splits(data)
        # a resumed run keeps the classes it was built with
        obj = load_text_classification(
            data, class_names=overrides.get("class_names") or (
                stored.class_names if stored is not None else None),
            validation_split=validation_split, seed=seed, splits=splits,
            validation_data=validation_data, validation_group=validation_group,
            validation_seed=validation_seed)
        if "num_classes" in overrides and overrides["num_classes"] != obj.num_classes:
            raise ValueError(
                f"num_classes={overrides['num_classes']} but the data has "
                f"{obj.num_classes} classes {obj.class_names}")
        model_overrides["num_classes"] = obj.num_classes
        model_overrides["class_names"] = list(obj.class_names)
    else:
        vocab = None
        if stored is not None and os.path.exists(stored.vocab_path):
            vocab = stored.vocabulary
        elif lm_run is not None:
            vocab = lm_run.vocabulary
        level = (stored.level if stored is not None else None) or \
            overrides.get("level") or (config.get("level") if preset in
                                       factory.list_models() else None) or "auto"
        max_tokens = None
        check_carve_fraction(data, validation_split)
        if resolve_source(data).kind in ("csv", "tsv"):
            # Reviews have a long tail of words: the model's vocabulary
            # size caps the corpus' vocabulary (rarer words are <unk>).
            max_tokens = overrides.get("vocabulary_size") or config.get(
                "vocabulary_size")
        obj = load_language_model(data, level=level, vocab=vocab,
                                  max_tokens=max_tokens,
                                  validation_fraction=validation_split or 0.1,
                                  add_texts=add_texts,
                                  reverse=bool(config.get("reverse", False)))
        size = overrides.get("vocabulary_size")
        if size is not None and size < len(obj.vocab):
            raise ValueError(
                f"vocabulary_size={size} is smaller than the data's vocabulary "
                f"({len(obj.vocab)} tokens)")
        model_overrides["vocabulary_size"] = size or len(obj.vocab)
        model_overrides["level"] = obj.level
    if stored is not None and stored.data.get("fingerprint") != obj.fingerprint:
        raise ValueError(
            f"cannot resume: {data} is not the data the run was started with "
            f"(fingerprint {obj.fingerprint} != "
            f"{stored.data.get('fingerprint')})")
    return obj, model_overrides


def _check_data_arguments(overrides, family=None):
    """The model arguments that loading the data reads before the model is
    built (and checks them): `vocabulary_size` and `class_names`; and the
    language model's arguments that training sets itself."""
    from zoo import checks

    if family == "language_model":
        owned = sorted(set(overrides) & {"stateful", "batch_size", "name"})
        if owned:
            raise ValueError(
                f"{', '.join(owned)} cannot be set with --set: training sets "
                "them (a stateful model of --batch-size rows; checkpoints are "
                "stateless copies). Use --batch-size for the batch. Received: "
                + ", ".join(f"{k}={overrides[k]!r}" for k in owned))

    size = overrides.get("vocabulary_size")
    if size is not None:
        checks.positive_int("vocabulary_size", size)
    names = overrides.get("class_names")
    if names is not None and not (
            isinstance(names, (list, tuple)) and len(names) >= 2
            and all(isinstance(c, (str, int)) and not isinstance(c, bool)
                    and str(c).strip() for c in names)):
        raise ValueError(
            "`class_names` must be a list of two or more label names, e.g. "
            "--set 'class_names=[\"negative\", \"positive\"]'. Received: "
            f"class_names={names!r}")


# `warmup_texts.json`: this many texts of the validation split, each cut to
# at most this many tokens (language models) or characters (classifiers).
WARMUP_TEXT_COUNT = 8
_WARMUP_TOKENS = {"word": 64, "char": 256}
_WARMUP_CHARS = 5000


def _warmup_texts(family, data):
    """`(split, texts)`: the first non-blank texts of the validation split
    (of train when there is none), for `zoo export`'s warmup requests."""
    split = "validation"
    part = getattr(data, "validation", None)
    if part is None or len(part) == 0:
        split, part = "train", data.train
    if family == "sentiment_classifier":
        texts = (t[:_WARMUP_CHARS] for t in part.texts if t.strip())
        return split, list(itertools.islice(texts, WARMUP_TEXT_COUNT))
    from training.data.vocab import EOS_TOKEN

    cap = _WARMUP_TOKENS[data.level]
    tokens = data.vocab.decode(part[:WARMUP_TEXT_COUNT * cap * 4])
    texts, line = [], []
    for token in tokens + [None]:
        end = token is None or token == (EOS_TOKEN if data.level == "word"
                                         else "\n")
        if not end:
            line.append(token)
            continue
        line = line[:cap]
        text = " ".join(line) if data.level == "word" else "".join(line)
        if text.strip():
            texts.append(text)
        line = []
        if len(texts) == WARMUP_TEXT_COUNT:
            break
    return split, texts


def _command_line(command_line):
    return list(command_line) if command_line is not None else list(sys.argv)


def _final_metrics(family, write_dir, data, recipe, global_batch, max_steps,
                   checkpoints, monitor, rows, config):
    import keras

    from training.evaluate import evaluate_classifier, evaluate_language_model

    best_path = rd.path(write_dir, rd.BEST)
    metrics = {"status": "completed", "monitor": monitor,
               "best_epoch": checkpoints.best_epoch,
               "epochs_completed": len(rows)}
    if not os.path.exists(best_path):
        return metrics
    # (the run's reader, with the config in hand: a worker's temporary
    # folder has no config.json; a checkpoint that cannot load is a
    # RunDirError naming the file)
    best = rd.Run(write_dir, config).load_model("best", compile=False)
    splits = {"validation": getattr(data, "validation", None),
              "test": getattr(data, "test", None)}
    for name, part in splits.items():
        if part is None or len(part) == 0:
            continue
        if family == "language_model":
            metrics[name] = evaluate_language_model(
                best, part, level=data.level, batch_size=recipe["batch_size"],
                bptt=recipe["bptt"], max_steps=max_steps)
        else:
            metrics[name] = evaluate_classifier(
                best, part.texts, part.labels, batch_size=global_batch,
                max_steps=max_steps)
    return metrics
