"""A standard-library client for TensorFlow Serving's REST API.

Works against ``tensorflow_model_server --rest_api_port=...`` and against
:class:`serving.server.LocalModelServer` alike. Only ``urllib`` and ``json``
are used, so it runs anywhere (no TensorFlow needed).

Example:
    >>> client = ServingClient("http://127.0.0.1:8501")  # doctest: +SKIP
    >>> client.predict("sentiment", instances=["great film"])  # doctest: +SKIP
    {'predictions': [{'label': 'positive', ...}]}
"""

from __future__ import annotations

import base64
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["ServingClient", "ServingError", "ServingConnectionError",
           "ServingTimeoutError", "b64"]


class ServingError(Exception):
    """The server answered with an HTTP error.

    Attributes:
        status_code: the HTTP status (None for connection problems).
        message: the server's ``error`` message (or the reason).
        url: the requested URL.
    """

    def __init__(self, message: str, status_code: int | None = None,
                 url: str | None = None):
        super().__init__(
            f"HTTP {status_code} from {url}: {message}"
            if status_code is not None else f"{message} ({url})")
        self.status_code = status_code
        self.message = message
        self.url = url


class ServingConnectionError(ServingError, ConnectionError):
    """The server could not be reached (refused, reset, DNS, ...)."""


class ServingTimeoutError(ServingConnectionError, TimeoutError):
    """The server did not answer within the client's timeout."""


def b64(data: bytes) -> dict:
    """Wraps binary data as TF Serving's ``{"b64": ...}`` JSON value.

    Args:
        data: raw bytes (e.g. non-UTF-8 text).
    """
    return {"b64": base64.b64encode(bytes(data)).decode("ascii")}


def _model_path(name, version=None, label=None):
    if version is not None and label is not None:
        raise ValueError("Pass either version or label, not both.")
    path = "/v1/models/" + urllib.parse.quote(str(name), safe="")
    if version is not None:
        if isinstance(version, bool) or int(version) < 0:
            raise ValueError(f"Invalid model version {version!r}.")
        path += f"/versions/{int(version)}"
    elif label is not None:
        path += "/labels/" + urllib.parse.quote(str(label), safe="")
    return path


