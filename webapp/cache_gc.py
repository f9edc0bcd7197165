"""The collector: keeps the cache under ``TRACKPREP_CACHE_MAX_BYTES`` and finished jobs under
``TRACKPREP_RESULT_TTL_DAYS``. The dispatcher runs it after each completed job and every
``TRACKPREP_GC_INTERVAL`` seconds; ``trackprep gc [--dry-run]`` runs it by hand.

**Items** (public and restricted alike): an artifact ``v<N>/<format>/<key>/`` with its ``logs/v<N>/<format>/<key>/``
and ``work/<format>/<key>/`` folders, and a verified source copy ``src/<md5>/`` (with its sidecar index and
``logs/src/<md5>/``). SSR analyses (``ssr/``) are not items: the TTL and the upload quota govern them.

**Eviction.** When the items pass the limit, the least recently served go first (an item never served counts
from when it was built: its folder's mtime) until they are at or below ``TRACKPREP_CACHE_LOW_WATER`` x the limit.
Never evicted: a pinned source's items, the folders of queued or running jobs, a folder some process streams
from (:func:`webapp.cache_usage.exclusive`), and ``protect`` (what the dispatcher has just built: its client is
about to read it). An item leaves by renames into ``.trash/`` inside a ``BEGIN IMMEDIATE`` transaction that
finds no active job on it (none can be queued meanwhile: :func:`webapp.jobs.submit` takes the same lock), then
is removed. An evicted artifact is a miss on its next request and is rebuilt, with the same bytes.

**Expiry.** A job that finished (completed, failed, cancelled) longer ago than the TTL loses its folder
``jobs/<id>/`` and becomes ``expired``; an SSR job's analysis folder (inputs, results, Arrow tables, zip) goes
with it unless a job of the same analysis is active or finished within the TTL.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import sqlite_utils

from . import cache_files, cache_usage, layout, metrics, plan
from .db import open_store, transaction
from .job_record import ACTIVE, FINISHED, JobStatus, placeholders, values
from .settings import Settings
from .uploads import tree_size

log = logging.getLogger(__name__)
VERSION_RE = re.compile(r"v\d+")


@dataclass
class Item:
    """One evictable cache folder and the folders that go with it."""

    rel: str  # relative to the cache dir: v2/bam/<key>, restricted/src/<md5>, ...
    root: str  # its namespace root (the cache dir, or its restricted/ folder)
    paths: list[str]
    kind: str  # "artifact" or "source"
    size: int = 0
    last_used: float = 0.0
    served: bool = False  # False: last_used is when it was built
    kept: str | None = None  # why the limit did not take it: pinned, building, streaming, just built


@dataclass
class Expiry:
    """A finished job past the TTL and the folders it leaves behind."""

    job_id: str
    kind: str
    finished_at: str
    paths: list[str] = field(default_factory=list)
    size: int = 0


@dataclass
class Report:
    """What one collection removed (or, dry, would remove)."""

    dry_run: bool
    limit: int | None
    target: int | None
    size_before: int
    size_after: int
    evicted: list[Item] = field(default_factory=list)
    kept: list[Item] = field(default_factory=list)
    expired: list[Expiry] = field(default_factory=list)

    @property
    def freed(self) -> int:
        """Bytes removed: evicted items and expired jobs' folders."""
        return sum(item.size for item in self.evicted) + sum(job.size for job in self.expired)


