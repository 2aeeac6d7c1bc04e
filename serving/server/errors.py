"""TF Serving's canonical error codes and their HTTP statuses."""

from __future__ import annotations

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

__all__ = ["HTTP_STATUS", "ServingStatus", "invalid"]


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


def invalid(message):
    """An INVALID_ARGUMENT `ServingStatus`."""
    return ServingStatus("INVALID_ARGUMENT", message)
