#!/usr/bin/env python3
"""Reference FASTA build time: trackprep (plain snakemake, cold cache) vs the same tools typed by hand, in one run.

    python3 bench/fasta.py                 # 5 sequences x 10 Mbp (50 Mbp), 60-column lines, seeded
    python3 bench/fasta.py --mbp 5         # smaller smoke run

By hand: ``md5sum -c``; ``bgzip -@2 -l <compression_level> -c ref.fa > data.fa.gz``; ``samtools faidx
data.fa.gz``; one ``samtools faidx data.fa.gz <first>:1-1`` query. trackprep: ``snakemake --cores 2`` on a
one-source manifest (fetch + md5, validation, bgzip, faidx, query check, record). Prints both times and the ratio.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
LOG = logging.getLogger("bench.fasta")


def make_reference(path: Path, mbp: int, seed: int = 9) -> str:
    """Write 5 random sequences totalling ``mbp`` Mbp; return the file's md5."""
    rng = random.Random(seed)
    per = mbp * 1_000_000 // 5
    with open(path, "w") as out:
        for number in range(5):
            out.write(f">chr{number + 1}\n")
            sequence = "".join(rng.choices("ACGT", k=per))
            out.writelines(sequence[i:i + 60] + "\n" for i in range(0, per, 60))
    return hashlib.md5(path.read_bytes()).hexdigest()


def timed(cmd: str, cwd: Path) -> float:
    """Seconds a ``bash -euo pipefail`` command takes; it must succeed."""
    start = time.monotonic()
    subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], cwd=cwd, check=True, capture_output=True)
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    """Run both builds on one generated reference and log the times and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mbp", type=int, default=50)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    level = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["compression_level"]
    work = Path(tempfile.mkdtemp(prefix="bench-fasta-"))
    try:
        ref = work / "ref.fa"
        md5 = make_reference(ref, args.mbp)
        LOG.info("reference: %d Mbp, %.1f MB, load average %s", args.mbp, ref.stat().st_size / 1e6,
                 os.getloadavg())
        hand = work / "hand"
        hand.mkdir()
        by_hand = timed(f"echo '{md5}  ../ref.fa' | md5sum -c --quiet; bgzip -@2 -l {level} -c ../ref.fa "
                        f"> data.fa.gz; samtools faidx data.fa.gz; samtools faidx data.fa.gz chr1:1-1 >/dev/null",
                        hand)
        (work / "m.tsv").write_text(f"id\taccess_url\tmd5\nref\t{ref}\t{md5}\n")
        engine = timed(f"{sys.executable} -m snakemake -s {REPO / 'Snakefile'} --cores 2 --quiet "
                       f"--config cache_dir={work / 'cache'} manifest={work / 'm.tsv'}", work)
        built = work / "cache" / "v2" / "fasta" / md5
        assert (built / "data.fa.gz").read_bytes() == (hand / "data.fa.gz").read_bytes(), "bytes differ"
        LOG.info("by hand %.2f s, trackprep %.2f s, ratio %.2f (identical data.fa.gz)", by_hand, engine,
                 engine / by_hand)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
