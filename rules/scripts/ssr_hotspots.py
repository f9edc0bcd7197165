"""SSR stage hotspots: group the SSR-gene rows by (motif, gene), find mutational hotspots (with their cyclic
rotation families) and the hotspot SSRs; optionally against a reference genome. See docs/ssr.md,
"Stage hotspots". Values are carried verbatim as text; groups and keys are tuples, not joined strings.

Usage: ssr_hotspots.py --genecombo main/ssr_genecombo.tsv --out-dir OUTPUT [--reference-id ID]
       --min-repeat-count 1 --min-genome-count 2
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from typing import Iterable, Iterator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ssr_io  # noqa: E402

log = logging.getLogger("ssr_hotspots")

GROUP_BASE = ["motif", "gene", "genomeID", "repeat", "length_of_motif", "loci", "length_of_ssr"]
HOTSPOT_COLUMNS = [
    "motif",
    "gene",
    "length_of_motif",
    "loci",
    "length_of_ssr",
    "repeat_count",
    "genomeID_count",
]
# columns of ssr_genecombo that are neither category columns nor grouped
_NOT_CATEGORY = {
    "genomeID",
    "start1",
    "end1",
    "repeat",
    "motif",
    "GC_per",
    "AT_per",
    "length_of_motif",
    "loci",
    "length_of_ssr",
    "length_genome",
    "N_count",
    "genome_GC_per",
    "genomeID2",
    "start2",
    "end2",
    "gene",
    "ssr_position",
}


def group_columns(header: list[str]) -> list[str]:
    """The columns croSSRoad's group_records joins: the SSR ones, category, year, ssr_position, then every
    other category column (the dynamic one first, as it is the table's third column)."""
    columns = GROUP_BASE + [c for c in ("category", "year", "ssr_position") if c in header]
    return columns + [c for c in header if c not in _NOT_CATEGORY and c not in columns]


def reference_rows(header: list[str], rows: list[list[str]], reference_id: str) -> list[list[str]]:
    """ref_ssr_genecombo: the reference's rows plus the other genomes' rows whose (gene, loci) the reference
    lacks, exact duplicates dropped, sorted by gene then loci (stable)."""
    gid, gene, loci = header.index("genomeID"), header.index("gene"), header.index("loci")
    ref = [row for row in rows if row[gid] == reference_id]
    ref_keys = {(row[gene], row[loci]) for row in ref}
    other = [row for row in rows if row[gid] != reference_id and (row[gene], row[loci]) not in ref_keys]
    seen: set[tuple[str, ...]] = set()
    combined = []
    for row in ref + sorted(other, key=lambda r: (r[gene], r[loci])):
        key = tuple(row)
        if key not in seen:
            seen.add(key)
            combined.append(row)
    return sorted(combined, key=lambda r: (r[gene], r[loci]))


def group_records(header: list[str], rows: Iterable[list[str]]) -> tuple[list[str], list[dict]]:
    """Groups by (motif, gene), sorted: each grouped column's distinct values in first-seen order. ``rows`` is
    read once, as a stream: only the distinct values are kept."""
    columns = group_columns(header)
    motif, gene = header.index("motif"), header.index("gene")
    indices = [header.index(c) for c in columns]
    # (motif, gene) -> per grouped column, a dict used as an ordered set: croSSRoad's x.unique() order
    distinct: dict[tuple[str, str], list[dict[str, None]]] = {}
    for row in rows:
        seen = distinct.get((row[motif], row[gene]))
        if seen is None:
            seen = distinct[row[motif], row[gene]] = [{} for _ in indices]
        for values, index in zip(seen, indices):
            values[row[index]] = None
    out = []
    for key in sorted(distinct):
        record = {c: list(values) for c, values in zip(columns, distinct[key])}
        record["repeat_count"] = len(record["repeat"])
        record["genomeID_count"] = len(record["genomeID"])
        out.append(record)
    return columns, out


def rotations_key(gene: str, motif: str) -> tuple[str, tuple[str, ...]]:
    """A rotation family within a gene: the gene and the sorted cyclic rotations of the motif."""
    return gene, tuple(sorted(motif[i:] + motif[:i] for i in range(len(motif))))


def hotspots(groups: list[dict], min_repeat_count: int, min_genome_count: int) -> list[dict]:
    """(a) groups varying in repeat in enough genomes, plus (b) the groups of the same gene whose motif is a
    rotation of an (a) motif when that family has more than one group; (a)-family members first."""
    family_size: dict[tuple, int] = {}
    for g in groups:
        key = rotations_key(g["gene"][0], g["motif"][0])
        family_size[key] = family_size.get(key, 0) + 1
    strong = [
        g for g in groups if g["genomeID_count"] > min_genome_count and g["repeat_count"] > min_repeat_count
    ]
    strong_families = {rotations_key(g["gene"][0], g["motif"][0]) for g in strong}
    family = [
        g
        for g in groups
        if family_size[rotations_key(g["gene"][0], g["motif"][0])] > 1
        and rotations_key(g["gene"][0], g["motif"][0]) in strong_families
    ]
    out, seen = [], set()
    for g in family + strong:
        key = (g["motif"][0], g["gene"][0])
        if key not in seen:
            seen.add(key)
            out.append(g)
    return out


def joined(values: list[str]) -> str:
    return ": ".join(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genecombo", required=True)
    parser.add_argument("--out-dir", required=True, help="the analysis' output/ folder")
    parser.add_argument("--reference-id", default="")
    parser.add_argument("--min-repeat-count", type=int, required=True)
    parser.add_argument("--min-genome-count", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # a short-lived process that builds many small acyclic objects: the cycle collector only costs time
    gc.disable()
    header, rows = ssr_io.iter_table(args.genecombo)
    selected: Iterable[list[str]] = rows
    if args.reference_id:
        rows = list(rows)  # the reference mode filters and sorts the whole table
        selected = reference_rows(header, rows, args.reference_id)
        ssr_io.write_table(
            os.path.join(args.out_dir, "main", "ref_ssr_genecombo.csv"), header, selected, sep=","
        )
        log.info("reference %s: %d rows kept of %d", args.reference_id, len(selected), len(rows))
    columns, groups = group_records(header, selected)
    ssr_io.write_table(
        os.path.join(args.out_dir, "intrim", "all_variations.csv"),
        columns + ["repeat_count", "genomeID_count"],
        ([joined(g[c]) for c in columns] + [g["repeat_count"], g["genomeID_count"]] for g in groups),
        sep=",",
    )
    found = hotspots(groups, args.min_repeat_count, args.min_genome_count)
    ssr_io.write_table(
        os.path.join(args.out_dir, "main", "mutational_hotspot.csv"),
        HOTSPOT_COLUMNS,
        (
            [joined(g[c]) for c in HOTSPOT_COLUMNS[:5]] + [g["repeat_count"], g["genomeID_count"]]
            for g in found
        ),
        sep=",",
    )
    members = {(g["motif"][0], g["gene"][0], genome) for g in found for genome in g["genomeID"]}
    motif, gene, gid = header.index("motif"), header.index("gene"), header.index("genomeID")
    hssr = [0]

    def hssr_rows(rows: Iterable[list[str]]) -> Iterator[list[str]]:
        for row in rows:
            if (row[motif], row[gene], row[gid]) in members:
                hssr[0] += 1
                yield row

    # the whole table again: read a second time when it was streamed
    again = rows if args.reference_id else ssr_io.iter_table(args.genecombo)[1]
    ssr_io.write_table(os.path.join(args.out_dir, "main", "hssr_data.csv"), header, hssr_rows(again), sep=",")
    log.info("%d groups, %d hotspots, %d hotspot SSR rows", len(groups), len(found), hssr[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
