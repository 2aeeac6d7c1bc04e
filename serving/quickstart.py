"""``zoo quickstart``: train, evaluate, export, serve and query, in minutes.

One command runs the whole path of the README on a laptop CPU:

1. trains a sentiment preset (``sst2_bigru_highway`` by default) for a small
   time budget (``--minutes``, one epoch at most) on ``--data PATH`` or
   ``$ZOO_DATA`` (a CSV/TSV of ``sentence,label`` rows such as SST-2's
   ``train.tsv``, or an aclImdb folder); with neither, ``tfds:glue/sst2``
   when online, and a fast, clear error naming ``--data``/``ZOO_DATA`` when
   offline;
2. evaluates the best checkpoint on the validation split: the separate
   ``--validation-data`` (SST-2's official ``dev.tsv``), which also selects
   the checkpoint, or the source's own split;
3. exports it to ``OUT/models/sentiment/<version>`` (TF Serving layout);
4. starts the local TF Serving-compatible REST server on a free loopback
   port, sends a ``:predict`` request with a few sentences, prints the
   answers and stops the server.

Everything lands in ``--out`` (default ``zoo-quickstart``): ``run/`` (the
RUN_DIR) and ``models/`` (the MODELS_DIR, ready for ``zoo serve`` or
``tensorflow_model_server``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

__all__ = ["quickstart", "QuickstartError", "main", "SENTENCES",
           "DEFAULT_PRESET"]

DEFAULT_PRESET = "sst2_bigru_highway"
DEFAULT_TFDS = "tfds:glue/sst2"
MODEL_NAME = "sentiment"
SENTENCES = [
    "a gorgeous , witty , seductive movie .",
    "the plot is dull and the acting is worse .",
    "an uneven but ultimately rewarding film",
    "i would not recommend this to anyone .",
]
class QuickstartError(RuntimeError):
    """The quickstart cannot run (no data, offline, ...)."""


def _no_data_message(reason):
    return (f"zoo quickstart needs training data: {reason}. Pass a local "
            "file with --data PATH or set ZOO_DATA=PATH, e.g. SST-2's "
            "train.tsv (header 'sentence<TAB>label') or an aclImdb folder.")


def resolve_data(data=None) -> str:
    """The data source: ``data``, ``$ZOO_DATA``, or ``tfds:glue/sst2``.

    Raises:
        QuickstartError: neither is given and TFDS cannot be used (offline
            or ``tensorflow_datasets`` missing); decided within seconds.
    """
    data = data or os.environ.get("ZOO_DATA") or None
    if data:
        if not data.startswith("tfds:") and not os.path.exists(data):
            raise QuickstartError(f"--data/ZOO_DATA path {data!r} does not "
                                  "exist.")
        return data
    try:
        import tensorflow_datasets  # noqa: F401
    except ImportError:
        raise QuickstartError(_no_data_message(
            "no --data or ZOO_DATA given and tensorflow_datasets is not "
            f"installed for the default {DEFAULT_TFDS}")) from None
    from training.data import sources

    name = DEFAULT_TFDS[len(sources.TFDS_PREFIX):]
    if not sources.tfds_download_reachable(name):
        raise QuickstartError(_no_data_message(
            f"no --data or ZOO_DATA given and {DEFAULT_TFDS} cannot be "
            "downloaded (its download host is unreachable: offline?)"))
    return DEFAULT_TFDS


def quickstart(data=None, out="zoo-quickstart", *, minutes=3.0,
               preset=DEFAULT_PRESET, overrides=None, max_steps=None,
               sentences=None, batch_size=None, validation_data=None,
               validation_group=None, log=print) -> dict:
    """Trains, evaluates, exports, serves and queries a sentiment model.

    Args:
        data: local SOURCE (file or folder); default ``$ZOO_DATA``, else
            ``tfds:glue/sst2`` when online.
        out: output folder (``run/`` and ``models/`` inside). The run is
            replaced on each call; exports add versions.
        minutes: training time budget (one epoch at most; the epoch ends
            early when the budget is spent).
        preset: sentiment preset (``sst2_bigru_highway``, ``imdb_bilstm``,
            ...).
        overrides: model constructor overrides (e.g. smaller ``units``).
        max_steps: optional cap on training (and validation) batches.
        sentences: texts to send to the server (default: four examples).
        batch_size: training batch size (default: the preset's).
        validation_data: a separate validation SOURCE (SST-2: ``dev.tsv``)
            that selects and reports the model (see ``training.train``).
        validation_group: carve validation by this column instead (IMDB:
            ``movie``).
        log: progress printer (``print``; ``None`` for silence).

    Returns:
        ``{"run_dir", "models_dir", "model", "version", "url", "metrics",
        "predictions", "seconds"}``; ``predictions`` pairs each sentence with
        its label and probabilities.

    Raises:
        QuickstartError: no usable data source, a language-model preset,
            an ``out`` that is a file, or ``minutes`` / ``max_steps`` that
            are not positive.
    """
    log = log or (lambda *a, **k: None)
    t_start = time.monotonic()
    from training import recipe as recipe_lib
    from zoo.models import factory

    if factory.resolve(preset)[0] != "sentiment_classifier":
        raise QuickstartError(
            "the quickstart trains, evaluates and serves a sentiment "
            f"classifier; {preset!r} is a language model (train it with "
            f"`zoo train {preset}`). Received: preset={preset!r}")
    if not (isinstance(minutes, (int, float)) and not isinstance(minutes, bool)
            and recipe_lib.finite_minutes(minutes)):
        raise QuickstartError(f"minutes must be a number > 0. Received: "
                              f"minutes={minutes!r}")
    if max_steps is not None and (isinstance(max_steps, bool) or not
                                  isinstance(max_steps, int) or max_steps < 1):
        raise QuickstartError(f"max_steps must be an integer >= 1 or None. "
                              f"Received: max_steps={max_steps!r}")
    source = resolve_data(data)
    sentences = list(sentences or SENTENCES)
    out = os.path.abspath(os.fspath(out))
    run_dir = os.path.join(out, "run")
    models_dir = os.path.join(out, "models")
    if os.path.exists(out) and not os.path.isdir(out):
        raise QuickstartError(f"--out {out} exists and is not a folder")
    os.makedirs(out, exist_ok=True)

    import training
    from serving import export as ex
    from serving.client import ServingClient
    from serving.server import LocalModelServer

    log(f"[1/4] Training {preset} on {source} for at most {minutes:g} min "
        f"-> {run_dir}")
    result = training.train(
        preset, source, out=run_dir, epochs=1, overwrite=True,
        overrides=overrides, batch_size=batch_size,
        max_steps_per_epoch=max_steps, time_budget=max(1.0 / 60, float(minutes)),
        validation_data=validation_data, validation_group=validation_group,
        verbose=0)
    log(f"      trained in {time.monotonic() - t_start:.0f} s")

    log("[2/4] Evaluating the best checkpoint on the validation split")
    metrics = training.evaluate(run_dir, source, split="validation",
                                max_steps=max_steps)
    where = (f" of {validation_data}" if validation_data else "")
    log(f"      validation accuracy {metrics['accuracy']:.4f} on "
        f"{metrics['num_examples']} examples{where}")

    log(f"[3/4] Exporting to {models_dir}")
    run_names = result.run.class_names or []
    # SST-2 and IMDB label 1 as positive; give 0/1 labels readable names.
    names = ["negative", "positive"] if run_names == ["0", "1"] else None
    exported = ex.export(run_dir, models_dir, MODEL_NAME, class_names=names)
    log(f"      {exported.path} (signatures: "
        f"{', '.join(exported.signatures)})")

    log("[4/4] Serving on a free loopback port and sending a REST request")
    with LocalModelServer(models_dir, port=0, host="127.0.0.1") as server:
        client = ServingClient(server.url, timeout=120)
        client.wait_until_available(MODEL_NAME, timeout=120)
        url = f"{server.url}/v1/models/{MODEL_NAME}:predict"
        log(f"      POST {url}")
        answer = client.predict(MODEL_NAME, instances=sentences)
    predictions = [
        {"text": text, "label": p["label"],
         "probabilities": [round(float(x), 4) for x in p["probabilities"]]}
        for text, p in zip(sentences, answer["predictions"])]
    for p in predictions:
        log(f"      {p['label']:>10}  {max(p['probabilities']):.3f}  "
            f"{p['text']}")
    log("      server stopped. Serve it yourself with:\n"
        f"        zoo serve --models-dir {models_dir}\n"
        f"        zoo predict --url http://127.0.0.1:8501 --name {MODEL_NAME}"
        " \"what a film\"")
    return {"run_dir": run_dir, "models_dir": models_dir,
            "model": MODEL_NAME, "version": exported.version, "url": url,
            "train_metrics": result.metrics, "metrics": metrics,
            "predictions": predictions,
            "seconds": round(time.monotonic() - t_start, 1)}


def main(argv=None) -> int:
    """``zoo quickstart``."""
    from training.cli_args import (add_validation_arguments, positive_float,
                                   positive_int)

    p = argparse.ArgumentParser(
        prog="zoo quickstart",
        description="Train a small sentiment model, evaluate it, export it "
        "for TF Serving, serve it locally and query it over REST.")
    p.add_argument("--data", default=None,
                   help="local data (CSV/TSV with text,label; aclImdb "
                   "folder); default $ZOO_DATA, else tfds:glue/sst2 online")
    p.add_argument("--out", default="zoo-quickstart",
                   help="output folder (run/ and models/)")
    p.add_argument("--minutes", type=positive_float, default=3.0,
                   help="training time budget in minutes")
    p.add_argument("--preset", default=DEFAULT_PRESET,
                   help="sentiment preset (sst2_bigru_highway, imdb_bilstm)")
    add_validation_arguments(p)
    p.add_argument("--max-steps", type=positive_int, default=None,
                   help="cap training/validation batches (smoke runs)")
    p.add_argument("--json", action="store_true",
                   help="print the summary as JSON at the end")
    args = p.parse_args(argv)
    try:
        summary = quickstart(args.data, args.out, minutes=args.minutes,
                             preset=args.preset, max_steps=args.max_steps,
                             validation_data=args.validation_data,
                             validation_group=args.validation_group)
    except QuickstartError as e:
        print(f"zoo quickstart: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - one clear line for the user
        # the errors of the steps (and their subclasses), by name so that a
        # failure before a step's module is imported still reads as one line
        names = {c.__name__ for c in type(e).__mro__}
        if isinstance(e, (ValueError, OSError)) or names & {
                "DataError", "RunDirError", "ExportError", "ServingError",
                "ServingConnectionError", "ServingTimeoutError"}:
            print(f"zoo quickstart: error: {e}", file=sys.stderr)
            return 1
        raise
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
