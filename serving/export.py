"""Export a trained run as a TensorFlow Serving SavedModel (`zoo export`).

`export(run_dir, models_dir, name)` reads the run through
`training.run_dir`, builds the serving graph (`serving.signatures`) and
publishes it as `MODELS_DIR/NAME/<version>/` with its model card and its
warmup requests (`assets.extra/tf_serving_warmup_requests`, built by
`serving.warmup` from the texts the run kept), then registers it in
`MODELS_DIR/models.config` (`serving.models_dir`, which owns that layout
and publishes atomically).

`export_ensemble(run_dirs, models_dir, name)` (`zoo export RUN_DIR RUN_DIR
...`) publishes several classifier runs as one model whose probabilities are
the mean of theirs, the rule `zoo evaluate RUN_DIR RUN_DIR ...` scores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from serving import models_dir as md
from serving import warmup as wu
from serving.models_dir import (  # noqa: F401  (the export API)
    ASSETS_EXTRA,
    MODEL_CARD,
    ExportError,
    list_versions,
    read_model_card,
)
from serving.signatures import (
    DEFAULT_MAX_GENERATE_LENGTH,
    as_vocabulary,
    build_export_archive,
    check_class_names,
    check_direction,
    family_of,
    members_of,
)

__all__ = [
    "ExportError",
    "ExportResult",
    "export",
    "export_ensemble",
    "export_model",
    "build_export_archive",
    "list_versions",
    "read_model_card",
    "main",
    "MODEL_CARD",
    "DEFAULT_MAX_GENERATE_LENGTH",
]


@dataclasses.dataclass
class ExportResult:
    """What `export`, `export_ensemble` and `export_model` return.

    Attributes:
        name: the model name.
        version: the integer version written.
        path: the version directory `MODELS_DIR/NAME/VERSION`.
        models_dir: the models directory.
        signatures: signature names in the SavedModel.
        card: the model card (also in `assets.extra/model_card.json`).
        replaced: True if an existing version was overwritten.
        warmup: what the warmup file holds: `{"path": str or None,
            "requests": int, "texts": int, "source": str}`, `source` one of
            `"run"` (the run's `warmup_texts.json`), `"file"`
            (`--warmup-texts`), `"given"` (texts passed to `export_model`),
            `"generic"` (`serving.warmup.GENERIC_TEXTS`) or `"none"`
            (no file); plus `"note"` when generic texts stood in for the
            run's.
    """

    name: str
    version: int
    path: str
    models_dir: str
    signatures: list
    card: dict
    replaced: bool = False
    warmup: dict = dataclasses.field(default_factory=dict)


def export_model(model, models_dir, name, *, vocabulary=None,
                 class_names=None, level=None, standardize=None,
                 version=None, label=None,
                 overwrite=False, card=None, update_config=True,
                 max_generate_length=DEFAULT_MAX_GENERATE_LENGTH,
                 warmup=True, warmup_texts=None, warmup_source=None,
                 verbose=False) -> ExportResult:
    """Exports an in-memory zoo model to `MODELS_DIR/NAME/<version>`.

    The version directory holds the SavedModel, its model card and its
    warmup requests (`assets.extra/tf_serving_warmup_requests`, see
    `serving.warmup`), and appears all at once.

    Args:
        model: a `SentimentClassifier` or `LanguageModel`, or a list of two
            or more `SentimentClassifier`s exported as one model whose
            probabilities are the mean of theirs.
        models_dir: the models directory (created if missing).
        name: model name (letters, digits, `_ - .`).
        vocabulary: language models: the `Vocabulary`, or its token list.
        class_names: classifiers: class names (default `model.class_names`).
        level: language models: `"word"` or `"char"`.
        standardize: word-level language models of standardised texts (a
            review corpus): the standardisation their texts and prompts get
            in the graph (`Run.standardize`); `None`: split only.
        version: integer version; default: one more than the highest.
        label: optional version label (`/v1/models/NAME/labels/LABEL`).
        overwrite: replace an existing `version` (in one step on Linux;
            see `serving.models_dir.publish`).
        card: extra model-card fields (config, metrics, data, ...).
        update_config: update `models.config` (and write `batching.config`
            if absent).
        max_generate_length: language models: cap on `max_length`.
        warmup: write the warmup file. Default: `True`.
        warmup_texts: the texts of the warmup requests (a list of str);
            `None` uses `serving.warmup.GENERIC_TEXTS`.
        warmup_source: where the texts come from, recorded in the model
            card (`card["warmup"]["source"]`) and `ExportResult.warmup`;
            default `"given"`, or `"generic"` without `warmup_texts`.
        verbose: print Keras' endpoint summary.

    Returns:
        An `ExportResult`.

    Raises:
        ExportError: bad name/version/label, the version exists without
            `overwrite`, bad warmup texts, a backward language model, or
            the model cannot be exported.
    """
    from training import reports

    md.check_name(name)
    md.check_label(label)
    if class_names is not None:
        class_names = check_class_names(class_names)
    models_dir = os.path.abspath(os.fspath(models_dir))
    family = family_of(model)
    check_direction(model, name)
    n = max_generate_length
    if family == "language_model" and (
            isinstance(n, bool) or not isinstance(n, int) or not 1 <= n < 2 ** 31):
        raise ExportError(
            "max_generate_length must be an integer from 1 to 2**31 - 1 (the "
            f"`generate` signature's int32 cap). Received: max_generate_length={n!r}")
    if family == "language_model" and vocabulary is not None:
        vocabulary = as_vocabulary(vocabulary)
    requests, warmup_info = [], {"path": None, "requests": 0, "texts": 0,
                                 "source": "none"}
    if warmup:
        source = warmup_source or ("generic" if warmup_texts is None
                                    else "given")
        try:
            texts = wu.check_texts(wu.GENERIC_TEXTS if warmup_texts is None
                                   else warmup_texts)
            requests = wu.build_requests(
                family, texts, max_generate_length=max_generate_length)
        except ValueError as e:
            raise ExportError(str(e)) from None
        warmup_info = {"path": None, "requests": len(requests),
                       "texts": len(texts), "source": source}
    archive, signatures = build_export_archive(
        model, vocabulary=vocabulary, class_names=class_names, level=level,
        standardize=standardize, max_generate_length=max_generate_length)

    def write(path):
        archive.write_out(path, verbose=verbose)
        if requests:  # inside the version before it is published
            wu.write_warmup_file(wu.warmup_path(path), requests,
                                 model_name=name)

    card = dict(card or {})
    card.update({
        "name": name, "family": family, "signatures": signatures,
        "created": _now(),
        "versions": {**reports.versions(), **(card.get("versions") or {})},
        "warmup": {k: v for k, v in warmup_info.items() if k != "path"},
    })
    if family == "sentiment_classifier":
        members = members_of(model)
        card.setdefault("class_names", [str(c) for c in (
            class_names or members[0].class_names)])
        sizes = [len(m.get_vocabulary()) for m in members]
        card.setdefault("vocabulary_size",
                        sizes if isinstance(model, (list, tuple)) else sizes[0])
    else:
        card.setdefault("level", level or model.level)
        card.setdefault("standardize", standardize)
        card.setdefault("vocabulary_size", len(vocabulary))
        card.setdefault("max_generate_length", int(max_generate_length))
    version, replaced = md.publish(models_dir, name, write, card,
                                   version=version, overwrite=overwrite)
    path = os.path.join(md.model_dir(models_dir, name), str(version))
    if requests:
        warmup_info["path"] = wu.warmup_path(path)
    if update_config:
        try:
            md.register(models_dir, name, version, label)
        except (ValueError, OSError) as e:
            raise ExportError(
                f"Exported {path}, but could not update "
                f"{os.path.join(models_dir, 'models.config')}: {e}") from e
    return ExportResult(name=name, version=version, path=path,
                        models_dir=models_dir, signatures=signatures,
                        card=card, replaced=replaced, warmup=warmup_info)


def _checked_arguments(which, warmup, warmup_texts):
    """Checks `which`; returns `(texts, source)` of `--warmup-texts`: a list
    as given, a file read (`"file"`), or `(None, None)` when the run's texts
    are to be used."""
    from training import run_dir as rd

    if which not in rd.CHECKPOINTS:
        raise ExportError(f"which must be 'best' or 'last'. Received: "
                          f"which={which!r}")
    if warmup and isinstance(warmup_texts, (str, os.PathLike)):
        try:
            return wu.read_texts_file(warmup_texts), "file"
        except ValueError as e:
            raise ExportError(f"--warmup-texts: {e}") from None
    return warmup_texts, None


def _run_warmup_texts(run):
    """`(texts, source, note)`: the validation texts `run` kept, or `None`
    (generic texts) with a note for runs written before runs kept them."""
    from training import run_dir as rd

    if run.warmup_texts is not None:
        return run.warmup_texts, "run", None
    return None, "generic", (
        f"{run.run_dir} has no {rd.WARMUP_TEXTS} (trained before runs kept "
        f"warmup texts); the warmup requests use {len(wu.GENERIC_TEXTS)} "
        "generic texts. Pass --warmup-texts FILE to choose them.")


def _run_card(run, run_dir, which) -> dict:
    """What a model card records of the run it was exported from."""
    return {
        "run_dir": os.path.abspath(os.fspath(run_dir)),
        "checkpoint": which,
        "preset": run.preset,
        "model_config": run.model_config,
        "training": run.training,
        "data": run.data,
        "data_fingerprint": run.data.get("fingerprint"),
        "seed": run.seed,
        "metrics": run.metrics,
        "run_versions": run.config.get("versions"),
        "run_config_schema": run.config.get("schema"),
    }


def _now():
    from training.run_dir import now

    return now()


def export(run_dir, models_dir, name, *, version=None, label=None,
           overwrite=False, which="best", class_names=None,
           max_generate_length=DEFAULT_MAX_GENERATE_LENGTH,
           warmup=True, warmup_texts=None, verbose=False) -> ExportResult:
    """Exports a run directory (`zoo train --out RUN_DIR`) for TF Serving.

    Writes `MODELS_DIR/NAME/<version>/` (SavedModel, model card in
    `assets.extra/model_card.json`, warmup requests in
    `assets.extra/tf_serving_warmup_requests`), then updates
    `models.config` (and writes `batching.config` if absent).

    The warmup requests are built from the validation texts that training
    kept in the run directory (`Run.warmup_texts`), or from `warmup_texts`.
    A run written before runs kept them gets `serving.warmup.GENERIC_TEXTS`,
    and `ExportResult.warmup["note"]` says so.

    Args:
        run_dir: the run directory (any config schema).
        models_dir: the models directory.
        name: model name, served at `/v1/models/NAME`.
        version: integer version; default: the next free one.
        label: optional version label pointing at the new version.
        overwrite: replace an existing `version`.
        which: `"best"` (`model.keras`) or `"last"` (`last.keras`).
        class_names: classifiers: names for the `label` output, overriding
            the run's (e.g. `["negative", "positive"]` for 0/1 labels).
        max_generate_length: language models: cap on `generate` length.
        warmup: write the warmup file. Default: `True`.
        warmup_texts: a list of str, or the path of a UTF-8 file with one
            text per line (`zoo export --warmup-texts FILE`), used instead
            of the run's texts.
        verbose: print Keras' endpoint summary.

    Returns:
        An `ExportResult`.

    Raises:
        ExportError: missing files, bad arguments (an unreadable or empty
            warmup-texts file), or the version exists.
    """
    from training import run_dir as rd

    warmup_texts, source = _checked_arguments(which, warmup, warmup_texts)
    note = None
    try:
        run = rd.open_run(run_dir)
        if class_names is not None and run.family != "sentiment_classifier":
            raise ExportError(
                f"--class-names names a classifier's classes; {run_dir} is "
                f"a {run.family} run. Received: "
                f"class_names={list(class_names)!r}")
        if warmup and warmup_texts is None:
            warmup_texts, source, note = _run_warmup_texts(run)
        model = run.load_model(which)
        vocabulary = run.vocabulary
        card = _run_card(run, run_dir, which)  # reads metrics.json
    except ValueError as e:  # RunDirError, DataError
        raise ExportError(str(e)) from None
    if class_names is None:
        class_names = run.class_names
    else:
        card["run_class_names"] = run.class_names
    result = export_model(
        model, models_dir, name, vocabulary=vocabulary,
        class_names=class_names if run.family == "sentiment_classifier"
        else None,
        level=run.level, standardize=run.standardize
        if run.family == "language_model" else None,
        version=version, label=label, overwrite=overwrite,
        card=card, max_generate_length=max_generate_length, warmup=warmup,
        warmup_texts=warmup_texts, verbose=verbose, warmup_source=source)
    if note:
        result.warmup["note"] = note
    return result


def export_ensemble(run_dirs, models_dir, name, *, version=None, label=None,
                    overwrite=False, which="best", class_names=None,
                    warmup=True, warmup_texts=None,
                    verbose=False) -> ExportResult:
    """Exports several classifier runs as one model: an ensemble.

    The SavedModel holds every member and its `serving_default` /
    `classify_text` signature returns the mean of the members' class
    probabilities, with the label and class index of that mean: the same
    signature as one classifier's, so clients and `models.config` do not
    change, and the same rule as `zoo evaluate RUN_DIR RUN_DIR ...`.
    The model card's `ensemble` lists each member's run (`run_dir`, seed,
    preset, metrics, ...); its `vocabulary_size` is a list, one per member.
    The warmup requests use the texts of the first run that kept them.

    Args:
        run_dirs: two or more classifier RUN_DIRs with the same class
            names (`training.evaluate.ensemble_members`); their carves may
            differ, since nothing is scored here.
        models_dir, name, version, label, overwrite, which, class_names,
        warmup, warmup_texts, verbose: as for `export`.

    Returns:
        An `ExportResult`.

    Raises:
        ExportError: fewer than two runs, a run given twice, a missing or
            incomplete run, a language-model run, runs whose class names
            differ, bad arguments, or the version exists.
    """
    from training.evaluate import ensemble_members

    warmup_texts, source = _checked_arguments(which, warmup, warmup_texts)
    note = None
    try:
        if not isinstance(run_dirs, (str, os.PathLike)):
            run_dirs = [os.fspath(r) for r in run_dirs]
        runs = ensemble_members(run_dirs, same_carve=False)
        if warmup and warmup_texts is None:
            kept = [run for run in runs if run.warmup_texts is not None]
            warmup_texts, source, note = _run_warmup_texts((kept or runs)[0])
        models = [run.load_model(which) for run in runs]
        card = {
            "checkpoint": which,
            "ensemble": {
                "combine": "mean of the members' class probabilities",
                "members": [_run_card(run, path, which)
                            for run, path in zip(runs, run_dirs)],
            },
        }
    except ValueError as e:  # RunDirError, DataError, the members' rule
        raise ExportError(str(e)) from None
    if class_names is None:
        class_names = runs[0].class_names
    else:
        card["run_class_names"] = runs[0].class_names
    result = export_model(
        models, models_dir, name, class_names=class_names, version=version,
        label=label, overwrite=overwrite, card=card, warmup=warmup,
        warmup_texts=warmup_texts, verbose=verbose, warmup_source=source)
    if note:
        result.warmup["note"] = note
    return result


# ---------------------------------------------------------------------------
# CLI.
# ---------------------------------------------------------------------------


def _parser():
    from training.cli_args import positive_int

    p = argparse.ArgumentParser(
        prog="zoo export",
        description="Export a run directory as a TensorFlow Serving "
        "SavedModel (MODELS_DIR/NAME/VERSION) and register it in "
        "MODELS_DIR/models.config. Several classifier run directories are "
        "exported as one ensemble: the mean of their probabilities.")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+",
                   help="a `zoo train --out` directory; two or more "
                   "classifier runs: an ensemble")
    p.add_argument("--models-dir", required=True, metavar="DIR",
                   help="TF Serving models directory")
    p.add_argument("--name", required=True, help="model name")
    p.add_argument("--version", type=int, default=None,
                   help="integer version (default: next free one)")
    p.add_argument("--label", default=None,
                   help="version label pointing at the new version")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing version")
    p.add_argument("--which", choices=("best", "last"), default="best",
                   help="checkpoint: best (model.keras) or last (last.keras)")
    p.add_argument("--class-names", default=None, metavar="A,B,...",
                   help="classifiers: comma-separated names for the label "
                   "output, distinct, spaces around them dropped (default: "
                   "the run's class names)")
    p.add_argument("--max-generate-length", type=positive_int,
                   default=DEFAULT_MAX_GENERATE_LENGTH,
                   help="language models: cap on generate's max_length "
                   "(classifiers and ensembles have no generate; ignored)")
    warm = p.add_mutually_exclusive_group()
    warm.add_argument("--warmup-texts", metavar="FILE", default=None,
                      help="UTF-8 file, one text per line: the texts of the "
                      "warmup requests (default: the validation texts the run "
                      "kept; for an ensemble, the first run that kept them)")
    warm.add_argument("--no-warmup", action="store_true",
                      help="write no assets.extra/tf_serving_warmup_requests")
    return p


def main(argv=None) -> int:
    """`zoo export`: prints the result as JSON; returns the exit status."""
    from training.cli_args import error

    args = _parser().parse_args(argv)
    common = dict(version=args.version, label=args.label,
                  overwrite=args.overwrite, which=args.which,
                  class_names=[c.strip() for c in args.class_names.split(",")]
                  if args.class_names is not None else None,
                  warmup=not args.no_warmup, warmup_texts=args.warmup_texts)
    try:
        if len(args.run_dirs) > 1:
            result = export_ensemble(args.run_dirs, args.models_dir,
                                     args.name, **common)
        else:
            result = export(args.run_dirs[0], args.models_dir, args.name,
                            max_generate_length=args.max_generate_length,
                            **common)
    except (ExportError, OSError) as e:
        return error("export", e, status=1)
    if result.warmup.get("note"):
        print(f"zoo export: note: {result.warmup['note']}", file=sys.stderr)
    print(json.dumps({"name": result.name, "version": result.version,
                      "path": result.path, "signatures": result.signatures,
                      "replaced": result.replaced,
                      "warmup": result.warmup,
                      "models_config": os.path.join(result.models_dir,
                                                    "models.config")},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
