"""Blueprint: the croSSRoad-compatible SSR analysis API (docs/api.md, "SSR analysis").

``POST /analyze_ssr/`` validates every input before queuing, stores the uploads under the analysis key (a hash
of their content and the parameters) and submits an ``ssr`` job through the shared job store, so identical
submissions attach to the running job or reuse the finished result, and SSR jobs share the queue, the
concurrency bound and the ``/jobs`` views. Results are served from ``{cache_dir}/ssr/v1/<key>/output/``; plot
tables as Arrow IPC streams built once, the whole output as a zip built once, both range-capable.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
import zipfile

from flask import Blueprint, Response, current_app, jsonify, request

from . import jobs, metrics, serving, ssr_inputs, ssr_layout, ssr_tables, uploads
from .db import get_db
from .errors import ApiError, DiskFull, Gone, Invalid, NotFound, QueueFull

log = logging.getLogger(__name__)
bp = Blueprint("ssr", __name__)

ARROW_TYPE = "application/vnd.apache.arrow.stream"
IMMUTABLE = "public, max-age=31536000, immutable"
PREVIEW_MAX_BYTES = 64 << 20  # tables larger than this are served as a preview of their first rows
PREVIEW_ROWS = 200_000
ROLES = {"fasta": "fasta_file", "categories": "categories_file", "gene_bed": "gene_bed"}
LABELS = {
    "main/mergedOut.tsv": "SSRs with categories and genome stats",
    "main/ssr_genecombo.tsv": "SSRs in genes",
    "main/mutational_hotspot.csv": "mutational hotspots",
    "main/hssr_data.csv": "hotspot SSRs",
    "main/ref_ssr_genecombo.csv": "SSR-gene rows against the reference",
    "main/flanks/flanked.tsv": "conserved SSRs with flanks",
    "main/flanks/pattern_summary.csv": "flank pattern summary",
    "intrim/genome_stats.tsv": "genome statistics",
    "intrim/reformatted.tsv": "SSRs (PERF calls, reformatted)",
    "intrim/locicons.txt": "conserved SSRs",
    "intrim/ssr_non_gene.tsv": "SSRs outside genes",
    "intrim/genes_non_ssr.tsv": "genes without SSRs",
    "intrim/all_variations.csv": "SSR variation per motif and gene",
}


class NotCompleted(ApiError):
    """The analysis has not completed (yet)."""

    status, code = 409, "not_completed"


def _settings():
    return current_app.config["TRACKPREP_SETTINGS"]


def _save_upload(storage, folder: str, name: str) -> tuple[str, str]:
    """Keep an uploaded file as ``folder/name``: (path, sha256). A part the parser already wrote into the
    staging folder (counted against the upload quota) is renamed there, not copied."""
    path = os.path.join(folder, name)
    digest = hashlib.sha256()
    if isinstance(storage.stream, uploads.QuotaFile):
        storage.stream.flush()
        storage.stream.seek(0)
        for block in iter(lambda: storage.stream.read(1 << 20), b""):
            digest.update(block)
        storage.stream.close()
        os.replace(storage.stream.name, path)
        return path, digest.hexdigest()
    with open(path, "wb") as handle:
        while True:
            block = storage.stream.read(1 << 20)
            if not block:
                break
            digest.update(block)
            handle.write(block)
    return path, digest.hexdigest()


def _place(upload: str, destination: str) -> None:
    """Move an upload to its content-addressed place (an existing copy has the same bytes: keep it)."""
    if os.path.isfile(destination):
        return
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    shutil.move(upload, destination + ".tmp")
    os.replace(destination + ".tmp", destination)


def _validated_submission(staging: str) -> dict:
    """Every input saved to ``staging`` and checked; InputInvalid on the first bad one."""
    fasta = request.files.get("fasta_file")
    if fasta is None:
        raise ssr_inputs.InputInvalid("fasta_file is required")
    saved = {"fasta": _save_upload(fasta, staging, "fasta")}
    for role in ("categories", "gene_bed"):
        storage = request.files.get(ROLES[role])
        if storage is not None:
            saved[role] = _save_upload(storage, staging, role)
    ids = ssr_inputs.fasta_ids(saved["fasta"][0])
    if "categories" in saved:
        ssr_inputs.check_categories(saved["categories"][0])
    if "gene_bed" in saved:
        ssr_inputs.check_gene_bed(saved["gene_bed"][0])
    params = ssr_inputs.parse_params(request.form.get("perf_params"))
    flanks = ssr_inputs.parse_flag(request.form.get("flanks"), "flanks")
    reference_id = (request.form.get("reference_id") or "").strip() or None
    if reference_id is not None and reference_id not in set(ids):
        raise ssr_inputs.InputInvalid(f"reference_id {reference_id!r} is not a record id of fasta_file")
    return {"saved": saved, "params": params, "flanks": flanks, "reference_id": reference_id}


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def _disk_full(settings, error: OSError) -> DiskFull:
    """The 507 answer to an upload the cache's filesystem had no room for (its staging folder is removed)."""
    free = metrics.disk_free(settings.cache_dir)
    log.warning("SSR upload refused: the disk is full: %s has %s bytes free (TRACKPREP_CACHE_DIR): %s",
                settings.cache_dir, free, error)
    shown = "unknown" if free is None else metrics.human_bytes(free)
    return DiskFull(f"the disk is full: the service's cache (TRACKPREP_CACHE_DIR) has {shown} free, too little "
                    "for this upload; it was refused and nothing of it kept. Try again later, or ask the "
                    "operator to free space", fields={"free_bytes": free})


