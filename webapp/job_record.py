"""A job as a typed record, and the states a job can be in: one definition each.

Flask-free and store-free. The job store (:mod:`webapp.jobs`) builds every :class:`Job` it returns with
:meth:`Job.from_row`, and writes and queries statuses through :class:`JobStatus`; the schema's one-active-job
index (:mod:`webapp.db`) is written from :data:`ACTIVE`. No status is typed into SQL as a string.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any


class JobStatus(str, Enum):
    """Every state a job can be in, stored as its string."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # finished longer ago than TRACKPREP_RESULT_TTL_DAYS: its folder and results are gone


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)  # at most one job per workflow key is in one of these
FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)  # the states a job can expire from
TERMINAL = (*FINISHED, JobStatus.EXPIRED)


def sql_values(states: Iterable[JobStatus]) -> str:
    """States as an SQL list of quoted values, for the schema's partial index, whose ``WHERE`` cannot take
    parameters. Queries bind statuses as parameters instead."""
    return "(" + ", ".join(f"'{state.value}'" for state in states) + ")"


def placeholders(states: Iterable[JobStatus]) -> str:
    """``(?, ?)``, one parameter per state (bind them with :func:`values`)."""
    return "(" + ", ".join("?" for _state in states) + ")"


def values(states: Iterable[JobStatus]) -> tuple[str, ...]:
    """The stored strings of states, in order, to bind as SQL parameters."""
    return tuple(state.value for state in states)


@dataclass(frozen=True)
class Job:
    """One row of the ``jobs`` table (docs/architecture.md, "Jobs"), its JSON columns decoded.

    ``targets`` are the absolute paths Snakemake is asked for; ``config`` is written to the job's ``job.yaml``;
    ``files`` are written into the job's folder before the run; ``work_dirs`` are swept of temp leftovers when a
    run stops. ``error`` is ``{rule, reason, log_tail}`` once a job failed or was cancelled.
    """

    id: str
    kind: str
    workflow_key: str
    status: JobStatus
    created_at: str
    targets: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    work_dirs: list[str] = field(default_factory=list)
    source_id: str | None = None
    private: bool = False
    stages_done: int = 0
    stages_total: int | None = None
    message: str = ""
    error: dict[str, Any] | None = None
    pid: int | None = None
    pid_start: str | None = None
    owner: str | None = None
    cancel_requested: bool = False
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        """The record of a ``SELECT * FROM jobs`` row (the one place a row becomes a Job)."""
        def decoded(column: str, empty: Any) -> Any:
            text = row[column]
            return empty if text is None else json.loads(text)

        return cls(
            id=row["id"], kind=row["kind"], workflow_key=row["workflow_key"], status=JobStatus(row["status"]),
            created_at=row["created_at"], targets=decoded("targets", []), config=decoded("config", {}),
            files=decoded("files", {}), work_dirs=decoded("work_dirs", []), source_id=row["source_id"],
            private=bool(row["private"]), stages_done=row["stages_done"], stages_total=row["stages_total"],
            message=row["message"], error=decoded("error", None), pid=row["pid"], pid_start=row["pid_start"],
            owner=row["owner"], cancel_requested=bool(row["cancel_requested"]), attempts=row["attempts"],
            started_at=row["started_at"], finished_at=row["finished_at"],
        )

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.status in ACTIVE

    @property
    def terminal(self) -> bool:
        """Completed, failed, cancelled or expired: the job will not change state again (a retry is a new job)."""
        return self.status in TERMINAL

    @property
    def progress(self) -> float:
        """0..1: finished stages over all stages (1 for a completed job)."""
        if self.status is JobStatus.COMPLETED:
            return 1.0
        total = self.stages_total or 0
        return round(min(self.stages_done / total, 1.0), 4) if total else 0.0

    def __getitem__(self, column: str) -> Any:
        """Row-style read, ``job["id"]``, for callers not moved to attributes yet (``webapp/files_api.py``);
        ``status`` reads as its stored string, as the row had it."""
        if column not in COLUMNS:
            raise KeyError(column)
        value = getattr(self, column)
        return value.value if isinstance(value, JobStatus) else value


COLUMNS = frozenset(column.name for column in fields(Job))  # the jobs table's columns, in Job's field names
