"""TF Serving's REST API over a `ModelRegistry`, apart from the transport.

    GET  /v1/models/NAME[/versions/V | /labels/L]             status
    GET  /v1/models/NAME[/versions/V | /labels/L]/metadata    metadata
    POST /v1/models/NAME[/versions/V | /labels/L]:predict     predict
    POST /v1/models/NAME...:(classify|regress)                501
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse

from serving.server import codec
from serving.server.errors import ServingStatus, invalid
from serving.server.registry import ModelRegistry

logger = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"

# TF Serving's route regexes (model_servers/http_rest_api_util.cc).
_PREDICT_RE = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?"
    r":(classify|regress|predict)", re.IGNORECASE)
_STATUS_RE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?"
    r"(?:/(metadata))?", re.IGNORECASE)


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
            return self._predict(name, version, label, body)
        if method == "GET":
            m = _STATUS_RE.fullmatch(path)
            if not m:
                raise malformed
            if not m.group(1):
                raise invalid("Missing model name in request.")
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
            raise invalid(f"JSON Parse error: body is not UTF-8: {e}") from None
        if not text.strip():
            raise invalid("JSON Parse error: The document is empty")
        try:
            request = json.loads(text)
        except ValueError as e:
            raise invalid(f"JSON Parse error: {e}") from None
        if not isinstance(request, dict):
            raise invalid("JSON Parse error: request body must be a JSON "
                           "object")
        sig_name = request.get("signature_name", DEFAULT_SIGNATURE)
        if not isinstance(sig_name, str):
            raise invalid("'signature_name' key must be a string value.")
        sig_name = sig_name or DEFAULT_SIGNATURE

        servable = self.registry.resolve(name, version, label)
        signature = servable.signatures.get(sig_name)
        if signature is None:
            raise invalid(f'Serving signature name: "{sig_name}" not found '
                           "in signature def")
        tensors, fmt = codec.inputs_from_request(request, signature)
        try:
            outputs = signature.fn(**tensors)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
            raise invalid(_short_error(e)) from None
        except tf.errors.OpError as e:
            raise ServingStatus("INTERNAL", _short_error(e)) from None
        return codec.outputs_to_json(outputs, fmt)


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
            raise invalid(f"Failed to convert version: {version} to numeric.")
        version = v
    return name, version, label
