"""Source management shared by the API (``GET /files``, ``DELETE /files/{id}``) and the ``trackprep sources`` command:
where a source's artifact stands, the job building it, and removing a source with its unshared cached files."""
from __future__ import annotations

import os
from typing import Any

import sqlite_utils

from . import cache_files, jobs, plan, sources
from .errors import Conflict
from .job_record import Job
from .settings import Settings

STATES = ("ready", "building", "failed", "absent")


def artifact_state(settings: Settings, db: sqlite_utils.Database, source: dict[str, Any]) -> str:
    """Where a source's ``/data`` stands: ``ready`` (built, or a local passthrough file served as it is),
    ``building`` (a job is queued or running), ``failed`` (its last build failed) or ``absent``."""
    resolved = plan.resolve(settings, source, "data", raw=False)
    if resolved is None or resolved.targets is None or resolved.ready():
        return "ready"
    if jobs.active_for_key(db, resolved.key) is not None:
        return "building"
    if jobs.remembered_failure(db, resolved.key, source["created_at"]) is not None:
        return "failed"
    return "absent"


def active_job(settings: Settings, db: sqlite_utils.Database, source: dict[str, Any]) -> Job | None:
    """The queued or running job building any of the source's files (data, index, raw), if one is."""
    keys = {resolved.key for what in ("data", "index") for raw in (False, True)
            if (resolved := plan.resolve(settings, source, what, raw)) is not None and resolved.key}
    return next((job for job in (jobs.active_for_key(db, key) for key in sorted(keys)) if job), None)


def delete(settings: Settings, db: sqlite_utils.Database, source: dict[str, Any]) -> list[str]:
    """Remove a source's record, then its cached files no other id shares; the removed folders relative to the
    cache. Conflict while a job builds it (cancel the job first)."""
    active = active_job(settings, db, source)
    if active is not None:
        raise Conflict(f"job {active.id} is building source {source['id']!r}; cancel it first (DELETE "
                       f"/jobs/{active.id}) or wait for it to end", fields={"job_id": active.id})
    sources.delete(db, source["id"])
    return [os.path.relpath(path, settings.cache_dir)
            for path in cache_files.remove_unshared(db, settings, source)]
