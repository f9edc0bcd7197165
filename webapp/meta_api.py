"""Blueprint: liveness (``/health``), Prometheus metrics (``/metrics``) and the API description
(``/openapi.json``)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from . import heartbeat, jobs, metrics
from .db import get_db
from .openapi import document

bp = Blueprint("meta", __name__)


@bp.get("/health")
def health():
    """Liveness: queue depth, running count, the dispatchers that beat recently and the free disk space. 503
    when no dispatcher has beaten within ``TRACKPREP_HEARTBEAT_TIMEOUT`` (queued jobs would wait forever)."""
    settings = current_app.config["TRACKPREP_SETTINGS"]
    counts = jobs.counts(get_db())
    dispatchers = heartbeat.live(get_db(), settings.heartbeat_timeout)
    body = {"status": "ok", "queued": counts["queued"], "running": counts["running"],
            "max_concurrent_jobs": settings.max_concurrent_jobs, "dispatchers": len(dispatchers),
            "disk_free_bytes": {"data": metrics.disk_free(settings.data_dir),
                                "cache": metrics.disk_free(settings.cache_dir)}}
    if dispatchers:
        return jsonify(body)
    body.update(status="no_dispatcher", error="no_dispatcher",
                detail=f"no dispatcher has run in the last {settings.heartbeat_timeout:g} s, so queued jobs "
                       f"wait: start `trackprep worker` with TRACKPREP_DATA_DIR={settings.data_dir}")
    return jsonify(body), 503


@bp.get("/metrics")
def prometheus_metrics():
    """Prometheus text exposition: jobs, queue, durations, cache hits and misses, traffic, sizes, free disk
    (summed over every web worker and the dispatcher: webapp/metrics.py)."""
    return Response(metrics.render(current_app.config["TRACKPREP_SETTINGS"]), content_type=metrics.CONTENT_TYPE)


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document of every route this app serves."""
    return jsonify(document(current_app))
