"""A local model server speaking TensorFlow Serving's REST API.

:func:`serve` runs the real ``tensorflow_model_server`` on a models directory
when the binary is on ``PATH`` and this module's :class:`LocalModelServer`
otherwise. Both answer the same REST API (see TF Serving's ``api_rest.md``),
so :class:`serving.client.ServingClient` and any TF Serving client work
against either:

=======  ==========================================================  =========
Method   Path                                                        Answer
=======  ==========================================================  =========
GET      /v1/models/NAME[/versions/V | /labels/L]                    status
GET      /v1/models/NAME[/versions/V | /labels/L]/metadata           metadata
POST     /v1/models/NAME[/versions/V | /labels/L]:predict            predict
POST     /v1/models/NAME[/versions/V | /labels/L]:(classify|regress) 501
=======  ==========================================================  =========

The server reads ``MODELS_DIR/models.config`` (see :mod:`serving.config`) for
model names, base paths, version policies and labels, and re-reads it and
rescans the version directories at most every ``poll_interval`` seconds
(checked when a request arrives), so new versions and config changes are
picked up without a restart. Subdirectories whose names are not integers are
ignored, like TF Serving does, so an export in progress can sit beside the
served versions. If the newest version fails to load, the previous one keeps
serving (TF Serving's availability-preserving behaviour) and the failure is
reported by the status API.

Errors are JSON ``{"error": "..."}`` with TF Serving's mapping of canonical
codes to HTTP statuses (INVALID_ARGUMENT/FAILED_PRECONDITION/OUT_OF_RANGE 400,
NOT_FOUND 404, UNIMPLEMENTED 501, INTERNAL/UNKNOWN 500, RESOURCE_EXHAUSTED
429, UNAVAILABLE 503), plus 413 for a body above ``max_body_bytes`` and 411
for chunked uploads.
"""

from __future__ import annotations

import base64
import binascii
import http.server
import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse

from serving import config as serving_config

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_SIGNATURE = "serving_default"
_PREDICT_METHOD = "tensorflow/serving/predict"

# TF Serving's route regexes (model_servers/http_rest_api_util.cc).
_PREDICT_RE = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?"
    r":(classify|regress|predict)", re.IGNORECASE)
_STATUS_RE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?"
    r"(?:/(metadata))?", re.IGNORECASE)
_VERSION_DIR_RE = re.compile(r"^[0-9]+$")

# Canonical error code -> HTTP status (model_servers/http_server.cc).
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}

__all__ = ["serve", "LocalModelServer", "RestApi", "ServingStatus",
           "HTTP_STATUS", "DEFAULT_MAX_BODY_BYTES"]


