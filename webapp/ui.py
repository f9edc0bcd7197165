"""Blueprint: the web UI's pages (home, a job, a source's genome view) beside the API, never over it.

The pages are server-rendered templates (``webapp/templates``); their scripts and the vendored igv.js are the
app's static files (``webapp/static``, served at ``/static/...``). Everything a page shows comes from the same
functions the API answers with: :func:`webapp.files_api.artifact_state` for a source's artifact,
:func:`webapp.jobs.list_jobs` / :func:`webapp.jobs.public_view` for jobs.
"""
from __future__ import annotations

import gzip
import logging
import os
import struct
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import pyBigWig
import pysam
from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for

from . import jobs, layout, plan, sources
from .auth import token_valid
from .db import get_db
from .errors import NotFound, NotReady
from .files_api import _alias_urls, artifact_state, visible_source
from .layout import built_index
from .job_record import TERMINAL, JobStatus
from .jobs_api import visible_job
from .ui_reference import named_reference

log = logging.getLogger(__name__)
bp = Blueprint("ui", __name__)
PAGE_SIZE = 50
RECENT_JOBS = 20
LOCUS_SPAN = 10_000  # the first view of a track: this many bases from its first record
SCAN_MAX_BYTES = 64 * 2**20  # tabix artifacts up to this size are read for exact sequence ends; larger: the index
TBI_WINDOW = 16_384  # a TBI linear index's window
# igv.js track settings per artifact kind (format, track type)
IGV_TRACKS = {"bam": ("bam", "alignment"), "vcf": ("vcf", "variant"), "gff3": ("gff3", "annotation"),
              "bed": ("bed", "annotation"), "bigwig": ("bigwig", "wig")}
FIRST_DATA_WINDOW = 1_000_000  # a bigWig's first data is looked for in windows of this many bases


def view_kind(source: dict) -> str | None:
    """The artifact kind a genome view draws: the format's artifact kind, or ``bigwig`` for a passthrough
    bigWig (served as it is, drawn as built bedGraph/WIG artifacts are); None when there is nothing to
    draw."""
    kind = layout.FORMATS[source["format"]][0] or ("bigwig" if source["format"] == "bigwig" else None)
    return kind if kind in IGV_TRACKS else None


def _settings():
    return current_app.config["TRACKPREP_SETTINGS"]


def _not_found(message: str) -> tuple[str, int]:
    return render_template("not_found.html", message=message), 404


def state_of(source: dict) -> dict[str, Any]:
    """The artifact state a person reads on the home page: ``{"label", "kind", "job"}`` where kind is one of
    as_is, built, not_built, queued, running, failed (what ``/data/{id}`` would do now)."""
    resolved_files, active, failed = artifact_state(source)
    data = resolved_files["data"]
    if data is not None and data.targets is None:
        return {"kind": "as_is", "label": "served as is", "job": None}
    if active is not None:
        view = jobs.public_view(get_db(), active, _settings().cache_dir)
        if active.status is JobStatus.QUEUED:
            position = view["queue_position"]
            label = f"queued (#{position:,} in line)" if position else "queued"
            return {"kind": "queued", "label": label, "job": view}
        total = view["stages_total"]
        label = f"running {view['stages_done']:,} of {total:,}" if total else "running"
        return {"kind": "running", "label": label, "job": view}
    if data is not None and data.ready():
        return {"kind": "built", "label": "built", "job": None}
    if failed is not None:
        return {"kind": "failed", "label": "failed", "job": jobs.public_view(get_db(), failed,
                                                                              _settings().cache_dir)}
    return {"kind": "not_built", "label": "not built", "job": None}


