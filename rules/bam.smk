# SAM/BAM -> coordinate-sorted BAM + BAI (CSI when a reference is longer than BAI can address).


# a checkpoint: the index the BAM gets (bai or csi) is known only once its header is
checkpoint samtools_sort:
    input:
        bam_input,
    output:
        data=f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.bam",
        index_type=f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.bam{layout.INDEX_TYPE_SUFFIX}",
    params:
        expect=lambda wildcards: bam_input_format(wildcards).upper(),
        memory=config["samtools_sort_memory_mb"],
        level=config["compression_level"],
        strict=script("strict_stderr.sh"),
        max_bai=layout.MAX_BAI_POSITION,
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
        # BAI addresses positions up to 2^29: a longer reference (barley, wheat, axolotl, ...) needs CSI
        longest=$(samtools view -H "$tmp/data.bam" | awk -F '\t' '
          /^@SQ/ {{ for (i = 2; i <= NF; i++) if ($i ~ /^LN:/ && substr($i, 4) + 0 > m) m = substr($i, 4) + 0 }}
          END {{ printf "%.0f", m + 0 }}')
        if [ "$longest" -gt {params.max_bai} ]; then echo csi; else echo bai; fi > {output.index_type:q}.tmp
        mv {output.index_type:q}.tmp {output.index_type:q}
        mv "$tmp/data.bam" {output.data:q}.tmp
        mv {output.data:q}.tmp {output.data:q}
        """


rule samtools_index:
    input:
        data=f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.bam",
        index_type=f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.bam{layout.INDEX_TYPE_SUFFIX}",
    output:
        f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.bam.{{idx}}",
    params:
        csi=lambda wildcards: "-c" if wildcards.idx == "csi" else "",
        check=script("check_index.py"),
        strict=script("strict_stderr.sh"),
    log:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/samtools_index.{{idx}}.log",
    wildcard_constraints:
        fmt="|".join(layout.formats_of("bam")),
        idx="bai|csi",
    threads: THREADS  # samtools index -@ decompresses in parallel
    resources:
        mem_mb=256,
    conda:
        "../envs/htslib.yaml"
    shell:
        """
        set -euo pipefail
        exec 2> {log:q}
        needs=$(cat {input.index_type:q})
        if [ "$needs" != {wildcards.idx:q} ]; then
          echo "samtools_index: this BAM gets a $needs index (BAI holds positions up to 2^29 only; CSI is" \
               "used past that): ask for data.bam.$needs" >&2
          exit 1
        fi
        bash {params.strict:q} "samtools_index: the sorted BAM is truncated or corrupt" \
          samtools index {params.csi} -@ {threads} {input.data:q} {output:q}.tmp
        python3 {params.check:q} bam {input.data:q} {output:q}.tmp
        mv {output:q}.tmp {output:q}
        """
