#!/usr/bin/env python3
"""Write a bedGraph or WIG track as a bigWig (issue 9, item 5), checked before it is published.

    to_bigwig.py --format bedgraph|wig [--chrom-sizes FILE] SOURCE OUTPUT

SOURCE is plain text, gzip or BGZF. The records are validated one by one and the job fails naming the file
line (``line 7: start 20 >= end 10``) on:

- bedGraph: fewer than 4 columns, a start or end that is not a non-negative integer, start >= end, a value
  that is not a finite number;
- WIG: a ``fixedStep``/``variableStep`` line without ``chrom=`` (or without ``start=``/``step=`` for
  fixedStep), a bad ``start``/``step``/``span``, a data line before any declaration, a data line that is not
  a value (fixedStep) or ``position value`` (variableStep), any other line (``track``, ``browser`` and ``#``
  lines are skipped in both formats);
- both: intervals that overlap (bigWig readers return one value per base: the file would be ambiguous);
  the refusal names both lines.

Unsorted input is sorted (chromosomes in byte order, then start, end). Chromosome sizes are the largest end of
each chromosome in the data, or come from ``--chrom-sizes`` (a ``.fai`` or a two-column sizes file), in which
case every chromosome must be listed there and every record must end within it. The bigWig is written to
``OUTPUT.tmp``, re-opened with pyBigWig and checked (chromosomes and sizes, bases covered, the value of sampled
records) and only then renamed to ``OUTPUT``. The bytes depend on the records only: the same input gives the
same file. pyBigWig stores values as 32-bit floats.
"""
from __future__ import annotations

import argparse
import gzip
import logging
import math
import os
import sys
from array import array
from collections.abc import Iterator
from typing import IO

import numpy as np
import pyBigWig

LOG = logging.getLogger("to_bigwig")
SKIPPED_PREFIXES = (b"#", b"track", b"browser")
CHUNK = 100_000  # records handed to pyBigWig per call
SAMPLES = 1000  # records whose value is read back from the written file


