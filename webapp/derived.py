"""Sources derived from an SSR analysis (its genomes, SSRs, hotspot SSRs and genes, for the genome view), and
who may read them.

An SSR job is reachable without the token by its unguessable id (a uuid4) alone; the sources derived from it
carry that id in their own (``ssr-<job id>-<part>``) and are registered ``restricted``: never listed on the home
page, ``GET /files`` or the job lists without the token, their artifacts in the restricted cache namespace and
served ``Cache-Control: private``. Without the token, such a source (and the job that builds it) is readable by
whoever names it, exactly as the SSR job is, but only while it really is what its id claims: the SSR job exists
and the source's file lies inside that analysis' folder. A restricted source an operator registers under a
look-alike id is not opened by this rule.
"""
from __future__ import annotations

import os
import re
from typing import Any

import sqlite_utils

from . import jobs, layout
from .job_record import Job

# the parts of an analysis the genome view shows, in track order (the genomes are the reference)
PARTS = ("genomes", "ssrs", "hotspots", "genes")
LABELS = {"genomes": "Genomes", "ssrs": "SSRs", "hotspots": "Hotspot SSRs", "genes": "Genes"}
DERIVED_ID = re.compile(rf"ssr-(?P<job>[0-9a-f]{{32}})-(?P<part>{'|'.join(PARTS)})")


def source_id(job_id: str, part: str) -> str:
    """The id of the source holding one part of an SSR job's results."""
    return f"ssr-{job_id}-{part}"


def parse(source_id_: str) -> tuple[str, str] | None:
    """``(job id, part)`` of a derived source id, or None for any other id."""
    match = DERIVED_ID.fullmatch(source_id_)
    return (match["job"], match["part"]) if match else None


def label(source_id_: str) -> str:
    """What a person reads for a track: "SSRs" for a derived source, else its id."""
    parsed = parse(source_id_)
    return LABELS[parsed[1]] if parsed else source_id_


def readable_by_id(db: sqlite_utils.Database, source: dict[str, Any]) -> bool:
    """True when a restricted source is an SSR job's derived source, which its id alone opens (see above)."""
    parsed = parse(source["id"])
    if parsed is None or source["access"] != "restricted" or not layout.is_local(source["access_url"]):
        return False
    job = jobs.get(db, parsed[0])
    if job is None or job.kind != "ssr":
        return False
    folder = os.path.realpath(job.workflow_key)
    path = os.path.realpath(layout.local_path(source["access_url"]))
    return os.path.commonpath([path, folder]) == folder


def job_readable_by_id(db: sqlite_utils.Database, job: Job) -> bool:
    """True when a private job builds a derived source that its id opens (its page and long poll follow)."""
    if not job.source_id or parse(job.source_id) is None:
        return False
    source = next(iter(db.query("SELECT * FROM sources WHERE id = ?", (job.source_id,))), None)
    return source is not None and readable_by_id(db, source)
