"""The SSR submission's OpenAPI description, generated from :mod:`webapp.core.ssr_params` (pydantic).

:class:`PerfParams` is built from :data:`~webapp.core.ssr_params.PARAMS` (a field per name, with its default,
bounds and one-line meaning); :class:`SsrSubmission` is the multipart form of ``POST /analyze_ssr/``.
:func:`submission_request_body` is the operation's ``requestBody``.
"""
from __future__ import annotations

from dataclasses import fields
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from .openapi_schema import component
from .ssr_params import FILE_FIELDS, PARAM_MEANINGS, PARAMS, SsrOptions

PerfParams: type[BaseModel] = create_model(
    "PerfParams",
    __config__=ConfigDict(extra="forbid"),
    **{name: (int, Field(default, ge=low, le=high, description=PARAM_MEANINGS[name]))
       for name, (default, low, high) in PARAMS.items()},
)
PerfParams.__doc__ = "perf_params: the detection thresholds (docs/ssr.md, Inputs); every key optional."


class SsrSubmission(BaseModel):
    """The multipart form of POST /analyze_ssr/ (the files, then the options)."""

    fasta_file: bytes
    categories_file: bytes = b""
    gene_bed: bytes = b""
    reference_id: str = ""
    perf_params: str = Field("", description="JSON object (schema PerfParams): " + ", ".join(PARAMS))
    flanks: bool = False


# the form is the upload fields and the options webapp.core.ssr_params parses, nothing else
if list(SsrSubmission.model_fields) != [*FILE_FIELDS, *(option.name for option in fields(SsrOptions))] or \
        [name for name, required in FILE_FIELDS.items() if required] != \
        [name for name, field in SsrSubmission.model_fields.items() if field.is_required()]:
    raise ImportError("SsrSubmission differs from webapp.core.ssr_params (FILE_FIELDS, SsrOptions)")


def submission_request_body() -> dict[str, Any]:
    """The ``requestBody`` of ``POST /analyze_ssr/``: its multipart form."""
    return {"required": True, "content": {"multipart/form-data": {"schema": component(SsrSubmission)}}}
