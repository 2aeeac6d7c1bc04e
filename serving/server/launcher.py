"""Starting a server: the in-process `LocalModelServer`, and `serve`, which
runs `tensorflow_model_server` when it is installed."""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import subprocess
import threading

from serving import config as serving_config
from serving.server.errors import ServingStatus
from serving.server.http import DEFAULT_MAX_BODY_BYTES, Handler, ThreadingServer
from serving.server.registry import ModelRegistry
from serving.server.rest import RestApi

logger = logging.getLogger(__name__)


class LocalModelServer:
    """TF Serving's REST API for a models directory, in-process.

    Binds on construction, so ``port`` is known before ``start()``.

    Args:
        models_dir: directory with ``models.config`` and model versions.
        port: TCP port; 0 picks a free one.
        host: address to bind; loopback by default.
        poll_interval: seconds between rescans of the config and versions.
        max_body_bytes: larger request bodies get 413.
        request_timeout: socket timeout per connection, in seconds.

    Example:
        >>> server = LocalModelServer("models", port=0).start()
        >>> server.url  # doctest: +SKIP
        'http://127.0.0.1:43117'
        >>> server.stop()
    """

    def __init__(self, models_dir, port: int = 0, host: str = "127.0.0.1", *,
                 poll_interval: float = 1.0,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 request_timeout: float = 30.0):
        self.registry = ModelRegistry(models_dir, poll_interval=poll_interval)
        self.api = RestApi(self.registry)
        handler = type("Handler", (Handler,), {"timeout": request_timeout})
        self._httpd = ThreadingServer((host, port), handler)
        self._httpd.api = self.api
        self._httpd.max_body_bytes = int(max_body_bytes)
        self._thread = None
        self._serving = False
        self._stopped = False

    @property
    def host(self) -> str:
        return self._httpd.server_address[0]

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def warmup(self) -> None:
        """Reads the config and loads every served version now."""
        self.registry.refresh(force=True)
        for name in self.registry.model_names():
            try:
                self.registry.status(name)
            except ServingStatus as e:
                logger.warning("Model %s: %s", name, e.message)

    def start(self) -> "LocalModelServer":
        """Serves in a background daemon thread; returns ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                name=f"LocalModelServer:{self.port}", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serves in the calling thread until :meth:`stop`."""
        self._serving = True
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stops accepting, waits for in-flight requests, closes the socket."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None or self._serving:
            self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join()
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def serve(models_dir, port: int = 8501, host: str = "127.0.0.1", *,
          grpc_port: int = 8500, backend: str = "auto",
          poll_interval: float = 1.0,
          max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
          batching: bool | None = None) -> int:
    """Serves a models directory until interrupted (Ctrl-C or SIGTERM).

    Runs ``tensorflow_model_server`` (argv from
    :func:`serving.config.serving_command`) when it is on ``PATH``, otherwise
    the in-process :class:`LocalModelServer`.

    Args:
        models_dir: directory with ``models.config`` and model versions.
        port: REST API port.
        host: bind address of the local server (TF Serving binds all
            interfaces; this argument does not apply to it).
        grpc_port: gRPC port (TF Serving only).
        backend: ``"auto"``, ``"tfserving"`` or ``"local"``.
        poll_interval: config/version rescan period in seconds.
        max_body_bytes: request size limit of the local server.
        batching: TF Serving batching; ``None`` uses ``batching.config`` if
            present.

    Returns:
        The process exit status (0 after a clean shutdown).

    Raises:
        ValueError: unknown backend.
        FileNotFoundError: ``backend="tfserving"`` without the binary, or no
            ``models.config`` in ``models_dir``.
    """
    if backend not in ("auto", "tfserving", "local"):
        raise ValueError(f"Unknown backend {backend!r}: expected 'auto', "
                         "'tfserving' or 'local'.")
    models_dir = os.path.abspath(os.fspath(models_dir))
    config_path = os.path.join(models_dir, serving_config.MODELS_CONFIG)
    if not os.path.isfile(config_path):
        raise FileNotFoundError(
            f"No {serving_config.MODELS_CONFIG} in {models_dir}; export a "
            "model or call serving.config.update_models_config first.")
    serving_config.read_models_config(config_path)  # fail fast if malformed
    binary = shutil.which("tensorflow_model_server")
    if backend == "tfserving" and binary is None:
        raise FileNotFoundError(
            "tensorflow_model_server is not on PATH; use backend='local' or "
            "serving.config.docker_command().")
    if backend != "local" and binary is not None:
        argv = serving_config.serving_command(
            models_dir, port=port, grpc_port=grpc_port,
            poll_wait_seconds=max(1, int(math.ceil(poll_interval))),
            batching=batching, binary=binary)
        logger.info("Running %s", " ".join(argv))
        proc = subprocess.Popen(argv)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            try:
                return proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait()

    server = LocalModelServer(models_dir, port=port, host=host,
                              poll_interval=poll_interval,
                              max_body_bytes=max_body_bytes)
    server.warmup()
    logger.info("Serving %s at %s (REST API)", models_dir, server.url)
    print(f"Serving {models_dir} at {server.url}", flush=True)
    previous = None
    if threading.current_thread() is threading.main_thread():
        def _on_sigterm(signum, frame):
            raise KeyboardInterrupt
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    server.start()
    try:
        while server._thread.is_alive():
            server._thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