def _latest_completed(workflow_key: str) -> dict | None:
    row = next(
        iter(
            get_db().query(
                "SELECT id FROM jobs WHERE workflow_key = ? AND status = 'completed'"
                " ORDER BY finished_at DESC LIMIT 1",
                (workflow_key,),
            )
        ),
        None,
    )
    return jobs.get(get_db(), row["id"]) if row else None


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
    staging_root = os.path.join(settings.cache_dir, ssr_layout.SSR_DIR, uploads.STAGING)
    os.makedirs(staging_root, exist_ok=True)
    used = uploads.on_disk(settings.cache_dir)
    budget = uploads.Budget("", settings.upload_quota_bytes - used, settings.upload_quota_bytes, used)
    if budget.allowance <= 0:
        budget.take(1)  # raises QuotaExceeded before a byte of the body is read
    staging = budget.folder = tempfile.mkdtemp(prefix="upload-", dir=staging_root)
    request.environ[uploads.BUDGET] = budget  # the body's file parts are written against it (UploadRequest)
    key, fresh = None, False
    try:
        try:
            submission = _validated_submission(staging)
        except ssr_inputs.InputInvalid as error:
            raise Invalid(str(error)) from None
        saved, params = submission["saved"], submission["params"]
        key = ssr_layout.analysis_key(
            saved["fasta"][1],
            saved.get("categories", (None, None))[1],
            saved.get("gene_bed", (None, None))[1],
            params,
            submission["reference_id"],
            submission["flanks"],
        )
        inputs = {}
        fresh = not os.path.isdir(ssr_layout.analysis_dir(settings.cache_dir, key))
        for role, (path, _digest) in saved.items():
            inputs[role] = ssr_layout.input_path(settings.cache_dir, key, role)
            _place(path, inputs[role])
    except OSError as error:
        if error.errno not in DISK_FULL_ERRNOS:
            raise
        if key is not None and fresh:  # inputs placed before the disk filled up: not kept either
            shutil.rmtree(ssr_layout.analysis_dir(settings.cache_dir, key), ignore_errors=True)
        raise _disk_full(settings, error) from None
    finally:
        for storage in (request.__dict__.get("files") or {}).values():  # parsed parts: close, never re-parse
            try:
                storage.close()
            except OSError:  # the flush on close of a part the full disk cut short
                pass
        shutil.rmtree(staging, ignore_errors=True)

    out = ssr_layout.output_dir(settings.cache_dir, key)
    stages = ssr_layout.stage_outputs(
        "categories" in inputs, "gene_bed" in inputs, submission["flanks"], submission["reference_id"]
    )
    targets = [os.path.join(out, name) for names in stages.values() for name in names]
    config = {
        "cache_dir": settings.cache_dir,
        "ssr": {
            "fasta": inputs["fasta"],
            "categories": inputs.get("categories", ""),
            "gene_bed": inputs.get("gene_bed", ""),
            "reference_id": submission["reference_id"] or "",
            "flanks": submission["flanks"],
            "perf_params": params,
        },
    }
    workflow_key = ssr_layout.analysis_dir(settings.cache_dir, key)
    work_dirs = sorted({os.path.dirname(t) for t in targets})
    db = get_db()
    try:
        job, _created = jobs.submit(
            db,
            "ssr",
            workflow_key,
            targets,
            config,
            work_dirs=work_dirs,
            satisfied=lambda: all(os.path.isfile(t) for t in targets),
            max_queued=settings.max_queued_jobs,
        )
        if job is None:
            job = _latest_completed(workflow_key)
        if job is None:  # built outside the service (plain snakemake into this cache): a run that finds it done
            job, _created = jobs.submit(db, "ssr", workflow_key, targets, config, work_dirs=work_dirs,
                                        max_queued=settings.max_queued_jobs)
    except QueueFull:
        if fresh:  # refused: the inputs placed for it would count against the upload quota for nothing
            shutil.rmtree(workflow_key, ignore_errors=True)
        raise
    body = {"job_id": job["id"], "status": job["status"], "analysis_key": key, **_links(job["id"])}
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = body["status_url"]
    return response


