"""Which cache folders are in use: when each was last served, and the range streams open on them right now.

**Last served.** Every request served from the cache (the range fast path included) notes the time against the
folder of the file it read (``v2/bam/<key>``, ``src/<md5>``, relative to the cache dir) in this process's memory;
a background thread writes the notes to the store's ``cache_served`` table every
``TRACKPREP_SERVED_FLUSH_INTERVAL`` seconds, and once more at exit. A range request never writes to SQLite.

**Open streams.** A response that streams a cached file holds a *lease* on its folder until the server closes
the file: per process, a count of open streams per folder and one open lock file
(``$TRACKPREP_DATA_DIR/leases/<hash>.lock``) under a shared ``flock``; the collector (webapp/cache_gc.py) takes the
same file's exclusive lock, without waiting, before it evicts the folder, so a folder any process streams from is
skipped. The locks live on the data dir's machine: processes on other machines sharing one cache are not seen.
"""
from __future__ import annotations

import atexit
import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .db import open_store, transaction
from .settings import Settings

log = logging.getLogger(__name__)
GC_LOCK = "gc.lock"


def item_of(settings: Settings, path: str) -> str:
    """The cache folder a served file belongs to, relative to the cache dir (its parent folder)."""
    return os.path.relpath(os.path.dirname(path), settings.cache_dir)


class ServedLog:
    """This process's last-served notes, written to the store in batches."""

    def __init__(self) -> None:
        self._pending: dict[str, float] = {}
        self._lock = threading.Lock()
        self._settings: Settings | None = None
        self._pid = 0

    def note(self, settings: Settings, path: str) -> None:
        """Note that the file at ``path`` (inside the cache) was served now (its folder, made relative to the
        cache dir when written: the range fast path calls this for every request)."""
        folder = os.path.dirname(path)
        with self._lock:
            self._pending[folder] = time.time()
            if self._pid != os.getpid():  # first note in this process (or after a fork): start the writer
                self._pid, self._settings = os.getpid(), settings
                threading.Thread(target=self._writer, name="trackprep-served-log", daemon=True).start()

    def _writer(self) -> None:
        settings = self._settings
        assert settings is not None
        while True:
            time.sleep(settings.served_flush_interval)
            try:
                self.flush()
            except Exception:  # a busy store must not end the writer: the notes stay for the next turn
                log.exception("could not write last-served times")

    def flush(self) -> int:
        """Write the pending notes (keeping the later time of a folder's note and its row); how many."""
        with self._lock:
            pending, self._pending = self._pending, {}
            settings = self._settings
        if not pending or settings is None:
            return 0
        rows = sorted((os.path.relpath(folder, settings.cache_dir), when) for folder, when in pending.items())
        try:
            db = open_store(settings.db_path)
            try:
                with transaction(db):
                    db.conn.executemany(
                        "INSERT INTO cache_served (item, served_at) VALUES (?, ?) ON CONFLICT(item) DO UPDATE"
                        " SET served_at = max(served_at, excluded.served_at)", rows)
            finally:
                db.conn.close()
        except BaseException:
            with self._lock:  # put them back, unless a newer note came meanwhile
                for folder, when in pending.items():
                    self._pending[folder] = max(when, self._pending.get(folder, 0.0))
            raise
        return len(pending)


served_log = ServedLog()


def served(settings: Settings, path: str) -> None:
    """A file of the cache was served (a cheap in-memory note; see the module docstring)."""
    served_log.note(settings, path)


def _flush_at_exit() -> None:
    try:
        served_log.flush()
    except Exception:
        log.exception("could not write last-served times at exit")


atexit.register(_flush_at_exit)


def lease_path(settings: Settings, item: str) -> str:
    """The lock file of a cache folder (``item`` relative to the cache dir)."""
    return os.path.join(settings.leases_dir, hashlib.sha1(item.encode()).hexdigest()[:32] + ".lock")


class _Streams:
    """This process's open streams: per folder, how many and the lock file held shared for them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[str, list[int]] = {}  # item -> [count, fd]


_streams = _Streams()


def open_stream(settings: Settings, path: str) -> Callable[[], None]:
    """Hold a lease on the folder of ``path`` while a response streams it; returns the (idempotent) release.

    When the collector holds the folder's lock at this moment (it is evicting it), no lease is taken: the file,
    once open, still reads to the end after its folder is removed.
    """
    item = item_of(settings, path)
    with _streams.lock:
        entry = _streams.open.get(item)
        if entry is None:
            os.makedirs(settings.leases_dir, exist_ok=True)
            fd = os.open(lease_path(settings, item), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return lambda: None
            entry = _streams.open[item] = [0, fd]
        entry[0] += 1
    done = threading.Event()

    def release() -> None:
        with _streams.lock:
            if done.is_set():
                return
            done.set()
            entry[0] -= 1
            if entry[0] == 0:
                del _streams.open[item]
                os.close(entry[1])  # closing the file drops its lock

    return release


@contextmanager
def exclusive(settings: Settings, item: str) -> Iterator[bool]:
    """Take a cache folder's lock for eviction without waiting: True when no process streams from it (the lock
    is held until the block ends), False when one does. Call :func:`remove_lease` inside the block once the
    folder is gone."""
    os.makedirs(settings.leases_dir, exist_ok=True)
    path = lease_path(settings, item)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def remove_lease(settings: Settings, item: str) -> None:
    """Remove an evicted folder's lock file (while holding it: a stream that opens it afterwards finds the
    folder gone, a miss, or rebuilt)."""
    try:
        os.unlink(lease_path(settings, item))
    except FileNotFoundError:
        pass


@contextmanager
def collector_lock(settings: Settings) -> Iterator[None]:
    """One collection at a time per data dir (the dispatcher's and ``trackprep gc``): waits for the other."""
    os.makedirs(settings.leases_dir, exist_ok=True)
    fd = os.open(os.path.join(settings.leases_dir, GC_LOCK), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
