"""``zoo serve`` and ``zoo predict``: thin wrappers over the serving API.

``zoo serve --models-dir DIR [--port 8501] [--grpc-port 8500]
[--host 127.0.0.1] [--backend auto|tfserving|local] [--batching
auto|on|off] [--monitoring-config-file FILE]`` runs
:func:`serving.server.serve`: REST on ``--port`` and gRPC on
``--grpc-port``, as TF Serving does.

``zoo predict (--models-dir DIR | --url URL) --name NAME [--version N |
--label L] [--signature SIG] [--param KEY=VALUE ...] TEXT...`` sends one
``:predict`` request through :class:`serving.client.ServingClient` and
prints the JSON answer. With ``--models-dir`` (and no ``--url``) the request
goes to an in-process :class:`serving.server.LocalModelServer` on a free
loopback port, started for this one request. Errors print the server's
message to stderr and exit with status 1.

The texts go in the signature's string input (``text`` for
``serving_default``/``score``, ``prompt`` for ``generate``); ``--param``
adds other inputs to every instance, e.g. ``--signature generate --param
max_length=20 --param temperature=0``.
"""

from __future__ import annotations

import argparse
import json
import sys

from training.cli_args import (error, non_negative_float, parse_value,
                               port_number, positive_float)

__all__ = ["main", "predict", "serve_main", "predict_main"]

# The string input each signature reads the texts from.
_TEXT_INPUT = {"generate": "prompt", "generate_seeded": "prompt",
               "sample": "prompt"}