class ServingClient:
    """Client for TF Serving's REST API (status, metadata, predict).

    Args:
        base_url: e.g. ``"http://127.0.0.1:8501"``; overrides host/port.
        host: server host when ``base_url`` is not given.
        port: REST port when ``base_url`` is not given.
        timeout: seconds to wait for connect and for the answer.
    """

    def __init__(self, base_url: str | None = None, *, host: str = "127.0.0.1",
                 port: int = 8501, timeout: float = 30.0):
        if base_url is None:
            base_url = f"http://{host}:{int(port)}"
        if "://" not in base_url:
            base_url = "http://" + base_url
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}))  # loopback must skip proxies

    def __repr__(self):
        return f"ServingClient({self.base_url!r}, timeout={self.timeout})"

    # -- transport ---------------------------------------------------------

    def request(self, method: str, path: str, body=None) -> dict:
        """Sends one request and returns the decoded JSON answer.

        Args:
            method: ``"GET"`` or ``"POST"``.
            path: path starting with ``/v1/``.
            body: JSON-serialisable object (POST), or None.

        Raises:
            ServingError: HTTP error status, with the server's message.
            ServingConnectionError: the server is unreachable.
            ServingTimeoutError: no answer within ``timeout``.
        """
        url = self.base_url + path
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body, allow_nan=True).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, headers=headers,
                                     method=method)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            try:
                raw = e.read()
            except (OSError, ValueError):
                raw = b""
            finally:
                e.close()
            raise ServingError(_error_message(raw, e.reason), e.code,
                               url) from None
        except (socket.timeout, TimeoutError) as e:
            raise ServingTimeoutError(
                f"Timed out after {self.timeout:g} s waiting for the model "
                "server", url=url) from e
        except urllib.error.URLError as e:
            if isinstance(e.reason, (socket.timeout, TimeoutError)):
                raise ServingTimeoutError(
                    f"Timed out after {self.timeout:g} s connecting to the "
                    "model server", url=url) from e
            raise ServingConnectionError(
                f"Cannot reach the model server at {self.base_url}: "
                f"{e.reason}", url=url) from e
        except (ConnectionError, OSError) as e:
            raise ServingConnectionError(
                f"Connection to the model server at {self.base_url} failed: "
                f"{e}", url=url) from e
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ServingError(
                f"Invalid JSON in the answer: {e}: {raw[:200]!r}", 200,
                url) from None

    # -- API ---------------------------------------------------------------

    def status(self, name: str, version: int | None = None,
               label: str | None = None) -> dict:
        """Model status (``GET /v1/models/NAME[/versions/V|/labels/L]``).

        Args:
            name: model name.
            version: a specific version.
            label: a version label (instead of ``version``).

        Returns:
            ``{"model_version_status": [{"version", "state", "status"}]}``.
        """
        return self.request("GET", _model_path(name, version, label))

    def metadata(self, name: str, version: int | None = None,
                 label: str | None = None) -> dict:
        """Signature metadata (``GET .../metadata``).

        Args:
            name: model name.
            version: a specific version.
            label: a version label.

        Returns:
            ``{"model_spec": {...}, "metadata": {"signature_def": {...}}}``.
        """
        return self.request("GET", _model_path(name, version, label) +
                            "/metadata")

    def predict(self, name: str, instances=None, inputs=None,
                signature_name: str | None = None, version: int | None = None,
                label: str | None = None) -> dict:
        """Runs a signature (``POST .../NAME...:predict``).

        Args:
            name: model name.
            instances: row format: a list with one value (or one
                ``{input: value}`` object) per example. Answer has
                ``predictions``.
            inputs: columnar format: one value or ``{input: batch}``.
                Answer has ``outputs``.
            signature_name: signature to run (default ``serving_default``).
            version: a specific version.
            label: a version label.

        Returns:
            The decoded JSON answer (``predictions`` or ``outputs``).

        Raises:
            ValueError: both or neither of ``instances`` / ``inputs``.
            ServingError: the server rejected the request.
        """
        if (instances is None) == (inputs is None):
            raise ValueError("Pass exactly one of instances (row format) or "
                             "inputs (columnar format).")
        body = {}
        if signature_name is not None:
            body["signature_name"] = signature_name
        if instances is not None:
            body["instances"] = list(instances)
        else:
            body["inputs"] = inputs
        return self.request("POST", _model_path(name, version, label) +
                            ":predict", body)

    def wait_until_available(self, name: str, version: int | None = None,
                             timeout: float = 30.0,
                             interval: float = 0.2) -> dict:
        """Polls :meth:`status` until a version is AVAILABLE.

        Args:
            name: model name.
            version: a specific version, or any.
            timeout: seconds before giving up.
            interval: seconds between polls.

        Returns:
            The status answer.

        Raises:
            ServingTimeoutError: not available within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                answer = self.status(name, version)
                if any(s.get("state") == "AVAILABLE"
                       for s in answer.get("model_version_status", [])):
                    return answer
                last = answer
            except ServingError as e:
                last = e
            if time.monotonic() >= deadline:
                raise ServingTimeoutError(
                    f"Model {name!r} not available after {timeout:g} s "
                    f"(last answer: {last})",
                    url=self.base_url + _model_path(name, version))
            time.sleep(interval)


def _error_message(raw: bytes, reason) -> str:
    try:
        payload = json.loads(raw.decode("utf-8"))
        if isinstance(payload, dict) and "error" in payload:
            return str(payload["error"])
    except (UnicodeDecodeError, ValueError):
        pass
    text = raw.decode("utf-8", "replace").strip()
    return text or str(reason)
