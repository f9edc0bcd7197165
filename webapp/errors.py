"""Error conditions as small exception classes, mapped to JSON responses in one place.

Every error the service answers is ``{"error": "<code>", "detail": "<sentence>"}`` with the right status: no
HTML pages, no stack traces (docs/api.md).
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Base class: an HTTP status, a short code and a human sentence."""

    status = 400
    code = "bad_request"

    def __init__(self, detail: str, headers: dict[str, str] | None = None, fields: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.fields = fields or {}  # extra members of the JSON body (e.g. the job that failed)


class Invalid(ApiError):
    """A field or parameter is not acceptable."""

    status, code = 422, "invalid"


class NotFound(ApiError):
    """Unknown (or not visible to this caller)."""

    status, code = 404, "not_found"


class Conflict(ApiError):
    """The id exists with different fields."""

    status, code = 409, "conflict"


class Unauthorized(ApiError):
    """The call needs the API token."""

    status, code = 401, "unauthorized"


class Gone(ApiError):
    """The job expired (TRACKPREP_RESULT_TTL_DAYS): its results and log were removed (410 Gone)."""

    status, code = 410, "expired"


class RangeNotSatisfiable(ApiError):
    """The Range header cannot be served."""

    status, code = 416, "range_not_satisfiable"


class BuildFailed(ApiError):
    """The source's last build failed; the same request would fail the same way."""

    status, code = 409, "build_failed"


class NotReady(ApiError):
    """The artifact is being built (503 for the extension-bearing aliases)."""

    status, code = 503, "not_ready"


class QueueFull(ApiError):
    """TRACKPREP_MAX_QUEUED_JOBS jobs are queued already: a new one is refused (503 + Retry-After)."""

    status, code = 503, "queue_full"


class QuotaExceeded(ApiError):
    """Keeping this upload would pass TRACKPREP_UPLOAD_QUOTA_BYTES (507 Insufficient Storage)."""

    status, code = 507, "upload_quota_exceeded"


class DiskFull(ApiError):
    """The filesystem the service writes to has no space left (ENOSPC): 507 Insufficient Storage, and nothing of
    the request is kept. Unlike QuotaExceeded, this is the disk itself, not a limit the operator set."""

    status, code = 507, "disk_full"


def error_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None,
                   fields: dict | None = None):
    """A JSON error response: ``{"error": code, "detail": detail, **fields}``."""
    response = jsonify(error=code, detail=detail, **(fields or {}))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register(app: Flask) -> None:
    """Install the handlers that turn every exception into a JSON error."""

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return error_response(err.status, err.code, err.detail, err.headers, err.fields)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        code = (err.name or "error").lower().replace(" ", "_")
        headers = {k: v for k, v in err.get_headers() if k.lower() in ("allow", "retry-after")}
        return error_response(err.code or 500, code, err.description or err.name, headers)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "the server hit an unexpected error; see its log")