class RecordError(ValueError):
    """A source line that cannot be in a bigWig; ``line`` is 1-based."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line


Columns = tuple[array, array, array, array]


class Track:
    """The records of a track, per chromosome, in columns: start, end, value, source line."""

    def __init__(self) -> None:
        self.columns: dict[str, Columns] = {}

    def chrom(self, name: str) -> Columns:
        """A chromosome's columns, created empty when it is new."""
        columns = self.columns.get(name)
        if columns is None:
            columns = self.columns[name] = (array("q"), array("q"), array("d"), array("q"))
        return columns

    def add(self, chrom: str, start: int, end: int, value: float, line: int) -> None:
        """Keep one interval (0-based, half-open)."""
        columns = self.chrom(chrom)
        columns[0].append(start)
        columns[1].append(end)
        columns[2].append(value)
        columns[3].append(line)

    def sorted_arrays(self, chrom: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A chromosome's starts, ends, values and lines, sorted by start then end; refuses overlaps."""
        starts, ends, values, lines = (np.frombuffer(column, dtype=column.typecode)
                                       for column in self.columns[chrom])
        order = np.lexsort((ends, starts))
        starts, ends, values, lines = starts[order], ends[order], values[order], lines[order]
        overlapping = np.flatnonzero(starts[1:] < ends[:-1])
        if overlapping.size:
            i = int(overlapping[0])
            first, second = sorted((int(lines[i]), int(lines[i + 1])))
            a, b = (i, i + 1) if int(lines[i]) == first else (i + 1, i)
            raise RecordError(second, f"interval {chrom}:{int(starts[b])}-{int(ends[b])} overlaps "
                                      f"{chrom}:{int(starts[a])}-{int(ends[a])} on line {first}; a bigWig holds "
                                      f"one value per base")
        return starts, ends, values, lines


def open_bytes(path: str) -> IO[bytes]:
    """The file's bytes, decompressed when it starts with the gzip magic number (gzip or BGZF)."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _int(text: bytes, line: int, what: str, minimum: int = 0) -> int:
    try:
        value = int(text)
    except ValueError:
        raise RecordError(line, f"{what} {text.decode('latin-1')!r} is not an integer") from None
    if value < minimum:
        raise RecordError(line, f"{what} {value} is below {minimum}")
    return value


def _value(text: bytes, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RecordError(line, f"value {text.decode('latin-1')!r} is not a number") from None
    if not math.isfinite(value):
        raise RecordError(line, f"value {text.decode('latin-1')!r} is not a finite number")
    return value


def _lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """Numbered lines without their line end; blank, ``#``, ``track`` and ``browser`` lines left out."""
    for number, raw in enumerate(handle, start=1):
        line = raw.rstrip(b"\r\n")
        if line.strip() and not line.startswith(SKIPPED_PREFIXES):
            yield number, line


def bedgraph_error(fields: list[bytes], number: int) -> RecordError:
    """Why a bedGraph line is not a record (the slow path: only for a line the fast path refused)."""
    if len(fields) < 4:
        return RecordError(number, f"{len(fields)} columns; a bedGraph record has 4: chrom start end value")
    try:
        start = _int(fields[1], number, "start")
        end = _int(fields[2], number, "end")
        if start >= end:
            raise RecordError(number, f"start {start} >= end {end}")
        _value(fields[3], number)
    except RecordError as err:
        return err
    return RecordError(number, "'_' in a number")  # int() and float() take "1_000": a bedGraph does not


def read_bedgraph(handle: IO[bytes]) -> Track:
    """bedGraph records: ``chrom start end value`` (0-based, half-open), whitespace-separated."""
    track = Track()
    last_name, columns = None, None
    isfinite = math.isfinite
    for number, raw in enumerate(handle, start=1):
        fields = raw.split()
        if not fields or raw.startswith(SKIPPED_PREFIXES):
            continue
        try:  # the fast path: every record that is valid passes here
            start, end, value = int(fields[1]), int(fields[2]), float(fields[3])
            ok = 0 <= start < end and isfinite(value) and len(fields) >= 4 and b"_" not in raw
        except (ValueError, IndexError):
            ok = False
        if not ok:
            raise bedgraph_error(fields, number)
        if fields[0] != last_name:
            last_name, columns = fields[0], track.chrom(fields[0].decode("latin-1"))
        columns[0].append(start)
        columns[1].append(end)
        columns[2].append(value)
        columns[3].append(number)
    return track


def _declaration(fields: list[bytes], number: int) -> dict[str, bytes]:
    pairs = {}
    for field in fields[1:]:
        key, sep, value = field.partition(b"=")
        if not sep or not value:
            raise RecordError(number, f"{field.decode('latin-1')!r} is not key=value")
        pairs[key.decode("latin-1")] = value
    if "chrom" not in pairs:
        raise RecordError(number, f"{fields[0].decode()} without chrom=")
    return pairs


def read_wig(handle: IO[bytes]) -> Track:
    """WIG records: ``fixedStep chrom= start= step= [span=]`` and ``variableStep chrom= [span=]`` sections
    (1-based positions), each followed by its data lines."""
    track = Track()
    mode = None  # b"fixedStep" or b"variableStep" once declared
    chrom, position, step, span = "", 0, 0, 1
    for number, line in _lines(handle):
        fields = line.split()
        if fields[0] in (b"fixedStep", b"variableStep"):
            pairs = _declaration(fields, number)
            mode, chrom = fields[0], pairs["chrom"].decode("latin-1")
            span = _int(pairs.get("span", b"1"), number, "span", minimum=1)
            if mode == b"fixedStep":
                for key in ("start", "step"):
                    if key not in pairs:
                        raise RecordError(number, f"fixedStep without {key}=")
                position = _int(pairs["start"], number, "start", minimum=1)
                step = _int(pairs["step"], number, "step", minimum=1)
            continue
        if mode is None:
            raise RecordError(number, f"{line[:40].decode('latin-1')!r} is not a WIG line (no fixedStep or "
                                      f"variableStep declaration before it)")
        if mode == b"fixedStep":
            if len(fields) != 1:
                raise RecordError(number, f"{len(fields)} columns in a fixedStep section, which has one value "
                                          f"a line")
            track.add(chrom, position - 1, position - 1 + span, _value(fields[0], number), number)
            position += step
        else:
            if len(fields) != 2:
                raise RecordError(number, f"{len(fields)} columns in a variableStep section, which has "
                                          f"'position value' lines")
            start = _int(fields[0], number, "position", minimum=1) - 1
            track.add(chrom, start, start + span, _value(fields[1], number), number)
    return track


def read_sizes(path: str) -> dict[str, int]:
    """Chromosome sizes from a ``.fai`` or a two-column sizes file (name, length)."""
    sizes = {}
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            fields = raw.split()
            if not fields or fields[0].startswith(b"#"):
                continue
            if len(fields) < 2:
                raise ValueError(f"{path} line {number}: a sizes line has a name and a length")
            sizes[fields[0].decode("latin-1")] = _int(fields[1], number, "length", minimum=1)
    return sizes


def chrom_sizes(track: Track, sizes_file: str | None) -> list[tuple[str, int]]:
    """The header's chromosomes in byte order: the data's largest end, or the sizes file's length."""
    known = read_sizes(sizes_file) if sizes_file else None
    header = []
    for chrom in sorted(track.columns, key=lambda name: name.encode("latin-1")):
        ends, lines = np.frombuffer(track.columns[chrom][1], dtype="q"), track.columns[chrom][3]
        largest = int(ends.max())
        if known is None:
            header.append((chrom, largest))
            continue
        if chrom not in known:
            raise RecordError(lines[0], f"chromosome {chrom!r} is not in {os.path.basename(sizes_file)}")
        if largest > known[chrom]:
            raise RecordError(int(lines[int(ends.argmax())]), f"end {largest} is past the end of {chrom} "
                                                              f"({known[chrom]} in {os.path.basename(sizes_file)})")
        header.append((chrom, known[chrom]))
    return header


def write(track: Track, header: list[tuple[str, int]], path: str) -> list[tuple[str, int, float]]:
    """Write the bigWig; return the sampled records (chrom, start, value) to read back."""
    total = sum(len(columns[0]) for columns in track.columns.values())
    every = max(1, total // SAMPLES)
    samples: list[tuple[str, int, float]] = []
    handle = pyBigWig.open(path, "w")
    if handle is None:
        raise OSError(f"pyBigWig cannot create {path}")
    try:
        handle.addHeader(header)
        for chrom, _ in header:
            starts, ends, values, _lines = track.sorted_arrays(chrom)
            for at in range(0, len(starts), CHUNK):
                part = slice(at, at + CHUNK)
                count = len(starts[part])
                handle.addEntries([chrom] * count, starts[part].tolist(), ends=ends[part].tolist(),
                                  values=values[part].tolist())
            samples.extend((chrom, int(starts[i]), float(values[i])) for i in range(0, len(starts), every))
            samples.append((chrom, int(starts[-1]), float(values[-1])))
    finally:
        handle.close()
    return samples


def check(path: str, header: list[tuple[str, int]], covered: int,
          samples: list[tuple[str, int, float]]) -> None:
    """Re-open the written file with pyBigWig: its chromosomes, bases covered and sampled values."""
    handle = pyBigWig.open(path)
    if handle is None or not handle.isBigWig():
        raise OSError(f"pyBigWig cannot open the written file {path} as a bigWig")
    try:
        if handle.chroms() != dict(header):
            raise OSError(f"the written file holds chromosomes {handle.chroms()}, expected {dict(header)}")
        if handle.header()["nBasesCovered"] != covered:
            raise OSError(f"the written file covers {handle.header()['nBasesCovered']} bases, the records "
                          f"{covered}")
        for chrom, start, value in samples:
            got = handle.values(chrom, start, start + 1)[0]
            if got != np.float32(value):
                raise OSError(f"the written file reads {got} at {chrom}:{start}, the record says {value}")
    finally:
        handle.close()


def convert(source: str, fmt: str, output: str, sizes_file: str | None = None) -> int:
    """Validate, sort, write and check; return the number of records."""
    with open_bytes(source) as handle:
        track = read_bedgraph(handle) if fmt == "bedgraph" else read_wig(handle)
    if not track.columns:
        raise RecordError(1, f"no {fmt} records: nothing to write")
    header = chrom_sizes(track, sizes_file)
    covered = sum(int((np.frombuffer(columns[1], dtype="q") - np.frombuffer(columns[0], dtype="q")).sum())
                  for columns in track.columns.values())
    tmp = output + ".tmp"
    try:
        samples = write(track, header, tmp)
        check(tmp, header, covered, samples)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return sum(len(columns[0]) for columns in track.columns.values())


def main(argv: list[str] | None = None) -> int:
    """Command line: exit 1 with ``to_bigwig: SOURCE line N: reason`` on a bad record."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--format", required=True, choices=("bedgraph", "wig"))
    parser.add_argument("--chrom-sizes", help="a .fai or two-column sizes file (default: from the data)")
    parser.add_argument("source")
    parser.add_argument("output")
    args = parser.parse_args(argv)
    try:
        records = convert(args.source, args.format, args.output, args.chrom_sizes)
    except RecordError as err:
        LOG.error("to_bigwig: %s %s", args.source, err)
        return 1
    except (OSError, RuntimeError, ValueError) as err:
        LOG.error("to_bigwig: %s: %s", args.source, err)
        return 1
    LOG.info("to_bigwig: %d %s records written to %s", records, args.format, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
