"""The cache layout: the one place both the engine and the service take artifact paths from, built on the
source formats of :mod:`webapp.core.source`.

Standard library only: the Snakefile imports this module, and a bioinformatician running the workflow with
plain `snakemake` should not need Flask installed.

An artifact's path is derived from everything that decides its bytes: the source's md5, the format the
source was registered as (a GTF is converted, a GFF3 is not; a narrowPeak is checked for 10 columns, a BED
is not), the access class and the pipeline version::

    {cache_dir}[/restricted]/v{version}/<format>/<md5>/data.<ext>   (+ its index beside it)
    {cache_dir}[/restricted]/src/<md5>/source.<ext>                  (the verified upstream bytes)

The same bytes registered as two formats therefore get two artifacts, never one built the other's way.
A format decoded against a reference (CRAM: :data:`REFERENCE_FORMATS`) that names one has the reference
source's md5 in its key too (:func:`artifact_key`: ``v2/cram/<md5>-ref-<reference md5>/data.bam``): the same
CRAM decoded against two references is two artifacts.
Pipeline version 1 keyed artifacts by kind (``v1/gff3/<md5>``), so a GTF and a GFF of the same bytes shared
one; version 2 is the first with the format in the key, and nothing reads ``v1/`` any more.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

# the source record's vocabulary is the core's (webapp.core.source); the cache layout below is built on it
from .core.source import (  # noqa: F401  (re-exported: the engine and the service read them as layout.X)
    ACCESS_CLASSES, BINARY_FORMATS, COMPRESSION_SUFFIXES, FORMAT_SUFFIXES, FORMATS, MD5_RE, REFERENCE_FORMATS,
    REFERENCE_SOURCE_FORMATS, SIDECAR_EXTENSIONS, SIDECAR_FORMATS, SOURCE_ID_PATTERN, SOURCE_ID_RE, formats_of,
    infer_format, is_compressed_name, is_local, local_path, sidecar_extension, url_basename)

RESTRICTED_DIR = "restricted"


@dataclass(frozen=True)
class Kind:
    """A visualization-ready artifact kind: its file suffixes and tabix preset.

    A kind without an index file (``index_suffix=""``, ``csi=False``: a bigWig carries its own R-tree index
    inside the data file) has no ``index`` in :func:`artifact_paths`, :func:`alias_names` or its record.
    """

    name: str
    data_suffix: str  # ".bam": the data file is data.bam
    index_suffix: str  # ".bai": the index is data.bam.bai, unless the positions need CSI_SUFFIX; "": none
    tabix_preset: str | None  # None for BAM (samtools index), FASTA (samtools faidx) and bigWig (no index)
    csi: bool = True  # False: the index is always index_suffix (a .fai has no position limit), or none
    extra_suffixes: tuple[str, ...] = ()  # further index files of the artifact (FASTA: ".gzi")

    def __post_init__(self) -> None:
        if not self.index_suffix and (self.csi or self.extra_suffixes):
            raise ValueError(f"kind {self.name}: an artifact without an index has no CSI or extra index files")

    @property
    def has_index(self) -> bool:
        """False for a kind whose data file is its own index (bigWig)."""
        return bool(self.index_suffix)

    @property
    def index_suffixes(self) -> tuple[str, ...]:
        """The index this kind gets for positions BAI/TBI can hold, and the CSI it gets past them (none for a
        kind without an index file)."""
        if not self.has_index:
            return ()
        return (self.index_suffix, CSI_SUFFIX) if self.csi else (self.index_suffix,)

    @property
    def data_name(self) -> str:
        """The artifact's file name in the cache (and its generic alias)."""
        return "data" + self.data_suffix

    @property
    def index_name(self) -> str | None:
        """The index's file name in the cache (and its generic alias); None for a kind without an index."""
        return self.data_name + self.index_suffix if self.has_index else None


# BAI and TBI address positions up to 2^29; an artifact with any reference length or record end past
# MAX_BAI_POSITION gets a CSI index instead (the rules decide from the data, see rules/common.smk)
MAX_BAI_POSITION = 2**29 - 1
CSI_SUFFIX = ".csi"
ARTIFACT_RECORD = "artifact.json"  # written last: the artifact is complete; names its data and index files
INDEX_TYPE_SUFFIX = ".index-type"  # data.<ext>.index-type: "bai", "tbi" or "csi", decided with the data

