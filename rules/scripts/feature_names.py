#!/usr/bin/env python3
"""Build the feature name index of an annotation: ``feature_names.py FORMAT SOURCE OUT``.

FORMAT is the registered format (gff, gff3, gtf: GFF-like rows; bed, narrowpeak, broadpeak, bigbed: BED-like
rows, a bigBed given as its converted BED). SOURCE is plain text, gzip or BGZF. The names and spans are
those :mod:`webapp.feature_index` documents; rows are grouped in a scratch SQLite database in ``$TMPDIR``
(a GENCODE-size annotation does not have to fit in memory), then written to OUT (which must not exist: the
rule writes a temp name and renames it). Before exiting 0 the index is read back: SQLite's integrity check
passes and it holds every distinct name the source has. A malformed row fails with its line number.
Standard library only.
"""
from __future__ import annotations

import gzip
import os
import re
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from typing import IO
from urllib.parse import unquote

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from webapp import feature_index  # noqa: E402  (stdlib-only module shared with the service)

GFF_FORMATS = ("gff", "gff3", "gtf")
BED_FORMATS = ("bed", "narrowpeak", "broadpeak", "bigbed")
STAGE = "feature_names"


class BadRow(Exception):
    """A row that cannot be read: its line number and why."""


def open_text(path: str) -> IO[str]:
    """The source as text, decompressed when it starts with the gzip magic (gzip or BGZF)."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="\n")
    return open(path, encoding="utf-8", errors="replace", newline="\n")


# a name attribute at the start of column 9 or after a ";": GFF3 ``key=value``, GTF ``key "value"`` (or unquoted)
NAME_ATTR = re.compile(r'(?:^|;)[ \t]*(' + "|".join(feature_index.NAME_KEYS)
                       + r')(?:[ \t]*=([^;]*)|[ \t]+"([^"]*)"|[ \t]+([^;"]*))')


def attributes(column: str) -> dict[str, str]:
    """The name attributes (:data:`feature_index.NAME_KEYS`) of a GFF3 (``k=v;k=v``, percent-decoded) or GTF
    (``k "v"; k "v";``) column 9: the first non-empty value of each key."""
    found: dict[str, str] = {}
    for key, gff3, quoted, bare in NAME_ATTR.findall(column):
        if key in found:
            continue
        if gff3:
            value = gff3.strip()
            if "%" in value:
                value = unquote(value)
        else:
            value = quoted.strip() if quoted else bare.strip()
        if value:
            found[key] = value
    return found


def gff_rows(lines: Iterator[str]) -> Iterator[tuple[int, str, int, int, dict[str, str]]]:
    """``(line number, chrom, 0-based start, end, name attributes)`` of every GFF/GTF feature row."""
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if line.startswith("##FASTA") or line.startswith(">"):
            return  # the embedded sequence section ends the features
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 9:
            raise BadRow(f"line {number}: {len(fields)} tab-separated columns, a GFF/GTF row has 9")
        try:
            start, end = int(fields[3]), int(fields[4])
        except ValueError:
            raise BadRow(f"line {number}: start {fields[3]!r} / end {fields[4]!r} are not integers") from None
        if start < 1 or end < start:
            raise BadRow(f"line {number}: start {start} / end {end} are not 1 <= start <= end")
        yield number, fields[0], start - 1, end, attributes(fields[8])


def bed_rows(lines: Iterator[str]) -> Iterator[tuple[int, str, int, int, dict[str, str]]]:
    """``(line number, chrom, start, end, {"name": column 4})`` of every BED-like row (headers skipped)."""
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            raise BadRow(f"line {number}: {len(fields)} tab-separated columns, a BED row has at least 3")
        try:
            start, end = int(fields[1]), int(fields[2])
        except ValueError:
            raise BadRow(f"line {number}: start {fields[1]!r} / end {fields[2]!r} are not integers") from None
        if start < 0 or end < start:
            raise BadRow(f"line {number}: start {start} / end {end} are not 0 <= start <= end")
        name = fields[3].strip() if len(fields) > 3 else ""
        yield number, fields[0], start, end, ({"name": name} if name and name != "." else {})


def memberships(fmt: str, rows: Iterator[tuple[int, str, int, int, dict[str, str]]]) \
        -> Iterator[tuple[str, str, int, int, list[str]]]:
    """For every row and every feature it belongs to: ``(group, chrom, start, end, names it gives)``.

    The group is the identifier whose rows make up the feature (``ID``, ``gene_id``, ``transcript_id``),
    or the row itself when the name has no identifier to group by (and always for BED rows)."""
    for number, chrom, start, end, attrs in rows:
        if not attrs:
            continue
        row_group = f"row\t{number}"
        if fmt in BED_FORMATS:
            yield row_group, chrom, start, end, [attrs["name"]]
            continue
        given: dict[str, list[str]] = {}
        for id_key, keys in feature_index.GROUP_KEYS.items():
            names = [attrs[key] for key in keys if key in attrs]
            if not names:
                continue
            if id_key in attrs:
                group = f"{id_key}\t{attrs[id_key]}"
            elif "ID" in attrs:  # e.g. gene_name on a row with an ID but no gene_id: that row's feature
                group = f"ID\t{attrs['ID']}"
            else:
                group = row_group
            given.setdefault(group, []).extend(names)
        for group, names in given.items():
            yield group, chrom, start, end, names
        # a row belongs to every identified feature it carries, even where it gives no names for it
        for id_key in feature_index.GROUP_KEYS:
            group = f"{id_key}\t{attrs[id_key]}" if id_key in attrs else None
            if group is not None and group not in given:
                yield group, chrom, start, end, []


def build(fmt: str, source: str, out: str, scratch_dir: str) -> tuple[int, int, int]:
    """Index ``source`` into ``out``: ``(rows read, distinct names, index rows)``."""
    names_seen: set[str] = set()
    rows_read = 0
    with tempfile.TemporaryDirectory(dir=scratch_dir, prefix="trackprep-features.") as scratch:
        db = sqlite3.connect(os.path.join(scratch, "groups.sqlite"))
        db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
                         "CREATE TABLE span (grp TEXT, chrom TEXT, start INTEGER, stop INTEGER);"
                         "CREATE TABLE name (grp TEXT, chrom TEXT, key TEXT, name TEXT);")

        with open_text(source) as handle:
            parsed = gff_rows(handle) if fmt in GFF_FORMATS else bed_rows(handle)

            def counted() -> Iterator[tuple[int, str, int, int, dict[str, str]]]:
                nonlocal rows_read
                for row in parsed:
                    rows_read += 1
                    yield row

            batch_span, batch_name = [], []
            for group, chrom, start, end, names in memberships(fmt, counted()):
                batch_span.append((group, chrom, start, end))
                batch_name.extend((group, chrom, feature_index.fold(name), name) for name in names)
                names_seen.update(names)
                if len(batch_span) >= 50_000:
                    db.executemany("INSERT INTO span VALUES (?, ?, ?, ?)", batch_span)
                    db.executemany("INSERT INTO name VALUES (?, ?, ?, ?)", batch_name)
                    batch_span, batch_name = [], []
            db.executemany("INSERT INTO span VALUES (?, ?, ?, ?)", batch_span)
            db.executemany("INSERT INTO name VALUES (?, ?, ?, ?)", batch_name)
        db.executescript("CREATE TABLE extent AS SELECT grp, chrom, min(start) AS start, max(stop) AS stop"
                         " FROM span GROUP BY grp, chrom;"
                         "CREATE INDEX extent_grp ON extent (grp, chrom);")
        features = db.execute("SELECT DISTINCT name.key, name.name, name.chrom, extent.start, extent.stop"
                              " FROM name JOIN extent ON extent.grp = name.grp AND extent.chrom = name.chrom"
                              " ORDER BY 1, 2, 3, 4, 5")
        stored = feature_index.write(out, features, {"format": fmt, "rows": str(rows_read),
                                                     "names": str(len(names_seen))})
        db.close()
    check(out, names_seen)
    return rows_read, len(names_seen), stored


def check(out: str, names: set[str]) -> None:
    """Read the index back: intact, and holding exactly the source's distinct names, each under its key."""
    db = sqlite3.connect(f"file:{out}?mode=ro", uri=True)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            raise BadRow(f"the index fails SQLite's integrity check: {integrity}")
        stored = {name for (name,) in db.execute("SELECT DISTINCT name FROM features")}
        for key, name in db.execute("SELECT key, name FROM features"):
            if key != feature_index.fold(name):
                raise BadRow(f"the index stores name {name!r} under key {key!r}")
    finally:
        db.close()
    if stored != names:
        missing, extra = sorted(names - stored)[:5], sorted(stored - names)[:5]
        raise BadRow(f"the index holds {len(stored)} distinct names, the source {len(names)} "
                     f"(missing e.g. {missing}, unexpected e.g. {extra})")


def main(argv: list[str]) -> int:
    """Command line entry point."""
    if len(argv) != 4 or argv[1] not in GFF_FORMATS + BED_FORMATS:
        print(f"usage: {argv[0]} {{{'|'.join(GFF_FORMATS + BED_FORMATS)}}} SOURCE OUT", file=sys.stderr)
        return 2
    fmt, source, out = argv[1:]
    if os.path.exists(out):
        os.remove(out)  # a leftover temp file of an interrupted run
    try:
        rows, names, stored = build(fmt, source, out, os.environ.get("TMPDIR") or tempfile.gettempdir())
    except (BadRow, UnicodeError, OSError, EOFError, sqlite3.Error) as err:
        print(f"{STAGE}: {source}: {err}", file=sys.stderr)
        return 1
    print(f"{STAGE}: {rows} rows read, {names} distinct names, {stored} index rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