@bp.get("/")
def home():
    """The registered sources (paged by id, filterable by id prefix and format) and the recent jobs."""
    prefix = request.args.get("prefix", "").strip()[:128]
    fmt = request.args.get("format", "").strip().lower()
    if fmt not in layout.FORMATS:
        fmt = ""
    after = request.args.get("after", "")[:128]
    rows, total = sources.page(get_db(), prefix=prefix, fmt=fmt, after=after, limit=PAGE_SIZE + 1,
                               include_restricted=token_valid())
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    filters = {key: value for key, value in (("prefix", prefix), ("format", fmt)) if value}
    next_url = f"{url_for('ui.home')}?{urlencode({**filters, 'after': rows[-1]['id']})}" if more else None
    first_url = f"{url_for('ui.home')}?{urlencode(filters)}" if after else None
    listed = [{**row, "state": state_of(row), "processed": layout.FORMATS[row["format"]][0] is not None,
               "viewable": view_kind(row) is not None, "has_index": layout.has_index(row["format"])}
              for row in rows]
    recent = [{**jobs.public_view(get_db(), job, _settings().cache_dir), "source_id": job.source_id}
              for job in jobs.list_jobs(get_db(), limit=RECENT_JOBS, include_private=token_valid())]
    return render_template("home.html", sources=listed, total=total, prefix=prefix, fmt=fmt,
                           formats=sorted(layout.FORMATS), next_url=next_url, first_url=first_url,
                           after=after, jobs=recent, terminal=TERMINAL)


@bp.get("/ui/jobs/<job_id>")
def job_page(job_id: str):
    """One job's progress (stage n of m, message, queue position), kept live, then its outcome."""
    try:
        job = visible_job(job_id)
    except NotFound as err:
        return _not_found(err.detail)
    view = jobs.public_view(get_db(), job, _settings().cache_dir)
    source = sources.get(get_db(), job.source_id) if job.source_id else None
    return render_template("job.html", job=view, source=source, terminal=TERMINAL)


@bp.get("/ui/sources/<source_id>")
def source_page(source_id: str):
    """A genome view (igv.js) of a source's artifact; a cold source shows its build's progress first."""
    try:
        source = visible_source(source_id)
    except NotFound as err:
        return _not_found(err.detail)
    kind = layout.FORMATS[source["format"]][0]
    track = IGV_TRACKS.get(view_kind(source) or "")
    searchable = track is not None and source["format"] in layout.FEATURE_FORMATS
    return render_template("source.html", source=source, state=state_of(source), track=track,
                           kind=kind, searchable=searchable,
                           has_index=layout.has_index(source["format"]))


def _built_artifact(source: dict) -> tuple[str, str]:
    """The path and artifact kind of a source's complete artifact; NotFound / NotReady otherwise."""
    kind = view_kind(source)
    if kind is None:
        raise NotFound(f"source {source['id']!r} ({source['format']}) has no genome view")
    resolved = plan.resolve(_settings(), source, "data", raw=False)
    if resolved is None or not resolved.ready():
        raise NotReady(f"the artifact of source {source['id']!r} is not built yet; GET /data/{source['id']} "
                       "starts the build", {"Retry-After": "5"})
    return resolved.path, kind


