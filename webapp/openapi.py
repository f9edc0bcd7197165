"""The OpenAPI 3.0 document at ``/openapi.json``, generated with apispec.

apispec assembles the document: its paths (:mod:`webapp.openapi_paths`) with their links
(:mod:`webapp.openapi_links`), the bearer security scheme and the
component schemas. The schemas of what the core validates are generated from its pydantic models
(``SourceFields``: :class:`webapp.core.records.SourceRequest`; ``PerfParams`` and the SSR form:
:mod:`webapp.core.ssr_form`), so the document cannot drift from the validation it describes. Why apispec:
docs/architecture.md, "Key decisions".
"""
from __future__ import annotations

from typing import Any

from apispec import APISpec
from flask import Flask

from .core.openapi_schema import component
from .core.records import SourceRequest
from .core.source import MANIFEST_COLUMNS, OPTIONAL_FIELDS
from .core.ssr_form import PerfParams
from .openapi_links import add_links
from .openapi_paths import STATUSES, paths

TITLE, VERSION, OPENAPI_VERSION = "trackprep", "0.1.0", "3.0.3"
DESCRIPTION = "Genomic files made visualization-ready on demand, served with byte ranges."


def _schemas() -> dict[str, Any]:
    """The component schemas: the core's models (pydantic), and the response shapes the views build."""
    nullable_str = {"type": "string", "nullable": True}
    return {
        "Error": {"type": "object", "required": ["error", "detail"],
                  "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}},
        "SourceFields": component(SourceRequest),
        "PerfParams": component(PerfParams, defaults=True),
        "Source": {"type": "object", "required": [name for name in MANIFEST_COLUMNS if name not in OPTIONAL_FIELDS],
                   "properties": {"id": {"type": "string"}, "access_url": {"type": "string"},
                                  "md5": {"type": "string"}, "format": {"type": "string"},
                                  "index_url": {"type": "string"}, "access": {"type": "string"},
                                  "reference": {"type": "string"}, "pinned": {"type": "boolean"},
                                  "created_at": {"type": "string"}, "artifacts": {"type": "object"},
                                  "aliases": {"type": "object", "nullable": True,
                                              "description": "unique alias URLs (data, index; a fasta "
                                                             "also gzi, its BGZF block index; a bedgraph "
                                                             "or wig bigWig data only) of a "
                                                             "processed format's artifact"},
                                  "active_job": {"type": "object", "nullable": True},
                                  "failed_job": {"type": "object", "nullable": True},
                                  "conversion": {"type": "object", "nullable": True}}},
        "BuildFailed": {"type": "object", "required": ["error", "detail", "job_id", "status_url"],
                        "properties": {"error": {"type": "string"}, "detail": {"type": "string"},
                                       "job_id": {"type": "string"}, "status": {"type": "string"},
                                       "status_url": {"type": "string"}}},
        "FeatureHits": {"type": "object",
                        "required": ["source", "query", "limit", "coordinates", "features"],
                        "properties": {
                            "source": {"type": "string"}, "query": {"type": "string"},
                            "limit": {"type": "integer"},
                            "coordinates": {"type": "string", "enum": ["0-based, half-open"]},
                            "features": {"type": "array", "items": {
                                "type": "object", "required": ["name", "chrom", "start", "end"],
                                "properties": {"name": {"type": "string"}, "chrom": {"type": "string"},
                                               "start": {"type": "integer", "minimum": 0},
                                               "end": {"type": "integer", "minimum": 0}}}}}},
        "JobLink": {"type": "object", "required": ["job_id", "status", "status_url"],
                    "properties": {"job_id": {"type": "string"}, "status": {"type": "string"},
                                   "status_url": {"type": "string"}}},
        "Job": {"type": "object",
                "required": ["job_id", "kind", "status", "stages_done", "progress", "message",
                             "artifacts", "created_at"],
                "properties": {
                    "job_id": {"type": "string"}, "kind": {"type": "string"},
                    "status": {"type": "string", "enum": STATUSES},
                    "stages_done": {"type": "integer"},
                    "stages_total": {"type": "integer", "nullable": True},
                    "progress": {"type": "number", "minimum": 0, "maximum": 1},
                    "message": {"type": "string"},
                    "artifacts": {"type": "array", "items": {"type": "string"}},
                    "error": {"type": "object", "nullable": True},
                    "created_at": {"type": "string"}, "started_at": nullable_str,
                    "finished_at": nullable_str,
                    "queue_position": {"type": "integer", "nullable": True},
                    "conversion": {"type": "object", "nullable": True,
                                   "description": "a converted source's records_in, records_out, "
                                                  "dropped and warnings"},
                    "warnings": {"type": "array", "items": {"type": "string"}}}},
    }


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every route the app serves. A blueprint may add its own paths to
    ``app.extensions["trackprep.openapi_paths"]`` in its ``init_app`` (the SSR API and the web UI do)."""
    spec = APISpec(title=TITLE, version=VERSION, openapi_version=OPENAPI_VERSION,
                   info={"description": DESCRIPTION})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in _schemas().items():
        spec.components.schema(name, schema)
    described = add_links({**app.extensions.get("trackprep.openapi_paths", {}), **paths()})
    for path, operations in described.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
