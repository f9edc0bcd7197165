#!/usr/bin/env python3
"""Check a freshly built artifact and its index with the format's standard readers before they are published.

    check_index.py tabix DATA.gz PRESET      (the index is DATA.gz.tbi beside it; PRESET vcf, gff or bed)
    check_index.py bam DATA.bam INDEX.bai

The file must open in the reader its clients use (VCF: ``bcftools view -h``; GFF3/BED: ``tabix -H``; BAM:
``samtools quickcheck`` and ``samtools view -H``). Its first record is looked up through the new index by its
own position and must come back (for a VCF through ``bcftools query`` too, which parses the site columns). A
file with no records must index to no records; a BAM with no mapped read must have an index that counts every
read as unmapped. Exit 1 with the reason on stderr otherwise. Standard library only: it calls the same tools
the rules use.
"""
from __future__ import annotations

import gzip
import subprocess
import sys
from collections.abc import Iterator

# 0-based column of the start, its coordinate base
START_COLUMN = {"vcf": (1, 1), "gff": (3, 1), "bed": (1, 0)}


def region(chrom: str, start: int, end: int | None = None) -> str:
    """A 1-based inclusive region (one base when ``end`` is None); braces around names with a colon."""
    name = "{" + chrom + "}" if ":" in chrom else chrom
    return f"{name}:{start}-{start if end is None else end}"


def run(cmd: list[str]) -> bytes:
    """Run a tool; its stdout as bytes (files need not be UTF-8), or exit with its message."""
    result = subprocess.run(cmd, capture_output=True)
    if result.returncode != 0:
        raise SystemExit(f"check_index: {' '.join(cmd)} failed: "
                         f"{result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def query_region(fields: list[str], preset: str) -> str | None:
    """The region whose query must return this record, or None when no query can return it.

    A one-base query at the record's start returns it, except for a zero-length BED feature (start == end, an
    insertion point): htslib returns it only for a query that spans the base before it and the base after it,
    ``chrom:s-(s+1)`` 1-based; at start 0 there is no base before it, and no query returns it.
    """
    column, base = START_COLUMN[preset]
    start = int(fields[column]) + (1 - base)
    if preset == "bed" and int(fields[2]) <= int(fields[1]):
        first = int(fields[1])
        return region(fields[0], first, first + 1) if first >= 1 else None
    return region(fields[0], max(start, 1))


def records(data: str) -> Iterator[bytes]:
    """The data lines of a bgzipped text file, header and comment lines skipped."""
    with gzip.open(data, "rb") as handle:
        for line in handle:
            if line.strip() and not line.startswith(b"#"):
                yield line.rstrip(b"\n")


def check_tabix(data: str, preset: str) -> None:
    """Open a bgzipped VCF/GFF3/BED in its reader and look its first queryable record up through the index."""
    if preset == "vcf":
        run(["bcftools", "view", "-h", data])  # "unknown file type", "sample line not found" end here
    else:
        run(["tabix", "-H", data])
    found = False
    for first in records(data):
        found = True
        fields = first.decode(errors="surrogateescape").split("\t")
        where = query_region(fields, preset)
        if where is None:
            continue  # a zero-length feature at a contig's start: the next record is checked instead
        if first not in run(["tabix", data, where]).splitlines():
            raise SystemExit(f"check_index: querying {where} did not return the file's first record")
        if preset == "vcf":
            check_vcf_record(data, where, fields)
        return
    listed = run(["tabix", "-l", data]).strip()
    if not found and listed:
        raise SystemExit("check_index: the file has no records but its index lists contigs")
    if found and not listed:
        raise SystemExit("check_index: the file has records but its index lists no contigs")


def check_vcf_record(data: str, where: str, fields: list[str]) -> None:
    """bcftools must find the record through the index and parse its site columns (tabix only splits lines).

    Its sample columns are not parsed: a VCF whose genotype columns do not match its sample line is served as
    it is (tabix and igv.js read it; htslib's full parser refuses it)."""
    query = ["bcftools", "query", "-f", "%CHROM\\t%POS\\t%REF\\n", "-r", where, data]
    hits = run(query).splitlines()
    wanted = "\t".join((fields[0], fields[1], fields[3])).encode(errors="surrogateescape")
    if wanted not in hits:
        raise SystemExit(f"check_index: bcftools query -r {where} did not return the file's first record")


def check_bam(data: str, index: str) -> None:
    """Open a BAM in samtools and look its first mapped read up through the index (or count its unmapped
    reads)."""
    problem = subprocess.run(["samtools", "quickcheck", "-u", "-v", data], capture_output=True)
    if problem.returncode != 0:
        message = problem.stderr.decode(errors="replace").strip()
        raise SystemExit(f"check_index: samtools quickcheck: {message}")
    run(["samtools", "view", "-H", data])
    with subprocess.Popen(["samtools", "view", "-F", "4", data], stdout=subprocess.PIPE) as proc:
        first = proc.stdout.readline().rstrip(b"\n")
        proc.kill()
    if not first:
        check_unmapped_bam(data, index)
        return
    fields = first.decode(errors="surrogateescape").split("\t")
    where = region(fields[2], int(fields[3]))
    if first not in run(["samtools", "view", "-X", data, index, where]).splitlines():
        raise SystemExit(f"check_index: querying {where} did not return the first read")


def check_unmapped_bam(data: str, index: str) -> None:
    """A BAM without mapped reads (empty, unaligned or unmapped-only): the index must count every read as
    unmapped. ``samtools view -c -X`` without a region is refused by samtools 1.16, so the index's own counts
    are read with ``idxstats`` (htslib's ``##idx##`` names the index) and compared with a scan."""
    mapped = unmapped = 0
    for line in run(["samtools", "idxstats", f"{data}##idx##{index}"]).splitlines():
        columns = line.split(b"\t")
        mapped += int(columns[2])
        unmapped += int(columns[3])
    scanned = int(run(["samtools", "view", "-c", data]).strip())
    if mapped != 0 or unmapped != scanned:
        raise SystemExit(f"check_index: no mapped read found by scanning {scanned} reads, "
                         f"but the index counts {mapped} mapped and {unmapped} unmapped")


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
