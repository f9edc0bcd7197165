"""Registered sources: validation against the access policy, the ``sources`` table, manifests and samples.

A source may come from a local path only inside the source roots (after resolving symlinks) and from
http(s)/drs only on an allowed host. Values reach a shell only through Snakemake's ``{x:q}`` quoting, but
characters that have no business in a path or URL (shell metacharacters, control characters) are refused here
all the same.
"""
from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils

from . import layout, magic
from .db import transaction
from .errors import Conflict, Invalid
from .jobs import now
from .settings import Settings

log = logging.getLogger(__name__)
FIELDS = ("id", "access_url", "md5", "format", "index_url", "access", "reference")
REMOTE_SCHEMES = ("http", "https", "drs")
UNSAFE = re.compile(r"[\x00-\x1f\x7f;&|`$<>\"'\\]")
MAX_URL = 4096


def inside_roots(path: str, roots: tuple[str, ...]) -> str | None:
    """The real path of ``path`` when it lies inside one of the roots, else None."""
    real = os.path.realpath(path)
    for root in roots:
        real_root = os.path.realpath(root)
        if os.path.commonpath([real, real_root]) == real_root:
            return real
    return None


def host_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    """True when the URL's host (or host:port) is on the allowed list."""
    parts = urlsplit(url)
    try:
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return False
    return bool(host) and (host in allowed or (port is not None and f"{host}:{port}" in allowed))


def check_url(name: str, url: Any, settings: Settings) -> str:
    """Validate an access or index URL against the policy; returns it (local paths made absolute and real)."""
    if not isinstance(url, str) or not url.strip():
        raise Invalid(f"{name} must be a non-empty string")
    if len(url) > MAX_URL or UNSAFE.search(url):
        raise Invalid(f"{name} contains characters that are not allowed in a path or URL "
                      "(control characters, quotes, backslash or shell metacharacters)")
    scheme = urlsplit(url).scheme.lower()
    if layout.is_local(url):
        path = layout.local_path(url)
        if not os.path.isabs(path):
            raise Invalid(f"{name} {url!r}: a local path must be absolute")
        real = inside_roots(path, settings.effective_source_roots)
        if real is None:
            raise Invalid(f"{name} {url!r}: local path outside the source roots "
                          f"({':'.join(settings.effective_source_roots) or 'none configured'}); set "
                          "TRACKPREP_SOURCE_ROOTS to allow its folder")
        if not os.path.isfile(real):
            raise Invalid(f"{name} {url!r}: no such file")
        return os.path.normpath(path)
    if scheme not in REMOTE_SCHEMES:
        raise Invalid(f"{name} {url!r}: unsupported scheme {scheme!r} (use https, http, drs or a local path)")
    if not host_allowed(url, settings.allowed_hosts):
        raise Invalid(f"{name} {url!r}: host not in TRACKPREP_ALLOWED_HOSTS "
                      f"({', '.join(settings.allowed_hosts) or 'none configured'})")
    return url


def validate(fields: Any, settings: Settings) -> dict[str, Any]:
    """A complete, normalised source record from request fields; raises Invalid with the reason. ``pinned``
    (its artifacts are never evicted) is True, False, or None when the request did not say."""
    if not isinstance(fields, dict):
        raise Invalid(f"the body must be a JSON object with {', '.join(FIELDS)}")
    unknown = sorted(set(fields) - set(FIELDS) - {"pinned"})
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(map(str, unknown))}; allowed: {', '.join(FIELDS)}, pinned")
    pinned = fields.get("pinned")
    if pinned is not None and not isinstance(pinned, bool):
        raise Invalid("pinned must be true or false")
    for name in FIELDS:
        if fields.get(name) is not None and not isinstance(fields[name], str):
            raise Invalid(f"{name} must be a string")
    source_id = fields.get("id") or f"src-{uuid.uuid4().hex[:16]}"
    if not layout.SOURCE_ID_RE.match(source_id):
        raise Invalid("id must be 1 to 128 of A-Z a-z 0-9 . _ - (and not '.' or '..')")
    access_url = check_url("access_url", fields.get("access_url"), settings)
    md5 = (fields.get("md5") or "").lower()
    if not layout.MD5_RE.match(md5):
        raise Invalid("md5 is required: 32 hexadecimal digits")
    fmt = (fields.get("format") or "").lower() or layout.infer_format(access_url)
    if fmt is None:
        raise Invalid(f"format not given and not inferable from {access_url!r}; "
                      f"use one of: {', '.join(layout.FORMATS)}")
    if fmt not in layout.FORMATS:
        raise Invalid(f"format {fmt!r} is not one of: {', '.join(layout.FORMATS)}")
    access = fields.get("access") or "public"
    if access not in layout.ACCESS_CLASSES:
        raise Invalid(f"access must be one of: {', '.join(layout.ACCESS_CLASSES)}")
    index_url = fields.get("index_url") or ""
    if index_url:
        index_url = check_url("index_url", index_url, settings)
        if fmt not in layout.SIDECAR_FORMATS:
            raise Invalid(f"format {fmt} has no index: index_url is allowed for "
                          f"{', '.join(layout.SIDECAR_FORMATS)}")
        if layout.sidecar_extension(index_url) is None:
            raise Invalid("index_url must name a .bai, .tbi or .csi file")
        if layout.is_local(index_url) != layout.is_local(access_url):
            raise Invalid("index_url and access_url must both be local or both be remote")
    reference = fields.get("reference") or ""
    if reference:
        if fmt not in layout.REFERENCE_FORMATS:
            raise Invalid(f"format {fmt} takes no reference: reference is allowed for "
                          f"{', '.join(layout.REFERENCE_FORMATS)}")
        if not layout.SOURCE_ID_RE.match(reference) or reference == source_id:
            raise Invalid("reference must be the id of another registered source (a "
                          f"{'/'.join(layout.REFERENCE_SOURCE_FORMATS)} source)")
    check_contents(access_url, fmt)
    return {"id": source_id, "access_url": access_url, "md5": md5, "format": fmt, "index_url": index_url,
            "access": access, "reference": reference, "pinned": pinned}


