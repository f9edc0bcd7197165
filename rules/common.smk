# Config and manifest loading, wildcard constraints and every input function. Rule files hold rules only.
import os
import re
import shlex
import sys

import pandas as pd
import snakemake.io
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

sys.path.insert(0, workflow.basedir)
from webapp import layout  # noqa: E402  (stdlib-only module shared with the service)
from webapp.core.errors import Invalid  # noqa: E402  (the record schema: one definition, webapp/core)
from webapp.core.records import validate_record  # noqa: E402
from webapp.core.source import MANIFEST_COLUMNS, read_manifest  # noqa: E402

validate(config, schema="../config/config.schema.yaml")

CACHE = os.path.normpath(config["cache_dir"])
VERSION = int(config["pipeline_version"])
THREADS = int(config["threads"])


def load_manifest(path):
    """Read the source manifest and validate every row against the record schema the service registers
    sources with (webapp/core/records.py); missing optional fields are filled in, relative local paths are
    taken from the manifest's folder."""
    if not path:
        return pd.DataFrame(columns=list(MANIFEST_COLUMNS))
    try:
        rows = read_manifest(path)
    except Invalid as err:
        raise WorkflowError(err.detail) from None
    records = []
    for row in rows:
        try:
            records.append(validate_record(row))
        except Invalid as err:
            raise WorkflowError(f"manifest {path}, source {row['id'] or row['access_url']!r}: {err.detail}") \
                from None
    table = pd.DataFrame(records, columns=list(MANIFEST_COLUMNS), dtype=str)
    duplicated = table["id"][table["id"].duplicated()].tolist()
    if duplicated:
        raise WorkflowError(f"manifest {path}: duplicate id(s) {', '.join(duplicated)}")
    table["reference_md5"] = [reference_md5(path, table, row) for _, row in table.iterrows()]
    return table.sort_values("id").reset_index(drop=True)


def reference_md5(path, table, row):
    """The md5 of the manifest row a row names as its reference ("" without one): it is part of the row's
    artifact key. The reference must be a fasta row of the same manifest, named by a format that takes one."""
    if not row["reference"]:
        return ""
    where = f"manifest {path}, source {row['id']!r}"  # its format takes one: validate_record checked
    found = table[table["id"] == row["reference"]]
    if found.empty:
        raise WorkflowError(f"{where}: reference {row['reference']!r} is not a source of this manifest; add its "
                            "row (format fasta)")
    if found.iloc[0]["format"] not in layout.REFERENCE_SOURCE_FORMATS:
        raise WorkflowError(f"{where}: reference {row['reference']!r} is a {found.iloc[0]['format']} source, not "
                            f"{'/'.join(layout.REFERENCE_SOURCE_FORMATS)}")
    return found.iloc[0]["md5"]


MANIFEST = load_manifest(config.get("manifest", ""))
if config.get("source_roots") is None:
    SOURCE_ROOTS = [os.path.dirname(os.path.abspath(config["manifest"]))] if config.get("manifest") else []
else:
    SOURCE_ROOTS = [os.path.abspath(root) for root in config["source_roots"]]


wildcard_constraints:
    root=f"{re.escape(CACHE)}(?:/{layout.RESTRICTED_DIR})?",
    md5=layout.ARTIFACT_KEY_PATTERN,  # an artifact folder: <md5>, or <md5>-ref-<md5> (decoded against a reference)
    ext=r"[A-Za-z0-9]+(?:\.gz)?",
    kind="|".join(k for k, spec in layout.KINDS.items() if spec.tabix_preset),
    fmt="|".join(layout.FORMATS),


def _is_periodic_unless_md5(detector, value, _is_periodic=snakemake.io.PeriodicityDetector.is_periodic):
    # Snakemake refuses a wildcard value ending in 20+ repeats as "periodic" (a guard against rules that pump
    # their own outputs). An md5 like 000...0 looks periodic, but the md5 wildcard has a fixed length, so it
    # cannot pump: let it through to the fetch, which fails it like any other md5 mismatch.
    return None if layout.MD5_RE.match(value) else _is_periodic(detector, value)


snakemake.io.PeriodicityDetector.is_periodic = _is_periodic_unless_md5


def access_of_root(root):
    """The access class a cache root wildcard stands for."""
    return "restricted" if root != CACHE else "public"


