"""An SSR analysis as genome view sources: its uploaded FASTA (a reference FASTA), its SSRs and hotspot SSRs
(BED files written from the result tables) and its gene BED, registered as derived sources
(:mod:`webapp.derived`) that the engine builds through the same cache rules as any other source.

The BED files are written once into the analysis' own folder (``genome_view/``), under a temp name and
renamed; an analysis' results never change, so a second call finds them and registers the same records.
"""
from __future__ import annotations

import csv
import logging
import os
import sqlite_utils

from . import derived, sources, ssr_layout, ssr_tables
from .errors import Invalid
from .job_record import Job

log = logging.getLogger(__name__)
VIEW_DIR = "genome_view"


def table_bed(table: str, columns: tuple[str, str, str], name_of) -> list[tuple[str, int, int, str]]:
    """BED records ``(genome, start, end, name)`` from a result table: ``columns`` name its genome, 0-based
    start and exclusive end columns; ``name_of(row dict)`` gives the feature name. Duplicates are dropped."""
    with open(table, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t" if table.endswith(".tsv") else ",")
        records = {(row[columns[0]], int(row[columns[1]]), int(row[columns[2]]), name_of(row)) for row in reader}
    return sorted(records)


def write_bed(path: str, records: list[tuple[str, int, int, str]]) -> None:
    """Write BED records under a temp name, then rename (readers never see half a file)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.writelines(f"{genome}\t{start}\t{end}\t{name}\n" for genome, start, end, name in records)
    os.replace(tmp, path)


def track_files(analysis: str) -> dict[str, str]:
    """The files of an analysis' genome view parts that exist or can be written: part -> path. The genomes
    (the uploaded FASTA) always; SSRs from ``intrim/reformatted.tsv``; hotspot SSRs from ``main/hssr_data.csv``
    and genes (the uploaded gene BED) when a gene BED was given. Parts without a record are left out (an
    empty BED has nothing to draw)."""
    out = os.path.join(analysis, "output")
    view = os.path.join(analysis, VIEW_DIR)
    files = {"genomes": os.path.join(analysis, "input", ssr_layout.INPUT_NAMES["fasta"])}
    tables = {
        "ssrs": (ssr_tables.REFORMATTED, ("genomeID", "start", "stop"), lambda row: row["loci"]),
        "hotspots": (ssr_tables.HSSR, ("genomeID", "start1", "end1"), lambda row: f"{row['gene']}:{row['loci']}"),
    }
    for part, (table, columns, name_of) in tables.items():
        bed = os.path.join(view, f"{part}.bed")
        source = os.path.join(out, table)
        if not os.path.isfile(bed) and os.path.isfile(source):
            write_bed(bed, table_bed(source, columns, name_of))
        if os.path.isfile(bed) and os.path.getsize(bed) > 0:
            files[part] = bed
    genes = os.path.join(analysis, "input", ssr_layout.INPUT_NAMES["gene_bed"])
    if os.path.isfile(genes) and os.path.getsize(genes) > 0:
        files["genes"] = genes
    return files


def register(db: sqlite_utils.Database, job: Job) -> list[str]:
    """Register a completed SSR job's derived sources (idempotent): their ids, the genomes (the reference)
    first, then the tracks in :data:`webapp.derived.PARTS` order."""
    analysis = job.workflow_key
    formats = {"genomes": "fasta", "ssrs": "bed", "hotspots": "bed", "genes": "bed"}
    ids = []
    for part, path in track_files(analysis).items():
        source_id = derived.source_id(job.id, part)
        existing = sources.get(db, source_id)
        if existing is None:
            sources.check_contents(path, formats[part])
            record = {"id": source_id, "access_url": path, "md5": sources.file_md5(path),
                      "format": formats[part], "index_url": "", "access": "restricted", "reference": ""}
            existing, created = sources.register(db, record)
            if created:
                log.info("registered %s (%s) for the genome view of SSR job %s", source_id, part, job.id)
        elif existing["access_url"] != path:
            raise Invalid(f"source {source_id!r} is registered with another file; remove it first")
        ids.append(source_id)
    return sorted(ids, key=lambda source_id: derived.PARTS.index(derived.parse(source_id)[1]))
