# Fetch stage: every source enters the cache here, md5-verified, before any other stage may read it.


rule fetch_source:
    output:
        "{root}/src/{md5}/source.{ext}",
    params:
        url=fetch_url,
        policy=fetch_policy_args,
        script=script("fetch_source.py"),
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
        python3 {params.script:q} --url {params.url:q} --md5 {wildcards.md5} --out {output:q} \
            {params.policy} 2> {log:q}
        """
