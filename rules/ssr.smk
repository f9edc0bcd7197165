# croSSRoad-compatible SSR analysis (docs/ssr.md), three restartable stages:
#   ssr_detect (M2: clean, stats, filter, PERF-identical detection, merge, conserved SSRs, flanks)
#   -> bedtools_ssr_gene_intersect (GC2: SSRs x genes) -> ssr_hotspots (hotspots, hSSRs, reference mode).
# One analysis per config (the `ssr` section, config/ssr.schema.yaml); its results land under
# {cache_dir}/ssr/v1/<analysis key>/output/, where the key hashes the inputs' content and the parameters.
# Each stage is one Python (or bedtools + awk) process: per-rule start-up is most of the cost on small inputs.
include: "ssr_common.smk"


rule ssr_detect:
    input:
        unpack(ssr_detect_input),
    output:
        *ssr_outputs("m2"),
    params:
        script=script("ssr_m2.py"),
        args=ssr_detect_args,
        out=ssr_output_dir,
    log:
        f"{SSR_ROOT}/logs/ssr_detect.log",
    benchmark:
        f"{SSR_ROOT}/logs/ssr_detect.benchmark.tsv"
    threads: 2  # forked workers, one byte range of the FASTA each (ssr_scan.py)
    resources:
        # each worker holds a 16 MB read block, its current genome and its conserved-SSR counts; only the
        # flank search (one genome at a time) and the stats rows grow with the input
        mem_mb=700,
    conda:
        "../envs/python.yaml"
    shell:
        """
        set -euo pipefail
        python3 {params.script:q} --fasta {input.fasta:q} --out-dir {params.out:q} --workers {threads} \
            {params.args} 2> {log:q}
        """


rule bedtools_ssr_gene_intersect:
    input:
        ssrs=ssr_table_input,
        genes=ssr_gene_bed,
    output:
        combo=f"{SSR_ROOT}/output/main/ssr_genecombo.tsv",
        non_gene=f"{SSR_ROOT}/output/intrim/ssr_non_gene.tsv",
        genes_non_ssr=f"{SSR_ROOT}/output/intrim/genes_non_ssr.tsv",
    params:
        check=script("ssr_bed_check.awk"),
        position=script("ssr_gc2.awk"),
    log:
        f"{SSR_ROOT}/logs/bedtools_ssr_gene_intersect.log",
    benchmark:
        f"{SSR_ROOT}/logs/bedtools_ssr_gene_intersect.benchmark.tsv"
    threads: 1  # bedtools intersect is single-threaded
    resources:
        # bedtools keeps the gene BED in an interval tree
        mem_mb=lambda wildcards, input: int(8 * input.size_mb) + 200,
    conda:
        "../envs/bedtools.yaml"
    shell:
        """
        set -euo pipefail
        exec 2> {log:q}
        tmp=$(mktemp -d "{resources.tmpdir}/trackprep-ssr-gc2.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        tail -n +2 {input.ssrs:q} > "$tmp/ssrs.bed"
        awk -f {params.check:q} {input.genes:q} > "$tmp/genes.bed"
        header=$(head -n 1 {input.ssrs:q})
        ncol=$(printf '%s\\n' "$header" | awk -F '\\t' '{{print NF}}')
        printf '%s\\n' "$header" > "$tmp/ssr_non_gene.tsv"
        # one pass for both SSR tables: -loj gives the -wa -wb rows and the -v rows (null gene) in A order
        {{
            printf '%s\\n' "$header" | awk 'BEGIN {{FS = OFS = "\\t"}} {{$2 = "start1"; $3 = "end1";
                print $0, "genomeID2", "start2", "end2", "gene", "ssr_position"}}'
            bedtools intersect -a "$tmp/ssrs.bed" -b "$tmp/genes.bed" -loj \
                | awk -v ncol="$ncol" -v non_gene="$tmp/ssr_non_gene.tsv.body" -f {params.position:q}
        }} > "$tmp/ssr_genecombo.tsv"
        touch "$tmp/ssr_non_gene.tsv.body"
        cat "$tmp/ssr_non_gene.tsv.body" >> "$tmp/ssr_non_gene.tsv"
        # the genes side needs only the SSRs' positions: bedtools keeps -b in memory
        cut -f 1-3 "$tmp/ssrs.bed" > "$tmp/ssr_positions.bed"
        {{ printf 'genomeID\\tstart\\tend\\tgene\\n'; bedtools intersect -a "$tmp/genes.bed" -b "$tmp/ssr_positions.bed" -v; }} \
            > "$tmp/genes_non_ssr.tsv"
        mv "$tmp/ssr_genecombo.tsv" {output.combo:q}.tmp && mv {output.combo:q}.tmp {output.combo:q}
        mv "$tmp/ssr_non_gene.tsv" {output.non_gene:q}.tmp && mv {output.non_gene:q}.tmp {output.non_gene:q}
        mv "$tmp/genes_non_ssr.tsv" {output.genes_non_ssr:q}.tmp && mv {output.genes_non_ssr:q}.tmp {output.genes_non_ssr:q}
        """


rule ssr_hotspots:
    input:
        f"{SSR_ROOT}/output/main/ssr_genecombo.tsv",
    output:
        *ssr_outputs("hotspots"),
    params:
        script=script("ssr_hotspots.py"),
        args=ssr_hotspot_args,
        out=ssr_output_dir,
    log:
        f"{SSR_ROOT}/logs/ssr_hotspots.log",
    benchmark:
        f"{SSR_ROOT}/logs/ssr_hotspots.benchmark.tsv"
    threads: 1  # two streamed passes over the SSR-gene rows
    resources:
        # only the distinct values per (motif, gene) group are held; the reference mode holds every row as
        # Python strings (about ten times its text size)
        mem_mb=lambda wildcards, input: int(12 * input.size_mb) + 200,
    conda:
        "../envs/python.yaml"
    shell:
        """
        set -euo pipefail
        python3 -S {params.script:q} --genecombo {input:q} --out-dir {params.out:q} {params.args} 2> {log:q}
        """
