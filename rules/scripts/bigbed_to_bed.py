#!/usr/bin/env python3
"""Convert a bigBed file to plain BED text with pyBigWig: ``bigbed_to_bed.py IN.bb OUT.bed``.

Each entry becomes ``chrom, start, end`` followed by the entry's remaining fields as stored (BED6+N stays
BED6+N). The autoSql field names go into a ``#`` header line. Written under a temporary name, then renamed.
"""
from __future__ import annotations

import os
import sys

import pyBigWig


def convert(source: str, target: str) -> int:
    """Write every entry of ``source`` to ``target``; returns the number of entries."""
    bb = pyBigWig.open(source)
    if bb is None or not bb.isBigBed():
        raise SystemExit(f"bigbed_to_bed: {source} is not a bigBed file")
    count = 0
    tmp = target + ".tmp"
    with open(tmp, "w") as out:
        sql = bb.SQL()
        if sql:
            sql = sql.decode() if isinstance(sql, bytes) else sql
            names = [line.split()[-1].rstrip(";") for line in sql.splitlines()
                     if line.strip().endswith(";") and len(line.split()) >= 2]
            if names:
                out.write("#" + "\t".join(names) + "\n")
        for chrom, length in bb.chroms().items():
            for start, end, rest in bb.entries(chrom, 0, length) or []:
                out.write(f"{chrom}\t{start}\t{end}" + (f"\t{rest}" if rest else "") + "\n")
                count += 1
    bb.close()
    os.replace(tmp, target)
    return count


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(f"bigbed_to_bed: {convert(sys.argv[1], sys.argv[2])} entries", file=sys.stderr)
