"""Placing an SSR submission: its uploads are received into a staging folder against the upload quota, checked,
moved to their content-addressed place under the analysis key, and an ``ssr`` job is submitted for them through
the shared job store (identical submissions attach to the running job or reuse the finished result).

A full disk while receiving or placing is a 507 with nothing of the upload kept; a full queue removes inputs
placed for a new analysis before the 503 goes out.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from flask import Request

from . import jobs, metrics, ssr_inputs, ssr_layout, uploads
from .errors import DiskFull, Invalid, QueueFull
from .job_record import Job
from .settings import Settings

log = logging.getLogger(__name__)

ROLES = {"fasta": "fasta_file", "categories": "categories_file", "gene_bed": "gene_bed"}
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True)
class Placed:
    """A checked submission whose inputs are in place under its analysis key."""

    key: str
    inputs: dict[str, str]  # role -> path of the input in the analysis folder
    params: dict[str, int]
    flanks: bool
    reference_id: str | None
    fresh: bool  # this submission created the analysis folder
    digests: dict[str, str]  # role -> SHA-256 of the input, computed while it was received


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


def _validated_submission(request: Request, staging: str) -> dict[str, Any]:
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


def _disk_full(settings: Settings, error: OSError) -> DiskFull:
    """The 507 answer to an upload the cache's filesystem had no room for (its staging folder is removed)."""
    free = metrics.disk_free(settings.cache_dir)
    log.warning("SSR upload refused: the disk is full: %s has %s bytes free (TRACKPREP_CACHE_DIR): %s",
                settings.cache_dir, free, error)
    shown = "unknown" if free is None else metrics.human_bytes(free)
    return DiskFull(f"the disk is full: the service's cache (TRACKPREP_CACHE_DIR) has {shown} free, too little "
                    "for this upload; it was refused and nothing of it kept. Try again later, or ask the "
                    "operator to free space", fields={"free_bytes": free})


def place(settings: Settings, request: Request) -> Placed:
    """Receive the request's uploads into a staging folder (against the upload quota), check every input and
    move the inputs to their place under the analysis key. The staging folder is gone afterwards, whatever
    happened; Invalid, QuotaExceeded or DiskFull when the submission cannot be kept."""
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
            submission = _validated_submission(request, staging)
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
    digests = {role: digest for role, (_path, digest) in saved.items()}
    return Placed(key, inputs, params, submission["flanks"], submission["reference_id"], fresh, digests)


def queue(settings: Settings, db: sqlite_utils.Database, placed: Placed) -> Job:
    """The ``ssr`` job for a placed submission: the active one of its analysis, the one that completed it, or a
    new one. QueueFull (and a fresh analysis folder removed) when a new job would pass the queue limit."""
    out = ssr_layout.output_dir(settings.cache_dir, placed.key)
    stages = ssr_layout.stage_outputs(
        "categories" in placed.inputs, "gene_bed" in placed.inputs, placed.flanks, placed.reference_id
    )
    targets = [os.path.join(out, name) for names in stages.values() for name in names]
    config = {
        "cache_dir": settings.cache_dir,
        "ssr": {
            "fasta": placed.inputs["fasta"],
            "categories": placed.inputs.get("categories", ""),
            "gene_bed": placed.inputs.get("gene_bed", ""),
            "reference_id": placed.reference_id or "",
            "flanks": placed.flanks,
            "perf_params": placed.params,
            "digests": placed.digests,  # the run need not hash the inputs again for their analysis key
        },
    }
    workflow_key = ssr_layout.analysis_dir(settings.cache_dir, placed.key)
    work_dirs = sorted({os.path.dirname(t) for t in targets})
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
            job = jobs.latest_completed(db, workflow_key)
        if job is None:  # built outside the service (plain snakemake into this cache): a run that finds it done
            job, _created = jobs.submit(db, "ssr", workflow_key, targets, config, work_dirs=work_dirs,
                                        max_queued=settings.max_queued_jobs)
    except QueueFull:
        if placed.fresh:  # refused: the inputs placed for it would count against the upload quota for nothing
            shutil.rmtree(workflow_key, ignore_errors=True)
        raise
    return job