def _ssr_job(job_id: str) -> dict:
    job = jobs.get(get_db(), job_id) if len(job_id) <= 64 else None
    if job is None or job["kind"] != "ssr":
        raise NotFound(f"no SSR analysis job with id {job_id!r}")
    return job


def _results_job(job_id: str) -> dict:
    """An SSR job whose results (and log) a route reads: 410 once it has expired (webapp/cache_gc.py)."""
    job = _ssr_job(job_id)
    if job["status"] == jobs.JobStatus.EXPIRED.value:
        raise Gone(f"analysis {job_id} has expired: {job['message']}. Submit it again to run it anew",
                   fields={"job_id": job_id, "status": job["status"]})
    return job


def _completed(job: dict) -> None:
    if job["status"] != jobs.JobStatus.COMPLETED.value:
        raise NotCompleted(f"analysis {job['id']} is {job['status']}, not completed")


def _analysis(job: dict) -> tuple[str, dict]:
    """(the analysis folder, its ssr config) of an SSR job: its workflow key is that folder."""
    return job["workflow_key"], job["config"]["ssr"]


def _output_root(job: dict) -> str:
    analysis, _ = _analysis(job)
    return os.path.join(analysis, "output")


@bp.get("/api/job/<job_id>/status")
def status(job_id: str):
    """croSSRoad's status record: the job store's record under croSSRoad's field names."""
    job = _ssr_job(job_id)
    return jsonify(
        job_id=job["id"],
        status=job["status"],
        message=job["message"],
        progress=jobs.progress(job),
        error_details=job["error"],
        reference_id=job["config"]["ssr"].get("reference_id") or None,
    )


