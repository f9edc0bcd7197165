# trackprep: visualization-ready genomic artifacts at content-addressed cache paths.
#   snakemake --cores 2 --config cache_dir=cache manifest=sources.tsv          # every artifact of every source
#   snakemake --cores 2 --config cache_dir=cache manifest=sources.tsv cache/v1/bam/<md5>/data.bam.bai
#   snakemake --cores 2 --config cache_dir=cache manifest=sources.tsv cache/v2/gff3/<md5>/features.sqlite  # names
#   snakemake --cores 2 --configfile config/ssr.yaml --config cache_dir=cache    # an SSR analysis (README)
import os

from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


include: "rules/common.smk"
include: "rules/fetch.smk"
include: "rules/bam.smk"
include: "rules/tabix.smk"
include: "rules/fasta.smk"
include: "rules/bigwig.smk"
include: "rules/features.smk"
include: "rules/ssr.smk"


rule all:
    input:
        all_targets() + ssr_targets(),
    default_target: True
