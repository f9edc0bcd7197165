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

validate(config, schema="../config/config.schema.yaml")

CACHE = os.path.normpath(config["cache_dir"])
VERSION = int(config["pipeline_version"])
THREADS = int(config["threads"])
URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
MANIFEST_COLUMNS = ["id", "access_url", "md5", "format", "index_url", "access"]


def load_manifest(path):
    """Read and validate the source manifest; missing optional fields are filled in."""
    if not path:
        return pd.DataFrame(columns=MANIFEST_COLUMNS)
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment=None)
    missing = {"id", "access_url", "md5"} - set(table.columns)
    if missing:
        raise WorkflowError(f"manifest {path}: missing column(s) {', '.join(sorted(missing))}; "
                            f"the header must be: {' '.join(MANIFEST_COLUMNS)}")
    for column in MANIFEST_COLUMNS:
        if column not in table.columns:
            table[column] = ""
    table = table[MANIFEST_COLUMNS].copy()
    table["md5"] = table["md5"].str.lower()
    table["access"] = table["access"].replace("", "public")
    base = os.path.dirname(os.path.abspath(path))
    for i, row in table.iterrows():
        if not row["format"]:
            inferred = layout.infer_format(row["access_url"])
            if inferred is None:
                raise WorkflowError(f"manifest {path}, source {row['id']!r}: no format given and none can be "
                                    f"inferred from {row['access_url']!r}; fill in the format column")
            table.at[i, "format"] = inferred
        table.at[i, "format"] = table.at[i, "format"].lower()
        if not URL_SCHEME.match(row["access_url"]):
            table.at[i, "access_url"] = os.path.normpath(os.path.join(base, row["access_url"]))
    validate(table, schema="../config/manifest.schema.yaml")
    duplicated = table["id"][table["id"].duplicated()].tolist()
    if duplicated:
        raise WorkflowError(f"manifest {path}: duplicate id(s) {', '.join(duplicated)}")
    return table.sort_values("id").reset_index(drop=True)


MANIFEST = load_manifest(config.get("manifest", ""))
if config.get("source_roots") is None:
    SOURCE_ROOTS = [os.path.dirname(os.path.abspath(config["manifest"]))] if config.get("manifest") else []
else:
    SOURCE_ROOTS = [os.path.abspath(root) for root in config["source_roots"]]


wildcard_constraints:
    root=f"{re.escape(CACHE)}(?:/{layout.RESTRICTED_DIR})?",
    md5=r"[0-9a-f]{32}",
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
    (``fmt``), optionally of given artifact kinds or extension."""
    access = access_of_root(wildcards.root)
    rows = MANIFEST[(MANIFEST["md5"] == wildcards.md5) & (MANIFEST["access"] == access)]
    fmt = getattr(wildcards, "fmt", None)
    for _, row in rows.iterrows():
        if fmt is not None and row["format"] != fmt:
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
        paths = layout.artifact_paths(CACHE, row["md5"], row["format"], row["access"], VERSION, row["access_url"])
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
        if kind == "bam":
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


def bigwig_chrom_sizes(wildcards):
    """The chromosome sizes file (.fai or two columns) a bigWig's header takes its lengths from, or None: the
    largest end of each chromosome in the data. (A source's named reference can be wired in here.)"""
    return None


def bigwig_sizes_args(wildcards):
    """The to_bigwig script's --chrom-sizes flag, shell-quoted, or nothing."""
    sizes = bigwig_chrom_sizes(wildcards)
    return f"--chrom-sizes {shlex.quote(sizes)}" if sizes else ""


def bigwig_sizes_note(wildcards):
    """Where a bigWig's chromosome sizes came from, as its artifact.json says it."""
    sizes = bigwig_chrom_sizes(wildcards)
    return os.path.basename(sizes) if sizes else "from the data"


def fetch_url(wildcards):
    """The access_url the fetch rule downloads or copies for a source path."""
    return source_entry(wildcards, ext=wildcards.ext)["access_url"]


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
