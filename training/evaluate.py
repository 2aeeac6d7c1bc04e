"""`training.evaluate`: metrics of a trained run on a data split.

Classifiers: accuracy and mean cross-entropy over every example of the
split. Language models: mean cross-entropy per token with the hidden state
carried across BPTT windows over the whole split (states reset first);
reported as perplexity `exp(loss)` (word level) or bits per character
`loss / ln 2` (char level), with the number of tokens predicted.
"""

from __future__ import annotations

import math
import os

import numpy as np

EVAL_LM_BATCH_SIZE = 1


def language_model_metrics(loss: float, level: str) -> dict:
    """`{"perplexity": exp(loss)}` (word) or `{"bits_per_character": loss / ln 2}`."""
    if level == "char":
        return {"bits_per_character": loss / math.log(2.0)}
    return {"perplexity": math.exp(loss) if loss < 700.0 else float("inf")}


def token_loss_model(model):
    """A Keras model `(ids, targets) -> per-token cross-entropy` over `model`.

    Run it with `predict_on_batch`, which every backend compiles and which
    carries a stateful model's state: the loss is then computed inside the
    compiled step on TensorFlow, JAX and PyTorch alike. Keep it for repeated
    evaluations of the same model (it compiles once).
    """
    import keras

    class TokenLoss(keras.Model):
        def __init__(self, lm):
            super().__init__(name="token_loss")
            self.lm = lm

        def call(self, inputs):
            ids, targets = inputs
            logits = keras.ops.cast(self.lm(ids, training=False), "float32")
            return keras.ops.sparse_categorical_crossentropy(
                targets, logits, from_logits=True)

    return TokenLoss(model)


def lm_loss(model, ids, *, batch_size, bptt, max_steps=None, scorer=None):
    """Summed cross-entropy of a stateful LM over a token stream.

    The stream is cut into `batch_size` rows and read in BPTT windows of
    `bptt` steps, in order (the last window may be shorter), with the state
    carried from window to window; states are reset before the first.

    Args:
        model: a stateful `LanguageModel` whose fixed batch size is
            `batch_size` (see `LanguageModel.with_options`).
        ids: 1-D token-id stream.
        batch_size: rows.
        bptt: window length.
        max_steps: only the first `max_steps` windows. Defaults to `None`.
        scorer: `token_loss_model(model)`, to reuse one across calls.

    Returns:
        `(total_loss, num_tokens)`: summed nats and tokens predicted.
    """
    from training.data import lm_windows

    windows = lm_windows(ids, batch_size=batch_size, bptt=bptt, include_partial=True)
    if max_steps:
        windows = windows[:max_steps]
    if not windows:
        raise ValueError(
            f"{len(ids)} tokens give no window for batch_size={batch_size}, bptt={bptt}")
    scorer = scorer or token_loss_model(model)
    model.reset_states()
    total, n = 0.0, 0
    for x, y in windows:
        ce = scorer.predict_on_batch((x.astype(np.int32), y.astype(np.int32)))
        total += float(np.sum(np.asarray(ce, dtype=np.float64)))
        n += int(y.size)
    return total, n


def evaluate_language_model(model, ids, *, level, batch_size=EVAL_LM_BATCH_SIZE,
                            bptt=35, max_steps=None, cache=None) -> dict:
    """Loss and perplexity / bits per character of `model` on `ids`.

    Args:
        model: a `LanguageModel` (stateful or not; a stateful copy with
            `batch_size` rows is made when needed, sharing no variables).
        ids: 1-D token-id stream.
        level: `"word"` or `"char"`.
        batch_size: rows evaluated in parallel. Defaults to `1`: every token
            but the first is predicted once with all its preceding context.
            Larger is faster but drops `len(ids) % batch_size` tokens and
            restarts context at each row.
        bptt: window length (does not change the result, only speed).
        max_steps: only the first windows (smoke runs). Defaults to `None`.
        cache: a `training.neural_cache.NeuralCache`: score with the
            continuous cache (`batch_size` must be `1`). The model's own
            figures from the same pass go under `"without_cache"`.
            Defaults to `None`.
    """
    if cache is not None:
        from training.neural_cache import require_one_row

        require_one_row(batch_size)
    # (checked before the stateful copy, whose states take batch_size rows)
    if len(ids) // batch_size < 2:
        raise ValueError(
            f"{len(ids)} tokens are too few for batch_size={batch_size} (each "
            "row needs at least 2 tokens)" + (
                "; give a smaller --batch-size" if batch_size > 1 else "")
            + f". Received: batch_size={batch_size}")
    if not (model.stateful and model.batch_size == batch_size):
        model = model.with_options(stateful=True, batch_size=batch_size)
    extra = {}
    if cache is None:
        total, n = lm_loss(model, ids, batch_size=batch_size, bptt=bptt,
                           max_steps=max_steps)
    else:
        from training.neural_cache import cache_lm_loss

        total, alone, n = cache_lm_loss(model, ids, cache, bptt=bptt,
                                        max_steps=max_steps)
        extra = {"cache": cache.record(),
                 "without_cache": {"loss": alone / n,
                                   **language_model_metrics(alone / n, level)}}
    loss = total / n
    return {"loss": loss, **language_model_metrics(loss, level),
            "num_tokens": n, "batch_size": batch_size, "bptt": bptt,
            "state": "carried across windows, reset at the start", **extra}