def _arrow_file(job: dict, plot_key: str) -> tuple[str, dict]:
    """The cached Arrow stream of a plot key's table (built on first use) and its facts."""
    analysis, ssr = _analysis(job)
    try:
        table = ssr_tables.source_table(
            plot_key, bool(ssr.get("categories")), bool(ssr.get("gene_bed")), bool(ssr.get("flanks"))
        )
    except ssr_tables.UnknownPlotKey:
        raise NotFound(
            f"unknown plot key {plot_key!r}; known: {', '.join(sorted(ssr_tables.PLOT_KEYS))}"
        ) from None
    except ssr_tables.TableNotProduced as error:
        raise NotFound(str(error)) from None
    _completed(job)
    source = os.path.join(analysis, "output", table)
    if not os.path.isfile(source):  # the cache was cleared under a finished job
        raise NotFound(f"{table} of this analysis is no longer in the cache; submit the analysis again")
    max_bytes = current_app.config.get("SSR_PREVIEW_MAX_BYTES", PREVIEW_MAX_BYTES)
    rows = current_app.config.get("SSR_PREVIEW_ROWS", PREVIEW_ROWS)
    limit = rows if os.path.getsize(source) > max_bytes else None
    stem = os.path.join(analysis, "arrow", f"{table.replace('/', '__')}.{limit or 'all'}")
    if not (os.path.isfile(stem + ".arrow") and os.path.isfile(stem + ".json")):
        built = ssr_tables.to_arrow(source, table, max_rows=limit)
        os.makedirs(os.path.dirname(stem), exist_ok=True)
        tmp = f"{stem}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(built.data)
        os.replace(tmp, stem + ".arrow")
        facts = {"total_rows": built.total_rows, "rows": built.rows, "source_bytes": built.source_bytes}
        with open(tmp, "w") as handle:
            json.dump(facts, handle)
        os.replace(tmp, stem + ".json")
    with open(stem + ".json") as handle:
        return stem + ".arrow", json.load(handle)


@bp.get("/api/job/<job_id>/plot_data/<plot_key>")
def plot_data(job_id: str, plot_key: str):
    """The table behind a plot key as an Arrow IPC stream (204 when it has no rows)."""
    job = _results_job(job_id)
    path, facts = _arrow_file(job, plot_key)
    if facts["total_rows"] == 0:
        return Response(status=204)
    response = serving.send(
        path, f"ssr/{os.path.basename(job['workflow_key'])}/{os.path.basename(path)}", IMMUTABLE
    )
    response.headers["Content-Type"] = ARROW_TYPE
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


def _result_files(root: str) -> list[str]:
    found = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            if not name.endswith(".tmp"):
                found.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)


@bp.get("/api/job/<job_id>/download_zip")
def download_zip(job_id: str):
    """A zip of the analysis' output/ folder, built once, served with ranges."""
    job = _results_job(job_id)
    _completed(job)
    root = _output_root(job)
    target = os.path.join(os.path.dirname(root), "results.zip")
    if not os.path.isfile(target):
        tmp = f"{target}.{uuid.uuid4().hex}.tmp"
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for rel in _result_files(root):
                archive.write(os.path.join(root, rel), os.path.join("output", rel))
        os.replace(tmp, target)
    response = serving.send(target, f"ssr/{os.path.basename(os.path.dirname(root))}/results.zip", IMMUTABLE)
    response.headers["Content-Type"] = "application/zip"
    response.headers["Content-Disposition"] = f'attachment; filename="ssr_{job["id"]}.zip"'
    return response


@bp.get("/api/job/<job_id>/files")
def files(job_id: str):
    """The result files: relative path, size, label and download URL."""
    job = _results_job(job_id)
    root = _output_root(job)
    listed = [
        {
            "path": rel,
            "size": os.path.getsize(os.path.join(root, rel)),
            "label": LABELS.get(rel, os.path.basename(rel)),
            "url": f"/api/job/{job['id']}/download/{rel}",
        }
        for rel in (_result_files(root) if os.path.isdir(root) else [])
    ]
    return jsonify(job_id=job["id"], status=job["status"], files=listed)


@bp.get("/api/job/<job_id>/download/<path:rel>")
def download(job_id: str, rel: str):
    """One result file, range-capable; nothing outside the output folder."""
    job = _results_job(job_id)
    root = os.path.realpath(_output_root(job))
    path = os.path.realpath(os.path.join(root, rel))
    if not path.startswith(root + os.sep) or not os.path.isfile(path) or path.endswith(".tmp"):
        raise NotFound(f"no result file {rel!r}")
    return serving.send(path, f"ssr/{os.path.basename(os.path.dirname(root))}/{rel}", IMMUTABLE)


