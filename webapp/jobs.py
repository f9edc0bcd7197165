"""The job store: plain functions over the ``jobs`` table that the views, the dispatcher and the CLI all call.
Every query on that table is here (its schema is in :mod:`webapp.db`); jobs come back as
:class:`webapp.job_record.Job` records.

A job is generic: ``kind`` ('preprocess', 'ssr', ...), ``workflow_key`` (the target cache directory),
``targets`` (absolute paths Snakemake is asked for) and ``config`` (written to the job's ``job.yaml``). The
partial unique index on ``workflow_key`` over the active states is the mutex (docs/architecture.md decision 4):
:func:`submit` attaches every request for a key to its one active job, whichever thread or process asks.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import sqlite_utils

from .db import transaction
from .errors import QueueFull
from .job_record import ACTIVE, Job, JobStatus, placeholders, values
from .layout import ARTIFACT_RECORD, CONVERSION_REPORT, built_index

# Set whenever a job is queued, so an in-process dispatcher starts it without waiting for its next poll.
wakeup = threading.Event()


QUEUE_RETRY_AFTER = "30"  # seconds a refused miss or submission is told to wait (queue full)


def now() -> str:
    """A UTC timestamp in ISO 8601 (sorts as text)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _all(db: sqlite_utils.Database, sql: str, params: tuple = ()) -> list[Job]:
    return [Job.from_row(row) for row in db.query(sql, params)]


def _one(db: sqlite_utils.Database, sql: str, params: tuple = ()) -> Job | None:
    row = next(iter(db.query(sql, params)), None)
    return None if row is None else Job.from_row(row)


def get(db: sqlite_utils.Database, job_id: str) -> Job | None:
    """The job with this id, or None."""
    return _one(db, "SELECT * FROM jobs WHERE id = ?", (job_id,))


def active_for_key(db: sqlite_utils.Database, workflow_key: str) -> Job | None:
    """The queued or running job for a workflow key, if any."""
    return _one(db, f"SELECT * FROM jobs WHERE workflow_key = ? AND status IN {placeholders(ACTIVE)}",
                (workflow_key, *values(ACTIVE)))


def latest_for_key(db: sqlite_utils.Database, workflow_key: str, since: str) -> Job | None:
    """The newest job for a workflow key created at or after ``since`` (ISO timestamp), whatever its state."""
    return _one(db, "SELECT * FROM jobs WHERE workflow_key = ? AND created_at >= ?"
                    " ORDER BY created_at DESC, rowid DESC LIMIT 1", (workflow_key, since))


def latest_completed(db: sqlite_utils.Database, workflow_key: str) -> Job | None:
    """The job that most recently completed a workflow key, if any did."""
    return _one(db, "SELECT * FROM jobs WHERE workflow_key = ? AND status = ? ORDER BY finished_at DESC LIMIT 1",
                (workflow_key, JobStatus.COMPLETED.value))


def remembered_failure(db: sqlite_utils.Database, workflow_key: str, since: str) -> Job | None:
    """The failed job that still answers for a workflow key: the newest job since ``since``, if it failed.

    A source that failed to build fails the same way on every try, so requests get that failure instead of a
    new job each (one bad file must not keep a worker busy). It is forgotten when the source is registered
    anew (``since`` is its registration time) or an operator retries the job (the retry is newer). A
    cancelled job is not a failure of the source and is not remembered.
    """
    job = latest_for_key(db, workflow_key, since)
    return job if job is not None and job.status is JobStatus.FAILED else None


def retry(db: sqlite_utils.Database, job: Job) -> tuple[Job | None, bool]:
    """Queue a failed or cancelled job's work again (or attach to the job already running it)."""
    return submit(db, job.kind, job.workflow_key, job.targets, job.config, files=job.files,
                  work_dirs=job.work_dirs, source_id=job.source_id, private=job.private,
                  satisfied=lambda: all(os.path.isfile(path) for path in job.targets))


def queued_count(db: sqlite_utils.Database) -> int:
    """How many jobs wait in the queue (the ``jobs_by_status`` index answers it)."""
    return db.execute("SELECT count(*) FROM jobs WHERE status = ?", (JobStatus.QUEUED.value,)).fetchone()[0]


