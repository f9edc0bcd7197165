"""Validation of SSR analysis uploads before anything is queued (docs/api.md, ``POST /analyze_ssr/``).

Pure functions over files on disk; each raises :class:`InputInvalid` with a sentence naming the input and the
reason. The checks mirror what the workflow itself refuses, so a queued analysis does not fail on its inputs.
"""

from __future__ import annotations

import csv

from .core import ssr_params
from .core.errors import Invalid
from .core.policy import parse_bool

SSR_COLUMNS = {
    "genomeID",
    "start",
    "stop",
    "repeat",
    "motif",
    "GC_per",
    "AT_per",
    "length_of_motif",
    "loci",
    "length_of_ssr",
    "length_genome",
    "N_count",
    "genome_GC_per",
}


class InputInvalid(ValueError):
    """An upload or parameter the analysis cannot use."""


def fasta_ids(path: str) -> list[str]:
    """The record ids of a FASTA, checked: it is FASTA, every header is one word, no id repeats."""
    ids: list[str] = []
    seen: set[str] = set()
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.startswith(b">"):
                header = line[1:].rstrip(b"\r\n")
                words = header.split()
                if not words:
                    raise InputInvalid(f"fasta_file line {number}: a header without a record id")
                if len(words) > 1 or header != words[0]:
                    raise InputInvalid(
                        f"fasta_file line {number}: the header {header[:60].decode('utf-8', 'replace')!r}"
                        " holds spaces; record ids must be single words"
                    )
                seq_id = words[0].decode("utf-8", "replace")
                if seq_id in seen:
                    raise InputInvalid(f"fasta_file line {number}: duplicate record id {seq_id!r}")
                seen.add(seq_id)
                ids.append(seq_id)
            elif not ids and line.strip():
                raise InputInvalid("fasta_file is not FASTA: it must start with a '>' header line")
    if not ids:
        raise InputInvalid("fasta_file is not FASTA: no '>' record in it")
    return ids


def check_categories(path: str) -> list[str]:
    """The category table's columns, checked: a genomeID column, no repeated or clashing names."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle, delimiter="\t")
            header = next(reader, None)
            if not header:
                raise InputInvalid("categories_file is empty")
            if "genomeID" not in header:
                raise InputInvalid(
                    f"categories_file has no 'genomeID' column (header: {' | '.join(header)[:200]})"
                )
            if len(set(header)) != len(header):
                raise InputInvalid("categories_file repeats a column name")
            clash = (set(header) - {"genomeID"}) & SSR_COLUMNS
            if clash:
                raise InputInvalid(
                    f"categories_file column(s) {', '.join(sorted(clash))} clash with SSR table columns"
                )
            for number, row in enumerate(reader, start=2):
                if len(row) > len(header):
                    raise InputInvalid(
                        f"categories_file line {number} has {len(row)} fields, its header {len(header)}"
                    )
    except UnicodeDecodeError:
        raise InputInvalid("categories_file is not UTF-8 text") from None
    return header


def check_gene_bed(path: str) -> int:
    """The number of gene rows, checked: 4+ tab-separated columns, integers with end >= start >= 0."""
    rows = 0
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip() or line.startswith(("#", "track ", "track\t", "browser ", "browser\t")):
                    continue
                fields = line.rstrip("\r\n").split("\t")
                if len(fields) < 4:
                    raise InputInvalid(
                        f"gene_bed line {number}: {len(fields)} column(s); genomeID, start, end and "
                        "gene are needed (tab-separated)"
                    )
                if not (fields[1].isdigit() and fields[2].isdigit()):
                    raise InputInvalid(f"gene_bed line {number}: start and end must be non-negative integers")
                if int(fields[2]) < int(fields[1]):
                    raise InputInvalid(f"gene_bed line {number}: end {fields[2]} is before start {fields[1]}")
                rows += 1
    except UnicodeDecodeError:
        raise InputInvalid("gene_bed is not UTF-8 text") from None
    return rows


def parse_params(text: str | None) -> dict[str, int]:
    """perf_params from its JSON string, defaults filled in and values checked
    (:func:`webapp.core.ssr_params.parse_params`)."""
    try:
        return ssr_params.parse_params(text)
    except Invalid as error:
        raise InputInvalid(error.detail) from None


def parse_flag(text: str | None, name: str) -> bool:
    """A boolean form field, read by the service's one boolean parser (:func:`webapp.core.policy.parse_bool`)."""
    try:
        return parse_bool(text, name)
    except Invalid as error:
        raise InputInvalid(error.detail) from None