def _dirs(path: str) -> list[os.DirEntry]:
    try:
        return sorted((entry for entry in os.scandir(path) if entry.is_dir(follow_symlinks=False)),
                      key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def find_items(settings: Settings, db: sqlite_utils.Database) -> list[Item]:
    """Every item in the cache, with its size and when it was last used."""
    served = {row[0]: row[1] for row in db.execute("SELECT item, served_at FROM cache_served").fetchall()}
    found = []
    for access in layout.ACCESS_CLASSES:
        root = layout.namespace_root(settings.cache_dir, access)
        for version in (entry for entry in _dirs(root) if VERSION_RE.fullmatch(entry.name)):
            for fmt in _dirs(version.path):
                for key in _dirs(fmt.path):
                    found.append(Item(os.path.relpath(key.path, settings.cache_dir), root, [
                        key.path, os.path.join(root, "logs", version.name, fmt.name, key.name),
                        os.path.join(root, "work", fmt.name, key.name)], "artifact"))
        for md5 in _dirs(os.path.join(root, "src")):
            found.append(Item(os.path.relpath(md5.path, settings.cache_dir), root,
                              [md5.path, os.path.join(root, "logs", "src", md5.name)], "source"))
    for item in found:
        item.size = sum(tree_size(path) for path in item.paths)
        item.served = item.rel in served
        try:
            item.last_used = served[item.rel] if item.served else os.stat(item.paths[0]).st_mtime
        except FileNotFoundError:  # removed meanwhile (a delete)
            item.last_used = 0.0
    return found


def _with_parents(dirs: Iterable[str], stop: str) -> set[str]:
    """The folders and every parent of each up to ``stop``: an item holding one of them touches it."""
    expanded: set[str] = set()
    for path in dirs:
        path = os.path.normpath(path)
        while path not in expanded and path.startswith(stop + os.sep):
            expanded.add(path)
            path = os.path.dirname(path)
    return expanded


def _touches(item: Item, expanded: set[str], dirs: set[str]) -> bool:
    """True when one of the item's folders is, holds or lies inside one of ``dirs``."""
    for path in item.paths:
        if path in expanded:
            return True
        parent = os.path.dirname(path)
        while parent != os.path.dirname(parent):
            if parent in dirs:
                return True
            parent = os.path.dirname(parent)
    return False


class Guard:
    """Folders an item must not touch to be evicted, by reason."""

    def __init__(self, settings: Settings, reason_dirs: dict[str, set[str]]):
        self.stop = os.path.normpath(settings.cache_dir)
        self.rules = [(reason, _with_parents(dirs, self.stop), {os.path.normpath(d) for d in dirs})
                      for reason, dirs in reason_dirs.items()]

    def reason(self, item: Item) -> str | None:
        """Why the item is kept, or None."""
        return next((reason for reason, expanded, dirs in self.rules if _touches(item, expanded, dirs)), None)


def active_dirs(db: sqlite_utils.Database) -> set[str]:
    """The folders queued and running jobs write into: their key, their targets' folders, their work dirs."""
    dirs: set[str] = set()
    for key, targets, work_dirs in db.execute(
            f"SELECT workflow_key, targets, work_dirs FROM jobs WHERE status IN {placeholders(ACTIVE)}",
            values(ACTIVE)).fetchall():
        dirs.add(key)
        dirs.update(os.path.dirname(path) for path in json.loads(targets))
        dirs.update(json.loads(work_dirs or "[]"))
    return dirs


def pinned_dirs(settings: Settings, db: sqlite_utils.Database) -> set[str]:
    """The folders of pinned sources: their artifact and their verified source copy."""
    dirs: set[str] = set()
    for source in db.query("SELECT * FROM sources WHERE pinned = 1"):
        dirs.add(os.path.dirname(layout.source_path(settings.cache_dir, source["md5"], source["format"],
                                                    source["access"], source["access_url"])))
        for raw in (False, True):
            resolved = plan.resolve(settings, source, "data", raw)
            if resolved is not None and resolved.key:
                dirs.add(resolved.key)
    return dirs


def _evict(settings: Settings, db: sqlite_utils.Database, item: Item, dry_run: bool) -> str | None:
    """Evict one item (dry: only look); None when it went (or would), else why it stays."""
    moved: list[str] = []
    with cache_usage.exclusive(settings, item.rel) as free:
        if not free:
            return "streaming"
        if dry_run:
            return None
        with transaction(db):
            if Guard(settings, {"building": active_dirs(db)}).reason(item):
                return "building"
            moved = [target for path in item.paths if (target := cache_files.move_aside(item.root, path))]
            db.execute("DELETE FROM cache_served WHERE item = ?", (item.rel,))
        cache_usage.remove_lease(settings, item.rel)
    for target in moved:
        shutil.rmtree(target, ignore_errors=True)
    log.info("evicted %s (%s, last %s %s)", item.rel, metrics.human_bytes(item.size),
             "served" if item.served else "built", _when(item.last_used))
    return None


def evict_over_limit(settings: Settings, db: sqlite_utils.Database, *, dry_run: bool = False,
                     protect: Iterable[str] = ()) -> Report:
    """Evict the least recently served items until the cache is back under its low-water mark."""
    items = find_items(settings, db)
    total = sum(item.size for item in items)
    report = Report(dry_run, settings.cache_max_bytes, None, total, total)
    if not dry_run:  # rows of folders that are gone (evicted elsewhere, deleted sources)
        present = {item.rel for item in items}
        stale = [(row[0],) for row in db.execute("SELECT item FROM cache_served").fetchall()
                 if row[0] not in present]
        if stale:
            with transaction(db):
                db.conn.executemany("DELETE FROM cache_served WHERE item = ?", stale)
    if settings.cache_max_bytes is None or total <= settings.cache_max_bytes:
        return report
    report.target = int(settings.cache_max_bytes * settings.cache_low_water)
    guard = Guard(settings, {"pinned": pinned_dirs(settings, db), "building": active_dirs(db),
                             "just built": set(protect)})
    for item in sorted(items, key=lambda item: (item.last_used, item.rel)):
        if total <= report.target:
            break
        item.kept = guard.reason(item) or _evict(settings, db, item, dry_run)
        if item.kept:
            report.kept.append(item)
            continue
        report.evicted.append(item)
        total -= item.size
    report.size_after = total
    if report.evicted and not dry_run:
        metrics.cache_evicted(len(report.evicted))
    return report


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # as webapp.jobs.now writes them


def _fresh_job(db: sqlite_utils.Database, workflow_key: str, cutoff: str) -> bool:
    """True when a job of this key is active or finished within the TTL."""
    return db.execute(
        f"SELECT 1 FROM jobs WHERE workflow_key = ? AND (status IN {placeholders(ACTIVE)} OR (status IN "
        f"{placeholders(FINISHED)} AND finished_at >= ?)) LIMIT 1",
        (workflow_key, *values(ACTIVE), *values(FINISHED), cutoff)).fetchone() is not None


def expire(settings: Settings, db: sqlite_utils.Database, *, dry_run: bool = False) -> list[Expiry]:
    """Remove the folders of jobs finished longer ago than the TTL and mark the jobs ``expired``."""
    if settings.result_ttl_days is None:
        return []
    ttl = settings.result_ttl_days
    cutoff = _iso(datetime.now(timezone.utc) - timedelta(days=ttl))
    found = []
    for job in list(db.query(f"SELECT id, kind, workflow_key, finished_at FROM jobs WHERE status IN "
                             f"{placeholders(FINISHED)} AND finished_at < ? ORDER BY finished_at, id",
                             (*values(FINISHED), cutoff))):
        expiry = Expiry(job["id"], job["kind"], job["finished_at"])
        job_dir = os.path.join(settings.jobs_dir, job["id"])
        analysis = job["workflow_key"] if job["kind"] == "ssr" and os.path.isdir(job["workflow_key"]) \
            and not _fresh_job(db, job["workflow_key"], cutoff) else None
        expiry.paths = [path for path in (job_dir, analysis) if path and os.path.isdir(path)]
        expiry.size = sum(tree_size(path) for path in expiry.paths)
        if dry_run:
            found.append(expiry)
            continue
        moved = None
        with transaction(db):
            row = db.execute("SELECT status, finished_at FROM jobs WHERE id = ?", (job["id"],)).fetchone()
            if row is None or row[0] not in values(FINISHED) or row[1] >= cutoff:
                continue  # retried or removed meanwhile
            if analysis and not _fresh_job(db, analysis, cutoff):
                moved = cache_files.move_aside(settings.cache_dir, analysis)
            message = (f"expired: finished more than {ttl:g} days ago (TRACKPREP_RESULT_TTL_DAYS); its "
                       f"{'folder and results were' if moved else 'folder was'} removed")
            db.execute("UPDATE jobs SET status = ?, message = ? WHERE id = ?",
                       (JobStatus.EXPIRED.value, message, job["id"]))
        for path in (job_dir, moved):
            if path:
                shutil.rmtree(path, ignore_errors=True)
        log.info("job %s (%s) expired: removed %s", job["id"], job["kind"], ", ".join(expiry.paths) or "nothing")
        found.append(expiry)
    return found


def collect(settings: Settings, db: sqlite_utils.Database, *, dry_run: bool = False,
            protect: Iterable[str] = ()) -> Report:
    """One collection: expire old jobs, then evict down to the low-water mark (one at a time per data dir)."""
    with cache_usage.collector_lock(settings):
        cache_usage.served_log.flush()  # this process's own notes first (the in-process dispatcher's server)
        if not dry_run:  # what a process that stopped between its rename and its removal left in .trash/
            for access in layout.ACCESS_CLASSES:
                for entry in _dirs(os.path.join(layout.namespace_root(settings.cache_dir, access),
                                                cache_files.TRASH)):
                    shutil.rmtree(entry.path, ignore_errors=True)
        expired = expire(settings, db, dry_run=dry_run)
        report = evict_over_limit(settings, db, dry_run=dry_run, protect=protect)
    report.expired = expired
    return report


def _when(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(moment)) if moment else "-"


def format_report(settings: Settings, report: Report) -> str:
    """The report as a table (one row per item evicted, kept or expired) and a total, in human units."""
    human = metrics.human_bytes
    verb = ("would evict", "would expire") if report.dry_run else ("evicted", "expired")
    rows = [("ACTION", "KIND", "SIZE", "LAST USED (UTC)", "PATH")]
    for item in report.evicted + report.kept:
        action = verb[0] if item.kept is None else f"kept: {item.kept}"
        used = f"{_when(item.last_used)}{'' if item.served else ' (built)'}"
        rows.append((action, item.kind, human(item.size), used, item.rel))
    for job in report.expired:
        paths = ", ".join(os.path.relpath(path, settings.data_dir) for path in job.paths) or "-"
        rows.append((verb[1], f"{job.kind} job", human(job.size), f"finished {job.finished_at[:19]}", paths))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row[:4], widths)) + "  " + row[4]
             for row in rows] if len(rows) > 1 else ["nothing to remove"]
    limit = "no limit" if report.limit is None else f"limit {human(report.limit)}" + (
        f", low water {human(report.target)}" if report.target is not None else "")
    lines.append(f"{'would free' if report.dry_run else 'freed'} {human(report.freed)}: {len(report.evicted)} "
                 f"cache item(s) {verb[0]}, {len(report.expired)} job(s) {verb[1]}; cache items "
                 f"{human(report.size_before)} -> {human(report.size_after)} ({limit})")
    return "\n".join(lines)