def submit(db: sqlite_utils.Database, kind: str, workflow_key: str, targets: list[str],
           config: dict[str, Any], *, files: dict[str, str] | None = None, work_dirs: list[str] | None = None,
           source_id: str | None = None, private: bool = False,
           satisfied: Callable[[], bool] | None = None,
           max_queued: int | None = None) -> tuple[Job | None, bool]:
    """Attach to the active job for ``workflow_key`` or queue a new one: ``(job, created)``.

    ``files`` are written into the job's working directory before Snakemake starts (config values may name
    them by relative path: Snakemake runs there). ``work_dirs`` are folders whose temp leftovers a stopped run
    may leave; they are swept when the job fails or is cancelled. A ``private`` job (built from a restricted
    source) is shown only to callers holding the API token.

    ``satisfied`` (optional) is asked inside the transaction when no job is active: True means the targets are
    already built (a job finished since the caller looked), and ``(None, False)`` comes back instead of a job.
    Jobs record their outcome only after their files are in place, so this closes that race.

    ``max_queued`` (backpressure, ``TRACKPREP_MAX_QUEUED_JOBS``): when that many jobs are queued already, a
    *new* job is refused with :class:`webapp.errors.QueueFull` (503 + Retry-After); attaching to the active
    job of the same key still works. Counted inside the transaction, so concurrent requests cannot overshoot.
    """
    for _attempt in range(3):
        try:
            with transaction(db):
                existing = active_for_key(db, workflow_key)
                if existing is not None:
                    return existing, False
                if satisfied is not None and satisfied():
                    return None, False
                if max_queued is not None:
                    queued = queued_count(db)
                    if queued >= max_queued:
                        raise QueueFull(f"{queued} jobs are queued, the limit (TRACKPREP_MAX_QUEUED_JOBS) is "
                                        f"{max_queued}: try again later", {"Retry-After": QUEUE_RETRY_AFTER},
                                        {"queued": queued, "max_queued_jobs": max_queued})
                job_id = uuid.uuid4().hex
                db.execute(
                    "INSERT INTO jobs (id, kind, workflow_key, targets, config, files, work_dirs, source_id,"
                    " private, status, message, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (job_id, kind, workflow_key, json.dumps(list(targets)), json.dumps(config),
                     json.dumps(files or {}), json.dumps(list(work_dirs or [])), source_id, int(private),
                     JobStatus.QUEUED.value, JobStatus.QUEUED.value, now()),  # the first message: its state
                )
                job = get(db, job_id)
        except sqlite3.IntegrityError:
            continue  # another connection won the partial unique index; attach to its job
        wakeup.set()
        return job, True
    existing = active_for_key(db, workflow_key)
    if existing is None:
        raise RuntimeError(f"could not create or find an active job for {workflow_key}")
    return existing, False


# Kinds whose jobs belong to whoever submitted them (an uploaded genome and its results): listed only to the
# operator; the submitter reaches such a job through its own unguessable id.
SUBMITTER_KINDS = ("ssr",)


def list_jobs(db: sqlite_utils.Database, status: JobStatus | None = None, kind: str | None = None,
              limit: int = 100, include_private: bool = False) -> list[Job]:
    """Recent jobs, newest first, optionally of one status and/or kind. Without ``include_private`` (the
    operator's token) neither jobs built from restricted sources nor submitters' jobs are listed."""
    where, params = [], []
    if not include_private:
        where.append(f"private = 0 AND kind NOT IN ({', '.join('?' * len(SUBMITTER_KINDS))})")
        params.extend(SUBMITTER_KINDS)
    if status:
        where.append("status = ?")
        params.append(JobStatus(status).value)
    if kind:
        where.append("kind = ?")
        params.append(kind)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return _all(db, f"SELECT * FROM jobs {clause} ORDER BY created_at DESC, rowid DESC LIMIT ?", (*params, limit))


def counts(db: sqlite_utils.Database) -> dict[str, int]:
    """How many jobs are in each state."""
    rows = db.query("SELECT status, count(*) AS n FROM jobs GROUP BY status")
    found = {row["status"]: row["n"] for row in rows}
    return {status.value: found.get(status.value, 0) for status in JobStatus}


def counts_by_kind(db: sqlite_utils.Database) -> dict[tuple[str, str], int]:
    """How many jobs of each kind are in each state: ``{(kind, status): n}`` over the pairs that occur."""
    rows = db.query("SELECT kind, status, count(*) AS n FROM jobs GROUP BY kind, status")
    return {(row["kind"], row["status"]): row["n"] for row in rows}


def queue_position(db: sqlite_utils.Database, job: Job) -> int | None:
    """1 for the next queued job to start, None when the job is not queued."""
    if job.status is not JobStatus.QUEUED:
        return None
    row = next(iter(db.query(
        "SELECT count(*) AS n FROM jobs WHERE status = ? AND (created_at < ? OR (created_at = ? AND id < ?))",
        (JobStatus.QUEUED.value, job.created_at, job.created_at, job.id))))
    return row["n"] + 1


def request_cancel(db: sqlite_utils.Database, job_id: str) -> Job | None:
    """Cancel a job: a queued one at once, a running one by flagging it for its dispatcher to stop."""
    with transaction(db):
        job = get(db, job_id)
        if job is None:
            return None
        if job.status is JobStatus.QUEUED:
            db.execute("UPDATE jobs SET status = ?, message = 'cancelled before it started', cancel_requested = 1,"
                       " finished_at = ? WHERE id = ?", (JobStatus.CANCELLED.value, now(), job_id))
        elif job.status is JobStatus.RUNNING:
            db.execute("UPDATE jobs SET cancel_requested = 1, message = 'cancelling' WHERE id = ?", (job_id,))
    return get(db, job_id)