KINDS: dict[str, Kind] = {
    "bam": Kind("bam", ".bam", ".bai", None),
    "vcf": Kind("vcf", ".vcf.gz", ".tbi", "vcf"),
    "gff3": Kind("gff3", ".gff3.gz", ".tbi", "gff"),
    "bed": Kind("bed", ".bed.gz", ".tbi", "bed"),
    # a reference: BGZF + .fai (the index /index/{id} serves) + .gzi (the BGZF block index, served by alias)
    "fasta": Kind("fasta", ".fa.gz", ".fai", None, csi=False, extra_suffixes=(".gzi",)),
    # quantitative tracks (bedGraph, WIG): a bigWig, range-read through the index inside the file itself
    "bigwig": Kind("bigwig", ".bw", "", None, csi=False),
}
if not {kind for kind, _ in FORMATS.values() if kind} <= set(KINDS):
    raise ImportError("webapp.core.source.FORMATS names an artifact kind that KINDS does not define")

REFERENCE_KEY_SEPARATOR = "-ref-"
# the <md5> component of an artifact path: the source's md5, plus its reference's for a decoded format
ARTIFACT_KEY_PATTERN = r"[0-9a-f]{32}(?:-ref-[0-9a-f]{32})?"


def artifact_key(md5: str, reference_md5: str = "") -> str:
    """The folder name of a source's artifact: its md5, or ``<md5>-ref-<reference md5>`` when the source is
    decoded against a named reference (a CRAM's bytes depend on the reference it is decoded with)."""
    return f"{md5}{REFERENCE_KEY_SEPARATOR}{reference_md5}" if reference_md5 else md5


def split_artifact_key(key: str) -> tuple[str, str]:
    """``(md5, reference md5 or "")`` of an :func:`artifact_key`."""
    md5, _, reference_md5 = key.partition(REFERENCE_KEY_SEPARATOR)
    return md5, reference_md5


def source_key(source: dict) -> str:
    """The artifact key of a source record (its ``reference_md5`` is empty without a reference)."""
    return artifact_key(source["md5"], source.get("reference_md5") or "")


def namespace_root(cache_dir: str, access: str) -> str:
    """The cache root for an access class: restricted artifacts never share a path with public ones."""
    if access not in ACCESS_CLASSES:
        raise ValueError(f"access must be one of {ACCESS_CLASSES}, not {access!r}")
    return os.path.join(cache_dir, RESTRICTED_DIR) if access == "restricted" else cache_dir


def source_extension(fmt: str, access_url: str) -> str:
    """The extension of a verified source in the cache: the format's own, plus ``.gz`` if the name says so."""
    ext = FORMATS[fmt][1]
    if fmt not in BINARY_FORMATS and is_compressed_name(url_basename(access_url)):
        return ext + ".gz"
    return ext


def source_path(cache_dir: str, md5: str, fmt: str, access: str, access_url: str) -> str:
    """Where the md5-verified copy of a source lives."""
    return os.path.join(namespace_root(cache_dir, access), "src", md5,
                        "source." + source_extension(fmt, access_url))


def artifact_dir(cache_dir: str, md5: str, fmt: str, access: str, version: int) -> str:
    """The directory of one artifact (source md5 + registered format): the workflow key the service serialises
    work on. For a source decoded against a reference, ``md5`` is its :func:`artifact_key`."""
    return os.path.join(namespace_root(cache_dir, access), f"v{version}", fmt, md5)


CONVERSION_REPORT = "conversion.json"  # beside a converted artifact: records in/out/dropped and warnings


def alias_stem(md5: str, fmt: str, version: int) -> str:
    """The basename stem of an artifact's unique alias names: ``<md5>-<format>-v<version>``.

    htslib saves a remote index in the working directory under its basename and reuses any file of that name,
    so names shared by two artifacts (``data.bam.bai``) can pair one artifact's data with another's index.
    The stem names exactly what decides the bytes (the path components of :func:`artifact_dir`); a rebuild of
    the same stem gives the same bytes, so its index stays valid.
    """
    return f"{md5}-{fmt}-v{version}"


def alias_names(md5: str, fmt: str, version: int) -> dict[str, str]:
    """The unique alias file names of a processed format's artifact: ``{"data", "index", "csi"}`` (it is
    served under one of the two index names, as its data decides); a FASTA has ``{"data", "index", "gzi"}``,
    a bigWig ``{"data"}`` only."""
    spec = KINDS[FORMATS[fmt][0]]
    data = alias_stem(md5, fmt, version) + spec.data_suffix
    names = {"data": data, **({"index": data + spec.index_suffix} if spec.has_index else {})}
    names.update({suffix[1:]: data + suffix for suffix in spec.index_suffixes[1:] + spec.extra_suffixes})
    return names


