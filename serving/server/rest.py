"""TF Serving's REST API over a `ModelRegistry`, apart from the transport.

    GET  /v1/models/NAME[/versions/V | /labels/L]             status
    GET  /v1/models/NAME[/versions/V | /labels/L]/metadata    metadata
    POST /v1/models/NAME[/versions/V | /labels/L]:predict     predict
    POST /v1/models/NAME...:(classify|regress)                501
    GET  /monitoring/prometheus/metrics (the monitoring path)  metrics

Requests go through the transport-neutral `service.PredictionService`,
which the gRPC API (`grpc_api`) shares.
"""

from __future__ import annotations

import json
import logging
import math
import re
import urllib.parse

from serving.server import codec
from serving.server.errors import ServingStatus, invalid
from serving.server.registry import ModelRegistry
from serving.server.service import DEFAULT_SIGNATURE, PredictionService

logger = logging.getLogger(__name__)

# TF Serving's route regexes (model_servers/http_rest_api_util.cc).
_PREDICT_RE = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?"
    r":(classify|regress|predict)", re.IGNORECASE)
_STATUS_RE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?"
    r"(?:/(metadata))?", re.IGNORECASE)


class RawBody:
    """A non-JSON answer (the Prometheus text format)."""

    def __init__(self, data: bytes, content_type: str):
        self.data = data
        self.content_type = content_type


class RestApi:
    """TF Serving's REST API over a :class:`PredictionService`.

    Args:
        service: the `PredictionService` (or a `ModelRegistry`, served
            without batching or metrics).
        metrics_path: the path of the Prometheus metrics page, or None when
            monitoring is off (TF Serving's ``--monitoring_config_file``).
    """

    def __init__(self, service, metrics_path: str | None = None):
        if isinstance(service, ModelRegistry):
            service = PredictionService(service)
        self.service = service
        self.registry = service.registry
        self.metrics_path = metrics_path

    def handle(self, method: str, path: str, body: bytes):
        """Answers one request.

        Args:
            method: HTTP method.
            path: URL path (query string ignored).
            body: request body bytes.

        Returns:
            ``(http_status, json_object)``, or ``(http_status, RawBody)``
            for the metrics page.
        """
        path = path.split("?", 1)[0]
        if (self.metrics_path is not None and method in ("GET", "HEAD")
                and path == self.metrics_path
                and self.service.metrics is not None):
            data, content_type = self.service.metrics.render()
            return 200, RawBody(data, content_type)
        try:
            return 200, self._route(method, path, body)
        except ServingStatus as e:
            return e.http_status, {"error": e.message}
        except Exception as e:  # noqa: BLE001 - never kill the server
            logger.exception("Internal error on %s %s", method, path)
            return 500, {"error": f"Internal error: {type(e).__name__}: {e}"}

    def _route(self, method, path, body):
        if not path.lower().startswith("/v1/") and path.lower() != "/v1":
            # TF Serving only dispatches /v1/...; anything else is a 404.
            raise ServingStatus("NOT_FOUND", f"Not found: {method} {path}")
        malformed = invalid(f"Malformed request: {method} {path}")
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
            with self.service.observe("predict", "REST", name) as record:
                return self._predict(name, version, label, body, record)
        if method == "GET":
            m = _STATUS_RE.fullmatch(path)
            if not m:
                raise malformed
            if not m.group(1):
                raise invalid("Missing model name in request.")
            name, version, label = _parse_model_info(*m.groups()[:3])
            if m.group(4):
                with self.service.observe("GetModelMetadata", "REST", name):
                    return self._metadata(name, version, label)
            with self.service.observe("GetModelStatus", "REST", name):
                return self.service.status(name, version, label)
        raise malformed

    def _metadata(self, name, version, label):
        servable = self.service.resolve(name, version, label)
        return {
            "model_spec": {"name": name, "signature_name": "",
                           "version": str(servable.version)},
            "metadata": {"signature_def": servable.signature_def_json()},
        }

    def _predict(self, name, version, label, body, record):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise invalid(f"JSON Parse error: body is not UTF-8: {e}") from None
        if not text.strip():
            raise invalid("JSON Parse error: The document is empty")
        try:
            request = json.loads(text, parse_float=_finite_float)
        except RecursionError:
            raise invalid("JSON Parse error: the document is nested too "
                          "deeply") from None
        except ValueError as e:
            raise invalid(f"JSON Parse error: {e}") from None
        if _SURROGATE_ESCAPE.search(text) and not _is_unicode(request):
            # rapidjson (TF Serving) refuses the whole document
            raise invalid("JSON Parse error: The surrogate pair in string is "
                          "invalid.")
        if not isinstance(request, dict):
            raise invalid("JSON Parse error: request body must be a JSON "
                          f"object. Received: a JSON {_json_kind(request)}")
        sig_name = request.get("signature_name", DEFAULT_SIGNATURE)
        if not isinstance(sig_name, str):
            raise invalid("'signature_name' key must be a string value.")

        servable = self.service.resolve(name, version, label)
        record.version = servable.version
        signature = self.service.signature(servable, sig_name)
        record.signature = signature.name
        try:
            arrays, fmt = codec.inputs_from_request(request, signature)
        except RecursionError:
            raise invalid("Request inputs are nested too deeply") from None
        outputs = self.service.run(servable, signature, arrays)
        return codec.outputs_to_json(outputs, fmt)


def _finite_float(literal):
    """A JSON number with a fraction or exponent, as a float; one beyond a
    double's range (`1e400`) is a parse error, as in TF Serving's parser,
    not infinity (`NaN` and `Infinity` are constants, parsed elsewhere)."""
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"Number too big to be stored in double: {literal[:40]}")
    return value


def _json_kind(value):
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


# a JSON escape of a UTF-16 surrogate, paired or not
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _is_unicode(document):
    """False for a parsed JSON document holding a lone surrogate (a
    `"\\ud800"` escape without its pair) in any string or key."""
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse_model_info(name, version, label):
    name = urllib.parse.unquote(name)
    if label is not None:
        label = urllib.parse.unquote(label)
    if version is not None:
        # (more digits than an int64 holds are refused before int(), which
        # refuses strings of over 4,300 digits with a ValueError)
        digits = version.lstrip("0") or "0"
        if len(digits) > 19 or int(digits) >= 2 ** 63:
            shown = version if len(version) <= 40 else \
                f"{version[:20]}... ({len(version)} digits)"
            raise invalid(f"Failed to convert version: {shown} to numeric.")
        version = int(digits)
    return name, version, label
