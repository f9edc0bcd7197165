#!/usr/bin/env python3
"""Refuse a BGZF file cut at a block boundary: ``check_bgzf.py STAGE FILE``.

A BGZF file is a series of gzip members, and ``gzip -cdf`` reads one cut exactly between two members up to
the cut and exits 0: the records after it are lost without a word. htslib ends every BGZF file with a fixed
28-byte empty block; a file whose first member carries BGZF's ``BC`` extra subfield must end with it.
Plain text and plain gzip pass unchanged (a plain gzip cut mid-member fails in gzip itself). Exit 1 with
``STAGE: the source is truncated: ...`` on stderr otherwise. Standard library only.
"""
from __future__ import annotations

import os
import struct
import sys

BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
GZIP_MAGIC = b"\x1f\x8b\x08"
FEXTRA = 0x04


def is_bgzf(head: bytes) -> bool:
    """True when the first gzip member's extra field holds the BGZF ``BC`` subfield."""
    if len(head) < 12 or not head.startswith(GZIP_MAGIC) or not head[3] & FEXTRA:
        return False
    (xlen,) = struct.unpack("<H", head[10:12])
    extra, pos = head[12:12 + xlen], 0
    while pos + 4 <= len(extra):
        (slen,) = struct.unpack("<H", extra[pos + 2:pos + 4])
        if extra[pos:pos + 2] == b"BC":
            return True
        pos += 4 + slen
    return False


def check(stage: str, path: str) -> None:
    """Exit 1 with the reason when ``path`` is BGZF without its end-of-file marker."""
    with open(path, "rb") as handle:
        head = handle.read(18 + 65536)
        if not is_bgzf(head):
            return
        size = os.fstat(handle.fileno()).st_size
        handle.seek(max(0, size - len(BGZF_EOF)))
        tail = handle.read()
    if tail != BGZF_EOF:
        raise SystemExit(f"{stage}: the source is truncated: it is BGZF but does not end with the 28-byte "
                         "BGZF end-of-file block (cut at a block boundary?): records at its end are missing")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    check(sys.argv[1], sys.argv[2])
