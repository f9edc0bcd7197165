"""The igv.js reference of a registered reference FASTA: its BGZF data, .fai and .gzi through the service's own
extension-bearing alias URLs (served with byte ranges, like every alias)."""
from __future__ import annotations

from typing import Any

from flask import url_for

from . import layout
from .errors import NotFound
from .files_api import _alias_urls, visible_source


def igv_reference(reference: dict[str, Any], name: str | None = None) -> dict[str, Any] | None:
    """igv.js reference settings for a FASTA source once its artifact is complete (its aliases name the .fai
    and .gzi only then); None before."""
    aliases = _alias_urls(reference) or {}
    if reference["format"] not in layout.REFERENCE_SOURCE_FORMATS or not aliases.get("index"):
        return None
    return {"id": reference["id"], "name": name or reference["id"], "fastaURL": aliases["data"],
            "indexURL": aliases["index"], "compressedIndexURL": aliases.get("gzi"),
            "wholeGenomeView": False, "showIdeogram": False}


def named_reference(source: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
    """The FASTA a source names as its ``reference``, when this caller may read it: ``(igv.js reference
    settings, or None while its artifact is incomplete; where a page builds it and reads those settings
    then)``. ``(None, None)`` without a readable reference: the view then takes sequence names and lengths
    from the artifact. (Building a CRAM builds its reference's data and indexes, not that source's own
    artifact record: a page asks for the reference's build itself, which then finds the files in place.)"""
    if not source.get("reference"):
        return None, None
    try:
        reference = visible_source(source["reference"])
    except NotFound:
        return None, None
    urls = {"id": reference["id"], "record_url": url_for("files.get_file", source_id=reference["id"]),
            "data_url": url_for("files.data", source_id=reference["id"]),
            "settings_url": url_for("ui_views.reference_settings", source_id=reference["id"])}
    return igv_reference(reference), urls
