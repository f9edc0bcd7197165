"""Blueprint: liveness (``/health``) and the API description (``/openapi.json``)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from . import jobs
from .db import get_db
from .openapi import document

bp = Blueprint("meta", __name__)


@bp.get("/health")
def health():
    """Liveness plus queue depth and running count."""
    counts = jobs.counts(get_db())
    settings = current_app.config["TRACKPREP_SETTINGS"]
    return jsonify(status="ok", queued=counts["queued"], running=counts["running"],
                   max_concurrent_jobs=settings.max_concurrent_jobs)


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document of every route this app serves."""
    return jsonify(document(current_app))