def evaluate_classifier(model, texts, labels, *, batch_size=64, max_steps=None) -> dict:
    """Accuracy and mean cross-entropy of a `SentimentClassifier`.

    Args:
        model: the classifier (takes raw strings, returns probabilities).
        texts: list of strings.
        labels: int class ids.
        batch_size: examples per batch. Defaults to `64`.
        max_steps: only the first `max_steps` batches. Defaults to `None`.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if max_steps:
        texts, labels = list(texts)[: max_steps * batch_size], labels[: max_steps * batch_size]
    probs = classifier_probabilities(model, texts, batch_size=batch_size)
    return {**classification_metrics(probs, labels), "batch_size": batch_size}


def classifier_probabilities(model, texts, *, batch_size=64):
    """`model`'s class probabilities for `texts`, `(len(texts), classes)` float64."""
    from training.data import LabeledTexts, make_text_classification_dataset

    ds = make_text_classification_dataset(
        LabeledTexts(list(texts), np.zeros(len(texts), dtype=np.int64)),
        batch_size=batch_size)
    return np.asarray(model.predict(ds.map(lambda t, y: t), verbose=0), dtype=np.float64)


def classification_metrics(probs, labels) -> dict:
    """Accuracy (arg max) and mean cross-entropy of probabilities `probs`."""
    labels = np.asarray(labels, dtype=np.int64)
    p = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0)
    return {"loss": float(-np.mean(np.log(p))),
            "accuracy": float(np.mean(np.argmax(probs, axis=-1) == labels)),
            "num_examples": int(len(labels))}


def evaluate(run_dir, data, *, split="validation", batch_size=None, out=None,
             checkpoint="best", max_steps=None, cache=None) -> dict:
    """Evaluates a run's model on a split of a data source.

    The split is built exactly as in training: the validation carve uses the
    fraction, seed and group column recorded in `config.json` (or the
    separate `--validation-data` it names), and language models use the
    run's `vocab.txt`.

    Args:
        run_dir: a RUN_DIR written by `training.train`.
        data: SOURCE (`tfds:NAME`, a file or a folder).
        split: `"validation"`, `"test"` or `"train"`. Defaults to
            `"validation"`.
        batch_size: classifiers: examples per batch (default: the training
            batch size). Language models: parallel rows (default `1`, exact:
            full context for every token).
        out: optional JSON file to write (atomically).
        checkpoint: `"best"` (`model.keras`) or `"last"` (`last.keras`).
        max_steps: only the first batches/windows (smoke runs).
        cache: language models: a `training.neural_cache.NeuralCache` to
            score with the continuous cache (one row); see
            `evaluate_language_model`.

    Returns:
        A dict. Classifiers: `loss`, `accuracy`, `num_examples`.
        Language models: `loss` (nats/token), `perplexity` (word) or
        `bits_per_character` (char), `num_tokens`, `batch_size`, `bptt`.
        Plus `run_dir`, `data`, `split`, `checkpoint`, `data_fingerprint`
        and `same_data_as_training` (`None`, with `not_compared` saying
        why, where the fingerprints cannot be compared).

    Raises:
        RunDirError: incomplete RUN_DIR. DataError: bad source.
        ValueError: the source has no such split.
    """
    from training import run_dir as rd
    from training.atomic import atomic_write_json
    from training.data import (AddedTexts, DataError, load_language_model,
                               resolve_source)

    if checkpoint not in rd.CHECKPOINTS:
        raise ValueError(f"checkpoint must be 'best' or 'last'. Received: "
                         f"checkpoint={checkpoint!r}")
    if split not in ("train", "validation", "test"):
        raise ValueError(f"Unknown split {split!r}. Valid splits: train, "
                         f"validation, test. Received: split={split!r}")
    run = rd.open_run(run_dir)
    if cache is not None and run.family != "language_model":
        raise ValueError(f"{run_dir}: the neural cache scores language models; this "
                         f"run is a {run.family}. Received: cache={cache}")
    model = run.load_model(checkpoint)
    carve = run.carve
    result = {"run_dir": os.fspath(run_dir), "data": os.fspath(data),
              "split": split, "checkpoint": checkpoint, "family": run.family}
    if run.family == "sentiment_classifier":
        loaded, part = classifier_split(run, data, split)
        bs = batch_size or run.training.get("batch_size", 64)
        result.update(evaluate_classifier(model, part.texts, part.labels,
                                          batch_size=bs, max_steps=max_steps))
    else:
        added = run.data.get("added_texts")
        if added and resolve_source(data).kind in ("csv", "tsv"):
            # the same training stream (and fingerprint) as the run's
            added = AddedTexts.from_record(added)
            if not os.path.exists(added.source):
                if split == "train":
                    raise DataError(
                        f"the run's --add-texts file, recorded in "
                        f"{run.file('config.json')}, is not there; the "
                        "train split holds its texts", path=added.source)
                # validation and test never hold them: score without
                result["added_texts"] = (
                    f"{added.source} (the run's --add-texts) is not there; "
                    f"the {split} split does not hold its texts, and the "
                    "fingerprint leaves them out")
                added = None
        else:
            added = None
        loaded = load_language_model(
            data, level=run.level, vocab=run.vocabulary,
            validation_fraction=carve.fraction or 0.1, add_texts=added,
            reverse=run.reverse)
        ids = getattr(loaded, split)
        if ids is None:
            raise ValueError(
                f"{data}: no {split!r} split; available: "
                f"{[s for s in ('train', 'validation', 'test') if getattr(loaded, s) is not None]}")
        result.update(evaluate_language_model(
            model, ids, level=run.level,
            batch_size=batch_size or EVAL_LM_BATCH_SIZE,
            bptt=run.training.get("bptt") or 35, max_steps=max_steps, cache=cache))
        result["level"] = run.level
    result["data_fingerprint"] = loaded.fingerprint
    result["same_data_as_training"] = same_data(loaded, run)
    if getattr(loaded, "not_compared", None):
        result["not_compared"] = loaded.not_compared
    if out:
        atomic_write_json(out, result)
    return result


