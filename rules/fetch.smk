# Fetch stage: every source enters the cache here, md5-verified, before any other stage may read it.


rule fetch_source:
    output:
        "{root}/src/{md5}/source.{ext}",
    wildcard_constraints:
        md5=r"[0-9a-f]{32}",  # a source's own md5 (an artifact key may carry its reference's too)
    params:
        url=fetch_url,
        policy=fetch_policy_args,
        script=script("fetch_source.py"),
        fmt=lambda wildcards: source_entry(wildcards, ext=wildcards.ext)["format"],
    log:
        "{root}/logs/src/{md5}/fetch_source.{ext}.log",
    threads: 1  # one stream, hashed as it is copied
    resources:
        mem_mb=100,  # fixed 1 MiB buffer
    conda:
        "../envs/python.yaml"
    shell:
        """
        set -euo pipefail
        python3 -S {params.script:q} --url {params.url:q} --md5 {wildcards.md5} --out {output:q} \
            --format {params.fmt:q} {params.policy} 2> {log:q}
        """


rule fetch_sidecar_index:
    # an upstream index (index_url) of the unprocessed source, for /index/{id}?raw=true; it has no md5 of its
    # own, so it is checked with a real query against the verified source before it is published
    input:
        "{root}/src/{md5}/source.{ext}",
    output:
        "{root}/src/{md5}/source.{ext}.{idx}",
    wildcard_constraints:
        idx="bai|tbi|csi",
    params:
        url=lambda wildcards: source_entry(wildcards, ext=wildcards.ext)["index_url"],
        preset=lambda wildcards: layout.tabix_preset(source_entry(wildcards, ext=wildcards.ext)["format"]),
        policy=fetch_policy_args,
        fetch=script("fetch_source.py"),
        check=script("check_index.py"),
    log:
        "{root}/logs/src/{md5}/fetch_sidecar_index.{ext}.{idx}.log",
    threads: 1  # one download, one query
    resources:
        mem_mb=100,  # fixed 1 MiB buffer; the check reads one record
    conda:
        "../envs/htslib.yaml"
    shell:
        """
        set -euo pipefail
        exec 2> {log:q}
        tmp=$(mktemp -d "$(dirname {output:q})/.sidecar.XXXXXX")
        trap 'rm -rf "$tmp"' EXIT
        ln -s "../$(basename {input:q})" "$tmp/data"
        python3 -S {params.fetch:q} --url {params.url:q} --unverified --out "$tmp/data.{wildcards.idx}" {params.policy}
        if [ {wildcards.idx:q} = bai ]; then
          python3 -S {params.check:q} bam "$tmp/data" "$tmp/data.bai"
        else
          python3 -S {params.check:q} tabix "$tmp/data" {params.preset:q}
        fi
        mv "$tmp/data.{wildcards.idx}" {output:q}
        """
