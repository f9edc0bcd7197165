# bedGraph and WIG (plain, gzip or BGZF) -> bigWig data.bw: its index is inside the file, so no index rule.


rule to_bigwig:
    # validated record by record (line numbers), sorted, refused on overlapping intervals, written with
    # pyBigWig and re-opened and checked before the rename (the script writes data.bw.tmp and renames it)
    input:
        src=bigwig_input,
        sizes=bigwig_reference_fai,  # the named reference's .fai, when the source names one
    output:
        f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.bw",
    params:
        script=script("to_bigwig.py"),
        bgzf=script("check_bgzf.py"),
        sizes=bigwig_sizes_args,
    log:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/to_bigwig.log",
    benchmark:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/to_bigwig.benchmark.tsv"
    wildcard_constraints:
        fmt="|".join(layout.formats_of("bigwig")),
    threads: 1  # one Python process: parse, sort, write
    resources:
        mem_mb=2048,  # the records are held in columns (about 64 bytes a record while sorting)
    conda:
        "../envs/python.yaml"
    shell:
        """
        set -euo pipefail
        exec 2> {log:q}
        # gzip reads a BGZF file cut between two blocks up to the cut without an error: require the EOF block
        python3 -S {params.bgzf:q} to_bigwig {input.src:q}
        python3 {params.script:q} --format {wildcards.fmt} {params.sizes} {input.src:q} {output:q}
        """


rule bigwig_record:
    # written last: the artifact is complete; a bigWig has no index file, so the record names none, and it
    # says where the chromosome sizes in the header came from
    input:
        f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.bw",
    output:
        f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/{layout.ARTIFACT_RECORD}",
    params:
        chrom_sizes=bigwig_sizes_note,
    log:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/bigwig_record.log",
    wildcard_constraints:
        fmt="|".join(layout.formats_of("bigwig")),
    threads: 1  # writes a few bytes
    resources:
        mem_mb=64,
    conda:
        "../envs/python.yaml"
    shell:
        """
        set -euo pipefail
        python3 -S -c 'import json, os, sys; print(json.dumps(
            {{"data": os.path.basename(sys.argv[1]), "chrom_sizes": sys.argv[2]}}))' \
            {input:q} {params.chrom_sizes:q} > {output:q}.tmp 2> {log:q}
        mv {output:q}.tmp {output:q}
        """