def _serve_parser():
    p = argparse.ArgumentParser(
        prog="zoo serve",
        description="Serve a models directory over TensorFlow Serving's REST "
        "API: tensorflow_model_server when it is installed, otherwise the "
        "local in-process server.")
    p.add_argument("--models-dir", required=True, metavar="DIR",
                   help="models directory (with models.config)")
    p.add_argument("--port", type=port_number, default=8501,
                   help="REST port (the local backend: 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="bind address (local backend)")
    p.add_argument("--grpc-port", type=port_number, default=8500,
                   help="gRPC port (TF Serving's PredictionService and "
                   "ModelService; 0 picks a free one)")
    p.add_argument("--batching", choices=("auto", "on", "off"),
                   default="auto",
                   help="server-side batching with MODELS_DIR/batching.config"
                   "; auto: on when that file exists (both backends)")
    p.add_argument("--monitoring-config-file", metavar="FILE", default=None,
                   help="TF Serving monitoring config, e.g. "
                   "'prometheus_config { enable: true path: "
                   "\"/monitoring/prometheus/metrics\" }': serves "
                   "Prometheus metrics on the REST port")
    p.add_argument("--backend", choices=("auto", "tfserving", "local"),
                   default="auto",
                   help="auto: tensorflow_model_server if on PATH, else local")
    p.add_argument("--poll-interval", type=non_negative_float, default=1.0,
                   help="seconds between rescans of models.config/versions")
    return p


def serve_main(argv) -> int:
    """``zoo serve``: serves until Ctrl-C / SIGTERM."""
    args = _serve_parser().parse_args(argv)
    from serving.server import serve

    try:
        return serve(args.models_dir, port=args.port, host=args.host,
                     grpc_port=args.grpc_port, backend=args.backend,
                     poll_interval=args.poll_interval,
                     batching=args.batching,
                     monitoring_config_file=args.monitoring_config_file)
    except (FileNotFoundError, ValueError, OSError) as e:
        return error("serve", e, status=1)


def predict(texts, name, *, url=None, models_dir=None, grpc=None,
            version=None, label=None, signature=None, params=None,
            timeout=60.0) -> dict:
    """Sends one ``:predict`` request with ``texts`` and returns the answer.

    Args:
        texts: the input strings (one instance each; one string is one
            text).
        name: model name.
        url: server URL (e.g. ``http://127.0.0.1:8501``).
        models_dir: without ``url``: serve this directory in-process on a
            free loopback port for the request.
        grpc: ``HOST:PORT`` of a server's gRPC API (TF Serving's 8500),
            used instead of ``url``; the answer has the same JSON shape.
        version: a specific version.
        label: a version label.
        signature: signature name (default ``serving_default``).
        params: other inputs added to each instance, e.g.
            ``{"max_length": 20, "temperature": 0.0}``.
        timeout: client timeout in seconds.

    Returns:
        The decoded JSON answer (``{"predictions": [...]}``).

    Raises:
        serving.client.ServingError: the server rejected the request.
        ValueError: none of ``url``, ``grpc`` and ``models_dir``.
    """
    from serving.client import ServingClient

    if isinstance(texts, (str, bytes)):
        texts = [texts]  # one text, not its characters
    texts = [t.decode("utf-8") if isinstance(t, bytes) else str(t)
             for t in texts]
    if not texts:
        raise ValueError("Give at least one TEXT to predict.")
    if params:
        key = _TEXT_INPUT.get(signature or "", "text")
        if key in params:
            raise ValueError(
                f"params may not hold {key!r}: it would replace every text. "
                f"Received: params={params!r:.80}")
        instances = [{key: t, **params} for t in texts]
    else:
        instances = texts
    if url is None and models_dir is None and grpc is None:
        raise ValueError("Pass --url URL or --grpc HOST:PORT of a running "
                         "server, or --models-dir DIR.")
    if grpc is not None:
        with ServingClient(grpc_target=grpc, timeout=timeout) as client:
            return client.predict(
                name, instances=instances, signature_name=signature,
                version=version, label=label)
    if url is not None:
        return ServingClient(url, timeout=timeout).predict(
            name, instances=instances, signature_name=signature,
            version=version, label=label)
    from serving.server import LocalModelServer

    with LocalModelServer(models_dir, port=0, host="127.0.0.1",
                          poll_interval=0.0) as server:
        return ServingClient(server.url, timeout=timeout).predict(
            name, instances=instances, signature_name=signature,
            version=version, label=label)


def _client_timeout(text):
    """argparse type for `--timeout`: a number > 0 and <= the client's
    `MAX_TIMEOUT`."""
    from serving.client import MAX_TIMEOUT

    value = positive_float(text)
    if value > MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(
            f"must be at most {MAX_TIMEOUT:g} seconds, got {text}")
    return value


def _predict_parser():
    p = argparse.ArgumentParser(
        prog="zoo predict",
        description="Send texts to a served model (TF Serving's REST :predict "
        "or gRPC Predict) "
        "and print the JSON answer.")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="server URL, e.g. http://127.0.0.1:8501")
    where.add_argument("--grpc", metavar="HOST:PORT",
                       help="use the server's gRPC API, e.g. 127.0.0.1:8500")
    where.add_argument("--models-dir", metavar="DIR",
                       help="serve DIR in-process for this request")
    p.add_argument("--name", required=True, help="model name")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, default=None)
    which.add_argument("--label", default=None)
    p.add_argument("--signature", default=None,
                   help="signature name: serving_default (default), score, "
                   "generate, generate_seeded, sample")
    p.add_argument("--param", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="another input for every instance (JSON value), "
                   "e.g. max_length=20; repeatable")
    p.add_argument("--timeout", type=_client_timeout, default=60.0,
                   help="seconds to wait for the answer (default 60, at "
                   "most 1e6)")
    p.add_argument("texts", nargs="+", metavar="TEXT")
    return p


def predict_main(argv) -> int:
    """``zoo predict``: prints the answer as JSON; 1 on errors."""
    p = _predict_parser()
    args = p.parse_args(argv)
    params = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            p.error(f"--param expects KEY=VALUE, got {item!r}")
        params[key] = parse_value(value)
    text_key = _TEXT_INPUT.get(args.signature or "", "text")
    if text_key in params:
        p.error(f"--param {text_key}=... would replace every TEXT; give the "
                f"{text_key} as TEXT. Received: --param {text_key}=...")
    from serving.client import ServingError

    try:
        answer = predict(args.texts, args.name, url=args.url,
                         models_dir=args.models_dir, grpc=args.grpc,
                         version=args.version,
                         label=args.label, signature=args.signature,
                         params=params or None, timeout=args.timeout)
    except (ServingError, ValueError, OSError) as e:
        return error("predict", e, status=1)
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    return 0


def main(argv=None) -> int:
    """Dispatches ``["serve", ...]`` and ``["predict", ...]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("serve", "predict"):
        print("usage: zoo {serve,predict} ...", file=sys.stderr)
        return 2
    if argv[0] == "serve":
        return serve_main(argv[1:])
    return predict_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