def index_extents(index_path: str) -> dict[str, int]:
    """From a tabix index (TBI or CSI) alone: for each sequence, a position at or past the end of its last
    record (TBI: its linear index's 16 kb windows; CSI: the end of its last binning-index bin). Reads only the
    index, however large the data file."""
    with gzip.open(index_path, "rb") as handle:
        data = handle.read()
    offset = 0

    def take(fmt: str) -> tuple:
        nonlocal offset
        values = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return values

    magic = data[:4]
    offset = 4
    if magic == b"TBI\x01":
        n_ref = take("<i")[0]
        take("<6i")  # format, col_seq, col_beg, col_end, meta, skip
        names_length = take("<i")[0]
        names = data[offset:offset + names_length].split(b"\0")[:n_ref]
        offset += names_length
        extents = {}
        for name in names:
            for _bin in range(take("<i")[0]):
                _bin_id, n_chunk = take("<Ii")
                offset += 16 * n_chunk
            n_intv = take("<i")[0]
            offset += 8 * n_intv
            extents[name.decode()] = n_intv * TBI_WINDOW
        return extents
    if magic != b"CSI\x01":
        raise ValueError(f"{index_path}: not a TBI or CSI index")
    min_shift, depth, aux_length = take("<3i")
    aux = data[offset:offset + aux_length]
    offset += aux_length
    names_length = struct.unpack_from("<i", aux, 24)[0] if len(aux) >= 28 else 0
    n_ref = take("<i")[0]
    names = aux[28:28 + names_length].split(b"\0")[:n_ref] if names_length else [b""] * n_ref
    pseudo_bin = ((1 << 3 * (depth + 1)) - 1) // 7 + 1
    extents = {}
    for name in names:
        end = 0
        for _bin in range(take("<i")[0]):
            bin_id, _loffset, n_chunk = take("<IQi")
            offset += 16 * n_chunk
            if bin_id >= pseudo_bin:
                continue
            level = next(level for level in range(depth, -1, -1) if bin_id >= ((1 << 3 * level) - 1) // 7)
            first = ((1 << 3 * level) - 1) // 7
            end = max(end, (bin_id - first + 1) << (min_shift + 3 * (depth - level)))
        extents[name.decode()] = end
    return extents


@lru_cache(maxsize=256)
def sequences(path: str, kind: str) -> tuple[tuple[tuple[str, int], ...], str | None]:
    """``((name, length), ...)`` of the sequences an artifact names, and a first locus showing its first
    records. BAM: the header. VCF: the header's contig lengths where it has them. Otherwise (and for contigs
    without a length) the largest end of the contig's records when the artifact is small (up to
    ``SCAN_MAX_BYTES``), else the extent its tabix index records (:func:`index_extents`: at most one index
    window past the last record). Artifacts are content-addressed and never change in place, so the answer
    is cached per path."""
    if kind == "bam":
        with pysam.AlignmentFile(path, "rb") as bam:
            names = list(zip(bam.references, bam.lengths))
            first = next((read for read in bam.fetch(until_eof=True) if not read.is_unmapped), None)
            locus = None if first is None else (first.reference_name, first.reference_start)
        return tuple(names), _locus(locus, dict(names))
    if kind == "bigwig":
        return _bigwig_sequences(path)
    header_lengths: dict[str, int] = {}
    if kind == "vcf":
        with pysam.VariantFile(path) as vcf:
            header_lengths = {name: contig.length for name, contig in vcf.header.contigs.items() if contig.length}
    ends: dict[str, int] = {}
    first = None
    scan = os.path.getsize(path) <= SCAN_MAX_BYTES
    if not scan:
        index = built_index(os.path.join(os.path.dirname(path), layout.ARTIFACT_RECORD))
        ends = index_extents(index) if index else {}
        scan = not ends
    with pysam.TabixFile(path) as tabix:
        contigs = list(tabix.contigs)
        for contig in contigs:
            if contig in header_lengths or (not scan and contig in ends):
                if first is None:
                    record = next(tabix.fetch(contig), None)
                    first = None if record is None else (contig, _start(record, kind))
                continue
            for record in tabix.fetch(contig):
                start = _start(record, kind)
                if first is None:
                    first = (contig, start)
                ends[contig] = max(ends.get(contig, 0), _end(record, kind, start))
    names = [(name, header_lengths.get(name) or ends.get(name, 1)) for name in contigs]
    return tuple(names), _locus(first, dict(names))


def _bigwig_sequences(path: str) -> tuple[tuple[tuple[str, int], ...], str | None]:
    """A bigWig's sequence names and lengths (its header, via pyBigWig) and a locus at its first interval,
    looked for window by window so a large file is never read whole."""
    with pyBigWig.open(path) as bigwig:
        names = tuple(bigwig.chroms().items())
        first = None
        for name, length in names:
            for start in range(0, length, FIRST_DATA_WINDOW):
                intervals = bigwig.intervals(name, start, min(length, start + FIRST_DATA_WINDOW))
                if intervals:
                    first = (name, intervals[0][0])
                    break
            if first is not None:
                break
    return names, _locus(first, dict(names))


def _start(record: str, kind: str) -> int:
    """0-based start of a tabix text record (VCF and GFF3 are 1-based, BED 0-based)."""
    fields = record.split("\t")
    return int(fields[1]) - 1 if kind == "vcf" else int(fields[3]) - 1 if kind == "gff3" else int(fields[1])


def _end(record: str, kind: str, start: int) -> int:
    """0-based exclusive end of a tabix text record."""
    fields = record.split("\t")
    if kind == "vcf":
        return start + max(len(fields[3]), 1)
    return int(fields[4]) if kind == "gff3" else int(fields[2])


def _locus(first: tuple[str, int] | None, lengths: dict[str, int]) -> str | None:
    if first is None:
        return None
    contig, first_start = first
    start = max(0, first_start - LOCUS_SPAN // 20)  # the first record a little in from the left edge
    end = min(start + LOCUS_SPAN, lengths.get(contig) or start + LOCUS_SPAN)
    return f"{contig}:{start + 1:,}-{max(end, start + 1):,}"


@bp.get("/ui/sources/<source_id>/genome")
def genome(source_id: str):
    """What igv.js needs to draw a built artifact: its tracks' alias URLs, the sequence names and lengths from
    the artifact's header or index, a first locus, and, when the source names a reference FASTA this caller
    may read, ``reference_source`` (where to build it) and ``reference`` (igv.js reference settings, once it
    is built). Both null without one: the view uses the artifact's names and lengths."""
    source = visible_source(source_id)
    path, kind = _built_artifact(source)
    names, locus = sequences(path, kind)
    # a passthrough bigWig has no alias: /data serves the upstream file itself, with ranges
    aliases = _alias_urls(source) or {"data": url_for("files.data", source_id=source_id)}
    igv_format, igv_type = IGV_TRACKS[kind]
    track = {"name": source_id, "type": igv_type, "format": igv_format, "url": aliases.get("data")}
    if kind != "bigwig":  # a bigWig carries its own index
        track["indexURL"] = aliases.get("index")
    reference, reference_source = named_reference(source)
    return jsonify(source_id=source_id, chromosomes=[{"name": name, "length": length} for name, length in names],
                   chrom_sizes_url=url_for("ui.chrom_sizes", source_id=source_id), locus=locus, track=track,
                   reference=reference, reference_source=reference_source)


@bp.get("/ui/sources/<source_id>/chrom.sizes")
def chrom_sizes(source_id: str) -> Response:
    """The artifact's sequence names and lengths as a UCSC chrom.sizes file (igv.js's genome-less reference)."""
    source = visible_source(source_id)
    names, _locus_ = sequences(*_built_artifact(source))
    body = "".join(f"{name}\t{length}\n" for name, length in names)
    return Response(body, mimetype="text/plain", headers={"Cache-Control": "no-cache"})


def _html(description: str) -> dict:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _openapi_paths() -> dict[str, Any]:
    """The UI's routes in the OpenAPI document (they are pages, not API, but every route is described)."""
    source = {"name": "source_id", "in": "path", "required": True,
              "schema": {"type": "string", "pattern": layout.SOURCE_ID_PATTERN}}
    error = {"description": "unknown source, or not built yet", "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}
    page = [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": text}
            for name, text in (("prefix", "only ids starting with this (case-insensitive)"),
                               ("format", "only this format"), ("after", "the page after this id"))]
    return {
        "/": {"get": {"summary": "Web UI home: sources (paged, filterable) and recent jobs", "tags": ["ui"],
                      "parameters": page, "responses": {"200": _html("the page")}}},
        "/ui/jobs/{job_id}": {"get": {
            "summary": "Web UI: one job's live progress and outcome", "tags": ["ui"],
            "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _html("the page"), "404": _html("no such job")}}},
        "/ui/sources/{source_id}": {"get": {
            "summary": "Web UI: a source's genome view (igv.js)", "tags": ["ui"], "parameters": [source],
            "responses": {"200": _html("the page"), "404": _html("no such source")}}},
        "/ui/sources/{source_id}/genome": {"get": {
            "summary": "Web UI: the track, sequence names and lengths and first locus of a built artifact",
            "tags": ["ui"], "parameters": [source],
            "responses": {"200": {"description": "igv.js settings", "content": {"application/json": {
                "schema": {"type": "object"}}}}, "404": error, "503": error}}},
        "/ui/sources/{source_id}/chrom.sizes": {"get": {
            "summary": "Web UI: a built artifact's sequence names and lengths (chrom.sizes)", "tags": ["ui"],
            "parameters": [source],
            "responses": {"200": {"description": "name<TAB>length lines", "content": {"text/plain": {
                "schema": {"type": "string"}}}}, "404": error, "503": error}}},
    }


def init_app(app) -> None:
    """Register the UI blueprint and its OpenAPI paths (called by the app factory)."""
    app.register_blueprint(bp)
    app.extensions.setdefault("trackprep.openapi_paths", {}).update(_openapi_paths())
