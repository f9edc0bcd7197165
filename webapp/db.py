"""The SQLite store: one file, WAL mode, one connection per thread; writes in ``BEGIN IMMEDIATE``
transactions.

sqlite-utils creates the schema and runs the reads; writes inside a transaction use plain ``execute`` because
sqlite-utils' own write helpers commit on their own. In the web app, :func:`get_db` keeps one connection per
thread; the dispatcher and the CLI open their own with :func:`connect`.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlite_utils

from .job_record import ACTIVE, sql_values

BUSY_TIMEOUT_MS = 30_000
_local = threading.local()

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY,
    access_url TEXT NOT NULL,
    md5 TEXT NOT NULL,
    format TEXT NOT NULL,
    index_url TEXT NOT NULL DEFAULT '',
    access TEXT NOT NULL DEFAULT 'public',
    reference TEXT NOT NULL DEFAULT '',      -- id of the fasta source a CRAM is decoded against, or ''
    reference_md5 TEXT NOT NULL DEFAULT '',  -- that source's md5 at registration: part of the artifact key
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    workflow_key TEXT NOT NULL,
    targets TEXT NOT NULL,          -- JSON list of absolute paths
    config TEXT NOT NULL,           -- JSON dict, written to the job's job.yaml
    files TEXT NOT NULL DEFAULT '{{}}',  -- JSON {{name: text}} written into the job dir before the run
    work_dirs TEXT NOT NULL DEFAULT '[]',  -- JSON list: folders whose temp leftovers a stopped run may leave
    source_id TEXT,
    private INTEGER NOT NULL DEFAULT 0,  -- built from a restricted source: shown only with the API token
    status TEXT NOT NULL,
    stages_done INTEGER NOT NULL DEFAULT 0,
    stages_total INTEGER,
    message TEXT NOT NULL DEFAULT '',
    error TEXT,                     -- JSON {{rule, reason, log_tail}} when failed or cancelled
    pid INTEGER,
    pid_start TEXT,
    owner TEXT,                     -- the dispatcher running it: host:pid:start
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_active_per_key ON jobs (workflow_key)
    WHERE status IN {sql_values(ACTIVE)};
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_at);
CREATE INDEX IF NOT EXISTS jobs_by_key ON jobs (workflow_key, created_at);
CREATE TABLE IF NOT EXISTS dispatchers (
    owner TEXT PRIMARY KEY,         -- host:pid:start, as in jobs.owner
    beat_at REAL NOT NULL,          -- unix time of its last pass (the heartbeat /health reads)
    host TEXT NOT NULL DEFAULT '',  -- where it runs, its pid and kernel start time (webapp/workers.py)
    pid INTEGER,
    pid_start TEXT,
    started_at REAL                 -- unix time of its first beat
);
CREATE TABLE IF NOT EXISTS cache_served (
    item TEXT PRIMARY KEY,          -- a cache folder relative to the cache dir: v2/bam/<key>, src/<md5>, ...
    served_at REAL NOT NULL         -- unix time it was last served (written in batches: webapp/cache_usage.py)
);
"""


def connect(path: str) -> sqlite_utils.Database:
    """Open (and if needed create) the store at ``path``: WAL mode, autocommit, a generous busy timeout."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous = NORMAL")
    db = sqlite_utils.Database(conn)
    if db.journal_mode != "wal":
        db.enable_wal()
    return db


# columns added after the first release: (table, column, definition), added to an older store at start
ADDED_COLUMNS = (
    ("sources", "reference", "TEXT NOT NULL DEFAULT ''"),
    ("sources", "reference_md5", "TEXT NOT NULL DEFAULT ''"),
    ("sources", "pinned", "INTEGER NOT NULL DEFAULT 0"),  # its artifacts are never evicted (cache_gc.py)
    ("dispatchers", "host", "TEXT NOT NULL DEFAULT ''"),
    ("dispatchers", "pid", "INTEGER"),
    ("dispatchers", "pid_start", "TEXT"),
    ("dispatchers", "started_at", "REAL"),
)


def init_schema(db: sqlite_utils.Database) -> None:
    """Create the tables, indexes and columns that are missing (idempotent)."""
    with transaction(db):
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        for table, column, definition in ADDED_COLUMNS:
            if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})").fetchall()}:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A ``BEGIN IMMEDIATE`` transaction: one writer at a time across threads and processes."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def open_store(path: str) -> sqlite_utils.Database:
    """Connect and make sure the schema exists."""
    db = connect(path)
    init_schema(db)
    return db


def get_db() -> sqlite_utils.Database:
    """This thread's connection to the app's store (kept for the thread's life: web threads are pooled)."""
    from flask import current_app

    return thread_db(current_app.config["TRACKPREP_SETTINGS"].db_path)


def thread_db(path: str) -> sqlite_utils.Database:
    """This thread's connection to the store at ``path``, opened on first use and kept."""
    connections = _local.__dict__.setdefault("connections", {})
    if path not in connections:
        connections[path] = connect(path)
    return connections[path]


def init_app(app) -> None:
    """Create the schema once, before the first request."""
    open_store(app.config["TRACKPREP_SETTINGS"].db_path).conn.close()
