# trackprep: visualization-ready genomic artifacts at content-addressed cache paths.
#   snakemake --cores 2 --config cache_dir=cache manifest=sources.tsv          # every artifact of every source
#   snakemake --cores 2 --config cache_dir=cache manifest=sources.tsv cache/v1/bam/<md5>/data.bam.bai
import os

from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


include: "rules/common.smk"
include: "rules/fetch.smk"
include: "rules/bam.smk"
include: "rules/tabix.smk"


rule all:
    input:
        all_targets(),
    default_target: True
