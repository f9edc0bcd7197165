#!/usr/bin/env python3
"""CRAM -> sorted BAM + index: trackprep (plain snakemake on the target path, cold cache) vs the same samtools
commands typed by hand, in one run.

    python3 bench/cram.py                  # 400,000 simulated 100 bp mpox reads (200,000 pairs)
    python3 bench/cram.py --pairs 20000    # smoke run

Input, made here with real tools: the first ``--genomes`` mpox genomes of the shared croSSRoad sample as
the reference (``ref.fa``), reads simulated from it with ``dwgsim`` (seeded), aligned with ``minimap2 -a -x
sr`` and written as CRAM with ``samtools view -C -T ref.fa`` (in a temp folder; preparation is not timed).

By hand: ``md5sum -c``; ``samtools sort -@2 -m <samtools_sort_memory_mb>M -l <compression_level> --reference
ref.fa -o data.bam reads.cram && samtools index -@2 data.bam``. trackprep: ``snakemake --cores 2`` on the
artifact's data + record paths of a manifest with the reference (format fasta) and the CRAM naming it: fetch +
md5 of both, the reference's own artifact (bgzip, faidx, query check), the CRAM header check against
``samtools dict``, ``samtools sort --reference``, ``samtools index`` + query check, record. Both run with
``REF_PATH``/``REF_CACHE`` in an empty local folder (no download). Logs both times, the ratio, and asserts
the two BAMs hold the same records.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
MPOX = REPO.parent / "shared" / "data" / "crossroad" / "1small.fa"
LOG = logging.getLogger("bench.cram")


def md5(path: Path) -> str:
    """The md5 of a file's bytes."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def first_genomes(source: Path, out: Path, count: int) -> None:
    """Copy the first ``count`` FASTA records of ``source`` to ``out``."""
    seen = 0
    with open(source) as src, open(out, "w") as dst:
        for line in src:
            if line.startswith(">"):
                seen += 1
                if seen > count:
                    break
            dst.write(line)


def run(cmd: str, cwd: Path, env: dict[str, str] | None = None) -> float:
    """Seconds a ``bash -euo pipefail`` command takes; it must succeed."""
    start = time.monotonic()
    subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], cwd=cwd, check=True, capture_output=True, env=env)
    return time.monotonic() - start


def prepare(work: Path, pairs: int, genomes: int) -> tuple[Path, Path]:
    """The reference and the CRAM written against it."""
    ref, cram = work / "ref.fa", work / "reads.cram"
    first_genomes(MPOX, ref, genomes)
    run(f"dwgsim -N {pairs} -1 100 -2 100 -z 11 ref.fa sim > /dev/null 2>&1", work)
    run("minimap2 -t 2 -a -x sr ref.fa sim.bwa.read1.fastq.gz sim.bwa.read2.fastq.gz 2> /dev/null "
        "| samtools view -C -T ref.fa -o reads.cram", work)
    for name in work.glob("sim.*"):
        name.unlink()
    return ref, cram


def records(bam: Path) -> str:
    """A hash of the BAM's records as ``samtools view`` prints them (headers differ by @PG lines)."""
    text = subprocess.run(["samtools", "view", str(bam)], capture_output=True, check=True).stdout
    return hashlib.sha256(text).hexdigest()


def main(argv: list[str] | None = None) -> int:
    """Prepare the input, run both builds and log the times and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=200_000)
    parser.add_argument("--genomes", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    level, memory = config["compression_level"], config["samtools_sort_memory_mb"]
    work = Path(tempfile.mkdtemp(prefix="bench-cram-"))
    try:
        ref, cram = prepare(work, args.pairs, args.genomes)
        ref_md5, cram_md5 = md5(ref), md5(cram)
        LOG.info("input: %d reads, CRAM %.1f MB, reference %d genomes %.1f MB; load average %s",
                 2 * args.pairs, cram.stat().st_size / 1e6, args.genomes, ref.stat().st_size / 1e6,
                 os.getloadavg())
        (work / "no-refs").mkdir()
        env = {**os.environ, "REF_PATH": str(work / "no-refs"), "REF_CACHE": str(work / "no-refs" / "%s")}
        hand = work / "hand"
        hand.mkdir()
        by_hand = run(f"echo '{cram_md5}  ../reads.cram' | md5sum -c --quiet; "
                      f"samtools sort -@2 -m {memory}M -l {level} --reference ../ref.fa -o data.bam "
                      "../reads.cram && samtools index -@2 data.bam", hand, env)
        (work / "m.tsv").write_text("id\taccess_url\tmd5\tformat\treference\n"
                                    f"mpox\t{ref}\t{ref_md5}\tfasta\t\n"
                                    f"reads\t{cram}\t{cram_md5}\tcram\tmpox\n")
        built = work / "cache" / "v2" / "cram" / f"{cram_md5}-ref-{ref_md5}"
        engine = run(f"{sys.executable} -m snakemake -s {REPO / 'Snakefile'} {built / 'data.bam'} "
                     f"{built / 'artifact.json'} --cores 2 --quiet "
                     f"--config cache_dir={work / 'cache'} manifest={work / 'm.tsv'}", work, env)
        assert records(built / "data.bam") == records(hand / "data.bam"), "the BAMs hold different records"
        assert (built / "data.bam.bai").exists()
        LOG.info("by hand %.2f s, trackprep %.2f s, ratio %.2f (same records); load average %s", by_hand,
                 engine, engine / by_hand, os.getloadavg())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
