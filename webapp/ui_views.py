"""Blueprint: genome views of several tracks on one reference FASTA, and the SSR analysis' genome view.

- ``GET /ui/views/genome?reference=<fasta id>&tracks=<id>,<id>...``: one igv.js browser whose reference is a
  registered FASTA source and whose tracks are registered sources; each one still cold is built first (its
  progress shown), exactly as ``/ui/sources/{id}`` does for one source.
- ``GET /ui/ssr/{job_id}/genome-view``: registers a completed SSR job's derived sources (its genomes, SSRs,
  hotspot SSRs and genes: :mod:`webapp.ssr_tracks`, :mod:`webapp.derived`) and redirects to their view.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, jsonify, redirect, render_template, request, url_for

from . import derived, jobs, layout, ssr_tracks
from .db import get_db
from .errors import Conflict, Invalid, NotFound, NotReady
from .files_api import visible_source
from .job_record import JobStatus
from .ui import view_kind
from .ui_reference import igv_reference

log = logging.getLogger(__name__)
bp = Blueprint("ui_views", __name__)
MAX_TRACKS = 12


def _page_error(message: str, status: int):
    return render_template("not_found.html", message=message), status


def _view_sources(reference_id: str, track_ids: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The reference and track sources of a view, each one this caller may read; NotFound / Invalid say
    which is not."""
    reference = visible_source(reference_id)
    if reference["format"] not in layout.REFERENCE_SOURCE_FORMATS:
        raise Invalid(f"reference {reference_id!r} is a {reference['format']} source, not a "
                      f"{'/'.join(layout.REFERENCE_SOURCE_FORMATS)} source")
    if not track_ids or len(track_ids) > MAX_TRACKS:
        raise Invalid(f"name 1 to {MAX_TRACKS} tracks (tracks=id,id,...)")
    tracks = []
    for track_id in dict.fromkeys(track_ids):
        source = visible_source(track_id)
        if view_kind(source) is None:
            raise Invalid(f"source {track_id!r} ({source['format']}) has no genome view track")
        tracks.append(source)
    return reference, tracks


@bp.get("/ui/views/genome")
def genome_view():
    """Several tracks on one reference FASTA, with a locus box; cold sources are built first."""
    reference_id = request.args.get("reference", "").strip()
    track_ids = [part.strip() for part in request.args.get("tracks", "").split(",") if part.strip()]
    try:
        reference, tracks = _view_sources(reference_id, track_ids)
    except NotFound as err:
        return _page_error(err.detail, 404)
    except Invalid as err:
        return _page_error(err.detail, 400)
    parsed = derived.parse(reference["id"])
    job_id = parsed[0] if parsed else None
    title = f"SSR analysis {job_id[:8]}" if job_id else f"{reference['id']} and {len(tracks)} track(s)"
    return render_template("genome_view.html", title=title, reference=reference, tracks=tracks,
                           label=derived.label, ssr_job_id=job_id, feature_formats=layout.FEATURE_FORMATS)


@bp.get("/ui/views/reference/<source_id>")
def reference_settings(source_id: str):
    """igv.js reference settings of a built reference FASTA (its data, .fai and .gzi alias URLs)."""
    source = visible_source(source_id)
    if source["format"] not in layout.REFERENCE_SOURCE_FORMATS:
        raise NotFound(f"source {source_id!r} ({source['format']}) is not a reference FASTA")
    settings = igv_reference(source, derived.label(source_id))
    if settings is None:
        raise NotReady(f"the artifact of source {source_id!r} is not built yet; GET /data/{source_id} starts "
                       "the build", {"Retry-After": "5"})
    return jsonify(settings)


def ssr_view_url(ids: list[str]) -> str:
    """The genome view of an SSR job's derived sources (the genomes first: the reference)."""
    return f"{url_for('ui_views.genome_view')}?{urlencode({'reference': ids[0], 'tracks': ','.join(ids[1:])})}"


@bp.get("/ui/ssr/<job_id>/genome-view")
def ssr_genome_view(job_id: str):
    """Register a completed SSR job's genomes, SSRs, hotspot SSRs and genes as derived sources (once; later
    calls find them) and redirect to the genome view showing them all."""
    job = jobs.get(get_db(), job_id) if len(job_id) <= 64 else None
    if job is None or job.kind != "ssr":
        return _page_error(f"no SSR analysis job with id {job_id!r}", 404)
    if job.status is not JobStatus.COMPLETED:
        return _page_error(f"analysis {job_id} is {job.status.value}, not completed: its genome view opens once "
                           "it has completed", 409)
    try:
        ids = ssr_tracks.register(get_db(), job)
    except (Invalid, Conflict) as err:
        log.warning("genome view of SSR job %s: %s", job_id, err.detail)
        return _page_error(f"the genome view of analysis {job_id} cannot be prepared: {err.detail}", 409)
    if len(ids) < 2:
        return _page_error(f"analysis {job_id} found no SSR to show", 404)
    return redirect(ssr_view_url(ids), code=303)


def _openapi_paths() -> dict[str, Any]:
    html = {"content": {"text/html": {"schema": {"type": "string"}}}}
    error = {"description": "unknown source or not a FASTA (404), or not built yet (503)", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    query = [{"name": "reference", "in": "query", "required": True, "schema": {"type": "string"},
              "description": "the id of a registered reference FASTA source"},
             {"name": "tracks", "in": "query", "required": True, "schema": {"type": "string"},
              "description": f"comma-separated ids of 1 to {MAX_TRACKS} sources with a genome view"}]
    return {
        "/ui/views/genome": {"get": {
            "summary": "Web UI: several tracks on one reference FASTA (igv.js)", "tags": ["ui"],
            "parameters": query, "responses": {
                "200": {"description": "the page", **html},
                "400": {"description": "a reference that is not a FASTA, a track without a view, or no track",
                        **html},
                "404": {"description": "an unknown source (or restricted without the token)", **html}}}},
        "/ui/views/reference/{source_id}": {"get": {
            "summary": "Web UI: igv.js reference settings of a built reference FASTA (alias URLs of its data, "
                       ".fai and .gzi)", "tags": ["ui"],
            "parameters": [{"name": "source_id", "in": "path", "required": True,
                            "schema": {"type": "string", "pattern": layout.SOURCE_ID_PATTERN}}],
            "responses": {
                "200": {"description": "igv.js reference settings", "content": {"application/json": {
                    "schema": {"type": "object"}}}},
                "404": error, "503": error}}},
        "/ui/ssr/{job_id}/genome-view": {"get": {
            "summary": "Web UI: register a completed SSR analysis' genomes, SSRs, hotspot SSRs and genes as "
                       "derived sources and redirect to their genome view", "tags": ["ui"],
            "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "303": {"description": "to /ui/views/genome with the derived sources"},
                "404": {"description": "no such SSR job, or no SSR to show", **html},
                "409": {"description": "the analysis has not completed", **html}}}},
    }


def init_app(app) -> None:
    """Register the blueprint and its OpenAPI paths (called by the app factory)."""
    app.register_blueprint(bp)
    app.extensions.setdefault("trackprep.openapi_paths", {}).update(_openapi_paths())
