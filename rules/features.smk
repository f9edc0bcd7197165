# Annotation (GFF/GFF3/GTF, BED/narrowPeak/broadPeak/bigBed) -> a feature name index beside its artifact.


rule feature_names_sqlite:
    # names -> 0-based half-open spans, searched case-insensitively by prefix (GET /features/{id});
    # the schema and the name rules are webapp/feature_index.py's
    input:
        features_input,
    output:
        f"{{root}}/v{VERSION}/{{fmt}}/{{md5}}/{layout.FEATURES_NAME}",
    params:
        script=script("feature_names.py"),
        bgzf=script("check_bgzf.py"),
    log:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/feature_names_sqlite.log",
    benchmark:
        f"{{root}}/logs/v{VERSION}/{{fmt}}/{{md5}}/feature_names_sqlite.benchmark.tsv"
    wildcard_constraints:
        fmt="|".join(layout.FEATURE_FORMATS),
    threads: 1  # one pass over the rows, then SQLite's single-threaded GROUP BY
    resources:
        mem_mb=512,  # the distinct names in memory (the check); the grouping spills to a scratch database
    conda:
        "../envs/python.yaml"
    shell:
        """
        set -euo pipefail
        exec 2> {log:q}
        # gzip reads a BGZF file cut between two blocks up to the cut without a word: require the EOF block
        python3 -S {params.bgzf:q} feature_names_sqlite {input:q}
        TMPDIR={resources.tmpdir:q} python3 -S {params.script:q} {wildcards.fmt} {input:q} {output:q}.tmp
        mv {output:q}.tmp {output:q}
        """