def classifier_split(run, data, split):
    """`(loaded, part)`: the split of `data` as `run` carved it in training
    (fraction, seed, group column, or its separate `--validation-data`).

    `loaded.not_compared` says why `same_data` cannot compare it with the
    run's data, or is `None`: a split training did not read (the run's
    fingerprint covers the splits it read), or a `--validation-data` file
    that has moved, which a train or test split does not need."""
    from training.data import classifier_splits, load_text_classification

    carve = run.carve
    read = classifier_splits(data)
    splits = read if split in read else read + (split,)
    validation_data, not_compared = carve.validation_data, None
    if split not in read:
        not_compared = (f"training did not read the {split!r} split; its "
                        "fingerprint covers the splits it read")
    if (validation_data is not None and split != "validation"
            and not os.path.exists(validation_data)):
        not_compared = (f"{validation_data} (the run's --validation-data) is "
                        f"not there; the {split!r} split does not need it")
        validation_data = None
    loaded = load_text_classification(
        data, class_names=run.class_names,
        validation_split=carve.fraction or 0.0, seed=carve.seed,
        splits=splits, validation_data=validation_data,
        validation_group=carve.group if carve.fraction else None)
    loaded.not_compared = not_compared
    part = getattr(loaded, split)
    if part is None or len(part) == 0:
        if split != "validation":
            why = ""
        elif carve.fraction:
            why = (f" (the run's validation carve, a fraction of "
                   f"{carve.fraction}, holds none of its rows)")
        else:
            why = (" (the run held out no validation: validation_split was "
                   "0; score --split train or test)")
        raise ValueError(f"{data}: no {split!r} examples{why}")
    return loaded, part


def same_data(loaded, *runs):
    """Whether `loaded` is the data every one of `runs` trained on, by
    fingerprint; `None` where they cannot be compared (`classifier_split`'s
    `not_compared`)."""
    if getattr(loaded, "not_compared", None):
        return None
    return all(loaded.fingerprint == r.data.get("fingerprint") for r in runs)


