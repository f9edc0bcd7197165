"""``Retry-After`` on a cache miss: the job's expected remaining time, not a fixed figure.

The expectation comes from earlier runs of the same format: the stage benchmarks Snakemake writes beside each
artifact's logs (``<cache>/logs/v*/<fmt>/<md5>/*.benchmark.tsv``, column ``s``) divided by the size of the source
they processed (``<cache>/src/<md5>/source.*``) give seconds per byte; the median of the most recent runs times
this source's size, plus the fixed cost of a run, minus the time the job has already run, is the answer.
Small inputs (and a format never run before, when its source is small) answer 1 s; a figure is never above
``MAXIMUM`` so a client does not sleep past a build that went faster than the last ones.
"""
from __future__ import annotations

import glob
import math
import os
import statistics
import time
from datetime import datetime

from . import layout, sources
from .job_record import Job
from .settings import Settings

SMALL_BYTES = 8 << 20  # up to this size a build takes about a second here: poll every second
FIXED_SECONDS = 1.0  # a run's cost besides its stages (fetch copy, checks, start-up)
DEFAULT_BYTES_PER_SECOND = 10e6  # before any run of the format: a 2M-read BAM (22 MB) sorts in ~2.5 s here
MAXIMUM = 60
RECENT = 20  # earlier runs looked at
_CACHE_SECONDS = 60.0
_rates: dict[tuple[str, str], tuple[float, float | None]] = {}


def source_size(settings: Settings, source: dict) -> int | None:
    """The source's size in bytes: its verified copy in the cache, else the local file; None when unknown."""
    cached = layout.source_path(settings.cache_dir, source["md5"], source["format"], source["access"],
                                source["access_url"])
    local = sources.inside_roots(layout.local_path(source["access_url"]), settings.effective_source_roots) \
        if layout.is_local(source["access_url"]) else None
    for path in (cached, local):
        if path:
            try:
                return os.path.getsize(path)
            except OSError:
                continue
    return None


def seconds_per_byte(cache_dir: str, fmt: str) -> float | None:
    """Median stage seconds per source byte over the format's most recent benchmarked runs under one cache
    namespace root (cached a minute)."""
    key = (cache_dir, fmt)
    found = _rates.get(key)
    if found is not None and time.monotonic() - found[0] < _CACHE_SECONDS:
        return found[1]
    folders = sorted(glob.glob(os.path.join(cache_dir, "logs", "v*", fmt, "*")), key=_mtime)[-RECENT:]
    rates = []
    for folder in folders:
        spent = sum(_benchmark_seconds(path) for path in glob.glob(os.path.join(folder, "*.benchmark.tsv")))
        size = sum(os.path.getsize(path) for path in
                   glob.glob(os.path.join(cache_dir, "src", os.path.basename(folder), "source.*")))
        if spent > 0 and size > 0:
            rates.append(spent / size)
    rate = statistics.median(rates) if rates else None
    _rates[key] = (time.monotonic(), rate)
    return rate


def _mtime(path: str) -> float:
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0


def _benchmark_seconds(path: str) -> float:
    """The ``s`` column of a Snakemake benchmark file (its first data row); 0 when unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            header = handle.readline().rstrip("\n").split("\t")
            row = handle.readline().rstrip("\n").split("\t")
        return float(row[header.index("s")])
    except (OSError, ValueError, IndexError):
        return 0.0


def seconds(settings: Settings, source: dict, job: Job | None = None) -> str:
    """The ``Retry-After`` value (whole seconds, as text) for a miss on ``source`` built by ``job``."""
    size = source_size(settings, source)
    if size is None or size <= SMALL_BYTES:
        return "1"
    root = layout.namespace_root(settings.cache_dir, source["access"])
    rate = seconds_per_byte(root, source["format"]) or 1 / DEFAULT_BYTES_PER_SECOND
    expected = FIXED_SECONDS + size * rate
    if job is not None and job.started_at:
        started = datetime.fromisoformat(job.started_at.replace("Z", "+00:00")).timestamp()
        expected -= max(0.0, time.time() - started)
    return str(min(MAXIMUM, max(1, math.ceil(expected))))
