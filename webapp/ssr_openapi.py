"""The OpenAPI paths of the SSR analysis API (docs/api.md, "SSR analysis"), merged into ``/openapi.json`` by
:func:`webapp.ssr_api.init_app`. The submission's form is generated from the parameters the service validates
with (:func:`webapp.core.ssr_form.submission_request_body`)."""

from __future__ import annotations

from . import ssr_tables
from .core.ssr_form import submission_request_body
from .ssr_results import ARROW_TYPE


def _op(summary: str, responses: dict, parameters: list | None = None, body: dict | None = None) -> dict:
    op = {"summary": summary, "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = body
    return op


def openapi_paths() -> dict:
    """The SSR routes as OpenAPI path items."""
    job = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    error = {
        "description": "error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    gone = {**error, "description": "the analysis expired (TRACKPREP_RESULT_TTL_DAYS): its results are gone"}
    json_ok = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    urls = ("status_url", "results_base_url", "download_all_url")
    submitted = {"description": "queued, attached to the identical running analysis, or its finished result",
                 "content": {"application/json": {"schema": {
                     "type": "object", "required": ["job_id", "status", "analysis_key", *urls],
                     "properties": {name: {"type": "string"}
                                    for name in ("job_id", "status", "analysis_key", *urls)}}}}}
    return {
        "/analyze_ssr/": {
            "post": _op(
                "Submit an SSR analysis (croSSRoad-compatible)",
                {"202": submitted, "413": error, "422": error,
                 "503": {**error, "description": "queue full (TRACKPREP_MAX_QUEUED_JOBS); see Retry-After"},
                 "507": {**error, "description": "upload quota reached (TRACKPREP_UPLOAD_QUOTA_BYTES, "
                                           "upload_quota_exceeded) or the disk is full (disk_full)"}},
                body=submission_request_body(),
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
