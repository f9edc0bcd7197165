"""The source record's vocabulary, defined once: id pattern, md5, access values, formats with their artifact
kinds and file extensions, manifest columns, and the manifest reader.

Standard library only: the engine imports it (``rules/common.smk`` through :mod:`webapp.layout`, and
:mod:`webapp.core.records`), and so does the service. The schema a record is validated against is
:class:`webapp.core.records.SourceRecord`, built from these names.
"""
from __future__ import annotations

import csv
import os
import re
from urllib.parse import unquote, urlsplit

from .errors import Invalid

# a source id: 1 to SOURCE_ID_MAX_LENGTH of SOURCE_ID_CHARS, and not "." or ".." (they would name folders)
SOURCE_ID_CHARS = r"[A-Za-z0-9._-]"
SOURCE_ID_MAX_LENGTH = 128
SOURCE_ID_PATTERN = rf"^(?!\.\.?$){SOURCE_ID_CHARS}{{1,{SOURCE_ID_MAX_LENGTH}}}$"
SOURCE_ID_RE = re.compile(SOURCE_ID_PATTERN)
SOURCE_ID_RULE = f"1 to {SOURCE_ID_MAX_LENGTH} of A-Z a-z 0-9 . _ - (and not '.' or '..')"
MD5_PATTERN = r"^[0-9a-f]{32}$"  # as stored; clients may send upper case (MD5_INPUT_PATTERN)
MD5_INPUT_PATTERN = r"^[0-9a-fA-F]{32}$"
MD5_RE = re.compile(MD5_PATTERN)
ACCESS_CLASSES = ("public", "restricted")

# format -> (artifact kind, a key of webapp.layout.KINDS, or None for passthrough formats; canonical file
# extension)
FORMATS: dict[str, tuple[str | None, str]] = {
    "bam": ("bam", "bam"),
    "sam": ("bam", "sam"),
    "vcf": ("vcf", "vcf"),
    "gff": ("gff3", "gff"),
    "gff3": ("gff3", "gff3"),
    "gtf": ("gff3", "gtf"),
    "bed": ("bed", "bed"),
    "narrowpeak": ("bed", "narrowPeak"),
    "broadpeak": ("bed", "broadPeak"),
    "bigbed": ("bed", "bb"),
    "csv": (None, "csv"),
    "tsv": (None, "tsv"),
    "bigwig": (None, "bw"),
    "fasta": ("fasta", "fa"),
    "bedgraph": ("bigwig", "bedGraph"),
    "wig": ("bigwig", "wig"),
    "cram": ("bam", "cram"),  # decoded against its `reference` (a registered fasta source), if it names one
}
BINARY_FORMATS = ("bam", "bigbed", "bigwig", "cram")
# formats whose source may name a `reference` (the id of a registered source of a REFERENCE_SOURCE_FORMATS
# format); every other format refuses the field
REFERENCE_FORMATS = ("cram", "bedgraph", "wig")  # CRAM: decoding; bedGraph/WIG: the bigWig's chromosome sizes
REFERENCE_SOURCE_FORMATS = ("fasta",)

# file-name suffix (lower case) -> format, longest first so ".gff3" wins over ".gff"; text formats may add a
# compression suffix (COMPRESSION_SUFFIXES)
FORMAT_SUFFIXES: list[tuple[str, str]] = sorted(
    [
        (".bam", "bam"), (".sam", "sam"), (".vcf", "vcf"), (".gff", "gff"), (".gff3", "gff3"),
        (".gtf", "gtf"), (".bed", "bed"), (".narrowpeak", "narrowpeak"), (".broadpeak", "broadpeak"),
        (".bb", "bigbed"), (".bigbed", "bigbed"), (".csv", "csv"), (".tsv", "tsv"), (".bw", "bigwig"),
        (".bigwig", "bigwig"), (".fa", "fasta"), (".fasta", "fasta"), (".fna", "fasta"), (".cram", "cram"),
        (".bedgraph", "bedgraph"), (".bdg", "bedgraph"), (".wig", "wig"),
    ],
    key=lambda pair: -len(pair[0]),
)
COMPRESSION_SUFFIXES = (".gz", ".bgz")

