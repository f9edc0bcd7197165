"""What a file really is, from its first bytes: the one table the service and the engine both check against.

Passthrough formats (bigWig, CSV, TSV) are served exactly as registered, and a bigBed is handed to pyBigWig
as it is, so a file registered under the wrong format would reach a genome browser (or a converter) unchecked.
:func:`mismatch` compares a file's first block with the format it was registered as and returns the reason
it is refused, naming what the file is instead, e.g. ``registered as bigwig but the file is a bigBed;
register it with format bigbed``.

Standard library only: ``rules/scripts/fetch_source.py`` imports this module as a standalone script (it runs
before any other stage may read a source) and the service imports it at registration.
"""
from __future__ import annotations

import struct
import zlib

# UCSC big binary indexed files (Kent et al. 2010, "BigWig and BigBed"): the 32-bit magic opens the header,
# "in the native byte order of the machine that wrote it": either order must be accepted
BIGWIG_MAGIC = 0x888FFC26
BIGBED_MAGIC = 0x8789F2EB
GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 64 * 1024  # the "first block" read; text checks look at this much

# format -> what its bytes must be
EXPECTED = {"bigwig": "bigwig", "bigbed": "bigbed", "csv": "text", "tsv": "text"}
CHECKED_FORMATS = tuple(EXPECTED)

# kind of content -> (how a sentence names it, the format to register it with, if it has one)
KINDS: dict[str, tuple[str, str | None]] = {
    "bigwig": ("a bigWig", "bigwig"),
    "bigbed": ("a bigBed", "bigbed"),
    "bam": ("a BAM (BGZF-compressed binary alignments)", "bam"),
    "bcf": ("a BCF (BGZF-compressed binary variant calls)", None),
    "cram": ("a CRAM", "cram"),
    "bgzf": ("BGZF-compressed data", None),
    "gzip": ("gzip-compressed data", None),
    "zip": ("a zip archive", None),
    "empty": ("empty", None),
    "binary": ("binary data (it has NUL bytes)", None),
    "text": ("text", None),
}


def _big_magic(head: bytes, magic: int) -> bool:
    return head[:4] in (struct.pack("<I", magic), struct.pack(">I", magic))


def is_bgzf(head: bytes) -> bool:
    """True when the bytes open a BGZF block: a gzip member with the ``BC`` extra subfield (SAM spec 4.1)."""
    return len(head) >= 18 and head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"


def gunzip_head(head: bytes, limit: int = SNIFF_BYTES) -> bytes:
    """The first (at most ``limit``) decompressed bytes of gzip/BGZF data: what a prefix inflates to."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        out = inflater.decompress(head, limit)
        # BGZF is a series of gzip members: the first may be short (a BAM header block), so read on
        while len(out) < limit and inflater.eof and inflater.unused_data:
            rest = inflater.unused_data
            inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
            out += inflater.decompress(rest, limit - len(out))
    except zlib.error:
        pass
    return out[:limit]


def identify(head: bytes) -> str:
    """What a file's first bytes say it is: one of :data:`KINDS`."""
    if not head:
        return "empty"
    if _big_magic(head, BIGWIG_MAGIC):
        return "bigwig"
    if _big_magic(head, BIGBED_MAGIC):
        return "bigbed"
    if head[:4] == b"CRAM":
        return "cram"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:2] == GZIP_MAGIC:
        inner = gunzip_head(head, 4)
        if is_bgzf(head):
            return {b"BAM\x01": "bam", b"BCF\x02": "bcf"}.get(inner[:4], "bgzf")
        return "gzip"
    return "binary" if b"\x00" in head[:SNIFF_BYTES] else "text"


def mismatch(fmt: str, head: bytes, compressed_name: bool = False) -> str | None:
    """Why bytes starting with ``head`` cannot be a ``fmt`` source; None when they can (or ``fmt`` is not
    checked here: the processed formats are checked by the tools that read them).

    CSV and TSV must be text (no NUL byte in the first block); gzip or BGZF compressed text is accepted only
    when the source's name says so (``compressed_name``: ``.gz``/``.bgz``), as it is then served under
    that name.
    """
    fmt = fmt.lower()
    expected = EXPECTED.get(fmt)
    if expected is None:
        return None
    found = identify(head)
    if expected == "text":
        if found in ("gzip", "bgzf") and compressed_name:
            inner = identify(gunzip_head(head))
            if inner in ("text", "empty"):
                return None
            return f"registered as {fmt} but the file is compressed {_name(inner)}, not text"
        if found in ("text", "empty"):
            if compressed_name:
                return f"registered as {fmt} with a compressed name (.gz) but the file is plain text, " \
                    "not gzip-compressed; register it under a name without .gz"
            return None
    elif found == expected:
        return None
    name, register_as = KINDS[found]
    reason = f"registered as {fmt} but the file is {name}"
    if register_as is not None:
        return f"{reason}; register it with format {register_as}"
    if expected == "text":
        return f"{reason}, not text"
    return f"{reason}, not {KINDS[expected][0]} (its first 4 bytes are not the magic number " \
        f"0x{BIGWIG_MAGIC if expected == 'bigwig' else BIGBED_MAGIC:08X})"


def _name(kind: str) -> str:
    return KINDS[kind][0]


def read_head(path: str, size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes of a file."""
    with open(path, "rb") as handle:
        return handle.read(size)


def check_file(path: str, fmt: str, compressed_name: bool = False) -> str | None:
    """:func:`mismatch` for a file on disk."""
    if fmt.lower() not in EXPECTED:
        return None
    return mismatch(fmt, read_head(path), compressed_name)
