"""Blueprint: job status, listing and cancelling (any kind of job: preprocess, ssr, ...)."""
from __future__ import annotations

import hashlib
import json
import threading
import time

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from . import derived, jobs
from .job_record import Job, JobStatus
from .auth import require_token, token_valid
from .db import get_db
from .errors import Conflict, Invalid, NotFound

bp = Blueprint("jobs", __name__)
CANCEL_WAIT = 5.0  # seconds DELETE waits for the run to stop before answering 202
MAX_WAIT = 30.0  # the longest long poll, GET /jobs/{id}?wait=S
# How often a long poll asks SQLite whether anything was committed since (PRAGMA data_version, a few
# microseconds); the job is read again only then. A small miss completes in under half a second: a 0.1 s step
# made clients learn of it up to 0.1 s late.
WAIT_STEP = 0.01
# Long polls hold a server thread each; past this many at once in one process, a poll answers at once (the client
# simply asks again) so that waiting clients cannot starve range requests of threads.
MAX_LONG_POLLS = 8
_long_polls = threading.BoundedSemaphore(MAX_LONG_POLLS)


def visible_job(job_id: str) -> Job:
    """The job, if this caller may see it (a job built from a restricted source needs the token, unless that
    source is derived from an SSR job: :mod:`webapp.derived`)."""
    job = jobs.get(get_db(), job_id) if len(job_id) <= 64 else None
    if job is None or (job.private and not token_valid() and not derived.job_readable_by_id(get_db(), job)):
        raise NotFound(f"no job with id {job_id!r}")
    return job


def _view(job: Job) -> dict:
    return jobs.public_view(get_db(), job, current_app.config["TRACKPREP_SETTINGS"].cache_dir)


def _data_version() -> int:
    """Changes whenever another connection (the dispatcher's, another process's) commits to the store."""
    return get_db().execute("PRAGMA data_version").fetchone()[0]


def _wait_seconds() -> float:
    """The ``wait`` query value in seconds (0 when absent)."""
    raw = request.args.get("wait")
    if raw is None:
        return 0.0
    try:
        wait = float(raw)
    except ValueError:
        raise Invalid(f"wait must be a number of seconds, at most {MAX_WAIT:g}") from None
    if not 0 <= wait <= MAX_WAIT:
        raise Invalid(f"wait must be between 0 and {MAX_WAIT:g} seconds")
    return wait


def _etag(view: dict) -> str:
    """A tag that changes whenever anything a client sees of the job changes (state, stage, message, ...)."""
    return hashlib.sha1(json.dumps(view, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _unchanged(view: dict, seen: str | None, baseline: str) -> bool:
    tag = _etag(view)
    return (tag == baseline) if seen is None else request.if_none_match.contains(tag)


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    """One job's status and progress, with an ETag; ``?wait=S`` long-polls until it changes (at most S s).

    The change is measured against the caller's ``If-None-Match`` when it sends one (so no change between two
    polls is missed), else against the job as it was when the request arrived. A conditional request whose tag
    still matches at the end gets ``304``, as any conditional GET does.
    """
    wait = _wait_seconds()
    job = visible_job(job_id)
    view = _view(job)
    seen = request.headers.get("If-None-Match")
    baseline = _etag(view)
    if wait and not job.terminal and _unchanged(view, seen, baseline) \
            and _long_polls.acquire(blocking=False):
        try:
            deadline = time.monotonic() + wait
            version = _data_version()
            while time.monotonic() < deadline:
                time.sleep(min(WAIT_STEP, max(0.0, deadline - time.monotonic())))
                if (now := _data_version()) == version:
                    continue
                version = now
                job = visible_job(job_id)
                view = _view(job)
                if job.terminal or not _unchanged(view, seen, baseline):
                    break
        finally:
            _long_polls.release()
    response = jsonify(view)
    response.set_etag(_etag(view))
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


@bp.get("/jobs")
def list_jobs():
    """Recent jobs, newest first, filterable by status and kind."""
    status = request.args.get("status") or None
    if status is not None and status not in {s.value for s in JobStatus}:
        raise Invalid(f"status must be one of: {', '.join(s.value for s in JobStatus)}")
    kind = request.args.get("kind") or None
    try:
        limit = int(request.args.get("limit", "100"))
    except ValueError:
        raise Invalid("limit must be an integer") from None
    if not 1 <= limit <= 1000:
        raise Invalid("limit must be between 1 and 1000")
    found = jobs.list_jobs(get_db(), status=JobStatus(status) if status else None, kind=kind, limit=limit,
                           include_private=token_valid())
    return jsonify(jobs=[_view(job) for job in found])


@bp.delete("/jobs/<job_id>")
def cancel_job(job_id: str):
    """Cancel (token): a queued job at once, a running one by stopping its Snakemake."""
    require_token()
    job = visible_job(job_id)
    if job.terminal:
        raise Conflict(f"job {job_id} has already ended ({job.status.value})")
    job = jobs.request_cancel(get_db(), job_id)
    deadline = time.monotonic() + CANCEL_WAIT
    while not job.terminal and time.monotonic() < deadline:
        time.sleep(0.1)
        job = jobs.get(get_db(), job_id)
    response = jsonify(_view(job))
    response.status_code = 200 if job.terminal else 202
    return response


@bp.post("/jobs/<job_id>/retry")
def retry_job(job_id: str):
    """Run a failed or cancelled job's work again (token); its source's remembered failure is forgotten."""
    require_token()
    job = visible_job(job_id)
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise Conflict(f"job {job_id} is {job.status.value}: only a failed or cancelled job can be retried")
    again, _created = jobs.retry(get_db(), job)
    if again is None:
        raise Conflict(f"the targets of job {job_id} are built already: nothing to retry")
    response = jsonify(_view(again))
    response.status_code = 202
    response.headers["Location"] = url_for("jobs.get_job", job_id=again.id)
    return response