# upstream index (sidecar) name suffix -> what kind of index it is
SIDECAR_EXTENSIONS = ("bai", "tbi", "csi")
# formats whose unprocessed source an upstream sidecar index can belong to (BGZF text or BAM)
SIDECAR_FORMATS = ("bam", "vcf", "gff", "gff3", "gtf", "bed", "narrowpeak", "broadpeak")

# the source record's fields, in the order of a manifest's columns (a TSV with this header); a manifest must
# have the REQUIRED_COLUMNS, the others default (format: inferred from the name, access: public)
MANIFEST_COLUMNS = ("id", "access_url", "md5", "format", "index_url", "access", "reference")
REQUIRED_COLUMNS = ("id", "access_url", "md5")
OPTIONAL_FIELDS = ("index_url", "reference")  # empty in a record that has none; every other field has a value


def formats_of(*kinds: str) -> tuple[str, ...]:
    """The formats whose artifact is one of ``kinds`` (``formats_of("bam")`` -> bam, sam, cram)."""
    return tuple(fmt for fmt, (kind, _) in FORMATS.items() if kind in kinds)


def url_basename(access_url: str) -> str:
    """The last path component of a URL or local path, percent-decoded."""
    parts = urlsplit(access_url)
    path = parts.path if parts.scheme else access_url
    return os.path.basename(unquote(path).rstrip("/"))


def is_compressed_name(name: str) -> bool:
    """True when a file name says it is gzip/BGZF compressed."""
    return name.lower().endswith(COMPRESSION_SUFFIXES)


def infer_format(access_url: str) -> str | None:
    """The format a source's name implies (``x.vcf.gz`` -> ``vcf``), or None when the name says nothing."""
    name = url_basename(access_url).lower()
    for suffix in COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    for suffix, fmt in FORMAT_SUFFIXES:
        if name.endswith(suffix):
            return fmt
    return None


def sidecar_extension(index_url: str) -> str | None:
    """``bai``, ``tbi`` or ``csi`` as the index URL's name says, or None."""
    name = url_basename(index_url).lower()
    return next((ext for ext in SIDECAR_EXTENSIONS if name.endswith("." + ext)), None)


def is_local(access_url: str) -> bool:
    """True for a local path or a file:// URL."""
    scheme = urlsplit(access_url).scheme.lower()
    return scheme in ("", "file")


def local_path(access_url: str) -> str:
    """The filesystem path of a local access_url (``file://`` URL or plain path)."""
    return unquote(urlsplit(access_url).path) if access_url.lower().startswith("file://") else access_url


def read_manifest(path: str) -> list[dict[str, str]]:
    """The rows of a manifest TSV, every one with all :data:`MANIFEST_COLUMNS` (a missing optional column is
    empty) and its relative local paths taken from the manifest's folder. Raises Invalid when the header lacks
    a required column. The rows are not validated: :func:`webapp.core.records.validate_record` does that."""
    base = os.path.dirname(os.path.abspath(path))
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = [name for name in REQUIRED_COLUMNS if name not in (reader.fieldnames or [])]
        if missing:
            raise Invalid(f"manifest {path}: missing column(s) {', '.join(missing)}; the header must be: "
                          f"{' '.join(MANIFEST_COLUMNS)}")
        rows = []
        for row in reader:
            fields = {name: (row.get(name) or "").strip() for name in MANIFEST_COLUMNS}
            for name in ("access_url", "index_url"):
                value = fields[name]
                if value and is_local(value) and not os.path.isabs(local_path(value)):
                    fields[name] = os.path.normpath(os.path.join(base, local_path(value)))
            rows.append(fields)
    return rows
