"""The OpenAPI 3.0 Link objects of ``/openapi.json``: which response feeds which operation's parameter.

They describe the API's natural flows (register a source, then read, index, search or remove it; a cache miss's
job, then its status, cancel or retry; an SSR submission, then its status, files and log) and let a stateful
tester (schemathesis' stateful phase) chain real requests: an id made by one call is used by the next.
:func:`add_links` adds them to the generated paths, so a link always names a path, method and parameter the
document describes (it raises otherwise).
"""
from __future__ import annotations

from typing import Any

# (path, method, statuses) -> [(link name, target path, target method, {parameter: runtime expression})]
SOURCE_ID = {"source_id": "$response.body#/id"}
JOB_ID = {"job_id": "$response.body#/job_id"}
JOB_FLOW = [("JobStatus", "/jobs/{job_id}", "get", JOB_ID),
            ("CancelJob", "/jobs/{job_id}", "delete", JOB_ID),
            ("RetryJob", "/jobs/{job_id}/retry", "post", JOB_ID)]
LINKS: dict[tuple[str, str, tuple[str, ...]], list[tuple[str, str, str, dict[str, str]]]] = {
    ("/files", "post", ("201", "200")): [
        ("GetSource", "/files/{source_id}", "get", SOURCE_ID),
        ("DeleteSource", "/files/{source_id}", "delete", SOURCE_ID),
        ("GetData", "/data/{source_id}", "get", SOURCE_ID),
        ("GetIndex", "/index/{source_id}", "get", SOURCE_ID),
        ("FindFeatures", "/features/{source_id}", "get", SOURCE_ID)],
    ("/data/{source_id}", "get", ("202",)): JOB_FLOW,
    ("/index/{source_id}", "get", ("202",)): JOB_FLOW,
    ("/features/{source_id}", "get", ("202",)): JOB_FLOW,
    ("/analyze_ssr/", "post", ("202",)): [
        ("JobStatus", "/jobs/{job_id}", "get", JOB_ID),
        ("SsrStatus", "/api/job/{job_id}/status", "get", JOB_ID),
        ("SsrFiles", "/api/job/{job_id}/files", "get", JOB_ID),
        ("SsrLogs", "/api/job/{job_id}/logs", "get", JOB_ID)],
}


def _pointer(path: str, method: str) -> str:
    """A JSON pointer to an operation of this document (RFC 6901: ``~`` as ``~0``, ``/`` as ``~1``)."""
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def add_links(described: dict[str, Any]) -> dict[str, Any]:
    """``described`` (path -> operations) with :data:`LINKS` in its responses. Operations and responses are
    copied, not changed in place: the paths share response objects (a GET and its HEAD, /data and /index)."""
    linked = dict(described)
    for (path, method, statuses), links in LINKS.items():
        for _, target, target_method, parameters in links:
            operation = described[target][target_method]
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            if set(parameters) != names:
                raise ValueError(f"link to {target_method.upper()} {target}: parameters {sorted(parameters)} "
                                 f"are not its path parameters {sorted(names)}")
        operation = dict(linked[path][method])
        operation["responses"] = dict(operation["responses"])
        for status in statuses:
            operation["responses"][status] = {**operation["responses"][status], "links": {
                name: {"operationRef": _pointer(target, target_method), "parameters": parameters}
                for name, target, target_method, parameters in links}}
        linked[path] = {**linked[path], method: operation}
    return linked