def source_entry(wildcards, kinds=None, ext=None):
    """The manifest row that supplies the bytes for (root, md5), of the registered format the path names
    (``fmt``), optionally of given artifact kinds or extension. In an artifact path (one with ``fmt``) the md5
    is the artifact key: a row decoded against a reference matches only with its reference's md5."""
    access = access_of_root(wildcards.root)
    md5, ref_md5 = layout.split_artifact_key(wildcards.md5)
    rows = MANIFEST[(MANIFEST["md5"] == md5) & (MANIFEST["access"] == access)]
    fmt = getattr(wildcards, "fmt", None)
    for _, row in rows.iterrows():
        if fmt is not None and (row["format"] != fmt or row["reference_md5"] != ref_md5):
            continue
        if kinds is not None and layout.FORMATS[row["format"]][0] not in kinds:
            continue
        if ext is not None and layout.source_extension(row["format"], row["access_url"]) != ext:
            continue
        return row
    wanted = f" as {fmt or '/'.join(kinds)}" if fmt or kinds else ""
    raise WorkflowError(f"no {access} source with md5 {wildcards.md5}{wanted} in the manifest "
                        f"({config.get('manifest') or 'none given'}); register the source first")


def source_file(row):
    """The verified cache copy of a manifest row's source."""
    return layout.source_path(CACHE, row["md5"], row["format"], row["access"], row["access_url"])


def all_targets():
    """Every artifact of every manifest entry (its data and its record, which follows its index): the default
    target."""
    targets = []
    for _, row in MANIFEST.iterrows():
        paths = layout.artifact_paths(CACHE, layout.source_key(row), row["format"], row["access"], VERSION,
                                      row["access_url"])
        targets.extend(paths[name] for name in ("data", "record") if name in paths)
        if "record" in paths and os.path.exists(paths["data"] + layout.INDEX_TYPE_SUFFIX):
            # the index is asked for by name once it is known, so a deleted index is rebuilt (Snakemake does not
            # rerun an existing record for a missing input)
            with open(paths["data"] + layout.INDEX_TYPE_SUFFIX) as handle:
                targets.append(f"{paths['data']}.{handle.read().strip()}")
    return sorted(set(targets))


def artifact_data(wildcards):
    """The data file of the artifact in {root}/v{VERSION}/{fmt}/{md5}/."""
    spec = layout.KINDS[layout.FORMATS[wildcards.fmt][0]]
    return f"{wildcards.root}/v{VERSION}/{wildcards.fmt}/{wildcards.md5}/{spec.data_name}"


def chosen_index(wildcards):
    """The index the artifact's data got: BAI/TBI, or CSI past 2^29 (decided by the checkpoint that wrote it)."""
    kind = layout.FORMATS[wildcards.fmt][0]
    if not layout.KINDS[kind].has_index:  # a bigWig: its record comes from bigwig_record, not artifact_record
        raise WorkflowError(f"format {wildcards.fmt} ({kind}) has no index file")
    if not layout.KINDS[kind].csi:  # a FASTA's .fai holds any length: no choice to make
        return artifact_data(wildcards) + layout.KINDS[kind].index_suffix
    index_type = artifact_data(wildcards) + layout.INDEX_TYPE_SUFFIX
    # Asked through the checkpoint only while the choice is not made: Snakemake 9 does not schedule the index
    # job of an existing record whose index went missing when the input comes from an already-done checkpoint.
    if not os.path.exists(index_type):
        where = dict(root=wildcards.root, fmt=wildcards.fmt, md5=wildcards.md5)
        if wildcards.fmt == "cram":
            index_type = checkpoints.cram_sort.get(**where).output.index_type
        elif kind == "bam":
            index_type = checkpoints.samtools_sort.get(**where).output.index_type
        else:
            index_type = checkpoints.sort_bgzip.get(**where, kind=kind).output.index_type
    with open(index_type) as handle:
        return f"{artifact_data(wildcards)}.{handle.read().strip()}"


def artifact_extra(wildcards):
    """The artifact's files besides its data and index (a FASTA's .gzi): the record follows them too."""
    spec = layout.KINDS[layout.FORMATS[wildcards.fmt][0]]
    return [artifact_data(wildcards) + suffix for suffix in spec.extra_suffixes]


def fasta_input(wildcards):
    """The verified reference FASTA (plain, gzip or BGZF) of a FASTA artifact."""
    return source_file(source_entry(wildcards, kinds=("fasta",)))


def bigwig_input(wildcards):
    """The verified bedGraph or WIG source (plain, gzip or BGZF) of a bigWig artifact."""
    return source_file(source_entry(wildcards, kinds=("bigwig",)))


def reference_artifact(row):
    """The built artifact paths (data, index, gzi) of the reference FASTA a manifest row names, or None."""
    if not row["reference"]:
        return None
    ref = MANIFEST[MANIFEST["id"] == row["reference"]].iloc[0]
    return layout.artifact_paths(CACHE, layout.source_key(ref), ref["format"], ref["access"], VERSION,
                                 ref["access_url"])


