"""Blueprint: job status, listing and cancelling (any kind of job: preprocess, ssr, ...)."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request, url_for

from . import jobs
from .auth import require_token, token_valid
from .db import get_db
from .errors import Conflict, Invalid, NotFound

bp = Blueprint("jobs", __name__)
CANCEL_WAIT = 5.0  # seconds DELETE waits for the run to stop before answering 202


def visible_job(job_id: str) -> dict:
    """The job, if this caller may see it (a job built from a restricted source needs the token)."""
    job = jobs.get(get_db(), job_id) if len(job_id) <= 64 else None
    if job is None or (job["private"] and not token_valid()):
        raise NotFound(f"no job with id {job_id!r}")
    return job


def _view(job: dict) -> dict:
    return jobs.public_view(get_db(), job, current_app.config["TRACKPREP_SETTINGS"].cache_dir)


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    """One job's status and progress."""
    return jsonify(_view(visible_job(job_id)))


@bp.get("/jobs")
def list_jobs():
    """Recent jobs, newest first, filterable by status and kind."""
    status = request.args.get("status") or None
    if status is not None and status not in {s.value for s in jobs.JobStatus}:
        raise Invalid(f"status must be one of: {', '.join(s.value for s in jobs.JobStatus)}")
    kind = request.args.get("kind") or None
    try:
        limit = int(request.args.get("limit", "100"))
    except ValueError:
        raise Invalid("limit must be an integer") from None
    if not 1 <= limit <= 1000:
        raise Invalid("limit must be between 1 and 1000")
    found = jobs.list_jobs(get_db(), status=status, kind=kind, limit=limit, include_private=token_valid())
    return jsonify(jobs=[_view(job) for job in found])


@bp.delete("/jobs/<job_id>")
def cancel_job(job_id: str):
    """Cancel (token): a queued job at once, a running one by stopping its Snakemake."""
    require_token()
    job = visible_job(job_id)
    if job["status"] in jobs.TERMINAL:
        raise Conflict(f"job {job_id} has already ended ({job['status']})")
    job = jobs.request_cancel(get_db(), job_id)
    deadline = time.monotonic() + CANCEL_WAIT
    while job["status"] not in jobs.TERMINAL and time.monotonic() < deadline:
        time.sleep(0.1)
        job = jobs.get(get_db(), job_id)
    response = jsonify(_view(job))
    response.status_code = 200 if job["status"] in jobs.TERMINAL else 202
    return response


@bp.post("/jobs/<job_id>/retry")
def retry_job(job_id: str):
    """Run a failed or cancelled job's work again (token); its source's remembered failure is forgotten."""
    require_token()
    job = visible_job(job_id)
    if job["status"] not in (jobs.JobStatus.FAILED.value, jobs.JobStatus.CANCELLED.value):
        raise Conflict(f"job {job_id} is {job['status']}: only a failed or cancelled job can be retried")
    again, _created = jobs.retry(get_db(), job)
    if again is None:
        raise Conflict(f"the targets of job {job_id} are built already: nothing to retry")
    response = jsonify(_view(again))
    response.status_code = 202
    response.headers["Location"] = url_for("jobs.get_job", job_id=again["id"])
    return response
