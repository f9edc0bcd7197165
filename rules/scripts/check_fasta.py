#!/usr/bin/env python3
"""Validate a reference FASTA's records before it is compressed and indexed (issue 9, item 3).

    check_fasta.py SOURCE        (plain, gzip or BGZF; gzip and BGZF are told apart by nothing here)

A reference is refused, with the 1-based line number of the first offending line on stderr, when:

- a sequence name (the header up to the first whitespace) repeats an earlier one: ``samtools faidx`` would
  index only one of them;
- a sequence is empty (a header followed by another header or the end of the file);
- a sequence line holds a character outside the IUPAC nucleotide and amino-acid codes, ``*`` and ``-``;
- a sequence line comes before any header, or a header has no name.

On success it prints the number of sequences. Standard library only, streaming: it holds the set of names,
never a sequence.
"""
from __future__ import annotations

import gzip
import re
import sys
from collections.abc import Iterator
from typing import IO

# IUPAC nucleotide codes (ACGTU RYSWKMBDHVN) and amino-acid codes (which add EFIJLOPQXZ), either case,
# plus "*" (stop) and "-" (gap)
BAD_CHARACTER = re.compile(r"[^A-Za-z*-]")


class FastaError(ValueError):
    """A record that cannot be in a reference; ``line`` is 1-based."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line


def open_text(path: str) -> IO[bytes]:
    """The file's bytes, decompressed when it starts with the gzip magic number (gzip or BGZF)."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def check(lines: Iterator[bytes]) -> int:
    """Validate FASTA lines; return the number of sequences or raise :class:`FastaError`."""
    names: dict[str, int] = {}
    header_line = 0  # 0: no header yet
    name = ""
    length = 0
    number = 0
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip(b"\r\n").decode("latin-1")
        if line.startswith(">"):
            if header_line and length == 0:
                raise FastaError(header_line, f"sequence {name!r} is empty")
            fields = line[1:].split()
            if not fields:
                raise FastaError(number, "a header without a sequence name")
            name = fields[0]
            if name in names:
                raise FastaError(number, f"duplicate sequence name {name!r} (first on line {names[name]})")
            names[name] = number
            header_line, length = number, 0
            continue
        if not line.strip():
            continue
        if not header_line:
            raise FastaError(number, "sequence before the first '>' header")
        bad = BAD_CHARACTER.search(line)
        if bad:
            raise FastaError(number, f"character {bad.group()!r} (column {bad.start() + 1}) in sequence "
                                     f"{name!r} is not an IUPAC code, '*' or '-'")
        length += len(line.strip())
    if header_line and length == 0:
        raise FastaError(header_line, f"sequence {name!r} is empty")
    if not names:
        raise FastaError(max(number, 1), "no '>' header: not a FASTA file")
    return len(names)


def main(argv: list[str]) -> int:
    """Command line entry: exit 0 and print the sequence count, or exit 1 with the reason."""
    if len(argv) != 2:
        sys.stderr.write(__doc__ or "")
        return 2
    try:
        with open_text(argv[1]) as handle:
            count = check(iter(handle))
    except FastaError as error:
        sys.stderr.write(f"check_fasta: {argv[1]}: {error}\n")
        return 1
    except (OSError, EOFError) as error:  # a cut gzip stream
        sys.stderr.write(f"check_fasta: {argv[1]}: cannot be read: {error}\n")
        return 1
    sys.stdout.write(f"{count}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
