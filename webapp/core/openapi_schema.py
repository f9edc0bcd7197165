"""Pydantic models as OpenAPI 3.0 component schemas.

pydantic writes JSON Schema 2020-12; OpenAPI 3.0 takes a subset of it. The models of the core keep to that
subset (no ``None`` types, no ``const``); this drops what OpenAPI 3.0 would read differently or not at all:
``title`` (a generated label, not part of the contract) and ``default`` (the models' defaults are what a
missing field means after validation, e.g. "infer the format", not a value a client should send).
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

REF_TEMPLATE = "#/components/schemas/{model}"


def _strip(node: Any, dropped: tuple[str, ...]) -> Any:
    if isinstance(node, dict):
        return {key: _strip(value, dropped) for key, value in node.items()
                if key not in dropped or isinstance(value, dict) and "type" in value}
    if isinstance(node, list):
        return [_strip(item, dropped) for item in node]
    return node


def component(model: type[BaseModel], defaults: bool = False) -> dict[str, Any]:
    """The OpenAPI 3.0 schema of a model (what it validates: mode ``validation``); ``defaults``: keep the
    fields' defaults (where they are values a client may send, e.g. thresholds)."""
    dropped = ("title",) if defaults else ("title", "default")
    schema = _strip(model.model_json_schema(ref_template=REF_TEMPLATE, mode="validation"), dropped)
    if "$defs" in schema:
        raise ValueError(f"{model.__name__} nests models; register them as components instead")
    return schema
