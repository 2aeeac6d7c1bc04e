"""A client for TensorFlow Serving's REST and gRPC APIs.

Works against ``tensorflow_model_server`` and against
:class:`serving.server.LocalModelServer` alike. Over REST only ``urllib``
and ``json`` are used, so it runs anywhere (no TensorFlow needed). With
``grpc_target`` the same calls go over TF Serving's gRPC API
(``PredictionService``/``ModelService`` stubs of tensorflow-serving-api,
tensors built with ``tf.make_tensor_proto``) and return the same JSON-shaped
answers as REST.

Example:
    >>> client = ServingClient("http://127.0.0.1:8501")  # doctest: +SKIP
    >>> client.predict("sentiment", instances=["great film"])  # doctest: +SKIP
    {'predictions': [{'label': 'positive', ...}]}
    >>> fast = ServingClient(grpc_target="127.0.0.1:8500")  # doctest: +SKIP
    >>> fast.predict("sentiment", instances=["great film"])  # doctest: +SKIP
    {'predictions': [{'label': 'positive', ...}]}
"""

from __future__ import annotations

import base64
import http.client
import json
import operator
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

__all__ = ["ServingClient", "ServingError", "ServingConnectionError",
           "ServingTimeoutError", "b64"]


class ServingError(Exception):
    """The server answered with an HTTP error.

    Attributes:
        status_code: the HTTP status (None for connection problems; over
            gRPC, the HTTP status TF Serving gives the same code).
        message: the server's ``error`` message (or the reason).
        url: the requested URL (``grpc://HOST:PORT/NAME`` over gRPC).
        grpc_code: the gRPC status code's name over gRPC, else None.
    """

    def __init__(self, message: str, status_code: int | None = None,
                 url: str | None = None, grpc_code: str | None = None):
        if grpc_code is not None:
            text = f"gRPC {grpc_code} from {url}: {message}"
        elif status_code is not None:
            text = f"HTTP {status_code} from {url}: {message}"
        else:
            text = f"{message} ({url})"
        super().__init__(text)
        self.status_code = status_code
        self.message = message
        self.url = url
        self.grpc_code = grpc_code


# The longest client timeout, in seconds (about 11.6 days): sockets refuse
# timeouts past about 9.2e9 s, and no answer is worth waiting longer.
MAX_TIMEOUT = 1e6


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


def _version(version):
    """`version` as an int >= 0: an integer or a string of digits. A float
    such as 1.9 is refused rather than truncated to another version."""
    number = None
    if isinstance(version, str):
        if version.isdigit():
            number = int(version)
    elif not isinstance(version, bool):
        try:
            number = operator.index(version)
        except TypeError:
            pass
    if number is None or number < 0:
        raise ValueError("Invalid model version: expected an integer >= 0. "
                         f"Received: version={version!r}")
    return number


def _instances(instances) -> list:
    """The row-format instances as a list. A string or a mapping is refused:
    `list()` would split a text into characters, or a dict into its keys."""
    if isinstance(instances, (str, bytes, bytearray, Mapping)):
        raise ValueError(
            "instances must be a list of instances (one text is "
            f"[text]). Received: instances={instances!r:.80}")
    return list(instances)


def _model_path(name, version=None, label=None):
    if version is not None and label is not None:
        raise ValueError("Pass either version or label, not both.")
    path = "/v1/models/" + urllib.parse.quote(str(name), safe="")
    if version is not None:
        path += f"/versions/{_version(version)}"
    elif label is not None:
        path += "/labels/" + urllib.parse.quote(str(label), safe="")
    return path


