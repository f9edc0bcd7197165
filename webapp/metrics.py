"""Prometheus metrics (``GET /metrics``), correct over several processes.

Two kinds of figures:

- **Events**, counted where they happen, in prometheus_client's multiprocess mode: every process (gunicorn web
  workers, the ``trackprep worker`` dispatcher, or ``trackprep serve``) writes its counters and histograms to
  its own files in ``PROMETHEUS_MULTIPROC_DIR`` = ``$TRACKPREP_DATA_DIR/metrics``, and a scrape sums them. The
  entry points point the variable at the data dir's folder (:func:`prepare`) before any metric is created;
  ``trackprep serve`` and gunicorn's master (``config/gunicorn.conf.py``) clear the files of dead processes at
  start, and gunicorn's ``child_exit`` hook marks a dead worker (:func:`process_dead`).
- **State**, read at scrape time by :class:`StoreCollector`: jobs by kind and state and the queue from the
  SQLite store (every process sees the same), cache and upload sizes (a walk kept for a while), free disk.
"""
from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from . import heartbeat, jobs, uploads
from .db import thread_db
from .job_record import TERMINAL, JobStatus
from .settings import Settings

ENV = "PROMETHEUS_MULTIPROC_DIR"
FOLDER = "metrics"  # under the data dir
CONTENT_TYPE = CONTENT_TYPE_LATEST
JOB_KINDS = ("preprocess", "ssr")  # always reported (0 when none), next to any other kind in the store
ROUTES = ("data", "index", "alias", "htsget", "ssr", "other")
SIZE_TTL = 60.0  # seconds a cache-size walk is reused while no job has finished
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, float("inf"))
_ROUTE_RES = (
    (re.compile(r"^/data/[^/]+/[^/]+$"), "alias"),
    (re.compile(r"^/data/[^/]+$"), "data"),
    (re.compile(r"^/index/[^/]+$"), "index"),
    (re.compile(r"^/(reads|variants)/"), "htsget"),
    (re.compile(r"^/(analyze_ssr/|api/job/)"), "ssr"),
)
_lock = threading.Lock()
_instruments: dict[str, Any] = {}


def prepare(data_dir: str, clear: bool = False) -> str:
    """Point this process's metrics (and its children's) at ``data_dir/metrics``; with ``clear``, remove the
    files of processes that are gone (a fresh start: counters begin again at 0). Returns the folder."""
    path = os.path.join(data_dir, FOLDER)
    os.makedirs(path, exist_ok=True)
    os.environ[ENV] = path
    if not getattr(values.ValueClass, "_multiprocess", False):
        # the mode is chosen when prometheus_client is imported; chosen once per process (two value classes
        # would map the same files twice and overwrite each other's entries)
        values.ValueClass = values.get_value_class()
    if clear:
        for name in os.listdir(path):
            match = re.fullmatch(r".+_(\d+)\.db", name)
            if match and not _alive(int(match.group(1))):
                try:
                    os.unlink(os.path.join(path, name))
                except FileNotFoundError:
                    pass
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_dead(pid: int) -> None:
    """gunicorn's ``child_exit``: drop a dead worker's live gauges (its counters keep counting in the sum)."""
    if os.environ.get(ENV):
        multiprocess.mark_process_dead(pid)


def _get() -> dict[str, Any]:
    """The counters and histograms, created on first use (after :func:`prepare` chose the mode)."""
    with _lock:
        if not _instruments:
            _instruments.update(
                requests=Counter("trackprep_http_requests", "HTTP requests answered, by route class and status",
                                 ["route", "code"], registry=None),
                bytes=Counter("trackprep_http_response_bytes", "Response body bytes sent, by route class",
                              ["route"], registry=None),
                hits=Counter("trackprep_cache_hits", "Requests served from a built artifact", ["route"],
                             registry=None),
                misses=Counter("trackprep_cache_misses", "Requests that needed a build (started or joined a job)",
                               ["route"], registry=None),
                evictions=Counter("trackprep_cache_evictions", "Artifacts evicted from the cache",
                                  registry=None),
                finished=Counter("trackprep_jobs_finished", "Jobs that ended, by kind and final status",
                                 ["kind", "status"], registry=None),
                duration=Histogram("trackprep_job_duration_seconds",
                                   "Run time of finished jobs (stage=job) and of each of their stages (rule)",
                                   ["kind", "stage"], buckets=DURATION_BUCKETS, registry=None),
            )
            _instruments["evictions"].inc(0)  # exported at 0 before the first eviction
    return _instruments


def route_class(path: str) -> str:
    """The route class of a request path: data, index, alias, htsget, ssr or other."""
    return next((name for pattern, name in _ROUTE_RES if pattern.match(path)), "other")


def cache_hit(path: str) -> None:
    """A request served from a built artifact."""
    _get()["hits"].labels(route_class(path)).inc()


def cache_miss(path: str) -> None:
    """A request that needs an artifact built."""
    _get()["misses"].labels(route_class(path)).inc()


def cache_evicted(count: int = 1) -> None:
    """Cache items (artifacts, verified sources) evicted to keep the cache under its limit (webapp/cache_gc.py)."""
    _get()["evictions"].inc(count)


def job_finished(kind: str, status: str, seconds: float, stages: Iterable[tuple[str, float]]) -> None:
    """A job ended (dispatcher): its outcome, its run time and each stage's."""
    found = _get()
    found["finished"].labels(kind, status).inc()
    found["duration"].labels(kind, "job").observe(max(0.0, seconds))
    for rule, stage_seconds in stages:
        found["duration"].labels(kind, rule).observe(max(0.0, stage_seconds))


