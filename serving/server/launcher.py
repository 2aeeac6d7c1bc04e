"""Starting a server: the in-process `LocalModelServer` (REST, and gRPC on
a second port), and `serve`, which runs `tensorflow_model_server` when it
is installed."""

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
from serving.server.metrics import (MonitoringConfig, ServerMetrics,
                                    read_monitoring_config)
from serving.server.registry import ModelRegistry
from serving.server.rest import RestApi
from serving.server.service import PredictionService

logger = logging.getLogger(__name__)

BATCHING_CHOICES = ("auto", "on", "off")


def batching_enabled(models_dir, batching) -> bool:
    """Whether a server batches: ``batching`` is ``"auto"`` (or None: on when
    ``MODELS_DIR/batching.config`` exists), ``"on"``/True or ``"off"``/False.

    Raises:
        ValueError: another value, or ``"on"`` without ``batching.config``.
    """
    if batching in (None, "auto"):
        return os.path.exists(os.path.join(
            os.fspath(models_dir), serving_config.BATCHING_CONFIG))
    if batching in ("on", True):
        path = os.path.join(os.fspath(models_dir),
                            serving_config.BATCHING_CONFIG)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"--batching on needs {path}; write it with "
                "serving.config.write_batching_config (zoo export does).")
        return True
    if batching in ("off", False):
        return False
    raise ValueError(f"batching must be one of {BATCHING_CHOICES}. "
                     f"Received: batching={batching!r}")


def _monitoring(monitoring):
    if monitoring is None or isinstance(monitoring, MonitoringConfig):
        return monitoring
    return read_monitoring_config(monitoring)


