# Config loading, the analysis key and the input functions of the SSR rules (rules/ssr.smk).
import shlex

from webapp import ssr_layout  # noqa: E402  (stdlib-only module shared with the service)


def load_ssr_config(section):
    """The validated `ssr` section with absolute paths, normalized params and the analysis key; None if absent."""
    if not section:
        return None
    validate(section, schema="../config/ssr.schema.yaml")
    ssr = dict(section)
    for role in ("fasta", "categories", "gene_bed"):
        if ssr.get(role):
            ssr[role] = os.path.abspath(ssr[role])
            if not os.path.isfile(ssr[role]):
                raise WorkflowError(f"ssr.{role}: no such file: {ssr[role]}")
    try:
        ssr["perf_params"] = ssr_layout.normalize_params(ssr.get("perf_params"))
    except ssr_layout.ParamError as error:
        raise WorkflowError(f"ssr: {error}")
    ssr["key"] = ssr_layout.analysis_key_of_files(ssr["fasta"], ssr.get("categories") or None,
                                                  ssr.get("gene_bed") or None, ssr["perf_params"],
                                                  ssr.get("reference_id") or None, ssr.get("flanks", False),
                                                  ssr.get("digests"))
    ssr["stages"] = ssr_layout.stage_outputs(bool(ssr.get("categories")), bool(ssr.get("gene_bed")),
                                             bool(ssr.get("flanks")), ssr.get("reference_id") or None)
    return ssr


SSR = load_ssr_config(config.get("ssr"))
SSR_ROOT = f"{CACHE}/{ssr_layout.SSR_DIR}/v{ssr_layout.VERSION}/{{key}}"
# Rule outputs as if a gene BED were given, so every rule has outputs; ssr_targets() asks only for the stages
# the configured inputs allow.
SSR_STAGES = ssr_layout.stage_outputs(bool(SSR and SSR.get("categories")), True, bool(SSR and SSR.get("flanks")),
                                      SSR.get("reference_id") if SSR else None)


wildcard_constraints:
    key=rf"[0-9a-f]{{{ssr_layout.KEY_LENGTH}}}",


def ssr_outputs(stage):
    """A stage's output paths (with the {key} wildcard) for the configured analysis."""
    return [f"{SSR_ROOT}/output/{name}" for name in SSR_STAGES[stage]]


def ssr_targets():
    """Every result file of the configured SSR analysis (empty when the config has no `ssr` section)."""
    if not SSR:
        return []
    root = SSR_ROOT.format(key=SSR["key"])
    return [f"{root}/output/{name}" for stage in ("m2", "gc2", "hotspots") for name in SSR["stages"][stage]]


def ssr_config(wildcards):
    """The configured analysis, checked to be the one whose key the requested path names."""
    if not SSR:
        raise WorkflowError("no `ssr` section in the config: an SSR analysis needs ssr.fasta (config/ssr.yaml)")
    if wildcards.key != SSR["key"]:
        raise WorkflowError(f"SSR analysis {wildcards.key} is not the configured one ({SSR['key']}): "
                            "its inputs or parameters differ")
    return SSR


def ssr_detect_input(wildcards):
    """The FASTA and, if any, the category table. ancient(): the analysis key already names their content, so a
    copy with a newer mtime (a re-upload, the same files elsewhere) is the same analysis, not a reason to rerun."""
    ssr = ssr_config(wildcards)
    inputs = {"fasta": ancient(ssr["fasta"])}
    if ssr.get("categories"):
        inputs["categories"] = ancient(ssr["categories"])
    return inputs


def ssr_detect_args(wildcards):
    """ssr_m2.py's options, each value shell-quoted."""
    ssr = ssr_config(wildcards)
    p = ssr["perf_params"]
    args = ["--units", ",".join(str(p[k]) for k in ssr_layout.UNIT_KEYS), "--min-len", str(p["minLen"]),
            "--max-len", str(p["maxLen"]), "--unfair", str(p["unfair"])]
    if ssr.get("categories"):
        args += ["--categories", ssr["categories"]]
    if ssr.get("reference_id"):
        args += ["--reference-id", ssr["reference_id"]]
    if ssr.get("flanks"):
        args.append("--flanks")
    return " ".join(shlex.quote(a) for a in args)


def ssr_table_input(wildcards):
    """The SSR table the gene stage reads: mergedOut.tsv with categories, else reformatted.tsv."""
    ssr = ssr_config(wildcards)
    return f"{SSR_ROOT}/output/{ssr_layout.ssr_table(bool(ssr.get('categories')))}".format(key=wildcards.key)


def ssr_gene_bed(wildcards):
    """The gene BED (the gene stages exist only when one is configured)."""
    ssr = ssr_config(wildcards)
    if not ssr.get("gene_bed"):
        raise WorkflowError("the SSR gene stages need ssr.gene_bed")
    return ancient(ssr["gene_bed"])  # named by content in the key, as in ssr_detect_input


def ssr_hotspot_args(wildcards):
    """ssr_hotspots.py's options, each value shell-quoted."""
    ssr = ssr_config(wildcards)
    p = ssr["perf_params"]
    args = ["--min-repeat-count", str(p["min_repeat_count"]), "--min-genome-count", str(p["min_genome_count"])]
    if ssr.get("reference_id"):
        args += ["--reference-id", ssr["reference_id"]]
    return " ".join(shlex.quote(a) for a in args)


def ssr_output_dir(wildcards, output):
    """The analysis' output/ folder, derived from a rule's first output."""
    path = os.path.normpath(output[0])
    while os.path.basename(path) != "output":
        path = os.path.dirname(path)
    return path
