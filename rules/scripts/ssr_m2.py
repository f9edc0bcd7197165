"""SSR stage M2: clean the genomes, genome stats, length/N filter, PERF-identical SSR detection, reformat,
merge with the category table, conserved SSRs and (optionally) their flanks. See docs/ssr.md, "Stage M2".

Usage: ssr_m2.py --fasta F [--categories C] --units 12,6,4,3,3,2 --min-len 1000 --max-len 10000000
       --unfair 0 --out-dir OUTPUT [--flanks] [--reference-id ID]
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import shutil
import sys
from collections import defaultdict
from typing import Iterator

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ssr_flanks  # noqa: E402
import ssr_io  # noqa: E402
import ssr_perf  # noqa: E402
import ssr_scan  # noqa: E402
from ssr_io import InputError  # noqa: E402

log = logging.getLogger("ssr_m2")

REFORMATTED_HEADER = [
    "genomeID",
    "start",
    "stop",
    "repeat",
    "motif",
    "GC_per",
    "AT_per",
    "length_of_motif",
    "loci",
    "length_of_ssr",
]
STATS_HEADER = ["genomeID", "length_genome", "N_count", "genome_GC_per"]

# upper-case, and every byte other than A/C/G/T/N becomes N (croSSRoad's clean_fasta)
_CLEAN = bytes(c if c in b"ACGTN" else ord("N") for c in bytes(range(256)).upper())


def _records(block: bytes, path: str) -> Iterator[tuple[str, bytes]]:
    """(id, cleaned sequence bytes) of every complete record in a block that starts at a header."""
    for record in block.split(b"\n>"):
        if not record.strip():
            continue
        header, _, body = record.partition(b"\n")
        words = header.lstrip(b">").split()
        if not words:
            raise InputError(f"{path}: a FASTA header without a record id")
        if b" " in body or b"\t" in body:  # croSSRoad strips each line's ends; spaces inside a line become N
            body = b"".join(line.strip() for line in body.splitlines()).translate(_CLEAN)
        else:
            body = body.translate(_CLEAN, b"\r\n")  # deletes the line ends first, then cleans
        yield words[0].decode("utf-8", "replace"), body


def read_fasta_bytes(
    path: str, block_size: int = 1 << 24, start: int = 0, end: int | None = None
) -> Iterator[tuple[str, bytes]]:
    """(record id = first word of the header, cleaned sequence as bytes) per record, read in large blocks.

    ``start``/``end`` read one byte range of the file that begins at a record's ``>`` (see
    :func:`ssr_scan.record_ranges`)."""
    with open(path, "rb") as handle:
        handle.seek(start)
        left = (os.fstat(handle.fileno()).st_size if end is None else end) - start

        def read() -> bytes:
            nonlocal left
            chunk = handle.read(min(block_size, left)) if left > 0 else b""
            left -= len(chunk)
            return chunk

        first = read().lstrip()
        if not first.startswith(b">"):
            raise InputError(
                f"{path}: not FASTA ({'empty' if not first else 'it must start with a > header'})"
            )
        pending = first
        while True:
            chunk = read()
            if chunk:
                pending += chunk
            cut = pending.rfind(b"\n>") if chunk else len(pending)
            if cut > 0:
                yield from _records(pending[:cut], path)
                pending = pending[cut:]
            if not chunk:
                return


def read_fasta(path: str) -> Iterator[tuple[str, str]]:
    """(record id = first word of the header, cleaned sequence) per record, streamed."""
    for seq_id, seq in read_fasta_bytes(path):
        yield seq_id, seq.decode("ascii")


def genome_stats(seq: str | bytes) -> tuple[int, int, float]:
    """(length, N count, GC% of the non-N bases rounded to 2 places; 0 when all are N)."""
    if isinstance(seq, str):
        seq = seq.encode("ascii")
    arr = np.frombuffer(seq, dtype=np.uint8)
    n_count = int(np.count_nonzero(arr == ord("N")))
    non_n = len(seq) - n_count
    gc_bases = int(np.count_nonzero(arr == ord("G"))) + int(np.count_nonzero(arr == ord("C")))
    gc = round(gc_bases / non_n * 100, 2) if non_n else 0.0
    return len(seq), n_count, float(gc)


_MOTIF_COLUMNS: dict[str, tuple[str, str]] = {}


def motif_gc(motif: str) -> tuple[str, str]:
    """(GC_per, AT_per) of a motif as croSSRoad writes them (1 decimal, float formatting)."""
    cached = _MOTIF_COLUMNS.get(motif)
    if cached is None:
        gc = round((motif.count("G") + motif.count("C")) / len(motif) * 100, 1)
        cached = _MOTIF_COLUMNS[motif] = (str(float(gc)), str(float(round(100 - gc, 1))))
    return cached


def ssr_lines(id_field: str, calls: list[tuple]) -> list[str]:
    """reformatted.tsv lines (without line ends) for one genome's PERF calls; ``id_field`` is the genome id as
    written in the table (csv-quoted if it must be)."""
    lines = []
    for start, stop, _cls, _length, _strand, units, motif in calls:
        tail = _TAILS.get((motif, units))
        if tail is None:
            gc, at = motif_gc(motif)
            tail = _TAILS[motif, units] = (
                f"{units}\t{motif}\t{gc}\t{at}\t{len(motif)}\t({motif}){units}\t{units * len(motif)}"
            )
        lines.append(f"{id_field}\t{start}\t{stop}\t{tail}")
    return lines


# (motif, units) -> the columns after stop, which depend on nothing else
_TAILS: dict[tuple[str, int], str] = {}


def reformat(seq_id: str, calls: list[tuple]) -> list[list[str]]:
    """reformatted.tsv rows for one genome's PERF calls (a record id holds no tab: it is a header's first word)."""
    return [line.split("\t") for line in ssr_lines(seq_id, calls)]


def analyse_genome(
    seq_id: str, seq: bytes, table: ssr_perf.MotifTable, min_len: int, max_len: int, unfair: int
) -> tuple[list[str], list[list[str]]]:
    """One genome's stats row and, when it passes the length/N filter, its reformatted SSR rows."""
    length, n_count, gc = genome_stats(seq)
    rows = []
    if min_len <= length <= max_len and n_count <= unfair:
        rows = reformat(seq_id, ssr_perf.detect(seq.decode("ascii"), table))
    return [seq_id, str(length), str(n_count), str(gc)], rows