class ServingClient:
    """Client for TF Serving's REST API (status, metadata, predict).

    Args:
        base_url: e.g. ``"http://127.0.0.1:8501"``; overrides host/port.
        host: server host when ``base_url`` is not given.
        port: REST port when ``base_url`` is not given.
        timeout: seconds to wait for connect and for the answer (> 0, at
            most `MAX_TIMEOUT`, 1e6).
        grpc_target: ``"HOST:PORT"`` of the gRPC API (TF Serving's 8500):
            `status`, `metadata` and `predict` then use gRPC (needs
            TensorFlow and tensorflow-serving-api).
    """

    def __init__(self, base_url: str | None = None, *, host: str = "127.0.0.1",
                 port: int = 8501, timeout: float = 30.0,
                 grpc_target: str | None = None):
        if base_url is None:
            if ":" in host and not host.startswith("["):   # IPv6
                host = f"[{host}]"
            base_url = f"http://{host}:{int(port)}"
        if "://" not in base_url:
            base_url = "http://" + base_url
        self.base_url = base_url.rstrip("/")
        if (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                or not 0 < timeout <= MAX_TIMEOUT):
            raise ValueError(
                f"`timeout` must be a number of seconds > 0 and <= "
                f"{MAX_TIMEOUT:g}. Received: timeout={timeout!r}")
        self.timeout = float(timeout)
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}))  # loopback must skip proxies
        self.grpc_target = None
        self._grpc = None
        if grpc_target is not None:
            target = str(grpc_target)
            if "://" in target:
                target = target.split("://", 1)[1]
            if ":" not in target or not target.rsplit(":", 1)[1].isdigit():
                raise ValueError("grpc_target must be HOST:PORT. Received: "
                                 f"grpc_target={grpc_target!r}")
            self.grpc_target = target
            self._grpc = _GrpcTransport(target, self.timeout)

    def __repr__(self):
        if self.grpc_target is not None:
            return (f"ServingClient(grpc_target={self.grpc_target!r}, "
                    f"timeout={self.timeout})")
        return f"ServingClient({self.base_url!r}, timeout={self.timeout})"

    def close(self) -> None:
        """Closes the gRPC channel (nothing to close over REST)."""
        if self._grpc is not None:
            self._grpc.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

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
        except http.client.HTTPException as e:
            # not an HTTP/1.x answer (a gRPC or TLS port) or a cut-short one
            raise ServingConnectionError(
                f"{self.base_url} did not answer as an HTTP/1.1 model server "
                f"(is it the REST port, over http://?): {type(e).__name__}: "
                f"{str(e)[:200]}", url=url) from e
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
        if self._grpc is not None:
            return self._grpc.status(name, version, label)
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
        if self._grpc is not None:
            return self._grpc.metadata(name, version, label)
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
            ValueError: both or neither of ``instances`` / ``inputs``;
                ``instances`` a string or a mapping, not a list; a version
                that is not an integer >= 0.
            ServingError: the server rejected the request.
        """
        if (instances is None) == (inputs is None):
            raise ValueError("Pass exactly one of instances (row format) or "
                             "inputs (columnar format).")
        if self._grpc is not None:
            _model_path(name, version, label)          # checks the spec
            if instances is not None:
                instances = _instances(instances)
            return self._grpc.predict(name, version, label, signature_name,
                                      instances=instances, inputs=inputs)
        body = {}
        if signature_name is not None:
            body["signature_name"] = signature_name
        if instances is not None:
            body["instances"] = _instances(instances)
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


class _Signature:
    """A signature's name and input specs, read from its ``SignatureDef``."""

    def __init__(self, name, signature_def):
        import tensorflow as tf

        self.name = name
        self.inputs = {
            key: tf.TensorSpec(
                None if info.tensor_shape.unknown_rank else
                [d.size if d.size >= 0 else None
                 for d in info.tensor_shape.dim],
                tf.dtypes.as_dtype(info.dtype), key)
            for key, info in signature_def.inputs.items()}


