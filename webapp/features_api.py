"""Blueprint: feature name search over annotation sources (``GET /features/{id}?q=PREFIX&limit=N``).

The index (``features.sqlite`` beside the artifact, built by rules/features.smk; schema and name rules in
:mod:`webapp.feature_index`) is a cache artifact like any other: a miss starts (or joins) the one job of the
artifact's workflow key through :func:`webapp.files_api.start_build` and answers 202 with the job link, as
``/data`` does; restricted sources need the token exactly as ``/data`` does.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from . import cache_usage, feature_index, layout, plan
from .errors import ApiError, Invalid, NotFound
from .files_api import start_build, visible_source

bp = Blueprint("features", __name__)
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_QUERY = 256  # characters; no feature name is longer in practice


class BadQuery(ApiError):
    """A missing or malformed search parameter (400)."""

    status, code = 400, "bad_request"


def _params() -> tuple[str, int]:
    """``(q, limit)`` from the query string, validated."""
    query = request.args.get("q", "")
    if not query.strip():
        raise BadQuery("q is required: the prefix of the feature names to find (case-insensitive)")
    if len(query) > MAX_QUERY:
        raise BadQuery(f"q is {len(query)} characters long; at most {MAX_QUERY} are accepted")
    raw = request.args.get("limit", str(DEFAULT_LIMIT)).strip()
    if not raw.isdigit() or not raw.isascii():
        raise BadQuery(f"limit must be an integer from 1 to {MAX_LIMIT}, not {raw!r}")
    limit = int(raw)
    if not 1 <= limit <= MAX_LIMIT:
        raise BadQuery(f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit}")
    return query, limit


@bp.get("/features/<source_id>")
def search(source_id: str):
    """Features of an annotation source whose name starts with ``q`` (any case), at most ``limit``."""
    source = visible_source(source_id)
    if source["format"] not in layout.FEATURE_FORMATS:
        raise Invalid(f"source {source_id!r} is {source['format']}: feature search covers the annotation "
                      f"formats ({', '.join(layout.FEATURE_FORMATS)}), whose records carry names")
    query, limit = _params()
    resolved = plan.features(current_app.config["TRACKPREP_SETTINGS"], source)
    if not resolved.ready():
        if request.method == "HEAD":  # probes never start work (as /data)
            raise NotFound(f"the feature index of source {source_id!r} is not built yet; a GET starts the "
                           "build")
        pending = start_build(source, resolved, "feature index")
        if pending is not None:
            return pending
    cache_usage.served(current_app.config["TRACKPREP_SETTINGS"], resolved.path)  # its artifact is in use
    db = feature_index.connect(resolved.path)
    try:
        features = feature_index.search(db, query, limit)
    finally:
        db.close()
    response = jsonify(source=source_id, query=query, limit=limit, coordinates=feature_index.COORDINATES,
                       features=features)
    response.headers["Cache-Control"] = "private" if source["access"] == "restricted" else "no-cache"
    return response
