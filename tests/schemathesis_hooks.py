"""Schemathesis hooks for tests/test_api_openapi.py (loaded through ``SCHEMATHESIS_HOOKS``).

A generated ``POST /files`` body names a file that is not under a source root with an md5 nobody can guess, so
every one is rejected and the document's links from a registration (to ``/data``, ``/index``, ``/features``,
and from a miss's 202 to ``/jobs/{job_id}``) would never be followed. Half the generated bodies are turned
into one of a few real registrations (``STATEFUL_SOURCES``: ``id=path`` pairs, ``;``-separated); the other
half stay as generated, so the validation is still fuzzed.
"""
from __future__ import annotations

import hashlib
import json
import os

import schemathesis

SOURCES = [pair.split("=", 1) for pair in os.environ.get("STATEFUL_SOURCES", "").split(";") if pair]
MD5 = {path: hashlib.md5(open(path, "rb").read()).hexdigest() for _, path in SOURCES}


@schemathesis.hook("map_body").apply_to(method="POST", path="/files")
def register_a_real_source(context, body):
    """One of the real registrations for half the bodies, chosen by the body's own digest (deterministic)."""
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).digest()
    if not SOURCES or digest[0] % 2:
        return body
    source_id, path = SOURCES[digest[1] % len(SOURCES)]
    return {"id": source_id, "access_url": path, "md5": MD5[path]}