class _GrpcTransport:
    """`ServingClient`'s calls over TF Serving's gRPC API."""

    def __init__(self, target, timeout):
        import grpc
        from tensorflow_serving.apis import (model_service_pb2_grpc,
                                             prediction_service_pb2_grpc)

        self.target = target
        self.timeout = timeout
        self._channel = grpc.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.max_send_message_length", 64 * 1024 * 1024)])
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(
            self._channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._signatures = {}

    def close(self):
        self._channel.close()

    def _url(self, name):
        return f"grpc://{self.target}/{name}"

    def _call(self, method, request, name):
        import grpc

        from serving.server.errors import HTTP_STATUS

        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as e:
            code = e.code()
            details = e.details() or code.name
            url = self._url(name)
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ServingTimeoutError(
                    f"Timed out after {self.timeout:g} s waiting for the "
                    f"model server: {details}", url=url) from None
            if code == grpc.StatusCode.UNAVAILABLE and (
                    "connect" in details.lower() or
                    "unavailable" in details.lower()):
                raise ServingConnectionError(
                    f"Cannot reach the model server at {self.target}: "
                    f"{details}", url=url) from None
            raise ServingError(details, HTTP_STATUS.get(code.name, 500), url,
                               grpc_code=code.name) from None

    @staticmethod
    def _spec(spec, name, version, label):
        spec.name = str(name)
        if version is not None:
            spec.version.value = _version(version)
        elif label is not None:
            spec.version_label = str(label)

    def status(self, name, version=None, label=None):
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, name, version, label)
        response = self._call(self.models.GetModelStatus, request, name)
        return json_format.MessageToDict(
            response, always_print_fields_with_no_presence=True,
            preserving_proto_field_name=True)

    def _metadata(self, name, version, label):
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest()
        self._spec(request.model_spec, name, version, label)
        request.metadata_field.append("signature_def")
        response = self._call(self.prediction.GetModelMetadata, request,
                              name)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        return response, sig_map

    def metadata(self, name, version=None, label=None):
        from google.protobuf import json_format

        response, sig_map = self._metadata(name, version, label)
        return {
            "model_spec": {"name": response.model_spec.name,
                           "signature_name": "",
                           "version": str(response.model_spec.version.value)},
            "metadata": {"signature_def": json_format.MessageToDict(
                sig_map, always_print_fields_with_no_presence=True,
                preserving_proto_field_name=True)},
        }

    def _signature(self, name, version, label, signature_name):
        key = (name, version, label, signature_name)
        if key not in self._signatures:
            _, sig_map = self._metadata(name, version, label)
            sig_def = sig_map.signature_def.get(signature_name)
            if sig_def is None:
                # What the server's gRPC Predict answers (TF Serving's too).
                raise ServingError(
                    f'Serving signature key "{signature_name}" not found. '
                    f"Received: signature_name {signature_name!r}; the model "
                    f"has {sorted(sig_map.signature_def)}", 400,
                    self._url(name), grpc_code="FAILED_PRECONDITION")
            self._signatures[key] = _Signature(signature_name, sig_def)
        return self._signatures[key]

    def predict(self, name, version, label, signature_name, *, instances,
                inputs):
        """Runs a signature over gRPC; the answer REST would give.

        The signature's input dtypes and shapes (read once with
        GetModelMetadata, then cached) turn the REST body's ``instances``
        or ``inputs`` into TensorProtos, as the server's REST codec would.

        Returns:
            ``{"predictions": ...}`` or ``{"outputs": ...}``.

        Raises:
            ServingError: the server (or the codec) rejected the request.
        """
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        from serving.server import codec
        from serving.server.errors import ServingStatus

        signature_name = signature_name or "serving_default"
        sig_key = (name, version, label, signature_name)
        body = ({"instances": _instances(instances)} if instances is not None
                else {"inputs": inputs})
        # a cached signature may be an earlier version's: on a refusal,
        # read it again once
        for fresh in ((False, True) if sig_key in self._signatures
                      else (True,)):
            if fresh:
                self._signatures.pop(sig_key, None)
            signature = self._signature(*sig_key)
            try:
                arrays, fmt = codec.inputs_from_request(body, signature)
                break
            except ServingStatus as e:
                error = e
        else:
            raise ServingError(
                f"{error.message} (checked in the client against the "
                "signature's metadata)", error.http_status,
                self._url(name), grpc_code=error.code) from None
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, name, version, label)
        request.model_spec.signature_name = signature_name
        for input_name, array in arrays.items():
            request.inputs[input_name].CopyFrom(tf.make_tensor_proto(
                array, dtype=signature.inputs[input_name].dtype))
        try:
            response = self._call(self.prediction.Predict, request, name)
        except ServingError as e:
            if e.grpc_code in ("INVALID_ARGUMENT", "FAILED_PRECONDITION"):
                # The signature may have changed with a newly loaded
                # version: read it again next time.
                self._signatures.pop(sig_key, None)
            raise
        outputs = {}
        for key, proto in response.outputs.items():
            value = tf.make_ndarray(proto)
            if value.dtype.kind == "S":
                value = value.astype(object)
            outputs[key] = value
        return codec.outputs_to_json(outputs, fmt)
