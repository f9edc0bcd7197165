# SAM/BAM/CRAM -> coordinate-sorted BAM + BAI (CSI when a reference is longer than BAI can address).


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
        index_type=script("bam_index_type.sh"),
        max_bai=layout.MAX_BAI_POSITION,
    log:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/samtools_sort.log",
    benchmark:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/samtools_sort.benchmark.tsv"
    wildcard_constraints:
        fmt="bam|sam",  # a CRAM is decoded against its reference by cram_sort
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
        bash {params.index_type:q} "$tmp/data.bam" {params.max_bai} > {output.index_type:q}.tmp
        mv {output.index_type:q}.tmp {output.index_type:q}
        mv "$tmp/data.bam" {output.data:q}.tmp
        mv {output.data:q}.tmp {output.data:q}
        """


# a CRAM decoded against the reference it names (a registered fasta source, whose artifact its own rules
# build first) or, a no_ref CRAM, against none; a checkpoint like samtools_sort (BAI or CSI)
checkpoint cram_sort:
    input:
        unpack(cram_inputs),
    output:
        data=f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.bam",
        index_type=f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.bam{layout.INDEX_TYPE_SUFFIX}",
    params:
        reference=lambda wildcards, input: getattr(input, "ref", ""),
        reference_id=cram_reference_id,
        memory=config["samtools_sort_memory_mb"],
        level=config["compression_level"],
        check=script("check_cram_reference.py"),
        strict=script("strict_stderr.sh"),
        index_type=script("bam_index_type.sh"),
        max_bai=layout.MAX_BAI_POSITION,
    log:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/cram_sort.log",
    benchmark:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/cram_sort.benchmark.tsv"
    wildcard_constraints:
        fmt="cram",
    threads: THREADS  # samtools sort -@ decodes, sorts and compresses in parallel
    resources:
        # -m is per thread; the decoder holds a container and its reference sequence besides
        mem_mb=lambda wildcards, threads: threads * config["samtools_sort_memory_mb"] + 512,
    conda:
        "../envs/htslib.yaml"
    shell:
        """
        set -euo pipefail
        exec 2> {log:q}
        found=$(htsfile {input.cram:q} | cut -f2)
        case "$found" in
          CRAM*) ;;
          *) echo "cram_sort: the source was registered as CRAM but is: $found" >&2; exit 1 ;;
        esac
        if ! problem=$(samtools quickcheck -u -v {input.cram:q} 2>&1 >/dev/null); then
          echo "cram_sort: the source is truncated or corrupt: samtools quickcheck: $problem" >&2
          exit 1
        fi
        tmp=$(mktemp -d "{resources.tmpdir}/trackprep-cram.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        # htslib looks a sequence it lacks up through REF_PATH (by default EBI's server) and caches it in
        # REF_CACHE: both point into this job's empty temp folder, so nothing is downloaded
        mkdir "$tmp/ref-path"
        export REF_PATH="$tmp/ref-path" REF_CACHE="$tmp/ref-cache/%2s/%2s/%s"
        echo "cram_sort: REF_PATH=$REF_PATH REF_CACHE=$REF_CACHE" >&2
        bash {params.strict:q} "cram_sort: the CRAM's header cannot be read" \
          samtools view -H --no-PG {input.cram:q} > "$tmp/header.sam"
        source={input.cram:q}
        ref={params.reference:q}  # empty without a reference (Snakemake quotes "" as nothing)
        if [ -n "$ref" ]; then
          # every @SQ of the CRAM must be a sequence of the named reference, same length and MD5
          bash {params.strict:q} "cram_sort: the reference {params.reference_id} cannot be read" \
            samtools dict -o "$tmp/reference.dict" "$ref"
          python3 -S {params.check:q} "$tmp/header.sam" "$tmp/header.nour.sam" "$tmp/reference.dict" \
            {params.reference_id:q} > /dev/null
          needs="cram_sort: reference mismatch: the CRAM does not decode against its reference"
          needs="$needs {params.reference_id} (name the FASTA the CRAM was written against)"
          reference=(--reference "$ref")
        else
          # no reference named: the @SQ UR tags (the path or URL of the file the CRAM was written against)
          # must not be read either, so a CRAM that has them is decoded from a copy without them
          if [ -n "$(python3 -S {params.check:q} "$tmp/header.sam" "$tmp/header.nour.sam")" ]; then
            bash {params.strict:q} "cram_sort: the CRAM's header cannot be replaced" \
              samtools reheader --no-PG "$tmp/header.nour.sam" {input.cram:q} > "$tmp/source.cram"
            source="$tmp/source.cram"
          fi
          needs="cram_sort: missing reference: the CRAM was written against a reference and the source names"
          needs="$needs none (register that FASTA as a fasta source and give its id as the source's reference)"
          reference=()
        fi
        # samtools sort warns on a damaged input and may exit 0 with the reads it got; a missing or wrong
        # reference is an htslib error ([E::cram_get_ref] ..., MD5 checksum reference mismatch)
        if ! bash {params.strict:q} "cram_sort: the CRAM cannot be decoded" \
            samtools sort -@ {threads} -m {params.memory}M -l {params.level} --no-PG "${{reference[@]}}" \
              -T "$tmp/part" -o "$tmp/data.bam" "$source"; then
          if grep -q -E 'cram_get_ref|Unable to fetch reference|reference mismatch' {log:q}; then
            echo "$needs" >&2
          fi
          exit 1
        fi
        # BAI addresses positions up to 2^29: a longer reference (barley, wheat, axolotl, ...) needs CSI
        bash {params.index_type:q} "$tmp/data.bam" {params.max_bai} > {output.index_type:q}.tmp
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
        python3 -S {params.check:q} bam {input.data:q} {output:q}.tmp
        mv {output:q}.tmp {output:q}
        """
