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

# the parameters are the core's (webapp.core.ssr_params); their names are read here as ssr_layout.X
from .core.ssr_params import (  # noqa: F401
    NOT_IN_KEY, PARAM_MEANINGS, PARAMS, UNIT_KEYS, ParamError, normalize_params)

VERSION = 1
SSR_DIR = "ssr"
KEY_LENGTH = 32

INPUT_NAMES = {"fasta": "genomes.fa", "categories": "categories.tsv", "gene_bed": "genes.bed"}


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
    digests: dict[str, str] | None = None,
) -> str:
    """The analysis key of input files on disk. ``digests``: SHA-256 already known per role (``fasta``,
    ``categories``, ``gene_bed``), which the service computed while receiving the files it then placed, never
    to be rewritten, under this key; a role not in it is hashed from its file (a 2 GB FASTA takes seconds)."""
    known = digests or {}

    def digest(role: str, path: str | None) -> str | None:
        return (known.get(role) or file_digest(path)) if path else None

    return analysis_key(
        digest("fasta", fasta),
        digest("categories", categories),
        digest("gene_bed", gene_bed),
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