class LocalModelServer:
    """TF Serving's REST (and gRPC) API for a models directory, in-process.

    Binds on construction, so ``port`` and ``grpc_port`` are known before
    ``start()``.

    Args:
        models_dir: directory with ``models.config`` and model versions.
        port: REST port; 0 picks a free one.
        host: address to bind; loopback by default.
        poll_interval: seconds between rescans of the config and versions.
        max_body_bytes: larger request bodies get 413.
        request_timeout: seconds: no read waits longer, and a request
            must arrive in full (line, headers, body) within it of its
            first byte, else 408 (a client that stops sending, or trickles,
            is cut off).
        grpc_port: gRPC port (TF Serving's ``PredictionService`` and
            ``ModelService``); 0 picks a free one, None serves no gRPC.
        batching: ``"auto"`` (on when ``batching.config`` exists), ``"on"``
            or ``"off"``; see `serving.server.batching`.
        monitoring: a `MonitoringConfig`, or the path of a
            ``--monitoring_config_file``; None serves no metrics page.
        warmup: replay each version's ``tf_serving_warmup_requests`` at load.
        max_load_retries: retries of a version that failed to load (TF
            Serving's ``--max_num_load_retries``, 5).
        load_retry_interval: seconds between them (TF Serving's
            ``--load_retry_interval_micros``, one minute).

    Example:
        >>> server = LocalModelServer("models", port=0).start()
        >>> server.url  # doctest: +SKIP
        'http://127.0.0.1:43117'
        >>> server.stop()
    """

    def __init__(self, models_dir, port: int = 0, host: str = "127.0.0.1", *,
                 poll_interval: float = 1.0,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 request_timeout: float = 30.0,
                 grpc_port: int | None = None,
                 batching="auto", monitoring=None, warmup: bool = True,
                 max_load_retries: int = 5,
                 load_retry_interval: float = 60.0):
        self.monitoring = _monitoring(monitoring)
        self.metrics = ServerMetrics()
        self.registry = ModelRegistry(
            models_dir, poll_interval=poll_interval, metrics=self.metrics,
            warmup=warmup, max_load_retries=max_load_retries,
            load_retry_interval=load_retry_interval)
        self.batcher = None
        if batching_enabled(models_dir, batching):
            from serving.server.batching import Batcher

            options = serving_config.read_batching_config(models_dir)
            self.batcher = Batcher(options, metrics=self.metrics)
        self.service = PredictionService(self.registry, batcher=self.batcher,
                                         metrics=self.metrics)
        metrics_path = (self.monitoring.path if self.monitoring is not None
                        and self.monitoring.enable else None)
        self.api = RestApi(self.service, metrics_path=metrics_path)
        handler = type("Handler", (Handler,), {"timeout": request_timeout})
        self._httpd = ThreadingServer((host, port), handler)
        self._httpd.api = self.api
        self._httpd.max_body_bytes = int(max_body_bytes)
        self._grpc = None
        self._grpc_port = None
        if grpc_port is not None:
            from serving.server.grpc_api import start_grpc_server

            try:
                self._grpc, self._grpc_port = start_grpc_server(
                    self.service, host, grpc_port,
                    max_message_bytes=int(max_body_bytes))
            except Exception:
                self._httpd.server_close()
                if self.batcher is not None:
                    self.batcher.close()
                raise
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
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def grpc_port(self) -> int | None:
        """The bound gRPC port, or None without gRPC."""
        return self._grpc_port

    @property
    def grpc_target(self) -> str | None:
        """``host:port`` for ``grpc.insecure_channel``, or None."""
        if self._grpc_port is None:
            return None
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self._grpc_port}"

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
        if self._grpc is not None:
            self._grpc.stop(grace=5).wait()
        if self._thread is not None or self._serving:
            self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self.batcher is not None:
            self.batcher.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def serve(models_dir, port: int = 8501, host: str = "127.0.0.1", *,
          grpc_port: int = 8500, backend: str = "auto",
          poll_interval: float = 1.0,
          max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
          batching="auto", monitoring_config_file=None) -> int:
    """Serves a models directory until interrupted (Ctrl-C or SIGTERM).

    Runs ``tensorflow_model_server`` (argv from
    :func:`serving.config.serving_command`) when it is on ``PATH``, otherwise
    the in-process :class:`LocalModelServer`.

    Args:
        models_dir: directory with ``models.config`` and model versions.
        port: REST API port.
        host: bind address of the local server (TF Serving binds all
            interfaces; this argument does not apply to it).
        grpc_port: gRPC port (both backends; None: the local server
            serves no gRPC).
        backend: ``"auto"``, ``"tfserving"`` or ``"local"``.
        poll_interval: config/version rescan period in seconds.
        max_body_bytes: request size limit of the local server.
        batching: ``"auto"`` (on when ``batching.config`` exists), ``"on"``
            or ``"off"``, for both backends.
        monitoring_config_file: TF Serving's ``--monitoring_config_file``
            (Prometheus metrics page), for both backends.

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
    batching_on = batching_enabled(models_dir, batching)
    if monitoring_config_file is not None:
        read_monitoring_config(monitoring_config_file)  # fail fast too
    binary = shutil.which("tensorflow_model_server")
    if backend == "tfserving" and binary is None:
        raise FileNotFoundError(
            "tensorflow_model_server is not on PATH; use backend='local' or "
            "serving.config.docker_command().")
    if backend != "local" and binary is not None:
        argv = serving_config.serving_command(
            models_dir, port=port, grpc_port=grpc_port,
            poll_wait_seconds=max(1, int(math.ceil(poll_interval))),
            batching=batching_on,
            monitoring_config_file=monitoring_config_file, binary=binary)
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
                              max_body_bytes=max_body_bytes,
                              grpc_port=grpc_port,
                              batching="on" if batching_on else "off",
                              monitoring=monitoring_config_file)
    server.warmup()
    where = f"{server.url} (REST)"
    if server.grpc_target is not None:
        where += f" and {server.grpc_target} (gRPC)"
    extras = []
    if server.batcher is not None:
        extras.append("batching on")
    if server.api.metrics_path is not None:
        extras.append(f"metrics at {server.url}{server.api.metrics_path}")
    logger.info("Serving %s at %s", models_dir, where)
    print(f"Serving {models_dir} at {where}"
          + (f"; {', '.join(extras)}" if extras else ""), flush=True)
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