def detect_all(
    fasta: str, units: dict[int, int], min_len: int, max_len: int, unfair: int
) -> tuple[list[list[str]], list[list[str]]]:
    """Stats rows of every genome, reformatted SSR rows of those that pass the filter (FASTA order), in one
    process and in memory: the plain definition that ssr_scan's split, streamed pass is tested against."""
    seen: set[str] = set()

    def records() -> Iterator[tuple[str, bytes]]:
        for seq_id, seq in read_fasta_bytes(fasta):
            if seq_id in seen:
                raise InputError(f"{fasta}: duplicate record id {seq_id!r}")
            seen.add(seq_id)
            yield seq_id, seq

    stats: list[list[str]] = []
    ssr_rows: list[list[str]] = []
    table = ssr_perf.motif_table(units)
    for seq_id, seq in records():
        stat, rows = analyse_genome(seq_id, seq, table, min_len, max_len, unfair)
        stats.append(stat)
        ssr_rows.extend(rows)
    kept = len({row[0] for row in ssr_rows})
    log.info("%d genomes read, %d SSRs in %d genomes", len(stats), len(ssr_rows), kept)
    return stats, ssr_rows


def read_categories(path: str) -> tuple[list[str], dict[str, list[list[str | None]]]]:
    """Category table -> (non-genomeID columns, genomeID -> rows of their values; NA strings -> None)."""
    header, rows = ssr_io.read_table(path)
    if "genomeID" not in header:
        raise InputError(f"{path}: the category table has no 'genomeID' column (header: {' '.join(header)})")
    if len(set(header)) != len(header):
        raise InputError(f"{path}: the category table repeats a column name")
    clash = (set(header) - {"genomeID"}) & (set(REFORMATTED_HEADER) | set(STATS_HEADER))
    if clash:
        raise InputError(
            f"{path}: category column(s) {', '.join(sorted(clash))} clash with SSR table columns"
        )
    id_index = header.index("genomeID")
    others = [i for i in range(len(header)) if i != id_index]
    table: dict[str, list[list[str | None]]] = defaultdict(list)
    for number, row in enumerate(rows, start=2):
        if len(row) > len(header):
            raise InputError(f"{path}: line {number} has {len(row)} fields, the header {len(header)}")
        row = row + [""] * (len(header) - len(row))
        values = [None if value in ssr_io.PANDAS_NA else value for value in row]
        if values[id_index] is None:
            continue
        table[values[id_index]].append([values[i] for i in others])
    return [header[i] for i in others], table


def _year(value: str | None) -> str:
    """croSSRoad's year cleaning: whole years stay, anything else becomes 'undefined'."""
    if value is None:
        return ssr_io.UNDEFINED
    try:
        return str(int(float(value)))
    except (ValueError, OverflowError):
        return ssr_io.UNDEFINED


def genome_extras(
    genome: str, stats: list[str], columns: list[str], categories: dict[str, list[list[str | None]]]
) -> list[list[str]]:
    """What mergedOut appends to each of a genome's SSR rows: one list per category row of the genome (one of
    'undefined' values when it has none), each the category values then the genome's stats (length, N, GC%)."""
    year = columns.index("year") if "year" in columns else -1
    extra = []
    for values in categories.get(genome, [[None] * len(columns)]):
        values = [ssr_io.UNDEFINED if v is None else v for v in values]
        if year >= 0:
            values[year] = _year(None if values[year] == ssr_io.UNDEFINED else values[year])
        extra.append(values + stats)
    return extra


