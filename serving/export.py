"""Export a trained run as a TensorFlow Serving SavedModel (`zoo export`).

`export(run_dir, models_dir, name)` reads the run through
`training.run_dir`, builds the serving graph (`serving.signatures`) and
publishes it as `MODELS_DIR/NAME/<version>/` with its model card, then
registers it in `MODELS_DIR/models.config` (`serving.models_dir`, which
owns that layout and publishes atomically).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from serving import models_dir as md
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
    family_of,
)

__all__ = [
    "ExportError",
    "ExportResult",
    "export",
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
    """What `export` and `export_model` return.

    Attributes:
        name: the model name.
        version: the integer version written.
        path: the version directory `MODELS_DIR/NAME/VERSION`.
        models_dir: the models directory.
        signatures: signature names in the SavedModel.
        card: the model card (also in `assets.extra/model_card.json`).
        replaced: True if an existing version was overwritten.
    """

    name: str
    version: int
    path: str
    models_dir: str
    signatures: list
    card: dict
    replaced: bool = False


def export_model(model, models_dir, name, *, vocabulary=None,
                 class_names=None, level=None, version=None, label=None,
                 overwrite=False, card=None, update_config=True,
                 max_generate_length=DEFAULT_MAX_GENERATE_LENGTH,
                 verbose=False) -> ExportResult:
    """Exports an in-memory zoo model to `MODELS_DIR/NAME/<version>`.

    Args:
        model: a `SentimentClassifier` or `LanguageModel`.
        models_dir: the models directory (created if missing).
        name: model name (letters, digits, `_ - .`).
        vocabulary: language models: the `Vocabulary`, or its token list.
        class_names: classifiers: class names (default `model.class_names`).
        level: language models: `"word"` or `"char"`.
        version: integer version; default: one more than the highest.
        label: optional version label (`/v1/models/NAME/labels/LABEL`).
        overwrite: replace an existing `version` (atomically).
        card: extra model-card fields (config, metrics, data, ...).
        update_config: update `models.config` (and write `batching.config`
            if absent).
        max_generate_length: language models: cap on `max_length`.
        verbose: print Keras' endpoint summary.

    Returns:
        An `ExportResult`.

    Raises:
        ExportError: bad name/version/label, the version exists without
            `overwrite`, or the model cannot be exported.
    """
    from training import reports

    md.check_name(name)
    md.check_label(label)
    models_dir = os.path.abspath(os.fspath(models_dir))
    family = family_of(model)
    if family == "language_model" and vocabulary is not None:
        vocabulary = as_vocabulary(vocabulary)
    archive, signatures = build_export_archive(
        model, vocabulary=vocabulary, class_names=class_names, level=level,
        max_generate_length=max_generate_length)
    card = dict(card or {})
    card.update({
        "name": name, "family": family, "signatures": signatures,
        "created": _now(),
        "versions": {**reports.versions(), **(card.get("versions") or {})},
    })
    if family == "sentiment_classifier":
        card.setdefault("class_names",
                        [str(c) for c in (class_names or model.class_names)])
        card.setdefault("vocabulary_size", len(model.get_vocabulary()))
    else:
        card.setdefault("level", level or model.level)
        card.setdefault("vocabulary_size", len(vocabulary))
        card.setdefault("max_generate_length", int(max_generate_length))
    version, replaced = md.publish(
        models_dir, name, lambda path: archive.write_out(path, verbose=verbose),
        card, version=version, overwrite=overwrite)
    path = os.path.join(md.model_dir(models_dir, name), str(version))
    if update_config:
        try:
            md.register(models_dir, name, version, label)
        except (ValueError, OSError) as e:
            raise ExportError(
                f"Exported {path}, but could not update "
                f"{os.path.join(models_dir, 'models.config')}: {e}") from e
    return ExportResult(name=name, version=version, path=path,
                        models_dir=models_dir, signatures=signatures,
                        card=card, replaced=replaced)


def _now():
    from training.run_dir import now

    return now()


def export(run_dir, models_dir, name, *, version=None, label=None,
           overwrite=False, which="best", class_names=None,
           max_generate_length=DEFAULT_MAX_GENERATE_LENGTH,
           verbose=False) -> ExportResult:
    """Exports a run directory (`zoo train --out RUN_DIR`) for TF Serving.

    Writes `MODELS_DIR/NAME/<version>/` (SavedModel + model card in
    `assets.extra/model_card.json`), then updates `models.config` (and
    writes `batching.config` if absent).

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
        verbose: print Keras' endpoint summary.

    Returns:
        An `ExportResult`.

    Raises:
        ExportError: missing files, bad arguments, or the version exists.
    """
    from training import run_dir as rd

    if which not in rd.CHECKPOINTS:
        raise ExportError(f"which must be 'best' or 'last'. Received: "
                          f"which={which!r}")
    try:
        run = rd.open_run(run_dir)
        model = run.load_model(which)
        vocabulary = run.vocabulary
    except ValueError as e:  # RunDirError, DataError
        raise ExportError(str(e)) from None
    card = {
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
    if class_names is None:
        class_names = run.class_names
    else:
        card["run_class_names"] = run.class_names
    return export_model(
        model, models_dir, name, vocabulary=vocabulary,
        class_names=class_names if run.family == "sentiment_classifier"
        else None,
        level=run.level, version=version, label=label, overwrite=overwrite,
        card=card, max_generate_length=max_generate_length, verbose=verbose)


# ---------------------------------------------------------------------------
# CLI.
# ---------------------------------------------------------------------------


def _parser():
    p = argparse.ArgumentParser(
        prog="zoo export",
        description="Export a run directory as a TensorFlow Serving "
        "SavedModel (MODELS_DIR/NAME/VERSION) and register it in "
        "MODELS_DIR/models.config.")
    p.add_argument("run_dir", metavar="RUN_DIR",
                   help="a `zoo train --out` directory")
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
                   "output (default: the run's class names)")
    p.add_argument("--max-generate-length", type=int,
                   default=DEFAULT_MAX_GENERATE_LENGTH,
                   help="language models: cap on generate's max_length")
    return p


def main(argv=None) -> int:
    """`zoo export`: prints the result as JSON; returns the exit status."""
    from training.cli_args import error

    args = _parser().parse_args(argv)
    try:
        result = export(args.run_dir, args.models_dir, args.name,
                        version=args.version, label=args.label,
                        overwrite=args.overwrite, which=args.which,
                        class_names=args.class_names.split(",")
                        if args.class_names else None,
                        max_generate_length=args.max_generate_length)
    except (ExportError, OSError) as e:
        return error("export", e, status=1)
    print(json.dumps({"name": result.name, "version": result.version,
                      "path": result.path, "signatures": result.signatures,
                      "replaced": result.replaced,
                      "models_config": os.path.join(result.models_dir,
                                                    "models.config")},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
