#!/usr/bin/env python3
"""Check a CRAM's header against the reference it is to be decoded with, and write the header htslib may use.

    check_cram_reference.py HEADER.sam OUT.sam [REFERENCE.dict REFERENCE_ID]

HEADER.sam is ``samtools view -H`` of the CRAM; REFERENCE.dict is ``samtools dict`` of the named reference
(its sequences' names, lengths and MD5s). With a reference, every @SQ of the CRAM must be one of its
sequences, of the same length and, when the @SQ carries an M5 tag, the same MD5: otherwise htslib would look
the sequence up elsewhere (REF_PATH, the @SQ's UR) or decode against the wrong bases, so the stage fails
naming the first sequence that is missing or different.

OUT.sam is HEADER.sam without the @SQ UR tags (the path or URL of the file the CRAM was written against:
htslib reads it when it finds a sequence nowhere else, which may be a download or a file outside the source
roots). The script prints ``stripped`` when it removed any. Exit 1 with the reason on stderr. Standard
library only.
"""
from __future__ import annotations

import sys


def sq_lines(path: str) -> list[dict[str, str]]:
    """The tags of every @SQ line of a SAM header file."""
    found = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("@SQ\t"):
                fields = line.rstrip("\n").split("\t")[1:]
                found.append(dict(field.split(":", 1) for field in fields if ":" in field))
    return found


def mismatch(cram: list[dict[str, str]], reference: list[dict[str, str]], reference_id: str) -> str | None:
    """Why the reference cannot decode the CRAM (the first sequence missing or different), or None."""
    by_name = {sq.get("SN"): sq for sq in reference}
    for sq in cram:
        name = sq.get("SN", "")
        ref = by_name.get(name)
        if ref is None:
            return (f"reference mismatch: the reference {reference_id!r} has no sequence {name!r}, which "
                    f"the CRAM's header lists (@SQ SN:{name}{' M5:' + sq['M5'] if 'M5' in sq else ''}); name "
                    "the FASTA the CRAM was written against")
        if sq.get("LN") != ref.get("LN"):
            return (f"reference mismatch: sequence {name!r} is {sq.get('LN')} bases long in the CRAM's "
                    f"header and {ref.get('LN')} in the reference {reference_id!r}")
        if "M5" in sq and sq["M5"].lower() != ref.get("M5", "").lower():
            return (f"reference MD5 mismatch: sequence {name!r} has M5 {sq['M5']} in the CRAM's header and "
                    f"{ref.get('M5')} in the reference {reference_id!r}; name the FASTA the CRAM was written "
                    "against")
    return None


def main(argv: list[str]) -> int:
    """Check, write the header without UR tags, report ``stripped``."""
    if len(argv) not in (3, 5):
        print(__doc__, file=sys.stderr)
        return 2
    header, out = argv[1], argv[2]
    if len(argv) == 5:
        reason = mismatch(sq_lines(header), sq_lines(argv[3]), argv[4])
        if reason is not None:
            print(f"cram_sort: {reason}", file=sys.stderr)
            return 1
    stripped = False
    with open(header, encoding="utf-8", errors="surrogateescape") as src, \
            open(out, "w", encoding="utf-8", errors="surrogateescape") as dst:
        for line in src:
            if line.startswith("@SQ\t"):
                fields = line.rstrip("\n").split("\t")
                kept = [field for field in fields if not field.startswith("UR:")]
                stripped |= len(kept) != len(fields)
                line = "\t".join(kept) + "\n"
            dst.write(line)
    if stripped:
        print("stripped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
