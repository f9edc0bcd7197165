"""Several dispatchers on one data dir: which of them is gone, and handing a gone one's jobs to a live one.

Every dispatcher (a ``trackprep worker`` process, or the thread inside ``trackprep serve``) has a row in the
``dispatchers`` table (:mod:`webapp.heartbeat`): its owner string ``host:pid:start``, its host, pid and kernel
start time, when it started and when it last beat. A dispatcher is *gone* when

- it ran on this host and the process with that pid and start time no longer exists (certain, at once), or
- it ran on another host and has not beaten for ``TRACKPREP_HEARTBEAT_TIMEOUT`` seconds (or has no row).

A live dispatcher takes over a gone one's running jobs one at a time: :func:`adopt` moves a job's ownership
in one conditional update, so of several live dispatchers exactly one wins each job; the winner stops what the
gone one left running, sweeps its temp files and puts the job back in the queue with :func:`hand_back`, which
again only applies while the winner still owns the job. The bound on running jobs needs nothing more: the job
counts as running until it is queued again, and its Snakemake has been stopped by then.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import sqlite_utils

from . import jobs, procs
from .db import transaction
from .job_record import Job, JobStatus

log = logging.getLogger(__name__)


def parse_owner(owner: str | None) -> tuple[str, int | None, str | None]:
    """``host:pid:start`` as (host, pid, start); a malformed owner gives ``("", None, None)``."""
    if not owner:
        return "", None, None
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    return host, int(pid) if pid.isdigit() else None, started or None


def registry(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every dispatcher row, newest beat first: owner, host, pid, pid_start, started_at, beat_at."""
    return [dict(row) for row in db.query("SELECT * FROM dispatchers ORDER BY beat_at DESC")]


def gone(db: sqlite_utils.Database, owner: str | None, heartbeat_timeout: float,
         now: float | None = None) -> bool:
    """True when the dispatcher ``owner`` has stopped for good (see the module docstring)."""
    host, pid, started = parse_owner(owner)
    if not host or pid is None:
        return True
    if host == procs.HOST:
        return not procs.alive(pid, started)
    row = next(iter(db.query("SELECT beat_at FROM dispatchers WHERE owner = ?", (owner,))), None)
    now = time.time() if now is None else now
    return row is None or row["beat_at"] < now - heartbeat_timeout


def orphaned(db: sqlite_utils.Database, heartbeat_timeout: float) -> list[Job]:
    """Running jobs whose dispatcher is gone."""
    return [job for job in jobs.running(db) if gone(db, job.owner, heartbeat_timeout)]


def adopt(db: sqlite_utils.Database, job_id: str, gone_owner: str | None, new_owner: str) -> bool:
    """Make ``new_owner`` the owner of a running job still owned by ``gone_owner``; False when another
    dispatcher adopted it first (or it is no longer running)."""
    with transaction(db):
        cursor = db.execute("UPDATE jobs SET owner = ?, message = 'taken over after its dispatcher stopped'"
                            " WHERE id = ? AND status = ? AND owner IS ?",
                            (new_owner, job_id, JobStatus.RUNNING.value, gone_owner))
    return cursor.rowcount == 1


def hand_back(db: sqlite_utils.Database, job_id: str, owner: str, message: str) -> bool:
    """Put an adopted job back in the queue, only while ``owner`` still owns it and it runs."""
    with transaction(db):
        cursor = db.execute("UPDATE jobs SET status = ?, owner = NULL, pid = NULL, pid_start = NULL,"
                            " message = ? WHERE id = ? AND status = ? AND owner = ?",
                            (JobStatus.QUEUED.value, message, job_id, JobStatus.RUNNING.value, owner))
    jobs.wakeup.set()
    return cursor.rowcount == 1


def forget_gone(db: sqlite_utils.Database, heartbeat_timeout: float) -> list[str]:
    """Remove the rows of gone dispatchers that own no running job any more; the owners removed."""
    removed = []
    for row in registry(db):
        if not gone(db, row["owner"], heartbeat_timeout):
            continue
        with transaction(db):
            owns = db.execute("SELECT count(*) FROM jobs WHERE status = ? AND owner = ?",
                              (JobStatus.RUNNING.value, row["owner"])).fetchone()[0]
            if not owns:
                db.execute("DELETE FROM dispatchers WHERE owner = ?", (row["owner"],))
                removed.append(row["owner"])
    for owner in removed:
        log.info("dispatcher %s is gone: removed from the registry", owner)
    return removed