def merge(
    ssr_rows: list[list[str]],
    stats: list[list[str]],
    columns: list[str],
    categories: dict[str, list[list[str | None]]],
) -> tuple[list[str], Iterator[list[str]]]:
    """mergedOut: SSR rows left-joined with the category rows and the genome stats on genomeID (rows are
    generated while they are written, so the joined table is never held in memory)."""
    header = REFORMATTED_HEADER + columns + STATS_HEADER[1:]
    stats_by_id = {row[0]: row[1:] for row in stats}
    cache: dict[str, list[list[str]]] = {}

    def rows() -> Iterator[list[str]]:
        for row in ssr_rows:
            extra = cache.get(row[0])
            if extra is None:
                extra = cache[row[0]] = genome_extras(row[0], stats_by_id[row[0]], columns, categories)
            for values in extra:
                yield row + values

    return header, rows()


def conserved(ssr_rows: list[list[str]]) -> list[str]:
    """SSR strings (motif written out repeat times) found in every genome that has an SSR, sorted."""
    genomes_of: dict[str, set[str]] = defaultdict(set)
    genomes: set[str] = set()
    for row in ssr_rows:
        genomes_of[row[4] * int(row[3])].add(row[0])
        genomes.add(row[0])
    return sorted(text for text, found in genomes_of.items() if len(found) == len(genomes))


def flanks(fasta: str, locicons: list[str], out_dir: str) -> None:
    """flanks/flanked.tsv and flanks/pattern_summary.csv for the conserved SSRs, over every cleaned genome."""
    search = ssr_flanks.FlankSearch(locicons)
    rows: list[tuple] = []
    for seq_id, seq in read_fasta(fasta):
        rows.extend(search.locate(seq_id, seq))
    ssr_io.write_table(
        os.path.join(out_dir, "main", "flanks", "flanked.tsv"), ssr_flanks.FLANKED_HEADER, rows
    )
    summary = ssr_flanks.pattern_summary(rows)
    ssr_io.write_table(
        os.path.join(out_dir, "main", "flanks", "pattern_summary.csv"),
        ssr_flanks.SUMMARY_HEADER,
        summary,
        sep=",",
    )
    log.info(
        "flanks: %d matches of %d conserved SSRs, %d patterns summarised",
        len(rows),
        len(locicons),
        len(summary),
    )


def parse_units(text: str) -> dict[int, int]:
    """'12,6,4,3,3,2' -> {1: 12, 2: 6, ...}."""
    values = [int(v) for v in text.split(",")]
    if len(values) != 6:
        raise argparse.ArgumentTypeError("--units needs six values (mono..hexa)")
    return dict(zip(ssr_perf.SIZES, values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fasta", required=True)
    parser.add_argument("--categories", default="")
    parser.add_argument("--units", type=parse_units, required=True)
    parser.add_argument("--min-len", type=int, required=True)
    parser.add_argument("--max-len", type=int, required=True)
    parser.add_argument("--unfair", type=int, required=True)
    parser.add_argument("--flanks", action="store_true")
    parser.add_argument("--reference-id", default="", help="fail unless the FASTA holds this record")
    parser.add_argument("--out-dir", required=True, help="the analysis' output/ folder")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the genomes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # a short-lived process that builds millions of small acyclic objects: the cycle collector only costs time
    gc.disable()
    intrim = os.path.join(args.out_dir, "intrim")
    tmp_dir = ssr_scan.make_tmp_dir(intrim)
    try:
        columns, categories = read_categories(args.categories) if args.categories else ([], None)
        settings = ssr_scan.Settings(args.units, args.min_len, args.max_len, args.unfair, columns, categories)
        parts = ssr_scan.scan(args.fasta, settings, args.workers, tmp_dir)
        stats = [row for part in parts for row in part.stats]
        if args.reference_id and args.reference_id not in {row[0] for row in stats}:
            raise InputError(
                f"{args.fasta}: the reference genome {args.reference_id!r} is not among its records"
            )
        log.info("%d genomes read, %d SSRs in %d genomes", len(stats), sum(p.n_ssrs for p in parts),
                 sum(p.with_ssr for p in parts))
        ssr_io.write_table(os.path.join(intrim, "genome_stats.tsv"), STATS_HEADER, stats)
        ssr_scan.publish_concatenated(os.path.join(intrim, "reformatted.tsv"), REFORMATTED_HEADER,
                                      [part.reformatted for part in parts])
        if args.categories:
            ssr_scan.publish_concatenated(os.path.join(args.out_dir, "main", "mergedOut.tsv"),
                                          REFORMATTED_HEADER + columns + STATS_HEADER[1:],
                                          [part.merged for part in parts if part.merged])
    except InputError as error:
        log.error("%s", error)
        return 2
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    locicons = ssr_scan.conserved(parts)
    with ssr_io.publish(os.path.join(intrim, "locicons.txt")) as handle:
        handle.writelines(text + "\n" for text in locicons)
    log.info("%d conserved SSRs", len(locicons))
    if args.flanks:
        flanks(args.fasta, locicons, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
