# SAM/BAM -> coordinate-sorted BAM + BAI.


rule samtools_sort:
    input:
        bam_input,
    output:
        f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.bam",
    params:
        expect=lambda wildcards: bam_input_format(wildcards).upper(),
        memory=config["samtools_sort_memory_mb"],
        level=config["compression_level"],
    log:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/samtools_sort.log",
    benchmark:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/samtools_sort.benchmark.tsv"
    wildcard_constraints:
        fmt="|".join(layout.formats_of("bam")),
    threads: THREADS  # samtools sort -@ compresses and sorts in parallel
    resources:
        # -m is per thread; samtools may overshoot it a little while merging
        mem_mb=lambda wildcards, threads: threads * config["samtools_sort_memory_mb"] + 256,
    conda:
        "../envs/htslib.yaml"
    shell:
        """
        set -euo pipefail
        exec 2> {log:q}
        found=$(htsfile {input:q} | cut -f2)
        case "$found" in
          {params.expect}*) ;;
          *) echo "samtools_sort: the source was registered as {params.expect} but is: $found" >&2; exit 1 ;;
        esac
        tmp=$(mktemp -d "{resources.tmpdir}/trackprep-samtools.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        samtools sort -@ {threads} -m {params.memory}M -l {params.level} --no-PG -T "$tmp/part" \
            -o "$tmp/data.bam" {input:q}
        mv "$tmp/data.bam" {output:q}.tmp
        mv {output:q}.tmp {output:q}
        """


rule samtools_index:
    input:
        f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.bam",
    output:
        f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.bam.bai",
    params:
        check=script("check_index.py"),
    log:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/samtools_index.log",
    wildcard_constraints:
        fmt="|".join(layout.formats_of("bam")),
    threads: THREADS  # samtools index -@ decompresses in parallel
    resources:
        mem_mb=256,
    conda:
        "../envs/htslib.yaml"
    shell:
        """
        set -euo pipefail
        exec 2> {log:q}
        samtools index -@ {threads} {input:q} {output:q}.tmp
        python3 {params.check:q} bam {input:q} {output:q}.tmp
        mv {output:q}.tmp {output:q}
        """
