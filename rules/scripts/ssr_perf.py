"""Perfect-SSR detection that reports exactly what PERF 0.4.8 (``PERF -u units_file``) reports, vectorised.

PERF scans each sequence once per distinct repeat length cutoff L = size * min_units (ascending). At every
position it looks the L-long window up in a table of expanded motifs; on a hit it extends the repeat while the
next base continues the period, prints it (``stop`` exclusive, a trailing partial unit included), and resumes
the scan at ``stop - L + 1`` -- so the next call may overlap the previous one's tail. Every other position is
skipped one by one. The same calls come out of this module by working on maximal periodic runs instead of
windows: a window matches iff it lies inside a run of period k at least L long whose motif family is in PERF's
table, and the scan's jumps are replayed over the (few) runs.

PERF's motif table is reproduced by porting ``generate_repeats`` literally, including its quirk of dropping
some 5- and 6-mer families whose expansion collides with a shorter motif's.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

SIZES = (1, 2, 3, 4, 5, 6)
SIZE_NAMES = ("mono", "di", "tri", "tetra", "penta", "hexa")
_COMPLEMENT = str.maketrans("ACGT", "TGCA")
_N = ord("N")


def rev_comp(seq: str) -> str:
    """Reverse complement of an A/C/G/T string."""
    return seq.translate(_COMPLEMENT)[::-1]


def _expand(motif: str, size: int) -> str:
    """PERF's expand_repeat: the motif repeated, cut to ``size`` characters."""
    return (motif * (size // len(motif) + 1))[:size]


def _cycles(motif: str) -> list[str]:
    return [motif[i:] + motif[:i] for i in range(len(motif))]


def generate_repeats(sizes: list[int]) -> list[tuple[str, str, int, str]]:
    """PERF 0.4.8 ``generate_repeats(sizes, atomic=False)``: (cycle, repeat class, size, strand) per motif."""
    sizes = sorted(sizes)
    min_size, max_size = sizes[0], sizes[-1]
    expanded_set: set[str] = set()
    repeat_set: set[str] = set()
    out: list[tuple[str, str, int, str]] = []
    for size in sizes:
        for combination in product("ACGT", repeat=size):
            repeat = "".join(combination)
            if _expand(repeat, max_size) in expanded_set:
                continue
            for strand, family in (("+", repeat), ("-", rev_comp(repeat))):
                if strand == "-" and family == repeat:
                    continue
                for cycle in _cycles(family):
                    expanded_set.add(_expand(cycle, max_size))
                    if cycle not in repeat_set:
                        repeat_set.add(cycle)
                        if len(cycle) >= min_size:
                            out.append((cycle, repeat, len(cycle), strand))
    return out


@dataclass(frozen=True)
class MotifTable:
    """PERF's lookup table for a per-size minimum-units setting."""

    units: dict[int, int]  # motif size -> minimum units
    motifs: dict[str, tuple[str, str]]  # cycle -> (repeat class, strand)
    cutoffs: tuple[int, ...]  # distinct window lengths, ascending (PERF's passes)
    key_lengths: frozenset[int]  # lengths of all table keys (== cutoffs)


def motif_table(units: dict[int, int]) -> MotifTable:
    """Build the table PERF builds from a units file listing every size in ``units``."""
    if any(u < 2 for u in units.values()):
        raise ValueError("minimum units must be at least 2 for every motif size")
    motifs = {cycle: (cls, strand) for cycle, cls, _size, strand in generate_repeats(list(units))}
    cutoffs = tuple(sorted({size * u for size, u in units.items()}))
    return MotifTable(dict(units), motifs, cutoffs, frozenset(cutoffs))


def _window_starts(eq: np.ndarray, span: int) -> np.ndarray:
    """Indices i with eq[i:i + span] all True (span >= 1), by doubling ANDs: runs are rare, so the result is
    sparse and only the boolean passes touch every base."""
    have, width = eq, 1
    while width * 2 <= span:
        have = have[:-width] & have[width:]
        width *= 2
    rest = span - width
    if rest:
        have = have[:-rest] & have[rest:]
    return np.flatnonzero(have)


def periodic_runs(
    arr: np.ndarray, k: int, min_span: int, acgt: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Maximal A/C/G/T substrings of period ``k`` spanning at least ``min_span`` bases: (starts, stops).
    ``acgt`` is ``arr != N`` when the caller has it already."""
    n = arr.shape[0]
    span = max(min_span - k, 1)
    if n <= k or span > n - k:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    eq = arr[:-k] == arr[k:]
    eq &= (arr[:-k] != _N) if acgt is None else acgt[:-k]
    starts = _window_starts(eq, span)
    if starts.size == 0:
        return starts, starts
    # consecutive window starts belong to one run;
    # a run [a, b + span) of eq is the substring [a, b + span + k)
    breaks = np.flatnonzero(np.diff(starts) != 1)
    firsts = np.concatenate((starts[:1], starts[breaks + 1]))
    lasts = np.concatenate((starts[breaks], starts[-1:]))
    return firsts, lasts + span + k


def detect(seq: str, table: MotifTable) -> list[tuple[int, int, str, int, str, int, str]]:
    """PERF's calls on one cleaned (upper-case A/C/G/T/N) sequence, in PERF's output order.

    Returns (start, stop, repeat class, length, strand, units, motif) tuples.
    """
    n = len(seq)
    arr = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
    calls = []
    motifs = table.motifs
    acgt = arr != _N
    for cutoff in table.cutoffs:
        if n < cutoff:
            continue
        # Candidate intervals of window starts [lo, hi] per run; runs of different sizes never share a start.
        intervals = []
        for size, units in table.units.items():
            if size * units != cutoff:
                continue
            starts, stops = periodic_runs(arr, size, cutoff, acgt)
            for start, stop in zip(starts.tolist(), stops.tolist()):
                if seq[start:start + size] in motifs:
                    intervals.append((start, stop - cutoff, stop, size))
        intervals.sort()
        pos = 0
        for lo, hi, stop, size in intervals:
            if hi < pos:
                continue
            start = lo if lo > pos else pos
            motif = seq[start:start + size]
            cls, strand = motifs[motif]
            calls.append((start, stop, cls, stop - start, strand, (stop - start) // size, motif))
            pos = hi + 1
        # PERF also looks up the one short window at n - L + 1 (its loop runs one step past the end); it
        # can only hit a key when another pass uses the length L - 1, and then PERF reports a call ending at
        # n + 1.
        tail = n - cutoff + 1
        if cutoff - 1 in table.key_lengths and tail >= pos:
            window = seq[tail:]
            hit = _lookup_key(window, table)
            if hit is not None:
                size = hit
                motif = window[:size]
                cls, strand = motifs[motif]
                calls.append((tail, n + 1, cls, cutoff, strand, cutoff // size, motif))
    return calls


def _lookup_key(window: str, table: MotifTable) -> int | None:
    """The motif size whose table key equals ``window`` exactly, if any."""
    for size, units in table.units.items():
        if size * units == len(window) and window[:size] in table.motifs and window[:size] * units == window:
            return size
    return None
