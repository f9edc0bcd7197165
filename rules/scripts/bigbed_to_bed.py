#!/usr/bin/env python3
"""Convert a bigBed file to plain BED text with pyBigWig: ``bigbed_to_bed.py IN.bb OUT.bed``.

Each entry becomes ``chrom, start, end`` followed by the entry's remaining fields as stored (BED6+N stays
BED6+N). The autoSql field names go into a ``#`` header line. Written under a temporary name, then renamed.

pyBigWig reads a truncated bigBed without complaint as long as the blocks it needs are there: so the file
must end with the bigBed signature (bedToBigBed writes it last), and the entries read must number the item
count its data section starts with. Otherwise exit 1 with ``bigbed_to_bed: the source is truncated or
corrupt: ...``.
"""
from __future__ import annotations

import os
import struct
import sys
from typing import Any, TextIO

import pyBigWig

BIGBED_MAGIC = 0x8789F2EB
# magic, version, zoom levels, then the offsets of the chromosome tree, the full data and the full index
HEADER = struct.Struct("IHHQQQ")


def stored_item_count(source: str) -> int:
    """The number of entries the bigBed says it holds; exits when its signature is missing at either end."""
    with open(source, "rb") as handle:
        head = handle.read(HEADER.size)
        order = next((o for o in "<>"
                      if len(head) >= 4 and struct.unpack(o + "I", head[:4])[0] == BIGBED_MAGIC), None)
        if order is None or len(head) < HEADER.size:
            raise SystemExit(f"bigbed_to_bed: {source} is not a bigBed file")
        data_offset = struct.unpack(order + HEADER.format, head)[4]
        handle.seek(-4, os.SEEK_END)
        if struct.unpack(order + "I", handle.read(4))[0] != BIGBED_MAGIC:
            raise SystemExit("bigbed_to_bed: the source is truncated or corrupt: "
                             "it does not end with the bigBed signature")
        handle.seek(data_offset)
        count = handle.read(8)
    if len(count) != 8:
        raise SystemExit("bigbed_to_bed: the source is truncated or corrupt: its data section is missing")
    return struct.unpack(order + "Q", count)[0]


def write_entries(bb: Any, out: TextIO) -> int:
    """Write the autoSql field names and every entry of an open bigBed as BED lines; the number of entries."""
    sql = bb.SQL()
    if sql:
        sql = sql.decode() if isinstance(sql, bytes) else sql
        names = [line.split()[-1].rstrip(";") for line in sql.splitlines()
                 if line.strip().endswith(";") and len(line.split()) >= 2]
        if names:
            out.write("#" + "\t".join(names) + "\n")
    count = 0
    for chrom, length in bb.chroms().items():
        for start, end, rest in bb.entries(chrom, 0, length) or []:
            out.write(f"{chrom}\t{start}\t{end}" + (f"\t{rest}" if rest else "") + "\n")
            count += 1
    return count


def convert(source: str, target: str) -> int:
    """Write every entry of ``source`` to ``target``; returns the number of entries."""
    expected = stored_item_count(source)
    try:
        bb = pyBigWig.open(source)
    except RuntimeError as error:
        raise SystemExit(f"bigbed_to_bed: the source is truncated or corrupt: pyBigWig: {error}") from None
    if bb is None or not bb.isBigBed():
        raise SystemExit(f"bigbed_to_bed: {source} is not a bigBed file")
    tmp = target + ".tmp"
    try:
        with open(tmp, "w") as out:
            count = write_entries(bb, out)
    except RuntimeError as error:
        os.unlink(tmp)
        raise SystemExit(f"bigbed_to_bed: the source is truncated or corrupt: pyBigWig: {error}") from None
    finally:
        bb.close()
    if count != expected:
        os.unlink(tmp)
        raise SystemExit(f"bigbed_to_bed: the source is truncated or corrupt: it holds {expected} entries, "
                         f"{count} could be read")
    os.replace(tmp, target)
    return count


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(f"bigbed_to_bed: {convert(sys.argv[1], sys.argv[2])} entries", file=sys.stderr)
