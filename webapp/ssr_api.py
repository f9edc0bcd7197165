"""Blueprint: the croSSRoad-compatible SSR analysis API (docs/api.md, "SSR analysis").

``POST /analyze_ssr/`` validates every input before queuing, stores the uploads under the analysis key (a hash
of their content and the parameters) and submits an ``ssr`` job through the shared job store
(:mod:`webapp.ssr_submit`), so identical submissions attach to the running job or reuse the finished result, and
SSR jobs share the queue, the concurrency bound and the ``/jobs`` views. Results are served from
``{cache_dir}/ssr/v1/<key>/output/``; plot tables as Arrow IPC streams built once, the whole output as a zip built
once, both range-capable (:mod:`webapp.ssr_results`).
"""

from __future__ import annotations

import os

from flask import Blueprint, Response, current_app, jsonify, request

from . import jobs, serving, ssr_results, ssr_submit, ssr_tables
from .db import get_db
from .errors import ApiError, Gone, NotFound
from .job_record import Job, JobStatus
from .ssr_openapi import openapi_paths

bp = Blueprint("ssr", __name__)


class NotCompleted(ApiError):
    """The analysis has not completed (yet)."""

    status, code = 409, "not_completed"


def _settings():
    return current_app.config["TRACKPREP_SETTINGS"]


def _links(job_id: str) -> dict:
    return {
        "status_url": f"/api/job/{job_id}/status",
        "results_base_url": f"/api/job/{job_id}/",
        "download_all_url": f"/api/job/{job_id}/download_zip",
    }


@bp.post("/analyze_ssr/")
def analyze_ssr():
    """Validate an SSR analysis submission and queue it (or attach to / reuse the identical one)."""
    settings = _settings()
    placed = ssr_submit.place(settings, request)
    job = ssr_submit.queue(settings, get_db(), placed)
    body = {"job_id": job.id, "status": job.status.value, "analysis_key": placed.key, **_links(job.id)}
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = body["status_url"]
    return response


def _ssr_job(job_id: str) -> Job:
    job = jobs.get(get_db(), job_id) if len(job_id) <= 64 else None
    if job is None or job.kind != "ssr":
        raise NotFound(f"no SSR analysis job with id {job_id!r}")
    return job


def _results_job(job_id: str) -> Job:
    """An SSR job whose results (and log) a route reads: 410 once it has expired (webapp/cache_gc.py)."""
    job = _ssr_job(job_id)
    if job.status is JobStatus.EXPIRED:
        raise Gone(f"analysis {job_id} has expired: {job.message}. Submit it again to run it anew",
                   fields={"job_id": job_id, "status": job.status.value})
    return job


def _completed(job: Job) -> None:
    if job.status is not JobStatus.COMPLETED:
        raise NotCompleted(f"analysis {job.id} is {job.status.value}, not completed")


@bp.get("/api/job/<job_id>/status")
def status(job_id: str):
    """croSSRoad's status record: the job store's record under croSSRoad's field names."""
    job = _ssr_job(job_id)
    return jsonify(
        job_id=job.id,
        status=job.status.value,
        message=job.message,
        progress=job.progress,
        error_details=job.error,
        reference_id=job.config["ssr"].get("reference_id") or None,
    )


@bp.get("/api/job/<job_id>/plot_data/<plot_key>")
def plot_data(job_id: str, plot_key: str):
    """The table behind a plot key as an Arrow IPC stream (204 when it has no rows)."""
    job = _results_job(job_id)
    try:
        table = ssr_results.plot_table(job, plot_key)
    except ssr_tables.UnknownPlotKey:
        raise NotFound(
            f"unknown plot key {plot_key!r}; known: {', '.join(sorted(ssr_tables.PLOT_KEYS))}"
        ) from None
    except ssr_tables.TableNotProduced as error:
        raise NotFound(str(error)) from None
    _completed(job)
    try:
        path, facts = ssr_results.arrow_file(
            job, table,
            max_bytes=current_app.config.get("SSR_PREVIEW_MAX_BYTES", ssr_results.PREVIEW_MAX_BYTES),
            preview_rows=current_app.config.get("SSR_PREVIEW_ROWS", ssr_results.PREVIEW_ROWS),
        )
    except ssr_results.ResultGone as error:
        raise NotFound(str(error)) from None
    if facts["total_rows"] == 0:
        return Response(status=204)
    response = serving.send(
        path, f"ssr/{os.path.basename(job.workflow_key)}/{os.path.basename(path)}", serving.IMMUTABLE
    )
    response.headers["Content-Type"] = ssr_results.ARROW_TYPE
    if facts["rows"] < facts["total_rows"]:
        response.headers.update(
            {
                "X-Data-Truncated": "true",
                "X-Data-Total-Rows": str(facts["total_rows"]),
                "X-Data-Preview-Rows": str(facts["rows"]),
                "X-Data-File-Size-Bytes": str(facts["source_bytes"]),
            }
        )
    return response


@bp.get("/api/job/<job_id>/download_zip")
def download_zip(job_id: str):
    """A zip of the analysis' output/ folder, built once, served with ranges."""
    job = _results_job(job_id)
    _completed(job)
    target = ssr_results.results_zip(job)
    name = f"ssr/{os.path.basename(os.path.dirname(target))}/{ssr_results.ZIP_NAME}"
    response = serving.send(target, name, serving.IMMUTABLE)
    response.headers["Content-Type"] = "application/zip"
    response.headers["Content-Disposition"] = f'attachment; filename="ssr_{job.id}.zip"'
    return response


@bp.get("/api/job/<job_id>/files")
def files(job_id: str):
    """The result files: relative path, size, label and download URL."""
    job = _results_job(job_id)
    return jsonify(job_id=job.id, status=job.status.value, files=ssr_results.listing(job))


@bp.get("/api/job/<job_id>/download/<path:rel>")
def download(job_id: str, rel: str):
    """One result file, range-capable; nothing outside the output folder."""
    job = _results_job(job_id)
    path = ssr_results.result_file(job, rel)
    if path is None:
        raise NotFound(f"no result file {rel!r}")
    analysis = os.path.basename(os.path.dirname(os.path.realpath(ssr_results.output_root(job))))
    return serving.send(path, f"ssr/{analysis}/{rel}", serving.IMMUTABLE)


@bp.get("/api/job/<job_id>/logs")
def logs(job_id: str):
    """The job's log: Snakemake's output, then each stage's own log."""
    job = _results_job(job_id)
    return Response(ssr_results.log_text(_settings().jobs_dir, job), content_type="text/plain; charset=utf-8")


def init_app(app) -> None:
    """Register the SSR blueprint and its OpenAPI paths (called by the app factory)."""
    app.register_blueprint(bp)
    app.extensions.setdefault("trackprep.openapi_paths", {}).update(openapi_paths())
