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
        strict=script("strict_stderr.sh"),
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
        # quickcheck reads the header and, for BGZF, the end-of-file block: a cut BAM fails here
        # (-u: an unaligned BAM has no @SQ lines)
        if ! problem=$(samtools quickcheck -u -v {input:q} 2>&1 >/dev/null); then
          echo "samtools_sort: the source is truncated or corrupt: samtools quickcheck: $problem" >&2
          exit 1
        fi
        tmp=$(mktemp -d "{resources.tmpdir}/trackprep-samtools.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        # samtools sort -@ only warns on a truncated or damaged input and exits 0 with the reads it got
        bash {params.strict:q} "samtools_sort: the source is truncated or corrupt" \
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
        strict=script("strict_stderr.sh"),
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
        bash {params.strict:q} "samtools_index: the sorted BAM is truncated or corrupt" \
          samtools index -@ {threads} {input:q} {output:q}.tmp
        python3 {params.check:q} bam {input:q} {output:q}.tmp
        mv {output:q}.tmp {output:q}
        """
