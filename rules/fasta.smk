# Reference FASTA (plain, gzip or BGZF) -> BGZF data.fa.gz + .fai + .gzi (samtools faidx).


rule fasta_bgzip:
    # validated record by record (line numbers), then recompressed as BGZF so samtools faidx can index it
    input:
        fasta_input,
    output:
        f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.fa.gz",
    params:
        check=script("check_fasta.py"),
        bgzf=script("check_bgzf.py"),
        level=config["compression_level"],
    log:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/fasta_bgzip.log",
    benchmark:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/fasta_bgzip.benchmark.tsv"
    wildcard_constraints:
        fmt="|".join(layout.formats_of("fasta")),
    threads: THREADS  # bgzip -@
    resources:
        mem_mb=128,  # streaming: the validator keeps the sequence names only
    conda:
        "../envs/htslib.yaml"
    shell:
        """
        set -euo pipefail
        exec 2> {log:q}
        # gzip -cdf reads a BGZF file cut between two blocks up to the cut and exits 0: require the EOF block
        python3 -S {params.bgzf:q} fasta_bgzip {input:q}
        python3 -S {params.check:q} {input:q} > /dev/null
        # a temp name of this run's own: a CRAM's run may build the same reference while /data/<fasta> does
        gzip -cdf {input:q} | bgzip -l {params.level} -@ {threads} > {output:q}.$$.tmp
        mv {output:q}.$$.tmp {output:q}
        """


rule samtools_faidx:
    # both index files of the artifact, checked by a real query before either is published
    input:
        f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.fa.gz",
    output:
        fai=f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.fa.gz.fai",
        gzi=f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/data.fa.gz.gzi",
    params:
        strict=script("strict_stderr.sh"),
    log:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/samtools_faidx.log",
    wildcard_constraints:
        fmt="|".join(layout.formats_of("fasta")),
    threads: 1  # samtools faidx reads one stream
    resources:
        mem_mb=128,
    conda:
        "../envs/htslib.yaml"
    shell:
        """
        set -euo pipefail
        exec 2> {log:q}
        tmp=$(mktemp -d "$(dirname {output.fai:q})/.faidx.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        bash {params.strict:q} "samtools_faidx: the reference cannot be indexed" \
          samtools faidx --fai-idx "$tmp/data.fa.gz.fai" --gzi-idx "$tmp/data.fa.gz.gzi" {input:q}
        # every sequence is indexed, and the first base of the first comes back through the new index
        headers=$(gzip -cd {input:q} | grep -c '^>' || true)
        indexed=$(wc -l < "$tmp/data.fa.gz.fai")
        if [ "$headers" -ne "$indexed" ]; then
          echo "samtools_faidx: the index holds $indexed sequences, the reference $headers" >&2
          exit 1
        fi
        first=$(head -n 1 "$tmp/data.fa.gz.fai" | cut -f1)
        expected=$(gzip -cd {input:q} | awk '!/^>/ && NF && !done {{ print substr($0, 1, 1); done = 1 }}')
        got=$(samtools faidx --fai-idx "$tmp/data.fa.gz.fai" --gzi-idx "$tmp/data.fa.gz.gzi" {input:q} \
          "{{$first}}:1-1" | sed -n 2p)
        if [ "$got" != "$expected" ]; then
          echo "samtools_faidx: the query {{$first}}:1-1 returned '$got', the reference starts with '$expected'" >&2
          exit 1
        fi
        mv "$tmp/data.fa.gz.gzi" {output.gzi:q}
        mv "$tmp/data.fa.gz.fai" {output.fai:q}
        """