def alias_role(md5: str, fmt: str, version: int, name: str) -> tuple[str, str | None] | None:
    """``("data", None)`` or ``("index", suffix)`` when ``name`` is one of the artifact's aliases (unique or
    generic; ``suffix`` is the index type the name asks for: ``.bai``, ``.tbi`` or ``.csi``), ``("gzi", None)``
    for a FASTA's BGZF block index, else None."""
    kind = FORMATS[fmt][0]
    if kind is None:
        return None
    spec = KINDS[kind]
    for data in (alias_names(md5, fmt, version)["data"], spec.data_name):
        if name == data:
            return "data", None
        for suffix in spec.index_suffixes:
            if name == data + suffix:
                return "index", suffix
        for suffix in spec.extra_suffixes:
            if name == data + suffix:
                return suffix[1:], None
    return None


def artifact_paths(cache_dir: str, md5: str, fmt: str, access: str, version: int,
                   access_url: str) -> dict[str, str]:
    """The files a source's visualization-ready artifact consists of: ``{"data", "index", "csi", "record"}``
    (a FASTA: ``{"data", "index", "gzi", "record"}``, its .fai and .gzi both part of it; a bigWig:
    ``{"data", "record"}``, its index inside the data file).

    Passthrough formats have no index: their artifact is the verified source itself.
    """
    kind = FORMATS[fmt][0]
    if kind is None:
        return {"data": source_path(cache_dir, md5, fmt, access, access_url)}
    directory = artifact_dir(cache_dir, md5, fmt, access, version)
    spec = KINDS[kind]
    data = os.path.join(directory, spec.data_name)
    paths = {"data": data, **({"index": data + spec.index_suffix} if spec.has_index else {})}
    paths.update({suffix[1:]: data + suffix for suffix in spec.index_suffixes[1:] + spec.extra_suffixes})
    paths["record"] = os.path.join(directory, ARTIFACT_RECORD)
    return paths


def extra_files(fmt: str) -> tuple[str, ...]:
    """The names (keys of :func:`artifact_paths`) of an artifact's files besides its data and index: ``gzi``
    for a FASTA, none otherwise."""
    kind = FORMATS[fmt][0]
    return tuple(suffix[1:] for suffix in KINDS[kind].extra_suffixes) if kind else ()


def built_index(record_path: str) -> str | None:
    """The index file a complete artifact has (``.bai``/``.tbi`` or ``.csi``), read from its record; None
    while the artifact is not complete, and for a kind without an index file (its record names none)."""
    try:
        with open(record_path, encoding="utf-8") as handle:
            name = json.load(handle)["index"]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    return os.path.join(os.path.dirname(record_path), os.path.basename(name))


def sidecar_path(cache_dir: str, md5: str, fmt: str, access: str, access_url: str, index_url: str) -> str:
    """Where an upstream sidecar index is kept: next to the verified source it indexes."""
    ext = sidecar_extension(index_url)
    if ext is None:
        raise ValueError(f"{index_url!r} does not end in .bai, .tbi or .csi")
    return f"{source_path(cache_dir, md5, fmt, access, access_url)}.{ext}"


def has_index(fmt: str) -> bool:
    """True when a processed format's artifact has an index file beside its data (not so for a bigWig)."""
    kind = FORMATS[fmt][0]
    return kind is not None and KINDS[kind].has_index


# annotation formats whose records carry names: their artifact gets a feature name index beside it on demand
# (GET /features/{id}; rules/features.smk; webapp/feature_index.py holds its schema)
FEATURE_FORMATS = ("gff", "gff3", "gtf", "bed", "narrowpeak", "broadpeak", "bigbed")
FEATURES_NAME = "features.sqlite"


def features_path(cache_dir: str, md5: str, fmt: str, access: str, version: int) -> str:
    """Where the feature name index of an annotation source lives: beside its artifact, under its key."""
    if fmt not in FEATURE_FORMATS:
        raise ValueError(f"format {fmt!r} has no feature names; feature search covers "
                         f"{', '.join(FEATURE_FORMATS)}")
    return os.path.join(artifact_dir(cache_dir, md5, fmt, access, version), FEATURES_NAME)


def tabix_preset(fmt: str) -> str:
    """The tabix preset of a format's records (``bam`` for BAM, which samtools indexes)."""
    kind = FORMATS[fmt][0]
    if kind is None or not KINDS[kind].has_index:
        raise ValueError(f"format {fmt!r} has no index")
    return KINDS[kind].tabix_preset or "bam"