def reference_md5(db: sqlite_utils.Database, record: dict[str, str]) -> str:
    """The md5 of the source a record names as its ``reference`` ("" without one), which must be a
    registered source of a reference format; raises Invalid naming what is wrong. The md5 is part of the
    record's artifact key (:func:`webapp.layout.artifact_key`)."""
    if not record.get("reference"):
        return ""
    reference = get(db, record["reference"])
    if reference is None:
        raise Invalid(f"reference {record['reference']!r}: no source with that id is registered; register "
                      f"the reference FASTA first (format {'/'.join(layout.REFERENCE_SOURCE_FORMATS)})")
    if reference["format"] not in layout.REFERENCE_SOURCE_FORMATS:
        raise Invalid(f"reference {record['reference']!r} is a {reference['format']} source, not a "
                      f"{'/'.join(layout.REFERENCE_SOURCE_FORMATS)} source")
    return reference["md5"]


def check_contents(access_url: str, fmt: str) -> None:
    """Refuse a local source whose first bytes are not its format's (:mod:`webapp.magic`): local passthrough
    sources are streamed as they are, without any job, so registration is where a wrong format is caught.
    Remote sources are checked by the fetch stage, before their bytes enter the cache."""
    if not layout.is_local(access_url):
        return
    try:
        reason = magic.check_file(layout.local_path(access_url), fmt,
                                  layout.is_compressed_name(layout.url_basename(access_url)))
    except OSError as err:
        raise Invalid(f"access_url {access_url!r}: cannot be read ({err.strerror})") from None
    if reason is not None:
        raise Invalid(f"access_url {access_url!r}: {reason}")


def get(db: sqlite_utils.Database, source_id: str) -> dict[str, Any] | None:
    """The registered source with this id, or None."""
    return next(iter(db.query("SELECT * FROM sources WHERE id = ?", (source_id,))), None)


def page(db: sqlite_utils.Database, *, prefix: str = "", fmt: str = "", after: str = "", limit: int = 50,
         include_restricted: bool = False) -> tuple[list[dict[str, Any]], int]:
    """One page of sources ordered by id: those whose id starts with ``prefix`` (and of format ``fmt``), after
    the id ``after`` (keyset paging: as fast on the last page as on the first); restricted ones only with
    ``include_restricted``. Returns ``(rows, how many match the filter in all)``."""
    where, params = ["1 = 1"], []
    if prefix:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("id LIKE ? ESCAPE '\\'")
        params.append(escaped + "%")
    if fmt:
        where.append("format = ?")
        params.append(fmt)
    if not include_restricted:
        where.append("access != 'restricted'")
    clause = " AND ".join(where)
    total = next(iter(db.query(f"SELECT count(*) AS n FROM sources WHERE {clause}", params)))["n"]
    rows = list(db.query(f"SELECT * FROM sources WHERE {clause} AND id > ? ORDER BY id LIMIT ?",
                         (*params, after, limit)))
    return rows, total


def listing(db: sqlite_utils.Database, *, after: str | None = None, fmt: str | None = None,
            access: str | None = None, prefix: str | None = None, batch: int = 500) -> Iterator[dict[str, Any]]:
    """Registered sources in id order, after the id ``after``, of a format / access / id prefix; read from the
    store ``batch`` at a time (the primary key orders and seeks)."""
    where, params = [], []
    if fmt:
        where.append("format = ?")
        params.append(fmt)
    if access:
        where.append("access = ?")
        params.append(access)
    if prefix:
        where.append("substr(id, 1, ?) = ?")
        params += [len(prefix), prefix]
    cursor = after or ""
    while True:
        rows = list(db.query(f"SELECT * FROM sources WHERE {' AND '.join(['id > ?', *where])} ORDER BY id "
                             "LIMIT ?", (cursor, *params, batch)))
        yield from rows
        if len(rows) < batch:
            return
        cursor = rows[-1]["id"]