def evaluate_ensemble(run_dirs, data, *, split="validation", batch_size=None, out=None,
                      checkpoint="best", max_steps=None) -> dict:
    """Evaluates the mean of several classifier runs' class probabilities.

    Every run must be a sentiment classifier with the same class names and
    the same validation carve (fraction, seed and group column, or the same
    `--validation-data`), so that no member has trained on the examples the
    ensemble is scored on: runs of several `--seed`s with one
    `--validation-seed` qualify. The split is built once, as the first run
    carved it, and each member sees the same texts.

    Args:
        run_dirs: two or more RUN_DIRs written by `training.train`.
        data: SOURCE (`tfds:NAME`, a file or a folder).
        split: `"validation"`, `"test"` or `"train"`. Defaults to
            `"validation"`.
        batch_size: examples per batch (default: the first run's training
            batch size).
        out: optional JSON file to write (atomically).
        checkpoint: `"best"` (`model.keras`) or `"last"` (`last.keras`).
        max_steps: only the first batches (smoke runs).

    Returns:
        A dict with the ensemble's `loss`, `accuracy` and `num_examples`
        (the probabilities averaged, then the arg max), `members` (each
        run's own `accuracy` and `loss` on the same examples), `run_dirs`,
        `data`, `split`, `checkpoint`, `data_fingerprint` and
        `same_data_as_training` (true when it holds for every run).

    Raises:
        RunDirError: incomplete RUN_DIR. DataError: bad source.
        ValueError: fewer than two runs, a language-model run, or runs whose
            class names or carves differ.
    """
    from training import run_dir as rd
    from training.atomic import atomic_write_json

    if checkpoint not in rd.CHECKPOINTS:
        raise ValueError(f"checkpoint must be 'best' or 'last'. Received: "
                         f"checkpoint={checkpoint!r}")
    run_dirs = [os.fspath(r) for r in run_dirs]
    runs = ensemble_members(run_dirs)
    first = runs[0]
    loaded, part = classifier_split(first, data, split)
    bs = batch_size or first.training.get("batch_size", 64)
    texts, labels = list(part.texts), np.asarray(part.labels, dtype=np.int64)
    if max_steps:
        texts, labels = texts[: max_steps * bs], labels[: max_steps * bs]
    members, total = [], None
    for path, run in zip(run_dirs, runs):
        probs = classifier_probabilities(run.load_model(checkpoint), texts, batch_size=bs)
        total = probs if total is None else total + probs
        members.append({"run_dir": path, **classification_metrics(probs, labels),
                        "same_data_as_training": same_data(loaded, run)})
    result = {"run_dirs": run_dirs, "data": os.fspath(data), "split": split,
              "checkpoint": checkpoint, "family": first.family,
              "ensemble": "mean of the members' class probabilities",
              **classification_metrics(total / len(runs), labels), "batch_size": bs,
              "members": members, "data_fingerprint": loaded.fingerprint,
              "same_data_as_training": same_data(loaded, *runs)}
    if out:
        atomic_write_json(out, result)
    return result


def ensemble_members(run_dirs, *, same_carve=True) -> list:
    """Opens the runs of an ensemble and checks that they can be averaged.

    The one rule for `evaluate_ensemble` and `serving.export.export_ensemble`:
    two or more sentiment-classifier runs with the same class names and, when
    `same_carve` (evaluation), the same validation carve.

    Args:
        run_dirs: the RUN_DIRs, in order.
        same_carve: also require one carve (fraction, seed and group column,
            or the same `--validation-data`), so that no member has trained
            on the examples the ensemble is scored on.

    Returns:
        The `training.run_dir.Run`s, in the order of `run_dirs`.

    Raises:
        RunDirError: a missing or incomplete RUN_DIR.
        ValueError: fewer than two runs, a run given twice, a language-model
            run, or runs whose class names (or carves) differ.
    """
    from training import run_dir as rd

    if isinstance(run_dirs, (str, os.PathLike)):
        raise ValueError(f"run_dirs must be a list of run directories. "
                         f"Received: {os.fspath(run_dirs)!r}")
    run_dirs = [os.fspath(r) for r in run_dirs]
    if len(run_dirs) < 2:
        raise ValueError(f"an ensemble needs two or more run directories. "
                         f"Received: {run_dirs}")
    real = [os.path.realpath(r) for r in run_dirs]
    if len(set(real)) < len(real):
        raise ValueError(f"an ensemble's members must be different runs; one is "
                         f"given twice. Received: {run_dirs}")
    runs = [rd.open_run(r) for r in run_dirs]
    first = runs[0]
    for path, run in zip(run_dirs, runs):
        if run.family != "sentiment_classifier":
            raise ValueError(
                f"ensembles average classifiers' probabilities; {path} is a "
                f"{run.family} run. Received: family={run.family!r}")
        if run.class_names is None:
            raise rd.RunDirError(
                f"{path}: its config.json records no class names "
                "(model_config.class_names), so its probabilities cannot be "
                "matched with the other members'; the file was changed after "
                "training")
        if list(run.class_names) != list(first.class_names):
            raise ValueError(
                f"{path} has class names {list(run.class_names)}, {run_dirs[0]} has "
                f"{list(first.class_names)}: the members must predict the same classes")
        if same_carve and _carve_record(run) != _carve_record(first):
            raise ValueError(
                f"{path} carved its validation split as {_carve_record(run)}, "
                f"{run_dirs[0]} as {_carve_record(first)}: a member could have trained "
                "on the other's validation examples. Train the members with one "
                "--validation-seed (or the same --validation-data)")
    return runs


def _carve_record(run) -> dict:
    c = run.carve
    return {"fraction": c.fraction, "seed": c.seed if c.fraction else None,
            "group": c.group, "validation_data": c.validation_data}