def bigwig_chrom_sizes(wildcards):
    """The chromosome sizes file a bigWig's header takes its lengths from: the .fai of the source's named
    reference (built first: it is an input), or None, and then the largest end of each chromosome in the data."""
    paths = reference_artifact(source_entry(wildcards, kinds=("bigwig",)))
    return paths["index"] if paths else None


def bigwig_reference_fai(wildcards):
    """The reference's .fai as an input of the bigWig rule (nothing without a reference)."""
    sizes = bigwig_chrom_sizes(wildcards)
    return [sizes] if sizes else []


def bigwig_sizes_args(wildcards):
    """The to_bigwig script's --chrom-sizes flag, shell-quoted, or nothing."""
    sizes = bigwig_chrom_sizes(wildcards)
    return f"--chrom-sizes {shlex.quote(sizes)}" if sizes else ""


def bigwig_sizes_note(wildcards):
    """Where a bigWig's chromosome sizes came from, as its artifact.json says it."""
    row = source_entry(wildcards, kinds=("bigwig",))
    return f"from the reference {row['reference']}" if row["reference"] else "from the data"


def fetch_url(wildcards):
    """The access_url the fetch rule downloads or copies for a source path."""
    return source_entry(wildcards, ext=wildcards.ext)["access_url"]


def cram_inputs(wildcards):
    """The verified CRAM source of a BAM artifact (``cram``) and, when it names a reference, that reference's
    built artifact (``ref``: data.fa.gz, with its ``fai`` and ``gzi``), which its own rules build first."""
    row = source_entry(wildcards, kinds=("bam",))
    inputs = {"cram": source_file(row)}
    paths = reference_artifact(row)
    if paths:
        inputs.update(ref=paths["data"], fai=paths["index"], gzi=paths["gzi"])
    return inputs


def cram_reference_id(wildcards):
    """The id of the source a CRAM names as its reference, or "" (for the rule's messages)."""
    return source_entry(wildcards, kinds=("bam",))["reference"]


def bam_input(wildcards):
    """The verified SAM/BAM source of a BAM artifact."""
    return source_file(source_entry(wildcards, kinds=("bam",)))


def bam_input_format(wildcards):
    """bam or sam: what the BAM artifact's source must really be."""
    return source_entry(wildcards, kinds=("bam",))["format"]


def text_format(wildcards):
    """The format of the text stream the sort rule reads (a GTF arrives converted to gff3, a bigBed as bed)."""
    fmt = source_entry(wildcards, kinds=(wildcards.kind,))["format"]
    return {"gtf": "gff3", "bigbed": "bed", "gff": "gff3"}.get(fmt, fmt)


def text_input(wildcards):
    """The stream a VCF/GFF3/BED artifact is sorted from: the source, or its converted form."""
    row = source_entry(wildcards, kinds=(wildcards.kind,))
    if row["format"] == "gtf":
        return f"{wildcards.root}/work/gtf/{wildcards.md5}/converted.gff3"
    if row["format"] == "bigbed":
        return f"{wildcards.root}/work/bigbed/{wildcards.md5}/converted.bed"
    return source_file(row)


def features_input(wildcards):
    """The rows a feature name index reads: the verified source (a GTF as it is, its gene_name/gene_id
    intact), or a bigBed's converted BED."""
    row = source_entry(wildcards, kinds=("gff3", "bed"))
    if row["format"] == "bigbed":
        return f"{wildcards.root}/work/bigbed/{wildcards.md5}/converted.bed"
    return source_file(row)


def converted_input(wildcards):
    """The verified GTF or bigBed source of a conversion step."""
    return source_file(source_entry(wildcards))


# A script that needs only the standard library runs as `python3 -S`: skipping site-packages (and its .pth
# files) saves about 30 ms of every start, a tenth of a small cache miss (tests/test_rule_scripts.py).
def script(name):
    """Path of a helper script beside the rules."""
    return os.path.join(workflow.basedir, "rules", "scripts", name)


SORT_KEY = {"vcf": "-k1,1 -k2,2n", "gff3": "-k1,1 -k4,4n", "bed": "-k1,1 -k2,2n -k3,3n"}


def fetch_policy_args(wildcards):
    """The fetch script's policy flags (source roots, allowed hosts, DRS scheme), each value shell-quoted."""
    args = [f"--source-root {shlex.quote(root)}" for root in SOURCE_ROOTS]
    args += [f"--allowed-host {shlex.quote(host)}" for host in config.get("allowed_hosts", [])]
    args.append(f"--drs-scheme {config.get('drs_scheme', 'https')} --timeout {int(config.get('fetch_timeout', 300))}")
    return " ".join(args)
