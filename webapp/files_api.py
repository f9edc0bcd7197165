"""Blueprint: registering sources and serving their artifacts (``/files``, ``/data``, ``/index``)."""
from __future__ import annotations

import os

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from . import cache_usage, derived, jobs, layout, metrics, plan, serving, source_admin, sources
from .auth import require_token, token_valid
from .db import get_db
from .errors import BuildFailed, Invalid, NotFound, NotReady
from .settings import Settings

bp = Blueprint("files", __name__)
RETRY_AFTER = "5"


def _settings() -> Settings:
    return current_app.config["TRACKPREP_SETTINGS"]


def visible_source(source_id: str) -> dict:
    """The source, if this caller may see it: a restricted one without the token is as unknown (404), unless
    it is derived from an SSR job, which its id alone opens (:mod:`webapp.derived`)."""
    source = sources.get(get_db(), source_id) if layout.SOURCE_ID_RE.match(source_id) else None
    if source is None or (source["access"] == "restricted" and not token_valid()
                          and not derived.readable_by_id(get_db(), source)):
        raise NotFound(f"no source with id {source_id!r}")
    return source


def _raw_flag() -> bool:
    value = request.args.get("raw", "false").strip().lower()
    if value not in ("true", "1", "false", "0", ""):
        raise Invalid("raw must be true or false")
    return value in ("true", "1")


def _job_links(job: dict) -> dict:
    status_url = url_for("jobs.get_job", job_id=job["id"])
    return {"job_id": job["id"], "status": job["status"], "status_url": status_url}


def _serve(source: dict, what: str, raw: bool, alias: bool, index_suffix: str | None = None):
    """Send the file behind the request, or start (or join) the job that builds it. ``index_suffix``: the
    index type an alias name asks for; a complete artifact indexed the other way answers 404 at once."""
    settings = _settings()
    resolved = plan.resolve(settings, source, what, raw)
    if resolved is None:
        detail = f"source {source['id']!r} ({source['format']}) has no {'upstream ' if raw else ''}index" \
            if what == "index" else f"source {source['id']!r} has no such file"
        if what == "index" and not raw and layout.FORMATS[source["format"]][0] is not None \
                and not layout.has_index(source["format"]):
            detail += f": its artifact is a bigWig, indexed inside the data file (GET /data/{source['id']})"
        raise NotFound(detail)
    scope = "private" if source["access"] == "restricted" else "public"
    if resolved.targets is None:  # a local file, streamed as it is; the policy is checked again at every read
        real = sources.inside_roots(resolved.path, settings.effective_source_roots)
        if real is None:
            raise NotFound(f"the file of source {source['id']!r} is outside the source roots now")
        return serving.send(real, f"{source['id']}:{real}", f"{scope}, no-cache")
    # content-addressed: immutable when public (API.md), merely private when restricted
    cache_control = serving.IMMUTABLE if scope == "public" else "private"
    if resolved.ready():
        if not os.path.isfile(resolved.path):  # completed since it was resolved: the record names the index
            resolved = plan.resolve(settings, source, what, raw)
        if index_suffix is not None and not resolved.path.endswith(index_suffix):
            built = resolved.path.rsplit(".", 1)[-1]
            raise NotFound(f"the artifact of source {source['id']!r} is indexed with {built.upper()}, not "
                           f"{index_suffix[1:].upper()}: use the .{built} name (GET /files/{source['id']})")
        # the stream holds a lease on the artifact's folder until the server closes the file: never evicted
        # while read (webapp/cache_usage.py)
        release = cache_usage.open_stream(settings, resolved.path) if request.method == "GET" else None
        try:
            response = serving.send(resolved.path, resolved.path, cache_control, release)
        except NotFound:
            if resolved.ready():
                raise
            return _serve(source, what, raw, alias, index_suffix)  # evicted since we looked: a miss
        if release is not None:  # a HEAD probes; it does not count as a use
            cache_usage.served(settings, resolved.path)
        metrics.cache_hit(request.path)
        return response
    if request.method == "HEAD":
        raise NotFound(f"the {what} of source {source['id']!r} is not built yet; a GET starts the build")
    pending = start_build(source, resolved, what, alias)
    if pending is None:  # built while we looked
        return _serve(source, what, raw, alias, index_suffix)
    return pending


