"""Dispatcher heartbeats in the job store: each dispatcher records when it last made a pass, so that the web
side (``/health``) can tell whether any dispatcher runs the queue, wherever it lives (a thread of
``trackprep serve`` or a ``trackprep worker`` process)."""
from __future__ import annotations

import time

import sqlite_utils

from .db import transaction
from .workers import parse_owner


def beat(db: sqlite_utils.Database, owner: str) -> None:
    """Record that the dispatcher ``owner`` (``host:pid:start``, :func:`webapp.procs.identity`) is alive now;
    its first beat also records its host, pid, start time and when it started (:mod:`webapp.workers`)."""
    host, pid, started = parse_owner(owner)
    now = time.time()
    with transaction(db):
        db.execute("INSERT INTO dispatchers (owner, beat_at, host, pid, pid_start, started_at)"
                   " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(owner) DO UPDATE SET beat_at = excluded.beat_at",
                   (owner, now, host, pid, started, now))


def forget(db: sqlite_utils.Database, owner: str) -> None:
    """Remove a dispatcher that is stopping (it runs nothing any more)."""
    with transaction(db):
        db.execute("DELETE FROM dispatchers WHERE owner = ?", (owner,))


def live(db: sqlite_utils.Database, within: float) -> list[dict]:
    """Dispatchers that beat in the last ``within`` seconds, most recent first: ``{owner, age}``."""
    now = time.time()
    rows = db.query("SELECT owner, beat_at FROM dispatchers WHERE beat_at >= ? ORDER BY beat_at DESC",
                    (now - within,))
    return [{"owner": row["owner"], "age": round(max(0.0, now - row["beat_at"]), 1)} for row in rows]
