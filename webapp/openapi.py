"""The OpenAPI 3.0 document at ``/openapi.json``.

The preprocessing and job paths are described here; an extension blueprint (e.g. SSR) adds its own paths to
``app.extensions["trackprep.openapi_paths"]`` in its ``init_app``, and they are merged in.
"""
from __future__ import annotations

from typing import Any

from flask import Flask

from . import layout
from .jobs import JobStatus

ERROR = {"$ref": "#/components/schemas/Error"}
SOURCE_ID = {"name": "source_id", "in": "path", "required": True,
             "schema": {"type": "string", "pattern": layout.SOURCE_ID_PATTERN}}
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
RAW = {"name": "raw", "in": "query", "required": False,
       "schema": {"type": "string", "enum": ["true", "false"]},
       "description": "true: the upstream bytes (or sidecar index), unprocessed"}
RANGE = {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"}}
BEARER = [{"bearer": []}]
STATUSES = [status.value for status in JobStatus]


HEALTH = {"type": "object", "required": ["status", "queued", "running", "dispatchers"], "properties": {
    "status": {"type": "string", "enum": ["ok", "no_dispatcher"]}, "queued": {"type": "integer"},
    "running": {"type": "integer"}, "max_concurrent_jobs": {"type": "integer"},
    "dispatchers": {"type": "integer"}, "disk_free_bytes": {"type": "object", "properties": {
        "data": {"type": "integer", "nullable": True}, "cache": {"type": "integer", "nullable": True}}},
    "error": {"type": "string"}, "detail": {"type": "string"}}}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json(ERROR, description)


def _binary(description: str) -> dict:
    return {"description": description, "content": {"application/octet-stream": {
        "schema": {"type": "string", "format": "binary"}}}}


def _file_responses(miss: str) -> dict:
    return {
        "200": _binary("the whole file"),
        "206": _binary("the requested byte range"),
        "202": _json({"$ref": "#/components/schemas/JobLink"}, "cache miss: a job builds it (poll Location)"),
        "304": {"description": "If-None-Match matched the ETag"},
        "404": _error("unknown source (or restricted without the token), no such file, or HEAD on a miss"),
        "409": _json({"$ref": "#/components/schemas/BuildFailed"},
                     "the source's last build failed: that failure until it is registered anew or retried"),
        "416": _error("unsatisfiable or malformed Range"),
        "422": _error("invalid parameter"),
        "503": _error(f"{miss}; or the queue is full (TRACKPREP_MAX_QUEUED_JOBS, `queue_full`): retry after "
                       "Retry-After"),
    }


HTSGET_MEDIA = "application/vnd.ga4gh.htsget.v1.3.0+json"
HTSGET_ERROR = {"type": "object", "required": ["htsget"], "properties": {"htsget": {
    "type": "object", "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}}}
HTSGET_TICKET = {"type": "object", "required": ["htsget"], "properties": {"htsget": {
    "type": "object", "required": ["format", "urls"], "properties": {
        "format": {"type": "string"}, "urls": {"type": "array", "items": {
            "type": "object", "required": ["url"], "properties": {
                "url": {"type": "string"}, "class": {"type": "string", "enum": ["header", "body"]},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}}}}}}}}}


def _htsget_paths() -> dict[str, Any]:
    """GA4GH htsget 1.3: tickets for reads (BAM) and variants (VCF), and their service-info."""
    def media(schema: dict, description: str) -> dict:
        return {"description": description, "content": {HTSGET_MEDIA: {"schema": schema}}}

    query = [{"name": name, "in": "query", "required": False, "schema": {"type": kind}}
             for name, kind in (("format", "string"), ("class", "string"), ("referenceName", "string"),
                                ("start", "integer"), ("end", "integer"), ("fields", "string"),
                                ("tags", "string"), ("notags", "string"))]
    responses = {"200": media(HTSGET_TICKET, "the ticket"),
                 "400": media(HTSGET_ERROR, "InvalidInput, InvalidRange or UnsupportedFormat"),
                 "404": media(HTSGET_ERROR, "NotFound: unknown id (or restricted without the token), other "
                                            "data type, or unknown referenceName"),
                 "409": media(HTSGET_ERROR, "BuildFailed: the artifact's last build failed"),
                 "503": media(HTSGET_ERROR, "NotReady: a miss started the build; retry after Retry-After")}
    body = {"required": False, "content": {"application/json": {"schema": {"type": "object", "properties": {
        "format": {"type": "string"}, "class": {"type": "string"},
        "regions": {"type": "array", "items": {"type": "object", "properties": {
            "referenceName": {"type": "string"}, "start": {"type": "integer"},
            "end": {"type": "integer"}}}}}}}}}
    paths: dict[str, Any] = {}
    for endpoint in ("reads", "variants"):
        paths[f"/{endpoint}/{{source_id}}"] = {
            "get": {"summary": f"htsget ticket for {endpoint}", "parameters": [SOURCE_ID, *query],
                    "responses": responses},
            "post": {"summary": f"htsget ticket for {endpoint} regions", "parameters": [SOURCE_ID],
                     "requestBody": body, "responses": responses}}
        paths[f"/{endpoint}/service-info"] = {"get": {"summary": f"GA4GH service-info of htsget {endpoint}",
                                                      "responses": {"200": _json({"type": "object"},
                                                                                 "service-info")}}}
    return paths


def _paths() -> dict[str, Any]:
    data_get = {"parameters": [SOURCE_ID, RAW, RANGE], "responses": _file_responses("not used here")}
    alias = {"parameters": [SOURCE_ID, {"name": "name", "in": "path", "required": True,
                                        "schema": {"type": "string"}}, RANGE],
             "responses": _file_responses("cache miss on an extension-bearing name: retry after Retry-After")}
    return {
        "/files": {"get": {
            "summary": "Registered sources in id order, paged and filtered (restricted ones only with the token)",
            "parameters": [
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
                {"name": "after", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 128},
                 "description": "the id to continue after (the previous page's `next`)"},
                {"name": "format", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": sorted(layout.FORMATS)}},
                {"name": "access", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["public", "restricted"]}},
                {"name": "state", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["ready", "building", "failed", "absent"]}},
                {"name": "prefix", "in": "query", "required": False,
                 "schema": {"type": "string", "maxLength": 128}}],
            "responses": {"200": _json({"type": "object", "required": ["files", "next"], "properties": {
                "files": {"type": "array", "items": {"type": "object", "required": ["id", "format", "state"],
                                                     "properties": {
                    "id": {"type": "string"}, "access_url": {"type": "string"}, "md5": {"type": "string"},
                    "format": {"type": "string"}, "index_url": {"type": "string"},
                    "access": {"type": "string"}, "created_at": {"type": "string"},
                    "state": {"type": "string", "enum": ["ready", "building", "failed", "absent"]},
                    "url": {"type": "string"}}}},
                "next": {"type": "string", "nullable": True}}}, "a page of sources"),
                "422": _error("invalid filter or limit")}},
            "post": {
            "summary": "Register a source", "security": BEARER,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/SourceFields"}}}},
            "responses": {"201": _json({"$ref": "#/components/schemas/Source"}, "registered"),
                          "200": _json({"$ref": "#/components/schemas/Source"},
                                       "already registered, same fields"),
                          "401": _error("no or wrong token"),
                          "403": _error("the server has no token configured"),
                          "409": _error("id registered with different fields"),
                          "422": _error("invalid fields")}}},
        "/files/{source_id}": {
            "get": {"summary": "A source, its alias URLs, its artifacts, its active job and a failed one",
                    "parameters": [SOURCE_ID],
                    "responses": {"200": _json({"$ref": "#/components/schemas/Source"}, "the record"),
                                  "404": _error("unknown source")}},
            "delete": {"summary": "Remove a source; its cached files go when no other id shares their md5",
                       "security": BEARER, "parameters": [SOURCE_ID],
                       "responses": {"200": _json({"type": "object", "required": ["deleted", "removed"],
                                                   "properties": {"deleted": {"type": "string"},
                                                                  "removed": {"type": "array", "items": {
                                                                      "type": "string"}}}},
                                                  "removed (removed: the cache folders that went)"),
                                     "401": _error("no or wrong token"), "403": _error("no token configured"),
                                     "404": _error("unknown source"),
                                     "409": _error("a job is building the source: cancel it first")}}},
        "/data/{source_id}": {"get": {"summary": "The visualization-ready artifact", **data_get},
                              "head": {"summary": "Headers of /data; 404 on a miss, never starts work",
                                       **data_get}},
        "/index/{source_id}": {"get": {"summary": "The index of exactly the bytes /data serves (404 for a "
                                                  "bigWig built from bedgraph/wig: its index is inside /data)",
                                       **data_get},
                               "head": {"summary": "Headers of /index; never starts work", **data_get}},
        "/data/{source_id}/{name}": {"get": {"summary": "Extension-bearing alias (data.bam, .bai, ...)",
                                             **alias},
                                     "head": {"summary": "Headers of the alias; never starts work", **alias}},
        "/jobs/{job_id}": {
            "get": {"summary": "A job's status; ?wait=S long-polls until it changes", "parameters": [
                        JOB_ID,
                        {"name": "wait", "in": "query", "required": False,
                         "schema": {"type": "number", "minimum": 0, "maximum": 30},
                         "description": "seconds to wait for a change of the job (against If-None-Match when "
                                        "sent, else against the job at arrival)"},
                        {"name": "If-None-Match", "in": "header", "required": False,
                         "schema": {"type": "string"}, "description": "the ETag of the last view seen"}],
                    "responses": {"200": _json({"$ref": "#/components/schemas/Job"}, "the job (with an ETag)"),
                                  "304": {"description": "unchanged since the ETag in If-None-Match"},
                                  "404": _error("unknown job"),
                                  "422": _error("wait is not a number between 0 and 30")}},
            "delete": {"summary": "Cancel a job", "security": BEARER, "parameters": [JOB_ID],
                       "responses": {"200": _json({"$ref": "#/components/schemas/Job"}, "cancelled"),
                                     "202": _json({"$ref": "#/components/schemas/Job"}, "stopping"),
                                     "401": _error("no or wrong token"), "403": _error("no token configured"),
                                     "404": _error("unknown job"),
                                     "409": _error("the job has already ended")}}},
        "/jobs/{job_id}/retry": {"post": {
            "summary": "Run a failed or cancelled job's work again", "security": BEARER,
            "parameters": [JOB_ID],
            "responses": {"202": _json({"$ref": "#/components/schemas/Job"}, "queued (or attached)"),
                          "401": _error("no or wrong token"), "403": _error("no token configured"),
                          "404": _error("unknown job"),
                          "409": _error("the job did not fail, or its targets are built already")}}},
        "/jobs": {"get": {
            "summary": "Recent jobs, newest first",
            "parameters": [
                {"name": "status", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": STATUSES}},
                {"name": "kind", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
            "responses": {"200": _json({"type": "object", "required": ["jobs"], "properties": {
                "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}}}, "the jobs"),
                "422": _error("invalid filter")}}},
        "/health": {"get": {"summary": "Liveness, queue depth, running count, live dispatchers, free disk",
                            "responses": {"200": _json(HEALTH, "alive, with a dispatcher running the queue"),
                                          "503": _json(HEALTH, "no dispatcher has beaten recently")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics (text exposition format 0.0.4), summed over every "
                                        "web worker and the dispatcher",
                             "responses": {"200": {"description": "the metrics", "content": {
                                 "text/plain": {"schema": {"type": "string"}}}}}}},
        **_htsget_paths(),
        "/features/{source_id}": {"get": {
            "summary": "Features of an annotation source whose name starts with q (case-insensitive)",
            "parameters": [SOURCE_ID,
                           {"name": "q", "in": "query", "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 256},
                            "description": "name prefix, any case"},
                           {"name": "limit", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}}],
            "responses": {"200": _json({"$ref": "#/components/schemas/FeatureHits"}, "the matches"),
                          "202": _json({"$ref": "#/components/schemas/JobLink"},
                                       "cache miss: a job builds the name index (poll Location)"),
                          "400": _error("q missing or empty, or limit not an integer from 1 to 100"),
                          "404": _error("unknown source (or restricted without the token)"),
                          "409": _json({"$ref": "#/components/schemas/BuildFailed"},
                                       "the source's last build failed"),
                          "422": _error("the source's format has no feature names (not an annotation)")}}},
        "/openapi.json": {"get": {"summary": "This document",
                                  "responses": {"200": _json({"type": "object"}, "OpenAPI 3.0")}}},
    }


def _components() -> dict[str, Any]:
    nullable_str = {"type": "string", "nullable": True}
    return {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error", "detail"],
                      "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}},
            "SourceFields": {"type": "object", "additionalProperties": False,
                             "required": ["access_url", "md5"],
                             "properties": {
                                 "id": {"type": "string", "pattern": layout.SOURCE_ID_PATTERN},
                                 "access_url": {"type": "string"},
                                 "md5": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"},
                                 "format": {"type": "string", "enum": list(layout.FORMATS)},
                                 "index_url": {"type": "string"},
                                 "access": {"type": "string", "enum": list(layout.ACCESS_CLASSES)},
                                 "reference": {
                                     "type": "string", "pattern": f"^$|{layout.SOURCE_ID_PATTERN}",
                                     "description": "id of the registered source (format "
                                                    f"{'/'.join(layout.REFERENCE_SOURCE_FORMATS)}) this "
                                                    "source is decoded against; only for format "
                                                    f"{'/'.join(layout.REFERENCE_FORMATS)} (422 otherwise, "
                                                    "and for an unknown or non-fasta id). Its md5 is part "
                                                    "of the artifact's cache key."},
                                 "pinned": {"type": "boolean",
                                            "description": "never evict this source's artifact and verified "
                                                           "copy (TRACKPREP_CACHE_MAX_BYTES); the same record "
                                                           "posted again with another value pins or unpins "
                                                           "it"}}},
            "Source": {"type": "object", "required": ["id", "access_url", "md5", "format", "access"],
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
        },
    }


def document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document for this app, extension paths included."""
    paths = _paths()
    paths.update(app.extensions.get("trackprep.openapi_paths", {}))
    return {
        "openapi": "3.0.3",
        "info": {"title": "trackprep", "version": "0.1.0",
                 "description": "Genomic files made visualization-ready on demand, served with byte ranges."},
        "paths": paths,
        "components": _components(),
    }