class ServingStatus(Exception):
    """An error with a canonical (gRPC) code, answered as JSON ``error``.

    Args:
        code: canonical code name, e.g. ``"INVALID_ARGUMENT"``.
        message: the error message sent to the client.
        http_status: overrides the HTTP status derived from ``code``.
    """

    def __init__(self, code: str, message: str, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status or HTTP_STATUS.get(code, 500)


def _invalid(message):
    return ServingStatus("INVALID_ARGUMENT", message)


# ---------------------------------------------------------------------------
# Loaded servables.
# ---------------------------------------------------------------------------


class _Signature:
    """One callable signature of a loaded SavedModel."""

    def __init__(self, name, fn):
        self.name = name
        self.fn = fn
        self.inputs = dict(fn.structured_input_signature[1])
        self.outputs = dict(fn.structured_outputs)


class _Servable:
    """A loaded SavedModel version."""

    def __init__(self, name, version, path, key):
        import tensorflow as tf

        self.name = name
        self.version = version
        self.path = path
        self.key = key
        self.obj = tf.saved_model.load(path)
        self.signatures = {
            sig_name: _Signature(sig_name, fn)
            for sig_name, fn in self.obj.signatures.items()}
        self._metadata = None

    def signature_def_json(self):
        """The SignatureDefMap as TF Serving's metadata API prints it."""
        if self._metadata is None:
            from google.protobuf import json_format
            from tensorflow.core.protobuf import saved_model_pb2
            from tensorflow_serving.apis import get_model_metadata_pb2

            saved_model = saved_model_pb2.SavedModel()
            with open(os.path.join(self.path, "saved_model.pb"), "rb") as f:
                saved_model.ParseFromString(f.read())
            sig_map = get_model_metadata_pb2.SignatureDefMap()
            for meta_graph in saved_model.meta_graphs:
                if "serve" in meta_graph.meta_info_def.tags:
                    for k, v in meta_graph.signature_def.items():
                        sig_map.signature_def[k].CopyFrom(v)
                    break
            self._metadata = json_format.MessageToDict(
                sig_map, always_print_fields_with_no_presence=True,
                preserving_proto_field_name=True)
        return self._metadata


def _dir_key(path):
    st = os.stat(path)
    return (path, st.st_ino, st.st_mtime_ns)


def _scan_versions(base_path):
    """``{version: (path, key)}`` for integer subdirectories with a model."""
    found = {}
    try:
        names = os.listdir(base_path)
    except OSError:
        return found
    for entry in names:
        if not _VERSION_DIR_RE.match(entry):
            continue
        path = os.path.join(base_path, entry)
        if not (os.path.isfile(os.path.join(path, "saved_model.pb")) or
                os.path.isfile(os.path.join(path, "saved_model.pbtxt"))):
            continue
        try:
            found[int(entry)] = (path, _dir_key(path))
        except OSError:
            continue
    return found


class ModelRegistry:
    """Models, versions and loaded servables of a models directory.

    Args:
        models_dir: the directory holding ``models.config``.
        poll_interval: minimum seconds between rescans (0: every request).
    """

    def __init__(self, models_dir, poll_interval: float = 1.0):
        self.models_dir = os.path.abspath(os.fspath(models_dir))
        self.config_path = os.path.join(self.models_dir,
                                        serving_config.MODELS_CONFIG)
        self.poll_interval = float(poll_interval)
        self.config_error = None
        self._lock = threading.RLock()
        self._last_check = None
        self._config_sig = ()
        self._models = {}
        self._versions = {}
        self._loaded = {}   # name -> {version: _Servable}
        self._failed = {}   # dir key -> error message

    # -- scanning ----------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Re-reads models.config and rescans versions if due."""
        now = time.monotonic()
        with self._lock:
            if (not force and self._last_check is not None and
                    now - self._last_check < self.poll_interval):
                return
            self._last_check = now
            try:
                st = os.stat(self.config_path)
                sig = (st.st_ino, st.st_mtime_ns, st.st_size)
            except FileNotFoundError:
                sig = None
            if sig != self._config_sig:
                self._config_sig = sig
                if sig is None:
                    self._models, self.config_error = {}, None
                else:
                    try:
                        self._models = serving_config.model_entries(
                            self.config_path)
                        self.config_error = None
                    except (serving_config.ConfigError, OSError) as e:
                        # Keep serving the last good config, like TF Serving.
                        self.config_error = str(e)
                        logger.error("Keeping the previous model config: %s",
                                     e)
            self._versions = {name: _scan_versions(mc.base_path)
                              for name, mc in self._models.items()}
            for name in list(self._loaded):
                if name not in self._models:
                    del self._loaded[name]

    def model_names(self):
        with self._lock:
            return sorted(self._models)

    # -- resolution --------------------------------------------------------

    @staticmethod
    def _apply_policy(model_config, versions):
        versions = sorted(versions)
        policy = model_config.model_version_policy
        kind = policy.WhichOneof("policy_choice")
        if kind == "all":
            return versions
        if kind == "specific":
            wanted = set(policy.specific.versions)
            return [v for v in versions if v in wanted]
        n = policy.latest.num_versions if kind == "latest" else 1
        return versions[-max(n, 1):] if versions else []

    def _served(self, name):
        """Loads and returns ``({version: servable}, {version: error})``."""
        model_config = self._models[name]
        disk = self._versions.get(name, {})
        loaded = self._loaded.setdefault(name, {})
        while True:
            usable = [v for v, (_, key) in disk.items()
                      if key not in self._failed]
            wanted = self._apply_policy(model_config, usable)
            retry = False
            for v in wanted:
                path, key = disk[v]
                current = loaded.get(v)
                if current is not None and current.key == key:
                    continue
                try:
                    logger.info("Loading %s version %d from %s", name, v, path)
                    loaded[v] = _Servable(name, v, path, key)
                except Exception as e:  # noqa: BLE001 - report, keep serving
                    logger.error("Failed to load %s version %d: %s",
                                 name, v, e)
                    self._failed[key] = f"{type(e).__name__}: {e}"
                    loaded.pop(v, None)
                    retry = True
                    break
            if not retry:
                break
        for v in list(loaded):
            if v not in wanted:
                logger.info("Unloading %s version %d", name, v)
                del loaded[v]
        failed = {v: self._failed[key] for v, (_, key) in disk.items()
                  if key in self._failed}
        return {v: loaded[v] for v in wanted}, failed

    def _label_version(self, name, label):
        version = self._models[name].version_labels.get(label)
        if version is None:
            raise _invalid(f"Unrecognized servable version label: {label}")
        return version

    def resolve(self, name, version=None, label=None) -> _Servable:
        """Finds the servable for a request.

        Args:
            name: model name.
            version: a specific version, or None.
            label: a version label, or None.

        Raises:
            ServingStatus: NOT_FOUND for an unknown model or version,
                INVALID_ARGUMENT for an unknown label.
        """
        self.refresh()
        with self._lock:
            if name not in self._models:
                raise ServingStatus(
                    "NOT_FOUND", f"Servable not found for request: "
                    f"{_spec_str(name, version, label)}")
            if label is not None:
                version = self._label_version(name, label)
            served, failed = self._served(name)
            if version is None:
                if served:
                    return served[max(served)]
            elif version in served:
                return served[version]
            message = ("Servable not found for request: "
                       f"{_spec_str(name, version, label)}")
            if version in failed:
                message += f" (version failed to load: {failed[version]})"
            raise ServingStatus("NOT_FOUND", message)

    def status(self, name, version=None, label=None) -> dict:
        """The GetModelStatusResponse JSON for a model (all/one version)."""
        self.refresh()
        with self._lock:
            if name not in self._models:
                raise ServingStatus(
                    "NOT_FOUND", f"Could not find any versions of model {name}")
            if label is not None:
                version = self._label_version(name, label)
            served, failed = self._served(name)
            entries = {v: ("AVAILABLE", "OK", "") for v in served}
            for v, message in failed.items():
                entries.setdefault(v, ("END", "UNKNOWN", message))
            if version is not None:
                if version not in entries:
                    raise ServingStatus(
                        "NOT_FOUND",
                        f"Could not find version {version} of model {name}")
                entries = {version: entries[version]}
            if not entries:
                raise ServingStatus(
                    "NOT_FOUND", f"Could not find any versions of model {name}")
            return {"model_version_status": [
                {"version": str(v), "state": state,
                 "status": {"error_code": code, "error_message": message}}
                for v, (state, code, message) in sorted(entries.items())]}


def _spec_str(name, version, label):
    if label is not None:
        return f"Label({name}, {label})"
    if version is not None:
        return f"Specific({name}, {version})"
    return f"Latest({name})"


# ---------------------------------------------------------------------------
# JSON <-> tensors.
# ---------------------------------------------------------------------------


def _json_shape(value, where):
    """Shape of a nested JSON list; raises if ragged."""
    if isinstance(value, list):
        if not value:
            return (0,)
        inner = _json_shape(value[0], where)
        for item in value[1:]:
            if _json_shape(item, where) != inner:
                raise _invalid(
                    f"{where}: nested lists have different lengths "
                    "(ragged tensors are not supported).")
        return (len(value),) + inner
    return ()


def _leaf_converter(dtype, where):
    """A function converting one JSON leaf to a value of ``dtype``."""
    import numpy as np

    type_name = dtype.name

    def fail(value):
        shown = json.dumps(value)[:80] if not isinstance(value, bytes) else \
            repr(value)[:80]
        raise _invalid(
            f"{where}: JSON value {shown} is not of expected type: "
            f"{type_name}")

    if dtype.name == "string":
        def convert(value):
            if isinstance(value, str):
                return value.encode("utf-8")
            if isinstance(value, dict) and set(value) == {"b64"} and \
                    isinstance(value["b64"], str):
                try:
                    return base64.b64decode(value["b64"], validate=True)
                except (binascii.Error, ValueError) as e:
                    raise _invalid(
                        f"{where}: unable to base64 decode {{\"b64\": ...}} "
                        f"value: {e}") from None
            fail(value)
        return convert
    if dtype.is_bool:
        def convert(value):
            if isinstance(value, bool):
                return value
            fail(value)
        return convert
    if dtype.is_integer:
        info = np.iinfo(dtype.as_numpy_dtype)

        def convert(value):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                fail(value)
            if not info.min <= value <= info.max:
                raise _invalid(
                    f"{where}: value {value} is out of range for "
                    f"{type_name}")
            return value
        return convert
    if dtype.is_floating:
        def convert(value):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                fail(value)
            return float(value)
        return convert
    raise ServingStatus(
        "UNIMPLEMENTED", f"{where}: input dtype {type_name} is not supported "
        "by the REST API")


def _to_tensor(value, spec, where):
    """Converts a JSON value to a tensor matching ``spec`` (a TensorSpec)."""
    import numpy as np
    import tensorflow as tf

    shape = _json_shape(value, where)
    convert = _leaf_converter(spec.dtype, where)

    flat = []

    def walk(v):
        if isinstance(v, list):
            for x in v:
                walk(x)
        else:
            flat.append(convert(v))

    walk(value)
    if spec.dtype == tf.string:
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
    else:
        array = np.asarray(flat, dtype=spec.dtype.as_numpy_dtype)
    array = array.reshape(shape)
    if not spec.shape.is_compatible_with(array.shape):
        raise _invalid(
            f"{where}: shape {list(array.shape)} is incompatible with the "
            f"signature's shape {spec.shape.as_list() if spec.shape.rank is not None else 'unknown'}")
    return tf.constant(array, dtype=spec.dtype)


def _is_b64(value):
    return isinstance(value, dict) and set(value) == {"b64"}


def _inputs_from_request(body, signature):
    """Builds ``{input name: tensor}`` and the format ("row"/"columnar")."""
    specs = signature.inputs
    has_instances = "instances" in body
    has_inputs = "inputs" in body
    if has_instances and has_inputs:
        raise _invalid("Not formatted correctly expecting only one of 'inputs' "
                       "or 'instances' keys exists")
    if not has_instances and not has_inputs:
        raise _invalid("Missing 'inputs' or 'instances' key")

    if has_instances:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise _invalid("'instances' must be a non-empty JSON list")
        columns = {}
        named = all(isinstance(x, dict) and not _is_b64(x) for x in instances)
        if named:
            for i, instance in enumerate(instances):
                if set(instance) != set(specs):
                    raise _invalid(
                        f"instances[{i}] has keys {sorted(instance)} but "
                        f"signature '{signature.name}' expects inputs "
                        f"{sorted(specs)}")
                for k, v in instance.items():
                    columns.setdefault(k, []).append(v)
        elif len(specs) == 1:
            columns[next(iter(specs))] = instances
        else:
            raise _invalid(
                f"signature '{signature.name}' has {len(specs)} inputs "
                f"{sorted(specs)}: each of 'instances' must be a JSON object "
                "naming them")
        return {k: _to_tensor(v, specs[k], f"input '{k}'")
                for k, v in columns.items()}, "row"

    inputs = body["inputs"]
    if isinstance(inputs, dict) and not _is_b64(inputs):
        if set(inputs) != set(specs):
            raise _invalid(
                f"'inputs' has keys {sorted(inputs)} but signature "
                f"'{signature.name}' expects inputs {sorted(specs)}")
    elif len(specs) == 1:
        inputs = {next(iter(specs)): inputs}
    else:
        raise _invalid(
            f"signature '{signature.name}' has {len(specs)} inputs "
            f"{sorted(specs)}: 'inputs' must be a JSON object naming them")
    return {k: _to_tensor(v, specs[k], f"input '{k}'")
            for k, v in inputs.items()}, "columnar"


def _to_json_value(name, array):
    """A numpy array (or scalar) as JSON-ready nested lists."""
    import numpy as np

    binary = name.endswith("_bytes")
    if array.dtype == object or array.dtype.kind in "SU":
        def enc(b):
            if isinstance(b, str):
                b = b.encode("utf-8")
            if not binary:
                try:
                    return b.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            return {"b64": base64.b64encode(b).decode("ascii")}
        return np.vectorize(enc, otypes=[object])(array).tolist() \
            if array.ndim else enc(array.item())
    if array.dtype.kind in "biuf":
        return array.tolist()
    raise ServingStatus(
        "UNIMPLEMENTED",
        f"output '{name}' has dtype {array.dtype} which the REST API cannot "
        "encode")


def _outputs_to_json(outputs, fmt):
    arrays = {k: v.numpy() for k, v in outputs.items()}
    if fmt == "columnar":
        values = {k: _to_json_value(k, a) for k, a in arrays.items()}
        if len(values) == 1:
            return {"outputs": next(iter(values.values()))}
        return {"outputs": values}
    batch = {k: (a.shape[0] if a.ndim else None) for k, a in arrays.items()}
    sizes = set(batch.values())
    if None in sizes or len(sizes) != 1:
        raise _invalid(
            "Output tensors do not share the same 0th dimension "
            f"({batch}), which the row ('instances') format needs; use the "
            "columnar ('inputs') format")
    values = {k: _to_json_value(k, a) for k, a in arrays.items()}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    n = sizes.pop()
    return {"predictions": [{k: values[k][i] for k in values}
                            for i in range(n)]}


# ---------------------------------------------------------------------------
# The REST API, independent of the HTTP transport.
# ---------------------------------------------------------------------------


class RestApi:
    """TF Serving's REST API over a :class:`ModelRegistry`.

    Args:
        registry: the models to serve.
    """

    def __init__(self, registry: ModelRegistry):
        self.registry = registry

    def handle(self, method: str, path: str, body: bytes):
        """Answers one request.

        Args:
            method: HTTP method.
            path: URL path (query string ignored).
            body: request body bytes.

        Returns:
            ``(http_status, json_object)``.
        """
        try:
            return 200, self._route(method, path.split("?", 1)[0], body)
        except ServingStatus as e:
            return e.http_status, {"error": e.message}
        except Exception as e:  # noqa: BLE001 - never kill the server
            logger.exception("Internal error on %s %s", method, path)
            return 500, {"error": f"Internal error: {type(e).__name__}: {e}"}

    def _route(self, method, path, body):
        if not path.lower().startswith("/v1/") and path.lower() != "/v1":
            # TF Serving only dispatches /v1/...; anything else is a 404.
            raise ServingStatus("NOT_FOUND", f"Not found: {method} {path}")
        malformed = _invalid(f"Malformed request: {method} {path}")
        if method == "POST":
            m = _PREDICT_RE.fullmatch(path)
            if not m:
                raise malformed
            name, version, label = _parse_model_info(*m.groups()[:3])
            verb = m.group(4).lower()
            if verb != "predict":
                raise ServingStatus(
                    "UNIMPLEMENTED",
                    f"The local model server does not implement :{verb} "
                    "(tf.Example based); use :predict, or run "
                    "tensorflow_model_server")
            return self._predict(name, version, label, body)
        if method == "GET":
            m = _STATUS_RE.fullmatch(path)
            if not m:
                raise malformed
            if not m.group(1):
                raise _invalid("Missing model name in request.")
            name, version, label = _parse_model_info(*m.groups()[:3])
            if m.group(4):
                return self._metadata(name, version, label)
            return self.registry.status(name, version, label)
        raise malformed

    def _metadata(self, name, version, label):
        servable = self.registry.resolve(name, version, label)
        return {
            "model_spec": {"name": name, "signature_name": "",
                           "version": str(servable.version)},
            "metadata": {"signature_def": servable.signature_def_json()},
        }

    def _predict(self, name, version, label, body):
        import tensorflow as tf

        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _invalid(f"JSON Parse error: body is not UTF-8: {e}") from None
        if not text.strip():
            raise _invalid("JSON Parse error: The document is empty")
        try:
            request = json.loads(text)
        except ValueError as e:
            raise _invalid(f"JSON Parse error: {e}") from None
        if not isinstance(request, dict):
            raise _invalid("JSON Parse error: request body must be a JSON "
                           "object")
        sig_name = request.get("signature_name", DEFAULT_SIGNATURE)
        if not isinstance(sig_name, str):
            raise _invalid("'signature_name' key must be a string value.")
        sig_name = sig_name or DEFAULT_SIGNATURE

        servable = self.registry.resolve(name, version, label)
        signature = servable.signatures.get(sig_name)
        if signature is None:
            raise _invalid(f'Serving signature name: "{sig_name}" not found '
                           "in signature def")
        tensors, fmt = _inputs_from_request(request, signature)
        try:
            outputs = signature.fn(**tensors)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
            raise _invalid(_short_error(e)) from None
        except tf.errors.OpError as e:
            raise ServingStatus("INTERNAL", _short_error(e)) from None
        return _outputs_to_json(outputs, fmt)


def _short_error(e):
    message = getattr(e, "message", None) or str(e)
    return message.strip().splitlines()[0][:2000] if message.strip() else \
        type(e).__name__


def _parse_model_info(name, version, label):
    name = urllib.parse.unquote(name)
    if label is not None:
        label = urllib.parse.unquote(label)
    if version is not None:
        v = int(version)
        if v >= 2 ** 63:
            raise _invalid(f"Failed to convert version: {version} to numeric.")
        version = v
    return name, version, label


# ---------------------------------------------------------------------------
# HTTP transport.
# ---------------------------------------------------------------------------


class _HttpError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "RNNZooModelServer/0.1"
    # Small JSON answers: send them at once (TCP_NODELAY) rather than letting
    # Nagle's algorithm hold the last segment back.
    disable_nagle_algorithm = True

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise _HttpError(411, "Chunked request bodies are not supported; "
                                  "send a Content-Length")
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
            if length < 0:
                raise ValueError(raw)
        except ValueError:
            raise _HttpError(400, f"Invalid Content-Length: {raw!r}") from None
        limit = self.server.max_body_bytes
        if length > limit:
            self._drain(length)
            raise _HttpError(
                413, f"Request body of {length} bytes exceeds the limit of "
                     f"{limit} bytes")
        body = self.rfile.read(length)
        if len(body) != length:
            raise _HttpError(400, "Request body shorter than Content-Length")
        return body

    def _drain(self, length):
        # Read (and drop) a modest oversized body so the client gets the 413
        # instead of a connection reset; give up on huge ones.
        self.close_connection = True
        if length > 4 * self.server.max_body_bytes + (1 << 20):
            return
        remaining = length
        try:
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 16))
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:
            pass

    def _dispatch(self):
        method = self.command
        try:
            body = self._read_body()
            status, payload = self.server.api.handle(method, self.path, body)
        except _HttpError as e:
            status, payload = e.status, {"error": e.message}
        except Exception as e:  # noqa: BLE001
            logger.exception("Error while handling %s %s", method, self.path)
            status, payload = 500, {"error": f"Internal error: {e}"}
        self._send_json(status, payload)

    def _send_json(self, status, payload):
        data = json.dumps(payload, allow_nan=True, ensure_ascii=False,
                          indent=None).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.close_connection = True
        # Headers and body leave in one write (one segment for small answers).
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(data)
        self.flush_headers()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = \
        do_OPTIONS = _dispatch

    def send_error(self, code, message=None, explain=None):
        # Malformed HTTP (bad request line, oversized headers, ...): JSON too.
        if not str(getattr(self, "request_version", "")).startswith("HTTP/1."):
            self.request_version = "HTTP/1.0"  # always send a status line
        try:
            self._send_json(code, {"error": message or self.responses.get(
                code, ("Error",))[0]})
        except OSError:
            pass

    def log_message(self, fmt, *args):
        logger.debug("%s - " + fmt, self.address_string(), *args)


class _ThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # stop() waits for in-flight requests
    allow_reuse_address = True


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
        handler = type("Handler", (_Handler,), {"timeout": request_timeout})
        self._httpd = _ThreadingServer((host, port), handler)
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