def start_build(source: dict, resolved: plan.Resolved, what: str, alias: bool = False) -> Response | None:
    """Start (or join) the one job that builds ``resolved`` under its workflow key; every route with a cache
    miss goes through here. Returns the 202 + job link response, or None when the files were built while we
    looked. Raises BuildFailed for a remembered failure of the key, and NotReady (503 + Retry-After) instead
    of the 202 when ``alias`` (htslib clients take any 2xx for the file itself)."""
    failed = jobs.remembered_failure(get_db(), resolved.key, source["created_at"])
    if failed is not None:
        links = _job_links(failed)
        reason = (failed["error"] or {}).get("reason") or failed["message"]
        raise BuildFailed(f"building source {source['id']!r} failed (job {failed['id']}): {reason}. The same "
                          "request fails the same way until the source is registered anew (DELETE "
                          f"/files/{source['id']}, then POST /files) or an operator retries the job (POST "
                          f"{links['status_url']}/retry)", {"Location": links["status_url"]}, links)
    metrics.cache_miss(request.path)
    reference = sources.get(get_db(), source["reference"]) if source.get("reference") else None
    work = plan.make(_settings(), source, resolved, reference)
    job, _created = jobs.submit(get_db(), work.kind, work.key, work.targets, work.config, files=work.files,
                                work_dirs=work.work_dirs, source_id=source["id"], private=work.private,
                                satisfied=resolved.ready, max_queued=_settings().max_queued_jobs)
    if job is None:
        return None
    links = _job_links(job)
    if alias:  # htslib takes any 2xx for the file itself: tell it to come back instead
        raise NotReady(f"the {what} of source {source['id']!r} is being built (job {job['id']}); retry later",
                       {"Retry-After": RETRY_AFTER})
    response = jsonify(links)
    response.status_code = 202
    response.headers["Location"] = links["status_url"]
    response.headers["Retry-After"] = RETRY_AFTER
    return response


def serve_or_start(source: dict, what: str = "data"):
    """The shared /data rule for other routes (htsget): send the built artifact, or start (or join) its job
    and raise NotReady (503 + Retry-After) / BuildFailed, exactly as the extension-bearing aliases do."""
    return _serve(source, what, raw=False, alias=True)


@bp.post("/files")
def register_file():
    """Register a source (token)."""
    require_token()
    body = request.get_json(silent=True)
    record, created = sources.register(get_db(), sources.validate(body, _settings()))
    response = jsonify(_describe(record))
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for("files.get_file", source_id=record["id"])
    return response


def _alias_urls(source: dict) -> dict | None:
    """The unique extension-bearing alias URLs of a processed source's artifact (None for passthrough):
    ``data``, and ``index`` once the artifact is complete (its BAI/TBI or CSI, as the data decided); a bigWig
    (no index file) lists ``data`` only."""
    if layout.FORMATS[source["format"]][0] is None:
        return None
    settings = _settings()
    names = layout.alias_names(layout.source_key(source), source["format"],
                               plan.pipeline_version(settings.workflow_dir))
    if not layout.has_index(source["format"]):
        return {"data": url_for("files.alias", source_id=source["id"], name=names["data"])}
    index = plan.resolve(settings, source, "index", raw=False)
    index_name = None
    if index is not None and index.ready():
        index_name = names["csi"] if index.path.endswith(layout.CSI_SUFFIX) else names["index"]
    urls = {"data": url_for("files.alias", source_id=source["id"], name=names["data"]),
            "index": url_for("files.alias", source_id=source["id"], name=index_name) if index_name else None}
    for extra in layout.extra_files(source["format"]):  # a FASTA's .gzi, listed once the artifact is complete
        urls[extra] = url_for("files.alias", source_id=source["id"], name=names[extra]) if index_name else None
    return urls


def artifact_state(source: dict) -> tuple[dict, dict | None, dict | None]:
    """How a source's files stand, as ``/data`` and ``/index`` decide it: ``({"data"|"index"|"raw_data"|
    "raw_index": Resolved or None}, the active job, the remembered failed job)``. ``GET /files/{id}`` and the
    web UI's home page both read it from here."""
    resolved_files, keys = {}, []
    for what, raw in (("data", False), ("index", False), ("data", True), ("index", True)):
        resolved = plan.resolve(_settings(), source, what, raw)
        resolved_files[f"{'raw_' if raw else ''}{what}"] = resolved
        if resolved is not None and resolved.key is not None and resolved.key not in keys:
            keys.append(resolved.key)
    active = next((job for job in map(lambda key: jobs.active_for_key(get_db(), key), keys) if job), None)
    failures = (jobs.remembered_failure(get_db(), key, source["created_at"]) for key in keys)
    failed = next((job for job in failures if job), None)
    return resolved_files, active, failed


def _describe(source: dict) -> dict:
    """The record plus its alias URLs, which artifacts exist, the active job and a remembered failure."""
    settings = _settings()
    record = {name: source[name] for name in (*sources.FIELDS, "created_at")}
    record["pinned"] = bool(source["pinned"])
    record["aliases"] = _alias_urls(source)
    record["artifacts"] = {}
    resolved_files, active, failed = artifact_state(source)
    for name, resolved in resolved_files.items():
        raw, what = name.startswith("raw_"), name.removeprefix("raw_")
        url = url_for(f"files.{what}", source_id=source["id"], **({"raw": "true"} if raw else {}))
        record["artifacts"][name] = None if resolved is None else {"url": url, "ready": resolved.ready()}
    record["active_job"] = jobs.public_view(get_db(), active, settings.cache_dir) if active else None
    record["failed_job"] = jobs.public_view(get_db(), failed, settings.cache_dir) if failed else None
    record["conversion"] = _conversion(settings, source)
    return record


