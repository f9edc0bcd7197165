# VCF, GFF/GFF3/GTF, BED/narrowPeak/broadPeak/bigBed -> sorted, bgzipped, tabix-indexed.


rule gffread_gtf_to_gff3:
    input:
        converted_input,
    output:
        temp("{root}/work/{kind}/{md5}/converted.gff3"),
    params:
        awk=script("validate_records.awk"),
        bgzf=script("check_bgzf.py"),
    log:
        "{root}/logs/work/{kind}/{md5}/gffread_gtf_to_gff3.log",
    wildcard_constraints:
        kind="gff3",
    threads: 1  # gffread is single-threaded
    resources:
        mem_mb=1024,  # gffread holds the whole annotation in memory
    conda:
        "../envs/gffread.yaml"
    shell:
        """
        set -euo pipefail
        exec 2> {log:q}
        tmp=$(mktemp -d "{resources.tmpdir}/trackprep-gffread.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        # gzip -cdf reads a BGZF file cut between two blocks up to the cut and exits 0: require the EOF block
        python3 {params.bgzf:q} gffread_gtf_to_gff3 {input:q}
        gzip -cdf {input:q} | awk -v fmt=gtf -v header="$tmp/header" -f {params.awk:q} > "$tmp/records.gtf"
        # --keep-genes keeps gene features and their Parent links; -F keeps every attribute
        gffread "$tmp/records.gtf" --keep-genes -F -o "$tmp/converted.gff3"
        # gffread records its command line, temp path included: drop it so rebuilt artifacts are identical
        awk 'index($0, "# gffread ") != 1' "$tmp/converted.gff3" > {output:q}.tmp
        mv {output:q}.tmp {output:q}
        """


rule pybigwig_bigbed_to_bed:
    input:
        converted_input,
    output:
        temp("{root}/work/{kind}/{md5}/converted.bed"),
    params:
        script=script("bigbed_to_bed.py"),
    log:
        "{root}/logs/work/{kind}/{md5}/pybigwig_bigbed_to_bed.log",
    wildcard_constraints:
        kind="bed",
    threads: 1  # pyBigWig reads one chromosome at a time
    resources:
        mem_mb=512,
    conda:
        "../envs/python.yaml"
    shell:
        """
        set -euo pipefail
        python3 {params.script:q} {input:q} {output:q} 2> {log:q}
        """


rule sort_bgzip:
    input:
        text_input,
    output:
        f"{{root}}/v{VERSION}/{{kind}}/{{md5}}/data.{{kind}}.gz",
    params:
        fmt=text_format,
        key=lambda wildcards: SORT_KEY[wildcards.kind],
        awk=script("validate_records.awk"),
        bgzf=script("check_bgzf.py"),
        memory=config["sort_memory_mb"],
        level=config["compression_level"],
    log:
        f"{{root}}/logs/v{VERSION}/{{kind}}/{{md5}}/sort_bgzip.log",
    benchmark:
        f"{{root}}/logs/v{VERSION}/{{kind}}/{{md5}}/sort_bgzip.benchmark.tsv"
    threads: THREADS  # sort --parallel and bgzip -@
    resources:
        mem_mb=config["sort_memory_mb"] + 128,  # sort -S plus the decompressor and bgzip buffers
    conda:
        "../envs/htslib.yaml"
    shell:
        """
        set -euo pipefail
        exec 2> {log:q}
        tmp=$(mktemp -d "{resources.tmpdir}/trackprep-sort.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        # gzip -cdf reads a BGZF file cut between two blocks up to the cut and exits 0: require the EOF block
        python3 {params.bgzf:q} sort_bgzip {input:q}
        # sort prints nothing until its input ends, i.e. until awk has exited and closed the header file:
        # so the header is complete when the first sorted record arrives, and can be written before it
        gzip -cdf {input:q} \
          | awk -v fmt={params.fmt} -v header="$tmp/header" -f {params.awk:q} \
          | LC_ALL=C sort -t "$(printf '\\t')" {params.key} -S {params.memory}M -T "$tmp" --parallel={threads} \
          | {{ if IFS= read -r first; then cat "$tmp/header"; printf '%s\\n' "$first"; cat; else cat "$tmp/header"; fi; }} \
          | bgzip -l {params.level} -@ {threads} > "$tmp/data.gz"
        mv "$tmp/data.gz" {output:q}.tmp
        mv {output:q}.tmp {output:q}
        """


rule tabix_index:
    input:
        f"{{root}}/v{VERSION}/{{kind}}/{{md5}}/data.{{kind}}.gz",
    output:
        f"{{root}}/v{VERSION}/{{kind}}/{{md5}}/data.{{kind}}.gz.tbi",
    params:
        preset=lambda wildcards: layout.KINDS[wildcards.kind].tabix_preset,
        check=script("check_index.py"),
        strict=script("strict_stderr.sh"),
    log:
        f"{{root}}/logs/v{VERSION}/{{kind}}/{{md5}}/tabix_index.log",
    threads: 1  # tabix indexes in one pass
    resources:
        mem_mb=256,
    conda:
        "../envs/htslib.yaml"
    shell:
        """
        set -euo pipefail
        exec 2> {log:q}
        # index a link in a private folder, so the .tbi is complete before it appears at its final name
        tmp=$(mktemp -d "$(dirname {output:q})/.tabix.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        ln -s "../$(basename {input:q})" "$tmp/data.gz"
        # tabix prints "[E::get_intv] Failed to parse" for a record it cannot read, leaves it out and exits 0
        bash {params.strict:q} "tabix_index: the data has a record tabix cannot read" \
          tabix -p {params.preset} "$tmp/data.gz"
        python3 {params.check:q} tabix "$tmp/data.gz" {params.preset}
        mv "$tmp/data.gz.tbi" {output:q}
        """
