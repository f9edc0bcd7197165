"""The Flask app factory: settings, the store, the blueprints, JSON errors and CORS on every response.

Extensions (the SSR analysis API) live in their own modules, listed in ``EXTENSIONS``: when one exists, its
``init_app(app)`` is called here, so it can register its blueprint and its OpenAPI paths and submit work
through :func:`webapp.jobs.submit`.
"""
from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from flask import Flask, Response, request

from . import db, errors, metrics, settings as settings_module, startup
from .edge import JsonEdge
from .features_api import bp as features_bp
from .fast_ranges import RangeFastPath
from .files_api import bp as files_bp
from .htsget_api import bp as htsget_bp
from .jobs_api import bp as jobs_bp
from .meta_api import bp as meta_bp
from .uploads import UploadRequest

EXTENSIONS = ("webapp.ssr_api", "webapp.ui", "webapp.ui_ssr", "webapp.ui_views")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Accept-Ranges, ETag, Last-Modified, "
                                     "Location, Retry-After, X-Data-Truncated, X-Data-Total-Rows, "
                                     "X-Data-Preview-Rows, X-Data-File-Size-Bytes",
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, HEAD, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Range, If-Range, If-None-Match, Authorization, Content-Type",
    "Access-Control-Max-Age": "86400",
}


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then the environment (``TRACKPREP_*``), then ``test_config``.

    ``test_config["TRACKPREP_SETTINGS"]`` may carry a ready :class:`webapp.settings.Settings`.
    """
    app = Flask(__name__)
    app.request_class = UploadRequest  # uploads are written against the upload quota (webapp/uploads.py)
    config = dict(test_config or {})
    settings = config.pop("TRACKPREP_SETTINGS", None)
    if settings is None:  # a WSGI server's app: refuse unusable settings before serving anything
        settings = settings_module.load()
        startup.check(settings)
    app.config.update(TRACKPREP_SETTINGS=settings, MAX_CONTENT_LENGTH=settings.max_upload_bytes,
                      JSON_SORT_KEYS=False)
    app.config.update(config)
    app.json.sort_keys = False

    db.init_app(app)
    metrics.prepare(settings.data_dir)  # every process of a data dir counts into the same folder
    errors.register(app)
    for blueprint in (files_bp, jobs_bp, meta_bp, htsget_bp, features_bp):
        app.register_blueprint(blueprint)
    for name in EXTENSIONS:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).init_app(app)

    @app.before_request
    def _preflight():
        if request.method == "OPTIONS":
            return Response(status=204, headers=PREFLIGHT_HEADERS)
        return None

    @app.after_request
    def _cors(response: Response) -> Response:
        for name, value in CORS_HEADERS.items():
            response.headers[name] = value
        response.headers.pop("Content-Encoding", None)
        return response

    if app.config.get("TRACKPREP_FAST_RANGES", True):
        app.wsgi_app = RangeFastPath(app.wsgi_app, settings, CORS_HEADERS)  # type: ignore[method-assign]
    # outermost: oversized URLs and headers, and failures of the layers in front of Flask, answer JSON too
    app.wsgi_app = JsonEdge(app.wsgi_app, CORS_HEADERS)  # type: ignore[method-assign]
    # outside everything: every request, whoever answers it, is counted by route class, status and bytes
    app.wsgi_app = metrics.RequestMetrics(app.wsgi_app)  # type: ignore[method-assign]
    return app
