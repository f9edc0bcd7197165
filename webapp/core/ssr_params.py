"""The SSR analysis' parameters, defined once: ``perf_params`` (names, defaults, bounds) and the form fields
of ``POST /analyze_ssr/`` besides its files. Standard library only: the engine reads them through
:mod:`webapp.ssr_layout` (``rules/ssr_common.smk``), the service through :mod:`webapp.ssr_inputs`.
Their OpenAPI description is generated from them (:mod:`webapp.core.ssr_form`).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import Invalid
from .policy import parse_bool

# perf_params: name -> (default, minimum, maximum or None). Defaults are docs/ssr.md's "Inputs".
PARAMS: dict[str, tuple[int, int, int | None]] = {
    "mono": (12, 2, 1000),
    "di": (6, 2, 1000),
    "tri": (4, 2, 1000),
    "tetra": (3, 2, 1000),
    "penta": (3, 2, 1000),
    "hexa": (2, 2, 1000),
    "minLen": (1000, 0, None),
    "maxLen": (10_000_000, 1, None),
    "unfair": (0, 0, None),
    "thread": (2, 1, 256),
    "min_repeat_count": (1, 0, None),
    "min_genome_count": (2, 0, None),
}
# perf_params: name -> what it means, one line (the submission form and the OpenAPI document show these)
PARAM_MEANINGS: dict[str, str] = {
    "mono": "fewest repeat units for a 1 bp motif to count as an SSR",
    "di": "fewest repeat units for a 2 bp motif",
    "tri": "fewest repeat units for a 3 bp motif",
    "tetra": "fewest repeat units for a 4 bp motif",
    "penta": "fewest repeat units for a 5 bp motif",
    "hexa": "fewest repeat units for a 6 bp motif",
    "minLen": "shortest genome analysed, in bases (shorter ones are left out)",
    "maxLen": "longest genome analysed, in bases (longer ones are left out)",
    "unfair": "most N (ambiguous) bases a genome may hold and still be analysed",
    "thread": "threads per stage (speed only: it never changes a result)",
    "min_repeat_count": "a hotspot needs more distinct repeat counts than this in one gene and motif",
    "min_genome_count": "a hotspot needs more genomes than this carrying the gene's SSR",
}
UNIT_KEYS = ("mono", "di", "tri", "tetra", "penta", "hexa")
NOT_IN_KEY = ("thread",)  # changes speed, never a result
# the upload fields of POST /analyze_ssr/: form name -> required
FILE_FIELDS = {"fasta_file": True, "categories_file": False, "gene_bed": False}


class ParamError(Invalid):
    """A perf_params value or key the analysis does not accept; the message says which and why."""


def normalize_params(raw: dict | None) -> dict[str, int]:
    """perf_params with defaults filled in, every value checked (integers in range, minLen <= maxLen)."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(PARAMS))
    if unknown:
        raise ParamError(f"unknown perf_params key(s): {', '.join(unknown)}; known: {', '.join(PARAMS)}")
    params = {}
    for name, (default, low, high) in PARAMS.items():
        value = raw.get(name, default)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(f"perf_params.{name} must be an integer, not {value!r}")
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ParamError(f"perf_params.{name} = {value} is out of range: it must be {bounds}")
        params[name] = value
    if params["minLen"] > params["maxLen"]:
        raise ParamError(
            f"perf_params.minLen ({params['minLen']}) is larger than maxLen ({params['maxLen']})"
        )
    return params


def parse_params(text: str | None) -> dict[str, int]:
    """perf_params from the form's JSON string (empty: every default), defaults filled in and values checked."""
    raw = {}
    if text and text.strip():
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            raise ParamError(f"perf_params is not valid JSON: {error.msg}") from None
        if not isinstance(raw, dict):
            raise ParamError("perf_params must be a JSON object")
    return normalize_params(raw)


@dataclass(frozen=True)
class SsrOptions:
    """The form fields of a submission besides its files."""

    reference_id: str | None  # checked against the FASTA's record ids by the service, which has the file
    perf_params: dict[str, int]
    flanks: bool


def parse_options(form: Mapping[str, str]) -> SsrOptions:
    """The options of a submission from its form fields; raises Invalid naming the first bad one."""
    return SsrOptions(reference_id=(form.get("reference_id") or "").strip() or None,
                      perf_params=parse_params(form.get("perf_params")),
                      flanks=parse_bool(form.get("flanks"), "flanks"))