def register(db: sqlite_utils.Database, record: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Store a validated record: ``(record, created)``; the same id with other fields raises Conflict, a
    ``reference`` that is not a registered FASTA source raises Invalid. The same record with another
    ``pinned`` (not None) pins or unpins the registered source."""
    pinned = record.get("pinned")
    with transaction(db):
        existing = get(db, record["id"])
        if existing is None:
            columns = (*FIELDS, "reference_md5", "pinned", "created_at")
            db.execute(f"INSERT INTO sources ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                       (*(record.get(name, "") for name in FIELDS), reference_md5(db, record), int(bool(pinned)),
                        now()))
        elif pinned is not None and bool(existing["pinned"]) != pinned \
                and all(existing[name] == record.get(name, "") for name in FIELDS):
            db.execute("UPDATE sources SET pinned = ? WHERE id = ?", (int(pinned), record["id"]))
    if existing is not None:
        if any(existing[name] != record.get(name, "") for name in FIELDS):
            raise Conflict(f"source {record['id']!r} is already registered with different fields; register "
                           f"under another id, or remove it first (DELETE /files/{record['id']} with the "
                           "token)")
        return get(db, record["id"]) or existing, False
    return get(db, record["id"]), True


# Bumped by every delete in this process: a reader that keeps records (webapp.fast_ranges) drops them. Other
# processes' deletes reach it through SQLite's data_version.
deletions = 0


def delete(db: sqlite_utils.Database, source_id: str) -> dict[str, Any] | None:
    """Remove a source's record: the removed record, or None when there was none. A source that another one
    names as its ``reference`` is kept (Conflict): that one's artifact key holds the reference's md5."""
    global deletions
    with transaction(db):
        existing = get(db, source_id)
        users = [row["id"] for row in
                 db.query("SELECT id FROM sources WHERE reference = ? ORDER BY id LIMIT 5", (source_id,))]
        if existing is not None and users:
            raise Conflict(f"source {source_id!r} is the reference of {', '.join(map(repr, users))}; delete "
                           "those first")
        if existing is not None:
            db.execute("DELETE FROM sources WHERE id = ?", (source_id,))
    if existing is not None:
        deletions += 1
    return existing


def sharing(db: sqlite_utils.Database, record: dict[str, Any], same_format: bool) -> bool:
    """True when another registered source has this record's md5 and access class (and format, if asked)."""
    sql = "SELECT 1 FROM sources WHERE md5 = ? AND access = ? AND id != ?"
    params: tuple = (record["md5"], record["access"], record["id"])
    if same_format:
        sql, params = sql + " AND format = ?", (*params, record["format"])
    return next(iter(db.query(sql + " LIMIT 1", params)), None) is not None


def read_manifest(path: str) -> list[dict[str, str]]:
    """The rows of a manifest TSV (``id access_url md5 format index_url access reference``); relative local
    paths are taken from the manifest's folder."""
    base = os.path.dirname(os.path.abspath(path))
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            fields = {name: (row.get(name) or "").strip() for name in FIELDS}
            for name in ("access_url", "index_url"):
                value = fields[name]
                if value and layout.is_local(value) and not os.path.isabs(layout.local_path(value)):
                    fields[name] = os.path.normpath(os.path.join(base, layout.local_path(value)))
            rows.append(fields)
    return rows


def file_md5(path: str) -> str:
    """The md5 of a file, read in 1 MiB blocks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def register_samples(db: sqlite_utils.Database, settings: Settings) -> list[str]:
    """Register every file of the sample folder whose format the name tells (id = file name); returns the ids.

    Nothing happens without a sample folder; a name already registered with other fields is left alone.
    """
    if not settings.samples_dir:
        return []
    registered = []
    for name in sorted(os.listdir(settings.samples_dir)):
        path = os.path.join(settings.samples_dir, name)
        named = layout.infer_format(name) is not None and layout.SOURCE_ID_RE.match(name)
        if not named or not os.path.isfile(path):
            continue
        try:
            record = validate({"id": name, "access_url": path, "md5": file_md5(path)}, settings)
            register(db, record)
        except (Invalid, Conflict) as err:
            log.warning("sample %s not registered: %s", name, err.detail)
            continue
        registered.append(name)
    log.info("registered %d sample sources from %s", len(registered), settings.samples_dir)
    return registered
