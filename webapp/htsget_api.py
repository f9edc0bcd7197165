"""Blueprint: GA4GH htsget 1.3 (``/reads/{id}``, ``/variants/{id}`` and their ``service-info``).

Tickets are computed by :mod:`webapp.htsget` from the artifact's own index; their URLs point at the artifact's
unique alias (``/data/{id}/<md5>-<format>-v<N>.<ext>``), so every byte goes through the /data rules. On a
cache miss the ticket request starts the build as /data does and answers 503 with ``Retry-After`` until it is
done. ``fields``, ``tags`` and ``notags`` are accepted and ignored: tickets always carry whole records.
"""
from __future__ import annotations

import pysam
from flask import Blueprint, current_app, jsonify, request

from . import htsget, layout, plan
from .auth import token_valid
from .errors import BuildFailed, NotFound, NotReady, QueueFull
from .files_api import serve_or_start, visible_source

bp = Blueprint("htsget", __name__)
MEDIA_TYPE = "application/vnd.ga4gh.htsget.v1.3.0+json"
# a CRAM source is served as the BAM it is decoded into
ENDPOINTS = {"reads": ("BAM", ("bam", "sam", "cram")), "variants": ("VCF", ("vcf",))}
MAX_POSITION = 2**63 - 1


class HtsgetError(Exception):
    """An htsget error: its name (spec) and status."""

    def __init__(self, status: int, name: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.name, self.message, self.headers = status, name, message, headers or {}


@bp.errorhandler(HtsgetError)
def _htsget_error(err: HtsgetError):
    response = jsonify(htsget={"error": err.name, "message": err.message})
    response.status_code = err.status
    response.headers.update(err.headers)
    response.content_type = MEDIA_TYPE
    return response


def _int(name: str, value) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise HtsgetError(400, "InvalidInput", f"{name} must be an integer") from None
    if number < 0 or number > MAX_POSITION:
        raise HtsgetError(400, "InvalidRange", f"{name} is out of range")
    return number


def _regions(args: dict) -> list[tuple[str | None, int | None, int | None]]:
    """The requested regions, validated: ``[(referenceName, start, end)]``; ``(None, None, None)``: all."""
    ref = args.get("referenceName")
    start, end = _int("start", args.get("start")), _int("end", args.get("end"))
    if ref is not None and not isinstance(ref, str):
        raise HtsgetError(400, "InvalidInput", "referenceName must be a string")
    if ref is None and (start is not None or end is not None):
        raise HtsgetError(400, "InvalidInput", "start and end need referenceName")
    if ref == "*":
        raise HtsgetError(400, "InvalidInput", "unplaced reads (referenceName=*) are not served")
    if start is not None and end is not None and start > end:
        raise HtsgetError(400, "InvalidRange", "start is greater than end")
    return [(ref, start, end)]


def _artifact(endpoint: str, source_id: str) -> tuple[dict, str, str]:
    """The visible source, its built artifact path and its index path (building on a miss)."""
    try:
        source = visible_source(source_id)
    except NotFound:
        raise HtsgetError(404, "NotFound", f"no {endpoint} with id {source_id!r}") from None
    if source["format"] not in ENDPOINTS[endpoint][1]:
        raise HtsgetError(404, "NotFound", f"{source_id!r} is not {endpoint} ({source['format']})")
    try:
        serve_or_start(source, "data").close()
        serve_or_start(source, "index").close()
    except NotReady as err:
        raise HtsgetError(503, "NotReady", err.detail, err.headers) from None
    except QueueFull as err:  # backpressure (TRACKPREP_MAX_QUEUED_JOBS): the build was not queued
        raise HtsgetError(503, "QueueFull", err.detail, err.headers) from None
    except BuildFailed as err:
        raise HtsgetError(409, "BuildFailed", err.detail) from None
    settings = current_app.config["TRACKPREP_SETTINGS"]
    data = plan.resolve(settings, source, "data", raw=False).path
    index = plan.resolve(settings, source, "index", raw=False).path
    return source, data, index


def _ref_names(endpoint: str, data: str, index: htsget.Index) -> list[str]:
    if index.names is not None:
        return index.names
    if endpoint == "reads":
        with pysam.AlignmentFile(data, "rb") as bam:
            return list(bam.references)
    with pysam.VariantFile(data) as vcf:
        return list(vcf.header.contigs)


def _ticket(endpoint: str, source_id: str, args: dict, regions: list) -> dict:
    fmt = str(args.get("format") or ENDPOINTS[endpoint][0]).upper()
    if fmt != ENDPOINTS[endpoint][0]:
        raise HtsgetError(400, "UnsupportedFormat", f"{endpoint} are served as {ENDPOINTS[endpoint][0]} only")
    klass = args.get("class")
    if klass not in (None, "header", "body"):
        raise HtsgetError(400, "InvalidInput", "class must be header or body")
    source, data, index_path = _artifact(endpoint, source_id)
    index = htsget.read_index(index_path)
    names = _ref_names(endpoint, data, index)
    pieces: list[tuple[str, object]] = []
    for ref, start, end in regions:
        ref_id = None
        if ref is not None:
            if ref not in names:
                raise HtsgetError(404, "NotFound", f"no reference named {ref!r} in {source_id!r}")
            ref_id = names.index(ref)
        found = htsget.ticket_pieces(data, index, ref_id, start, end, header_only=klass == "header")
        pieces += found[1:-1] if pieces else found[:-1]
        if klass == "header":
            break
    pieces.append(("data", htsget.EOF_BLOCK))
    version = plan.pipeline_version(current_app.config["TRACKPREP_SETTINGS"].workflow_dir)
    alias = layout.alias_names(layout.source_key(source), source["format"], version)["data"]
    url = request.host_url.rstrip("/") + f"/data/{source_id}/{alias}"
    headers = {"Authorization": request.headers["Authorization"]} \
        if source["access"] == "restricted" and token_valid() else {}
    urls = []
    for kind, value in pieces:
        if kind == "data":
            urls.append({"url": htsget.data_uri(value), "class": "header" if not urls else "body"})
        else:
            urls.append({"url": url, "headers": {**headers, "Range": f"bytes={value[0]}-{value[1]}"},
                         "class": "body"})
    response = jsonify(htsget={"format": fmt, "urls": urls})
    response.content_type = MEDIA_TYPE
    return response


def _service_info(endpoint: str):
    fmt = ENDPOINTS[endpoint][0]
    response = jsonify(id=f"trackprep.htsget.{endpoint}", name=f"trackprep htsget {endpoint}",
                       type={"group": "org.ga4gh", "artifact": "htsget", "version": "1.3.0"},
                       organization={"name": "trackprep", "url": request.host_url},
                       version="1.3.0",
                       htsget={"datatype": endpoint, "formats": [fmt], "fieldsParametersEffective": False,
                               "tagsParametersEffective": False},
                       endpoints=[f"GET /{endpoint}/{{id}}", f"POST /{endpoint}/{{id}}",
                                  f"GET /{endpoint}/service-info"])
    return response


@bp.get("/reads/service-info")
def reads_info():
    """htsget service-info for reads."""
    return _service_info("reads")


@bp.get("/variants/service-info")
def variants_info():
    """htsget service-info for variants."""
    return _service_info("variants")


@bp.route("/reads/<source_id>", methods=["GET", "POST"])
def reads(source_id: str):
    """An htsget ticket for a BAM artifact."""
    return _dispatch("reads", source_id)


@bp.route("/variants/<source_id>", methods=["GET", "POST"])
def variants(source_id: str):
    """An htsget ticket for a VCF artifact."""
    return _dispatch("variants", source_id)


def _dispatch(endpoint: str, source_id: str):
    if request.method == "GET":
        return _ticket(endpoint, source_id, request.args, _regions(request.args))
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise HtsgetError(400, "InvalidInput", "the body must be a JSON object")
    raw = body.get("regions")
    if raw is None:
        regions = [(None, None, None)]
    elif isinstance(raw, list) and raw and all(isinstance(r, dict) for r in raw):
        regions = [region for r in raw for region in _regions(r)]
    else:
        raise HtsgetError(400, "InvalidInput", "regions must be a non-empty list of objects")
    return _ticket(endpoint, source_id, body, regions)