def _conversion(settings: Settings, source: dict) -> dict | None:
    """The conversion report beside a built artifact (GTF -> GFF3), if there is one."""
    resolved = plan.resolve(settings, source, "data", raw=False)
    if resolved is None or resolved.key is None or not resolved.ready():
        return None
    return jobs.read_conversion(resolved.key)


MAX_LIMIT = 1000


@bp.get("/files")
def list_files():
    """Registered sources in id order, paged (``limit``, ``after``) and filtered (``format``, ``access``,
    ``state``, ``prefix``); restricted sources only with the token."""
    args = request.args
    fmt, access, state = args.get("format") or None, args.get("access") or None, args.get("state") or None
    prefix, after = args.get("prefix") or None, args.get("after") or None
    if fmt is not None and fmt not in layout.FORMATS:
        raise Invalid(f"format must be one of: {', '.join(sorted(layout.FORMATS))}")
    if access is not None and access not in ("public", "restricted"):
        raise Invalid("access must be public or restricted")
    if state is not None and state not in source_admin.STATES:
        raise Invalid(f"state must be one of: {', '.join(source_admin.STATES)}")
    for name, value in (("prefix", prefix), ("after", after)):
        if value is not None and len(value) > 128:
            raise Invalid(f"{name} is longer than an id (128 characters)")
    try:
        limit = int(args.get("limit", "100"))
    except ValueError:
        raise Invalid("limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}")
    if not token_valid():  # restricted sources are as unknown without the token
        if access == "restricted":
            return jsonify(files=[], next=None)
        access = "public"
    found: list[dict] = []
    for source in sources.listing(get_db(), after=after, fmt=fmt, access=access, prefix=prefix,
                                  batch=min(limit + 1, 500) if state is None else 500):
        current = source_admin.artifact_state(_settings(), get_db(), source)
        if state is not None and current != state:
            continue
        if len(found) == limit:  # one more exists: the page ends here
            return jsonify(files=found, next=found[-1]["id"])
        found.append({**{name: source[name] for name in (*sources.FIELDS, "created_at")},
                      "pinned": bool(source["pinned"]), "state": current,
                      "url": url_for("files.get_file", source_id=source["id"])})
    return jsonify(files=found, next=None)


@bp.get("/files/<source_id>")
def get_file(source_id: str):
    """A source's record, its artifacts' readiness and its active job."""
    return jsonify(_describe(visible_source(source_id)))


@bp.delete("/files/<source_id>")
def delete_file(source_id: str):
    """Remove a source (token); its cached files go when no other registered id shares their md5."""
    require_token()
    removed = source_admin.delete(_settings(), get_db(), visible_source(source_id))
    return jsonify(deleted=source_id, removed=removed)


@bp.route("/data/<source_id>", methods=["GET", "HEAD"])
def data(source_id: str):
    """The visualization-ready artifact (or, with ?raw=true, the upstream bytes)."""
    source = visible_source(source_id)
    return _serve(source, "data", _raw_flag(), alias=False)


@bp.route("/index/<source_id>", methods=["GET", "HEAD"])
def index(source_id: str):
    """The index of exactly the bytes /data serves (with ?raw=true, the upstream sidecar)."""
    source = visible_source(source_id)
    return _serve(source, "index", _raw_flag(), alias=False)


@bp.route("/data/<source_id>/<name>", methods=["GET", "HEAD"])
def alias(source_id: str, name: str):
    """Extension-bearing names for clients that derive the index URL: the unique ``<md5>-<format>-v<N>.bam``
    (+ ``.bai``) listed by ``GET /files/{id}``, and the generic ``data.bam`` (+ ``data.bam.bai``)."""
    source = visible_source(source_id)
    version = plan.pipeline_version(_settings().workflow_dir)
    role = layout.alias_role(layout.source_key(source), source["format"], version, name)
    if role is None:
        aliases = _alias_urls(source)
        expected = f": use {aliases['data'].rsplit('/', 1)[1]}" \
            f"{' and its index' if 'index' in aliases else ' (a bigWig: no index file)'} (GET /files/{source_id})" \
            if aliases else ""
        raise NotFound(f"source {source_id!r} has no file named {name!r}{expected}")
    what, suffix = role
    return _serve(source, what, raw=False, alias=True, index_suffix=suffix)
