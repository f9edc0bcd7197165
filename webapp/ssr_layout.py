"""The SSR analysis' identity and file layout: shared by the engine (rules/ssr.smk) and the service.

Standard library only (the Snakefile imports it). An analysis lives at::

    {cache_dir}/ssr/v1/<analysis key>/input/{genomes.fa, categories.tsv, genes.bed}   (service uploads)
    {cache_dir}/ssr/v1/<analysis key>/output/{main,intrim}/...                        (the results)
    {cache_dir}/ssr/v1/<analysis key>/logs/                                          (rule logs)

The analysis key hashes the input files' content and the normalized parameters (everything that changes a
result; not ``thread``), so identical submissions share one key and one result.
"""

from __future__ import annotations

import hashlib
import json
import os

VERSION = 1
SSR_DIR = "ssr"
KEY_LENGTH = 32

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
INPUT_NAMES = {"fasta": "genomes.fa", "categories": "categories.tsv", "gene_bed": "genes.bed"}


class ParamError(ValueError):
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


def file_digest(path: str) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def analysis_key(
    fasta_digest: str,
    categories_digest: str | None,
    gene_bed_digest: str | None,
    params: dict,
    reference_id: str | None,
    flanks: bool,
) -> str:
    """The analysis key: a hash of the inputs' content digests and the normalized parameters."""
    normalized = normalize_params(params)
    document = {
        "version": VERSION,
        "fasta": fasta_digest,
        "categories": categories_digest or None,
        "gene_bed": gene_bed_digest or None,
        "params": {k: v for k, v in normalized.items() if k not in NOT_IN_KEY},
        "reference_id": reference_id or None,
        "flanks": bool(flanks),
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_LENGTH]


def analysis_key_of_files(
    fasta: str,
    categories: str | None,
    gene_bed: str | None,
    params: dict,
    reference_id: str | None,
    flanks: bool,
) -> str:
    """The analysis key of input files on disk."""
    return analysis_key(
        file_digest(fasta),
        file_digest(categories) if categories else None,
        file_digest(gene_bed) if gene_bed else None,
        params,
        reference_id,
        flanks,
    )


def analysis_dir(cache_dir: str, key: str) -> str:
    """The folder of one analysis: input/, output/ and logs/."""
    return os.path.join(cache_dir, SSR_DIR, f"v{VERSION}", key)


def output_dir(cache_dir: str, key: str) -> str:
    """The analysis' output/ folder (main/ and intrim/ inside, as croSSRoad lays them out)."""
    return os.path.join(analysis_dir(cache_dir, key), "output")


def input_path(cache_dir: str, key: str, role: str) -> str:
    """Where the service keeps an uploaded input (role: fasta, categories or gene_bed)."""
    return os.path.join(analysis_dir(cache_dir, key), "input", INPUT_NAMES[role])


def stage_outputs(
    has_categories: bool, has_gene_bed: bool, flanks: bool, reference_id: str | None
) -> dict[str, list[str]]:
    """The files each stage writes, relative to output/: {"m2": [...], "gc2": [...], "hotspots": [...]}."""
    m2 = ["intrim/genome_stats.tsv", "intrim/reformatted.tsv", "intrim/locicons.txt"]
    if has_categories:
        m2.append("main/mergedOut.tsv")
    if flanks:
        m2 += ["main/flanks/flanked.tsv", "main/flanks/pattern_summary.csv"]
    stages = {"m2": m2, "gc2": [], "hotspots": []}
    if has_gene_bed:
        stages["gc2"] = ["main/ssr_genecombo.tsv", "intrim/ssr_non_gene.tsv", "intrim/genes_non_ssr.tsv"]
        stages["hotspots"] = [
            "intrim/all_variations.csv",
            "main/mutational_hotspot.csv",
            "main/hssr_data.csv",
        ]
        if reference_id:
            stages["hotspots"].append("main/ref_ssr_genecombo.csv")
    return stages


def ssr_table(has_categories: bool) -> str:
    """The SSR table later stages read (relative to output/): mergedOut.tsv, else reformatted.tsv."""
    return "main/mergedOut.tsv" if has_categories else "intrim/reformatted.tsv"