class Collector:
    """The dispatcher's collector thread: a collection after each completed job (which it protects: its client
    is about to read it) and every ``TRACKPREP_GC_INTERVAL`` seconds; idle without a limit or a TTL."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._just_built: set[str] = set()

    @property
    def enabled(self) -> bool:
        """True when there is something to collect: a cache limit or a result TTL."""
        return self.settings.cache_max_bytes is not None or self.settings.result_ttl_days is not None

    def start(self) -> None:
        """Start the thread (once; not at all when nothing is to be collected)."""
        if self._thread is None and self.enabled:
            self._thread = threading.Thread(target=self._loop, name="trackprep-collector", daemon=True)
            self._thread.start()

    def built(self, workflow_key: str) -> None:
        """A job completed: collect now, keeping what it built."""
        with self._lock:
            self._just_built.add(workflow_key)
        self._wake.set()

    def stop(self) -> None:
        """End the thread after its current pass."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=60)

    def _loop(self) -> None:
        db = open_store(self.settings.db_path)
        while not self._stopping.is_set():
            self._wake.wait(self.settings.gc_interval)
            self._wake.clear()
            if self._stopping.is_set():
                break
            with self._lock:
                protect, self._just_built = self._just_built, set()
            try:
                report = collect(self.settings, db, protect=protect)
            except Exception:  # one failed pass must not end the collector
                log.exception("cache collection failed")
                continue
            if report.freed:
                log.info("cache collection freed %s: %d cache items evicted, %d jobs expired",
                         metrics.human_bytes(report.freed), len(report.evicted), len(report.expired))
