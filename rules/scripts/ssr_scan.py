"""SSR stage M2's pass over the genomes, spread over worker processes and streamed to disk.

The FASTA is cut at record boundaries into one byte range per worker. Each forked worker reads its range in
blocks and, genome by genome, cleans, counts, filters and detects (ssr_m2, ssr_perf), writing its
reformatted.tsv and mergedOut.tsv lines straight to part files. Only the per-genome stats rows and, per SSR
string, the number of genomes holding it come back to the parent, which checks the record ids in FASTA order
and concatenates the parts after the header. Memory is one read block and one genome's calls per worker,
whatever the number of genomes; the output bytes are those of writing every row with ssr_io.write_table.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field

import ssr_io
import ssr_m2
import ssr_perf

MIN_PART_BYTES = 4 << 20  # below this a range is not worth a process of its own


@dataclass
class Settings:
    """What every worker needs: detection parameters and the category table (None: no mergedOut)."""

    units: dict[int, int]
    min_len: int
    max_len: int
    unfair: int
    columns: list[str] = field(default_factory=list)
    categories: dict[str, list[list[str | None]]] | None = None


@dataclass
class Part:
    """One byte range's results: the ids read (in order, up to the first error), stats rows, SSR string ->
    genomes holding it, and the part files written."""

    ids: list[str]
    stats: list[list[str]]
    counts: Counter
    with_ssr: int
    n_ssrs: int
    reformatted: str
    merged: str | None
    error: ssr_io.InputError | None = None


def record_ranges(path: str, parts: int, min_part_bytes: int = MIN_PART_BYTES) -> list[tuple[int, int]]:
    """Byte ranges covering the file, each but the first starting at a record's ``>`` (a ``>`` after a newline),
    at most ``parts`` of them and none much under ``min_part_bytes``."""
    size = os.path.getsize(path)
    parts = max(1, min(parts, size // max(min_part_bytes, 1)))
    cuts = [0]
    with open(path, "rb") as handle:
        for i in range(1, parts):
            base = max(i * size // parts - 1, cuts[-1])
            handle.seek(base)
            buffer, found = b"", -1
            while found < 0:
                block = handle.read(1 << 20)
                if not block:
                    break
                found = (buffer := buffer + block).find(b"\n>", max(len(buffer) - len(block) - 1, 0))
            if found < 0:
                break
            if base + found + 1 > cuts[-1]:
                cuts.append(base + found + 1)
    cuts.append(size)
    return list(zip(cuts[:-1], cuts[1:]))


def scan_range(path: str, start: int, end: int, settings: Settings, out_dir: str) -> Part:
    """Worker: the genomes of one byte range, their lines written to part files in ``out_dir``."""
    table = ssr_perf.motif_table(settings.units)
    name = os.path.join(out_dir, f"{start:016d}")
    part = Part([], [], Counter(), 0, 0, name + ".reformatted",
                name + ".merged" if settings.categories is not None else None)
    seen: set[str] = set()
    with open(part.reformatted, "w", newline="", encoding="utf-8") as reformatted, \
            open(part.merged or os.devnull, "w", newline="", encoding="utf-8") as merged:
        try:
            for seq_id, seq in ssr_m2.read_fasta_bytes(path, start=start, end=end):
                if seq_id in seen:
                    raise ssr_io.InputError(f"{path}: duplicate record id {seq_id!r}")
                seen.add(seq_id)
                part.ids.append(seq_id)
                length, n_count, gc = ssr_m2.genome_stats(seq)
                stats = [str(length), str(n_count), str(gc)]
                part.stats.append([seq_id, *stats])
                if not (settings.min_len <= length <= settings.max_len and n_count <= settings.unfair):
                    continue
                calls = ssr_perf.detect(seq.decode("ascii"), table)
                if not calls:
                    continue
                lines = ssr_m2.ssr_lines(ssr_io.csv_line([seq_id]), calls)
                reformatted.write("\n".join(lines) + "\n")
                if part.merged:  # each SSR row once per category row of its genome, as the join gives them
                    suffixes = ["\t" + ssr_io.csv_line(extra) + "\n" for extra in
                                ssr_m2.genome_extras(seq_id, stats, settings.columns, settings.categories)]
                    merged.write("".join(line + suffix for line in lines for suffix in suffixes))
                part.counts.update({motif * units for *_, units, motif in calls})
                part.with_ssr += 1
                part.n_ssrs += len(calls)
        except ssr_io.InputError as error:
            part.error = error
    return part


def _scan_job(job: tuple) -> Part:
    return scan_range(*job)


def scan(
    fasta: str, settings: Settings, workers: int, tmp_dir: str, min_part_bytes: int = MIN_PART_BYTES
) -> list[Part]:
    """Every byte range's Part, in FASTA order; the ids are checked as one sequential read would check them."""
    ranges = record_ranges(fasta, workers, min_part_bytes)
    jobs = [(fasta, start, end, settings, tmp_dir) for start, end in ranges]
    if len(jobs) == 1:
        parts = [_scan_job(jobs[0])]
    else:
        with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
            parts = pool.map(_scan_job, jobs, chunksize=1)
    seen: set[str] = set()
    for part in parts:
        for seq_id in part.ids:
            if seq_id in seen:
                raise ssr_io.InputError(f"{fasta}: duplicate record id {seq_id!r}")
            seen.add(seq_id)
        if part.error is not None:
            raise part.error
    return parts


def conserved(parts: list[Part]) -> list[str]:
    """SSR strings found in every genome that has an SSR, sorted (ssr_m2.conserved over the parts' counts)."""
    counts: Counter = Counter()
    for part in parts:
        counts.update(part.counts)
    genomes = sum(part.with_ssr for part in parts)
    return sorted(text for text, found in counts.items() if found == genomes)


def publish_concatenated(path: str, header: list[str], pieces: list[str]) -> None:
    """The header line, then every piece's text, published atomically."""
    with ssr_io.publish(path) as handle:
        handle.write(ssr_io.csv_line(header) + "\n")
        for piece in pieces:
            with open(piece, newline="", encoding="utf-8") as source:
                shutil.copyfileobj(source, handle, 1 << 20)


def make_tmp_dir(near: str) -> str:
    """A private folder for the part files beside the outputs (same file system, removed by the caller)."""
    os.makedirs(near, exist_ok=True)
    return tempfile.mkdtemp(prefix=".ssr-parts-", dir=near)
