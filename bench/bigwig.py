#!/usr/bin/env python3
"""bedGraph -> bigWig build time: trackprep (plain snakemake, cold cache) vs a user's pyBigWig script, in one run.

    python3 bench/bigwig.py                     # 3,000,000 records on 5 chromosomes, seeded
    python3 bench/bigwig.py --records 200000    # smaller smoke run

Debian has no ``bedGraphToBigWig`` (UCSC's tool is not packaged; ``apt-cache search bigwig`` finds libBigWig,
pyBigWig and megadepth only), so the hand side is what a user would type instead: ``md5sum -c`` and a plain
pyBigWig script (:data:`HAND_SCRIPT`: read the lines, group by chromosome, sort, sizes from the largest end, one
``addEntries`` call per chromosome). trackprep: ``snakemake --cores 2`` on a one-source manifest (fetch + md5,
validation with line numbers, sort, overlap check, write, re-open and check, record). Prints both times, the
ratio, and whether both files hold the same intervals (read back with pyBigWig).
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

import numpy as np

REPO = Path(__file__).resolve().parent.parent
LOG = logging.getLogger("bench.bigwig")

HAND_SCRIPT = '''
import sys
from collections import defaultdict

import pyBigWig

records = defaultdict(list)
with open(sys.argv[1]) as handle:
    for line in handle:
        if line.startswith(("track", "browser", "#")) or not line.strip():
            continue
        chrom, start, end, value = line.split()[:4]
        records[chrom].append((int(start), int(end), float(value)))
bw = pyBigWig.open(sys.argv[2], "w")
bw.addHeader([(chrom, max(end for _, end, _ in rows)) for chrom, rows in sorted(records.items())])
for chrom in sorted(records):
    rows = sorted(records[chrom])
    bw.addEntries([chrom] * len(rows), [r[0] for r in rows], ends=[r[1] for r in rows],
                  values=[r[2] for r in rows])
bw.close()
'''


def make_bedgraph(path: Path, records: int, seed: int = 11) -> str:
    """Write ``records`` sorted, non-overlapping intervals on 5 chromosomes (coverage-like: lengths 1-200, gaps
    0-50, values with two decimals); return the file's md5."""
    rng = np.random.default_rng(seed)
    per = records // 5
    with open(path, "w") as out:
        out.write("track type=bedGraph name=bench\n")
        for number in range(5):
            lengths = rng.integers(1, 201, per)
            gaps = rng.integers(0, 51, per)
            starts = np.cumsum(gaps + lengths) - lengths
            ends = starts + lengths
            values = np.round(rng.gamma(2.0, 5.0, per), 2)
            chrom = f"chr{number + 1}"
            for at in range(0, per, 200_000):
                part = slice(at, at + 200_000)
                out.writelines(f"{chrom}\t{s}\t{e}\t{v:g}\n"
                               for s, e, v in zip(starts[part].tolist(), ends[part].tolist(),
                                                  values[part].tolist()))
    return hashlib.md5(path.read_bytes()).hexdigest()


def timed(cmd: str, cwd: Path) -> float:
    """Seconds a ``bash -euo pipefail`` command takes; it must succeed."""
    start = time.monotonic()
    subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], cwd=cwd, check=True, capture_output=True)
    return time.monotonic() - start


def same_intervals(first: Path, second: Path) -> bool:
    """True when both bigWigs have the same chromosomes and the same intervals with the same values."""
    import pyBigWig

    a, b = pyBigWig.open(str(first)), pyBigWig.open(str(second))
    try:
        return a.chroms() == b.chroms() and all(a.intervals(chrom) == b.intervals(chrom) for chrom in a.chroms())
    finally:
        a.close()
        b.close()


def main(argv: list[str] | None = None) -> int:
    """Run both builds on one generated bedGraph and log the times and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=3_000_000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    work = Path(tempfile.mkdtemp(prefix="bench-bigwig-"))
    try:
        source = work / "track.bedGraph"
        md5 = make_bedgraph(source, args.records)
        LOG.info("bedGraph: %d records, %.1f MB, load average %s", args.records, source.stat().st_size / 1e6,
                 os.getloadavg())
        hand = work / "hand"
        hand.mkdir()
        (hand / "to_bw.py").write_text(HAND_SCRIPT)
        by_hand = timed(f"echo '{md5}  ../track.bedGraph' | md5sum -c --quiet; "
                        f"{sys.executable} to_bw.py ../track.bedGraph data.bw", hand)
        (work / "m.tsv").write_text(f"id\taccess_url\tmd5\ntrack\t{source}\t{md5}\n")
        engine = timed(f"{sys.executable} -m snakemake -s {REPO / 'Snakefile'} --cores 2 --quiet "
                       f"--config cache_dir={work / 'cache'} manifest={work / 'm.tsv'}", work)
        built = work / "cache" / "v2" / "bedgraph" / md5 / "data.bw"
        same = same_intervals(built, hand / "data.bw")
        identical = built.read_bytes() == (hand / "data.bw").read_bytes()
        LOG.info("by hand %.2f s, trackprep %.2f s, ratio %.2f (same intervals: %s; byte-identical: %s; "
                 "load average %s)", by_hand, engine, engine / by_hand, same, identical, os.getloadavg())
        assert same, "the two bigWigs hold different intervals"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
