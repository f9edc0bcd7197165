"""A WSGI fast path for the request a genome browser makes most: one byte range of a built public artifact.

igv.js, Gosling and htslib read BAM and tabix files as a stream of small ``Range`` GETs (16-64 KiB each).
Through Flask every one pays for a request context, URL routing, a Response object and header
normalisation: about 230 us of Python per request against the 20 us the answer needs, which under waitress
(where the server's own Python shares the GIL) capped the embedded service at 0.05x nginx.

:class:`RangeFastPath` answers exactly one shape of request itself, with the same status, headers and bytes
the Flask view gives (``tests/test_fast_ranges.py`` compares the two for every case):

- ``GET /data/{id}``, ``/index/{id}`` or an extension-bearing alias ``/data/{id}/{name}``, no query string;
- one satisfiable ``Range`` (read by :func:`webapp.serving.parse_range`, as Flask reads it) of at most
  :data:`MAX_FAST_BYTES`;
- no ``If-Range`` / ``If-None-Match`` / ``Authorization``;
- a registered **public** source of a processed format whose artifact and index are both built.

Everything else (misses that start jobs, restricted sources, raw bytes, whole files, 304/416 answers, errors)
goes to Flask unchanged, so the fast path can only be faster, never different.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from werkzeug.http import http_date

from . import cache_usage, layout, metrics, plan, serving, sources
from .db import thread_db
from .errors import RangeNotSatisfiable
from .settings import Settings

MAX_FAST_BYTES = 1 << 20  # larger ranges stream through Flask in blocks
MAX_CACHED_SOURCES = 10_000
PATH_RE = re.compile(r"^/(data|index)/([^/]{1,128})(?:/([A-Za-z0-9._-]{1,128}))?$")
SKIP_HEADERS = ("HTTP_IF_RANGE", "HTTP_IF_NONE_MATCH", "HTTP_AUTHORIZATION")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# what a public processed source serves: the alias role of a file name, and the Resolved of /data and /index
Artifacts = tuple[Callable[[str], str | None], dict[str, plan.Resolved]]


@lru_cache(maxsize=256)
def _http_date(mtime: float) -> str:
    return http_date(mtime)


class RangeFastPath:
    """WSGI middleware in front of the Flask app: see the module docstring for what it answers itself."""

    def __init__(self, app: WSGIApp, settings: Settings, extra_headers: Mapping[str, str]):
        """``extra_headers`` are the headers the Flask app adds to every response (CORS)."""
        self.app = app
        self.settings = settings
        self.extra_headers = list(extra_headers.items())
        self._local = threading.local()

    def _known(self) -> dict[str, Artifacts | None]:
        """This thread's kept records, emptied whenever the store may have lost one (a source deleted).

        Each thread keeps its own, checked against its own connection: ``PRAGMA data_version`` changes when
        another connection commits (another thread or process; cheap, no I/O), and this process's deletes are
        counted in :data:`webapp.sources.deletions` (a connection does not see its own commits there).
        """
        local = self._local
        db = thread_db(self.settings.db_path)
        stamp = (db.execute("PRAGMA data_version").fetchone()[0], sources.deletions)
        if getattr(local, "stamp", None) != stamp:
            local.stamp, local.known = stamp, {}
        return local.known

    def _artifacts(self, source_id: str) -> Artifacts | None:
        """What a public processed source serves, resolved as the Flask view resolves it; None for any other.

        A registered record never changes (a re-registration with other fields is refused) and the paths
        follow from it alone, so the answer for a registered id is kept until the store changes (a delete);
        unknown ids are asked again every time.
        """
        known = self._known()
        if source_id in known:
            return known[source_id]
        if not layout.SOURCE_ID_RE.match(source_id):
            return None
        source = sources.get(thread_db(self.settings.db_path), source_id)
        if source is None:
            return None
        kind = layout.FORMATS[source["format"]][0]
        version = plan.pipeline_version(self.settings.workflow_dir)
        md5, fmt = layout.source_key(source), source["format"]
        # restricted sources need the token, passthrough formats the source roots: both are Flask's
        found = None if source["access"] != "public" or kind is None else \
            (lambda name: layout.alias_role(md5, fmt, version, name),
             {what: plan.resolve(self.settings, source, what, raw=False)
              for what in ("data", "index", *layout.extra_files(fmt))})
        if found is not None and not found[1]["data"].ready():
            return found  # not kept until complete: only then does the record name the index (BAI or CSI)
                          # (data's targets are the whole artifact: data, record, index)
        if len(known) >= MAX_CACHED_SOURCES:
            known.clear()
        known[source_id] = found
        return found

    def _artifact(self, what: str, source_id: str, name: str | None) -> str | None:
        """The built artifact file this request reads, or None when Flask must answer."""
        found = self._artifacts(source_id)
        if found is None:
            return None
        role_of, resolved = found
        if name is not None:
            role = role_of(name) if what == "data" else None
            if role is None:
                return None
            what, suffix = role
            if suffix is not None and not resolved["index"].path.endswith(suffix):
                return None  # the other index type: Flask answers 404
        if resolved.get(what) is None:
            return None  # no such file (a bigWig's index): Flask answers 404
        # checked on every request: an artifact gone from the cache goes back to Flask (rebuild)
        return resolved[what].path if resolved[what].ready() else None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        header = environ.get("HTTP_RANGE")
        match = PATH_RE.match(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") != "GET" or not header or match is None \
                or environ.get("QUERY_STRING") or any(name in environ for name in SKIP_HEADERS):
            return self.app(environ, start_response)
        path = self._artifact(*match.groups())
        if path is None:
            return self.app(environ, start_response)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return self.app(environ, start_response)
        try:
            stat = os.fstat(fd)
            try:
                wanted = serving.parse_range(header, stat.st_size)
            except RangeNotSatisfiable:  # Flask's 416 carries a JSON reason
                wanted = None
            # None also for several ranges and other units: the whole file, which Flask streams
            if wanted is None or wanted[1] - wanted[0] + 1 > MAX_FAST_BYTES:
                return self.app(environ, start_response)
            start, end = wanted
            length = end - start + 1
            body = os.pread(fd, length, start)
        finally:
            os.close(fd)
        if len(body) != length:  # replaced while we read: let Flask answer from a fresh open
            return self.app(environ, start_response)
        metrics.cache_hit(environ["PATH_INFO"])
        cache_usage.served(self.settings, path)  # in memory; written in batches
        start_response("206 PARTIAL CONTENT", [
            ("Accept-Ranges", "bytes"),
            ("ETag", serving.etag_for(path, stat)),
            ("Last-Modified", _http_date(stat.st_mtime)),
            ("Cache-Control", serving.IMMUTABLE),
            ("Content-Range", f"bytes {start}-{end}/{stat.st_size}"),
            ("Content-Type", serving.content_type(path)),
            ("Content-Length", str(length)),
            *self.extra_headers,
        ])
        return [body]
