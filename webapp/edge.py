"""The outermost layer: errors answered before Flask (and by the HTTP server itself) in the JSON shape too.

docs/api.md: every error is ``{"error": "<code>", "detail": "<sentence>"}`` with the right status. Flask's handlers
(:mod:`webapp.errors`) cover what reaches Flask; this module covers what does not:

- :class:`JsonEdge`, the WSGI middleware outside every other layer (:mod:`webapp.fast_ranges` included),
  refuses a request target longer than :data:`MAX_URL_BYTES` (414) and request headers larger than
  :data:`MAX_HEADER_BYTES` in all (431), and turns an exception that escapes the layers below it into a
  500. Its limits sit below both servers' own (``trackprep serve`` raises waitress' to
  :data:`SERVER_MAX_HEADER_BYTES`; ``config/gunicorn.conf.py`` raises gunicorn's), so the server hands such a
  request to the app, which answers it.
- :func:`waitress_server` builds ``trackprep serve``'s waitress server with :class:`JsonErrorTask` in place
  of waitress' plain-text error pages, for what waitress answers without calling the app: a malformed
  request (400), a request line + headers over its own limit (431), a body over
  ``TRACKPREP_MAX_UPLOAD_BYTES`` (413), an unsupported ``Transfer-Encoding`` (501) and an app that fails
  before it starts its response (500).

gunicorn writes its own HTML error page for what it refuses before the app (README, "Every error is JSON").
"""
from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

from waitress.channel import HTTPChannel
from waitress.task import ErrorTask
from werkzeug.http import HTTP_STATUS_CODES

log = logging.getLogger(__name__)

MAX_URL_BYTES = 8000  # the request target (path + query); longer: 414 (gunicorn reads request lines to 8190)
MAX_HEADER_BYTES = 32 * 1024  # every header field, counted as name + value + 4 (": ", CRLF); larger: 431
SERVER_MAX_HEADER_BYTES = 1 << 20  # waitress' own limit on request line + headers under `trackprep serve`
INTERNAL_ERROR = "internal_error"  # the code webapp.errors gives an unexpected error

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def error_code(status: int) -> str:
    """The ``error`` code of an HTTP status, as :mod:`webapp.errors` names werkzeug's (``uri_too_long``)."""
    return HTTP_STATUS_CODES.get(status, "error").lower().replace(" ", "_")


def json_error(status: int, detail: str, code: str | None = None,
               extra_headers: Iterable[tuple[str, str]] = ()) -> tuple[str, list[tuple[str, str]], bytes]:
    """``(status line, headers, body)`` of a JSON error, for answers given outside Flask."""
    body = json.dumps({"error": code or error_code(status), "detail": detail}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *extra_headers]
    return f"{status} {HTTP_STATUS_CODES.get(status, 'Error')}", headers, body


def request_target(environ: Mapping[str, Any]) -> str:
    """The request target as the client sent it (waitress: ``REQUEST_URI``, gunicorn: ``RAW_URI``)."""
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if raw is not None:
        return raw
    path = quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/;=,~!$&'()*+:@")
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def header_bytes(environ: Mapping[str, Any]) -> int:
    """The size of the request's header fields: name + value + 4 bytes each (``: `` and CRLF)."""
    total = 0
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            total += len(key) - 1 + len(value)  # "HTTP_" is 5 characters, the separators 4
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            total += len(key) + 4 + len(value)
    return total


class JsonEdge:
    """WSGI middleware outside every other layer: see the module docstring."""

    def __init__(self, app: WSGIApp, extra_headers: Mapping[str, str]):
        """``extra_headers`` are the headers the Flask app adds to every response (CORS)."""
        self.app = app
        self.extra_headers = list(extra_headers.items())

    def _refuse(self, environ: dict[str, Any], start_response: Callable[..., Any], status: int, detail: str,
                exc_info: Any = None) -> list[bytes]:
        code = INTERNAL_ERROR if status == 500 else None
        status_line, headers, body = json_error(status, detail, code, self.extra_headers)
        if exc_info is None:
            start_response(status_line, headers)
        else:  # headers not sent yet: replace them (WSGI re-raises if they were)
            start_response(status_line, headers, exc_info)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = request_target(environ)
        if len(target) > MAX_URL_BYTES:
            return self._refuse(environ, start_response, 414,
                                f"the request URL is {len(target)} bytes long; this service reads URLs of "
                                f"at most {MAX_URL_BYTES} bytes")
        size = header_bytes(environ)
        if size > MAX_HEADER_BYTES:
            return self._refuse(environ, start_response, 431,
                                f"the request headers are {size} bytes in all; this service reads at most "
                                f"{MAX_HEADER_BYTES} bytes of headers")
        try:
            return self.app(environ, start_response)
        except Exception:  # Flask answers its own errors: this is a layer in front of it failing
            log.exception("unhandled error in front of the app")
            return self._refuse(environ, start_response, 500,
                                "the server hit an unexpected error; see its log", exc_info=sys.exc_info())


# ---- waitress: its own error answers in the JSON shape

def _waitress_detail(status: int, message: str, adj: Any) -> str:
    """A sentence for an error waitress found itself (``message`` is waitress' own, e.g. ``Bad URI``)."""
    if status == 431:
        return f"the request line and headers are larger than {adj.max_request_header_size} bytes, " \
            "the most this server reads"
    if status == 413:
        return f"the request body is larger than {adj.max_request_body_size - 1} bytes, the most this " \
            "service accepts (TRACKPREP_MAX_UPLOAD_BYTES)"
    if status == 400:
        return f"malformed HTTP request: {message[:200]}"
    if status == 501:
        return f"not implemented by this server: {message[:200]}"
    return "the server hit an unexpected error; see its log"


class JsonErrorTask(ErrorTask):
    """waitress' answer to a request it refused itself, as ``{"error", "detail"}`` instead of plain text."""

    extra_headers: list[tuple[str, str]] = []

    def execute(self) -> None:
        """Write the JSON error (waitress then closes the connection, as for its own error pages)."""
        error = self.request.error
        detail = _waitress_detail(error.code, str(error.body), self.channel.server.adj)
        code = INTERNAL_ERROR if error.code == 500 else None
        status, headers, body = json_error(error.code, detail, code, self.extra_headers)
        self.status = status
        self.response_headers.extend(h for h in headers if h[0] != "Content-Length")
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    """waitress' connection handler, answering its own errors with :class:`JsonErrorTask`."""

    error_task_class = JsonErrorTask


def waitress_server(app: WSGIApp, extra_headers: Mapping[str, str], **adjustments: Any) -> Any:
    """waitress' server for ``app`` with JSON error answers; ``adjustments`` are waitress' settings.

    ``max_request_header_size`` defaults to :data:`SERVER_MAX_HEADER_BYTES`, above :class:`JsonEdge`'s limits,
    so that the app, not waitress, answers the requests those limits refuse.
    """
    from waitress.server import BaseWSGIServer, create_server

    adjustments.setdefault("max_request_header_size", SERVER_MAX_HEADER_BYTES)
    server = create_server(app, **adjustments)

    class Task(JsonErrorTask):
        pass

    class Channel(JsonErrorChannel):
        error_task_class = Task

    Task.extra_headers = list(extra_headers.items())
    # one listening socket: the server itself; several (a host name with IPv4 and IPv6): all in its map
    listeners = [server] if isinstance(server, BaseWSGIServer) else \
        [each for each in server.map.values() if isinstance(each, BaseWSGIServer)]
    for listener in listeners:
        listener.channel_class = Channel
    return server