def claim_next(db: sqlite_utils.Database, max_running: int, owner: str) -> Job | None:
    """Take the oldest queued job if fewer than ``max_running`` run (counted over every process)."""
    with transaction(db):
        running = next(iter(db.query("SELECT count(*) AS n FROM jobs WHERE status = ?",
                                     (JobStatus.RUNNING.value,))))["n"]
        if running >= max_running:
            return None
        job = _one(db, "SELECT * FROM jobs WHERE status = ? ORDER BY created_at, id LIMIT 1",
                   (JobStatus.QUEUED.value,))
        if job is None:
            return None
        db.execute("UPDATE jobs SET status = ?, owner = ?, started_at = ?, attempts = attempts + 1,"
                   " pid = NULL, pid_start = NULL, message = 'starting' WHERE id = ?",
                   (JobStatus.RUNNING.value, owner, now(), job.id))
    return get(db, job.id)


def set_process(db: sqlite_utils.Database, job_id: str, pid: int, pid_start: str | None) -> None:
    """Record the Snakemake process (pid and start time identify it even after pid reuse)."""
    with transaction(db):
        db.execute("UPDATE jobs SET pid = ?, pid_start = ? WHERE id = ?", (pid, pid_start, job_id))


def set_progress(db: sqlite_utils.Database, job_id: str, done: int, total: int | None, message: str) -> None:
    """Record per-stage progress of a running job."""
    with transaction(db):
        db.execute("UPDATE jobs SET stages_done = ?, stages_total = ?, message = ?"
                   " WHERE id = ? AND status = ?", (done, total, message, job_id, JobStatus.RUNNING.value))


def finish(db: sqlite_utils.Database, job_id: str, status: JobStatus, message: str,
           error: dict[str, Any] | None = None) -> None:
    """Record a running job's outcome."""
    with transaction(db):
        db.execute("UPDATE jobs SET status = ?, message = ?, error = ?, finished_at = ? WHERE id = ?",
                   (status.value, message, json.dumps(error) if error else None, now(), job_id))


def requeue(db: sqlite_utils.Database, job_id: str, message: str) -> None:
    """Put a running job back in the queue (its finished stages stay in the cache)."""
    with transaction(db):
        db.execute("UPDATE jobs SET status = ?, owner = NULL, pid = NULL, pid_start = NULL,"
                   " message = ? WHERE id = ? AND status = ?",
                   (JobStatus.QUEUED.value, message, job_id, JobStatus.RUNNING.value))
    wakeup.set()


def running(db: sqlite_utils.Database) -> list[Job]:
    """Every running job, whichever dispatcher owns it."""
    return _all(db, "SELECT * FROM jobs WHERE status = ? ORDER BY started_at", (JobStatus.RUNNING.value,))


def read_conversion(artifact_dir: str) -> dict[str, Any] | None:
    """What the ``conversion.json`` beside a converted artifact says (records in, out, dropped; warnings)."""
    try:
        with open(os.path.join(artifact_dir, CONVERSION_REPORT), encoding="utf-8") as handle:
            return json.load(handle)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


def artifact_files(job: Job) -> list[str]:
    """The files a completed job published: its targets, with an artifact's record replaced by the index it
    names (BAI/TBI or CSI: known only once the data was built)."""
    files = []
    for path in job.targets:
        if os.path.basename(path) == ARTIFACT_RECORD:
            index = built_index(path)
            if index is not None and index not in job.targets:
                files.append(index)
        else:
            files.append(path)
    return files


def conversion_report(job: Job) -> dict[str, Any] | None:
    """The conversion report of a completed preprocess job, if its artifact was converted."""
    if job.status is not JobStatus.COMPLETED or job.kind != "preprocess":
        return None
    return read_conversion(job.workflow_key)


def public_view(db: sqlite_utils.Database, job: Job, cache_dir: str) -> dict[str, Any]:
    """The job as ``GET /jobs/{id}`` shows it; artifacts are named relative to the cache. A conversion that
    dropped records says so in ``conversion`` and ``warnings``."""
    completed = job.status is JobStatus.COMPLETED
    report = conversion_report(job)
    return {
        "job_id": job.id,
        "kind": job.kind,
        "status": job.status.value,
        "stages_done": job.stages_done,
        "stages_total": job.stages_total,
        "progress": job.progress,
        "message": job.message,
        "artifacts": [os.path.relpath(path, cache_dir) for path in artifact_files(job)] if completed else [],
        "error": job.error,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "queue_position": queue_position(db, job),
        "conversion": report,
        "warnings": (report or {}).get("warnings", []),
    }
