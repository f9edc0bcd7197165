#!/usr/bin/env python3
"""Check a freshly built index with a real query before it is published.

    check_index.py tabix DATA.gz PRESET      (the index is DATA.gz.tbi beside it)
    check_index.py bam DATA.bam INDEX.bai

The first record of the data file is looked up through the index by its own position and must come back; a
file with no records must index to no records. Exit 1 with the reason on stderr otherwise. Standard library
only: it calls the same tabix/samtools the rule used.
"""
from __future__ import annotations

import gzip
import subprocess
import sys

# 0-based column of the start, its coordinate base
START_COLUMN = {"vcf": (1, 1), "gff": (3, 1), "bed": (1, 0)}


def region(chrom: str, pos: int) -> str:
    """A 1-based one-base region, with braces for contig names that contain a colon."""
    name = "{" + chrom + "}" if ":" in chrom else chrom
    return f"{name}:{pos}-{pos}"


def run(cmd: list[str]) -> bytes:
    """Run a tool; its stdout as bytes (files need not be UTF-8), or exit with its message."""
    result = subprocess.run(cmd, capture_output=True)
    if result.returncode != 0:
        raise SystemExit(f"check_index: {' '.join(cmd)} failed: "
                         f"{result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def check_tabix(data: str, preset: str) -> None:
    column, base = START_COLUMN[preset]
    first = None
    with gzip.open(data, "rb") as handle:
        for line in handle:
            if line.strip() and not line.startswith(b"#"):
                first = line.rstrip(b"\n")
                break
    if first is None:
        if run(["tabix", "-l", data]).strip():
            raise SystemExit("check_index: the file has no records but its index lists contigs")
        return
    fields = first.decode(errors="surrogateescape").split("\t")
    pos = int(fields[column]) + (1 - base)
    hits = run(["tabix", data, region(fields[0], max(pos, 1))]).splitlines()
    if first not in hits:
        raise SystemExit(f"check_index: querying {region(fields[0], pos)} "
                         "did not return the file's first record")


def check_bam(data: str, index: str) -> None:
    with subprocess.Popen(["samtools", "view", "-F", "4", data], stdout=subprocess.PIPE) as proc:
        first = proc.stdout.readline().rstrip(b"\n")
        proc.kill()
    if not first:
        mapped = run(["samtools", "view", "-c", "-F", "4", "-X", data, index])
        if mapped.strip() != b"0":
            raise SystemExit("check_index: no mapped read found by scanning, but the index reports some")
        return
    fields = first.decode(errors="surrogateescape").split("\t")
    hits = run(["samtools", "view", "-X", data, index, region(fields[2], int(fields[3]))]).splitlines()
    if first not in hits:
        raise SystemExit(f"check_index: querying {region(fields[2], int(fields[3]))} "
                         "did not return the first read")


def main(argv: list[str]) -> int:
    """Command-line entry point."""
    if len(argv) == 3 and argv[0] == "tabix":
        check_tabix(argv[1], argv[2])
    elif len(argv) == 3 and argv[0] == "bam":
        check_bam(argv[1], argv[2])
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