@bp.get("/api/job/<job_id>/logs")
def logs(job_id: str):
    """The job's log: Snakemake's output, then each stage's own log."""
    job = _results_job(job_id)
    parts = []
    snakemake_log = os.path.join(_settings().jobs_dir, job["id"], "snakemake.log")
    analysis, _ = _analysis(job)
    candidates = [snakemake_log] + sorted(
        os.path.join(analysis, "logs", name)
        for name in (
            os.listdir(os.path.join(analysis, "logs"))
            if os.path.isdir(os.path.join(analysis, "logs"))
            else []
        )
        if name.endswith(".log")
    )
    for path in candidates:
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                parts.append(f"==> {os.path.basename(path)} <==\n{handle.read()}")
    return Response("\n".join(parts), content_type="text/plain; charset=utf-8")


def _op(summary: str, responses: dict, parameters: list | None = None, body: dict | None = None) -> dict:
    op = {"summary": summary, "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = body
    return op


def _openapi_paths() -> dict:
    job = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    error = {
        "description": "error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    gone = {**error, "description": "the analysis expired (TRACKPREP_RESULT_TTL_DAYS): its results are gone"}
    json_ok = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    multipart = {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["fasta_file"],
                    "properties": {
                        "fasta_file": {"type": "string", "format": "binary"},
                        "categories_file": {"type": "string", "format": "binary"},
                        "gene_bed": {"type": "string", "format": "binary"},
                        "reference_id": {"type": "string"},
                        "perf_params": {
                            "type": "string",
                            "description": "JSON object: " + ", ".join(ssr_layout.PARAMS),
                        },
                        "flanks": {"type": "boolean"},
                    },
                }
            }
        },
    }
    return {
        "/analyze_ssr/": {
            "post": _op(
                "Submit an SSR analysis (croSSRoad-compatible)",
                {"202": json_ok, "413": error, "422": error,
                 "503": {**error, "description": "queue full (TRACKPREP_MAX_QUEUED_JOBS); see Retry-After"},
                 "507": {**error, "description": "upload quota reached (TRACKPREP_UPLOAD_QUOTA_BYTES, "
                                           "upload_quota_exceeded) or the disk is full (disk_full)"}},
                body=multipart,
            )
        },
        "/api/job/{job_id}/status": {"get": _op("SSR job status", {"200": json_ok, "404": error}, [job])},
        "/api/job/{job_id}/plot_data/{plot_key}": {
            "get": _op(
                "A plot's table as an Arrow IPC stream",
                {
                    "200": {
                        "description": "Arrow IPC stream",
                        "content": {ARROW_TYPE: {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "204": {"description": "the table has no rows"},
                    "404": error,
                    "409": error,
                    "410": gone,
                },
                [
                    job,
                    {
                        "name": "plot_key",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": sorted(ssr_tables.PLOT_KEYS)},
                    },
                ],
            )
        },
        "/api/job/{job_id}/download_zip": {
            "get": _op(
                "The output folder as a zip",
                {"200": {"description": "zip"}, "206": {"description": "range"}, "404": error, "409": error,
                 "410": gone},
                [job],
            )
        },
        "/api/job/{job_id}/files": {"get": _op("The result files", {"200": json_ok, "404": error, "410": gone}, [job])},
        "/api/job/{job_id}/download/{path}": {
            "get": _op(
                "One result file",
                {"200": {"description": "the file"}, "206": {"description": "range"}, "404": error,
                 "410": gone},
                [job, {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}],
            )
        },
        "/api/job/{job_id}/logs": {
            "get": _op("The job's log", {"200": {"description": "text"}, "404": error, "410": gone}, [job])
        },
    }


def init_app(app) -> None:
    """Register the SSR blueprint and its OpenAPI paths (called by the app factory)."""
    app.register_blueprint(bp)
    app.extensions.setdefault("trackprep.openapi_paths", {}).update(_openapi_paths())
