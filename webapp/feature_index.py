"""The feature name index: one SQLite file per annotation artifact, ``features.sqlite`` beside it.

Standard library only: the engine's build script (rules/scripts/feature_names.py) writes it with
:func:`write`, the service reads it with :func:`search`; both fold names with :func:`fold`, so the key the
build stores and the key a query looks for can never disagree.

What is indexed (docs/api.md, "Feature name search"):

- GFF3 / GFF / GTF: the values of the attributes in :data:`NAME_KEYS` (``Name``, ``ID``, ``gene_name``,
  ``gene_id``, ``transcript_name``, ``transcript_id``), whatever the attribute syntax (``key=value`` or
  ``key "value"``). A name's span is the feature it names: every row sharing the ``ID`` for ``ID``/``Name``,
  every row of the ``gene_id`` for ``gene_id``/``gene_name``, every row of the ``transcript_id`` for
  ``transcript_id``/``transcript_name``; a row without that identifier is a feature by itself. Spans never
  cross chromosomes.
- BED / narrowPeak / broadPeak / bigBed: column 4 (``.`` is no name); each row is a feature by itself.

Coordinates are 0-based, half-open (BED's; a GFF row ``start..end`` is ``start-1, end``). A name found at
several places has one row per place.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable

COORDINATES = "0-based, half-open"
NAME_KEYS = ("Name", "ID", "gene_name", "gene_id", "transcript_name", "transcript_id")
# which identifier groups the rows a name spans: the name keys that identifier covers
GROUP_KEYS = {"ID": ("ID", "Name"), "gene_id": ("gene_id", "gene_name"),
              "transcript_id": ("transcript_id", "transcript_name")}
TOP = "\U0010ffff"  # the largest code point: every key starting with q sorts below q + TOP

SCHEMA = """
CREATE TABLE features (
    key TEXT NOT NULL,       -- fold(name): the case-insensitive search key
    name TEXT NOT NULL,
    chrom TEXT NOT NULL,
    start INTEGER NOT NULL,  -- 0-based
    "end" INTEGER NOT NULL,  -- exclusive
    PRIMARY KEY (key, name, chrom, start, "end")
) WITHOUT ROWID;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
SEARCH_SQL = ('SELECT name, chrom, start, "end" FROM features WHERE key >= ? AND key < ?'
              ' ORDER BY key, name, chrom, start, "end" LIMIT ?')


def fold(name: str) -> str:
    """The case-insensitive key of a name (Unicode lower case, the same at build and query time)."""
    return name.lower()


def prefix_bounds(query: str) -> tuple[str, str]:
    """The half-open key range ``[low, high)`` that holds every key starting with ``fold(query)``."""
    low = fold(query)
    return low, low + TOP


def write(path: str, features: Iterable[tuple[str, str, str, int, int]], meta: dict[str, str]) -> int:
    """Write an index of ``(fold(name), name, chrom, start, end)`` rows (duplicates collapse; in key order
    they are appended, not inserted) into a new file at ``path``; returns the number of rows stored."""
    db = sqlite3.connect(path)
    try:
        db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + SCHEMA)
        db.executemany('INSERT OR IGNORE INTO features (key, name, chrom, start, "end")'
                       ' VALUES (?, ?, ?, ?, ?)',
                       features)
        count = db.execute("SELECT count(*) FROM features").fetchone()[0]
        db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                       sorted({**meta, "coordinates": COORDINATES, "features": str(count)}.items()))
        db.commit()
    finally:
        db.close()
    return count


def connect(path: str) -> sqlite3.Connection:
    """A read-only connection to a published index (immutable: it never changes at its path)."""
    return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)


def search(db: sqlite3.Connection, query: str, limit: int) -> list[dict[str, object]]:
    """Up to ``limit`` features whose name starts with ``query``, any case; in key order (an exact match
    first), then by name, chromosome and position."""
    low, high = prefix_bounds(query)
    rows = db.execute(SEARCH_SQL, (low, high, limit)).fetchall()
    return [{"name": name, "chrom": chrom, "start": start, "end": end} for name, chrom, start, end in rows]
