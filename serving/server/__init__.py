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

The server is cut along the request's path: `http` (the transport) hands
bytes to `rest` (TF Serving's routes), which decodes them with `codec`
(JSON <-> tensors) and asks `registry` (models, versions, loaded
SavedModels) for the servable; `launcher` starts it all, or
`tensorflow_model_server` when it is installed. `errors` holds TF
Serving's canonical codes.
"""

from serving.server.errors import HTTP_STATUS, ServingStatus
from serving.server.http import DEFAULT_MAX_BODY_BYTES
from serving.server.launcher import LocalModelServer, serve
from serving.server.registry import ModelRegistry
from serving.server.rest import RestApi

__all__ = ["serve", "LocalModelServer", "ModelRegistry", "RestApi",
           "ServingStatus", "HTTP_STATUS", "DEFAULT_MAX_BODY_BYTES"]