class _Counted:
    """A response body that counts the bytes it yields and records the request when the server closes it."""

    def __init__(self, body: Iterable[bytes], record: Callable[[int], None]):
        self._body, self._record, self._sent, self._done = body, record, 0, False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self._sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            if not self._done:
                self._done = True
                self._record(self._sent)


class RequestMetrics:
    """Outermost WSGI middleware: counts every request by route class and status, and the bytes sent."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        route = route_class(environ.get("PATH_INFO", ""))
        seen: dict[str, Any] = {"code": "500", "length": None}

        def _start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["code"] = status.split(" ", 1)[0]
            seen["length"] = next((value for name, value in headers if name.lower() == "content-length"), None)
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        def _record(sent: int) -> None:
            found = _get()
            found["requests"].labels(route, seen["code"]).inc()
            if sent:
                found["bytes"].labels(route).inc(sent)

        try:
            body = self.app(environ, _start)
        except BaseException:
            _record(0)
            raise
        wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(wrapper, type) and isinstance(body, wrapper):
            # the server sends it itself (gunicorn: sendfile): keep it as it is and count its Content-Length
            length = seen["length"]
            _record(int(length) if length and environ.get("REQUEST_METHOD") != "HEAD" else 0)
            return body
        return _Counted(body, _record)


class StoreCollector:
    """Figures read at scrape time: jobs by kind and state, the queue, dispatchers, sizes, free disk."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the gauges (prometheus_client's collector protocol)."""
        settings = self.settings
        db = thread_db(settings.db_path)
        by_kind = GaugeMetricFamily("trackprep_jobs", "Jobs in the store by kind and state",
                                    labels=["kind", "state"])
        counted = jobs.counts_by_kind(db)
        for kind in sorted(set(JOB_KINDS) | {kind for kind, _ in counted}):
            for state in JobStatus:
                by_kind.add_metric([kind, state.value], counted.get((kind, state.value), 0))
        yield by_kind
        queued = sum(n for (_kind, state), n in counted.items() if state == JobStatus.QUEUED.value)
        yield GaugeMetricFamily("trackprep_queue_length", "Jobs waiting in the queue", value=queued)
        yield GaugeMetricFamily("trackprep_max_queued_jobs", "The queue limit (TRACKPREP_MAX_QUEUED_JOBS)",
                                value=settings.max_queued_jobs)
        yield GaugeMetricFamily("trackprep_max_concurrent_jobs", "Jobs run at once at most",
                                value=settings.max_concurrent_jobs)
        yield GaugeMetricFamily("trackprep_dispatchers_live", "Dispatchers whose heartbeat is recent",
                                value=len(heartbeat.live(db, settings.heartbeat_timeout)))
        finished = sum(n for (_kind, state), n in counted.items() if state in TERMINAL)
        sizes = _sizes(settings, finished)
        yield GaugeMetricFamily("trackprep_cache_size_bytes", "Bytes in the cache folder (artifacts, verified "
                                "sources, SSR analyses)", value=sizes["cache"])
        yield GaugeMetricFamily("trackprep_cache_max_bytes", "TRACKPREP_CACHE_MAX_BYTES (0: no limit)",
                                value=settings.cache_max_bytes or 0)
        yield GaugeMetricFamily("trackprep_uploads_bytes", "Bytes of SSR uploads kept on disk",
                                value=sizes["uploads"])
        yield GaugeMetricFamily("trackprep_upload_quota_bytes", "TRACKPREP_UPLOAD_QUOTA_BYTES",
                                value=settings.upload_quota_bytes)
        free = GaugeMetricFamily("trackprep_disk_free_bytes", "Free bytes on the filesystem of a folder",
                                 labels=["dir"])
        for name, path in (("data", settings.data_dir), ("cache", settings.cache_dir)):
            value = disk_free(path)
            if value is not None:
                free.add_metric([name], value)
        yield free


_sizes_memo: dict[tuple[str, int], tuple[float, dict[str, int]]] = {}


def _sizes(settings: Settings, finished: int) -> dict[str, int]:
    """Cache and upload sizes, walked again after SIZE_TTL or when a job has finished since the last walk."""
    key = (settings.cache_dir, finished)
    with _lock:
        kept = _sizes_memo.get(key)
    if kept is not None and time.monotonic() - kept[0] < SIZE_TTL:
        return kept[1]
    found = {"cache": uploads.tree_size(settings.cache_dir), "uploads": uploads.on_disk(settings.cache_dir)}
    with _lock:
        _sizes_memo.clear()
        _sizes_memo[key] = (time.monotonic(), found)
    return found


def disk_free(path: str) -> int | None:
    """Bytes free on the filesystem holding ``path`` (its nearest existing folder); None if unknown."""
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def human_bytes(size: int) -> str:
    """``size`` for a person: bytes, KiB, MiB, GiB or TiB (whole numbers below 10 get one decimal)."""
    value, unit = float(size), "bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"


class _Instruments:
    """This process's own counters and histograms, as one collector (single-process mode)."""

    def collect(self) -> Iterator[Any]:
        for instrument in _get().values():
            yield from instrument.collect()


def render(settings: Settings) -> bytes:
    """The exposition text: every process's events (multiprocess mode) or this process's, plus the state."""
    _get()
    registry = CollectorRegistry()
    path = os.environ.get(ENV)
    if path and os.path.isdir(path) and getattr(values.ValueClass, "_multiprocess", False):
        multiprocess.MultiProcessCollector(registry, path=path)
    else:
        registry.register(_Instruments())
    registry.register(StoreCollector(settings))
    return generate_latest(registry)
