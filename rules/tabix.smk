# VCF, GFF/GFF3/GTF, BED/narrowPeak/broadPeak/bigBed -> sorted, bgzipped, tabix-indexed.


rule gffread_gtf_to_gff3:
    input:
        converted_input,
    output:
        temp("{root}/work/{fmt}/{md5}/converted.gff3"),
    params:
        awk=script("validate_records.awk"),
        bgzf=script("check_bgzf.py"),
    log:
        "{root}/logs/work/{fmt}/{md5}/gffread_gtf_to_gff3.log",
    wildcard_constraints:
        fmt="gtf",
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
        python3 -S {params.bgzf:q} gffread_gtf_to_gff3 {input:q}
        gzip -cdf {input:q} | awk -v fmt=gtf -v header="$tmp/header" -f {params.awk:q} > "$tmp/records.gtf"
        # --keep-genes keeps gene features and their Parent links; -F keeps every attribute
        gffread "$tmp/records.gtf" --keep-genes -F -o "$tmp/converted.gff3"
        # gffread drops a record without transcript_id (with a warning, or silently for a type it does not
        # know) unless its type is gene-like: starts or ends with "gene", any case (--keep-genes keeps those).
        # It also folds start/stop codons and UTRs into the CDS and exons, so out can be below in - dropped.
        records_in=$(awk 'END {{ print NR }}' "$tmp/records.gtf")
        dropped=$(awk -F '\\t' '
          tolower($3) !~ /^gene|gene$/ && $9 !~ /(^|;)[ \\t]*transcript_id[ \\t]/ {{ n++ }}
          END {{ print n + 0 }}' "$tmp/records.gtf")
        records_out=$(awk '!/^#/ && NF {{ n++ }} END {{ print n + 0 }}' "$tmp/converted.gff3")
        echo "gffread_gtf_to_gff3: $records_in GTF records in, $records_out GFF3 records out," \
          "$dropped without transcript_id dropped" >&2
        if [ "$records_in" -gt 0 ] && [ "$records_out" -eq 0 ]; then
          echo "gffread_gtf_to_gff3: the conversion dropped every record: $records_in GTF records in," \
            "none out ($dropped of them without transcript_id, which gffread drops)" >&2
          exit 1
        fi
        warnings=""
        if [ "$dropped" -gt 0 ]; then
          warnings="\\"$dropped GTF records without transcript_id were dropped by gffread\\""
        fi
        # gffread records its command line, temp path included: drop it so rebuilt artifacts are identical.
        # The conversion report rides along as the last comment line: sort_bgzip lifts it out of the header
        # into conversion.json beside the artifact (it never reaches the artifact itself).
        report='{{"records_in": %d, "records_out": %d, "dropped": %d, "warnings": [%s]}}'
        {{
          awk 'index($0, "# gffread ") != 1' "$tmp/converted.gff3"
          printf "#trackprep-conversion\\t$report\\n" "$records_in" "$records_out" "$dropped" "$warnings"
        }} > {output:q}.tmp
        mv {output:q}.tmp {output:q}
        """


rule pybigwig_bigbed_to_bed:
    input:
        converted_input,
    output:
        temp("{root}/work/{fmt}/{md5}/converted.bed"),
    params:
        script=script("bigbed_to_bed.py"),
    log:
        "{root}/logs/work/{fmt}/{md5}/pybigwig_bigbed_to_bed.log",
    wildcard_constraints:
        fmt="bigbed",
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


# a checkpoint: the index the data gets (tbi or csi) is known only once its records have been read
checkpoint sort_bgzip:
    input:
        text_input,
    output:
        data=f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.{{kind}}.gz",
        index_type=f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.{{kind}}.gz{layout.INDEX_TYPE_SUFFIX}",
    params:
        max_tbi=layout.MAX_BAI_POSITION,
        records=text_format,
        key=lambda wildcards: SORT_KEY[wildcards.kind],
        awk=script("validate_records.awk"),
        bgzf=script("check_bgzf.py"),
        report=lambda wildcards: int(source_entry(wildcards, kinds=(wildcards.kind,))["format"] == "gtf"),
        memory=config["sort_memory_mb"],
        level=config["compression_level"],
    log:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/sort_bgzip.{{kind}}.log",
    benchmark:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/sort_bgzip.{{kind}}.benchmark.tsv"
    wildcard_constraints:
        fmt="|".join(layout.formats_of("vcf", "gff3", "bed")),
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
        python3 -S {params.bgzf:q} sort_bgzip {input:q}
        # a GTF conversion carries its report as a last "#trackprep-conversion" comment: not for the artifact
        header() {{
          awk -v lift={params.report} '!(lift && index($0, "#trackprep-conversion\\t") == 1)' "$tmp/header"
        }}
        # sort prints nothing until its input ends, i.e. until awk has exited and closed the header file:
        # so the header is complete when the first sorted record arrives, and can be written before it
        gzip -cdf {input:q} \
          | awk -v fmt={params.records} -v header="$tmp/header" -v span="$tmp/span" -f {params.awk:q} \
          | LC_ALL=C sort -t "$(printf '\\t')" {params.key} -S {params.memory}M -T "$tmp" --parallel={threads} \
          | {{ if IFS= read -r first; then header; printf '%s\\n' "$first"; cat; else header; fi; }} \
          | bgzip -l {params.level} -@ {threads} > "$tmp/data.gz"
        # TBI addresses positions up to 2^29: a longer sequence or a record end past it needs CSI
        read -r max_end max_length < "$tmp/span"
        if [ "$max_end" -gt {params.max_tbi} ] || [ "$max_length" -gt {params.max_tbi} ]; then
          echo csi
        else
          echo tbi
        fi > {output.index_type:q}.tmp
        mv {output.index_type:q}.tmp {output.index_type:q}
        if [ {params.report} = 1 ]; then
          dir=$(dirname {output.data:q})
          awk 'index($0, "#trackprep-conversion\\t") == 1 {{ print substr($0, 23) }}' "$tmp/header" \
            > "$tmp/conversion.json"
          if [ ! -s "$tmp/conversion.json" ]; then
            echo "sort_bgzip: the converted GTF carries no conversion report" >&2
            exit 1
          fi
          # the report goes first, so whoever finds the artifact finds its report beside it
          mv "$tmp/conversion.json" "$dir/conversion.json.tmp"
          mv "$dir/conversion.json.tmp" "$dir/conversion.json"
        fi
        mv "$tmp/data.gz" {output.data:q}.tmp
        mv {output.data:q}.tmp {output.data:q}
        """


rule tabix_index:
    input:
        data=f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.{{kind}}.gz",
        index_type=f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.{{kind}}.gz{layout.INDEX_TYPE_SUFFIX}",
    output:
        f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.{{kind}}.gz.{{idx}}",
    params:
        csi=lambda wildcards: "--csi" if wildcards.idx == "csi" else "",
        preset=lambda wildcards: layout.KINDS[wildcards.kind].tabix_preset,
        check=script("check_index.py"),
        strict=script("strict_stderr.sh"),
    log:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/tabix_index.{{kind}}.{{idx}}.log",
    wildcard_constraints:
        fmt="|".join(layout.formats_of("vcf", "gff3", "bed")),
        idx="tbi|csi",
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
        needs=$(cat {input.index_type:q})
        if [ "$needs" != {wildcards.idx:q} ]; then
          echo "tabix_index: this file gets a $needs index (TBI holds positions up to 2^29 only; CSI is used" \
               "past that): ask for $(basename {input.data:q}).$needs" >&2
          exit 1
        fi
        ln -s "../$(basename {input.data:q})" "$tmp/data.gz"
        # tabix prints "[E::get_intv] Failed to parse" for a record it cannot read, leaves it out and exits 0
        bash {params.strict:q} "tabix_index: the data has a record tabix cannot read" \
          tabix {params.csi} -p {params.preset} "$tmp/data.gz"
        python3 -S {params.check:q} tabix "$tmp/data.gz" {params.preset}
        mv "$tmp/data.gz.{wildcards.idx}" {output:q}
        """


rule artifact_record:
    # written last: the artifact is complete, and the record names the index its data got (BAI/TBI or CSI)
    # and its other index files ("extra": a FASTA's .gzi)
    input:
        data=artifact_data,
        index=chosen_index,
        extra=artifact_extra,
    output:
        f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/{layout.ARTIFACT_RECORD}",
    log:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/artifact_record.log",
    wildcard_constraints:
        fmt="|".join(layout.formats_of(*(kind for kind, spec in layout.KINDS.items() if spec.has_index))),
    threads: 1  # writes a few bytes
    resources:
        mem_mb=64,
    conda:
        "../envs/python.yaml"
    shell:
        """
        set -euo pipefail
        python3 -S -c 'import json, os, sys; extra = [os.path.basename(n) for n in sys.argv[3:] if n]; print(json.dumps(
            {{"data": os.path.basename(sys.argv[1]), "index": os.path.basename(sys.argv[2]),
              **({{"extra": extra}} if extra else {{}})}}))' {input.data:q} {input.index:q} {input.extra:q} \
            > {output:q}.tmp 2> {log:q}
        mv {output:q}.tmp {output:q}
        """
