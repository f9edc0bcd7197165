"""Flank search for conserved SSRs, equivalent to croSSRoad's ``seqkit locate -i -j T -d -P`` run.

croSSRoad turns each conserved SSR string X into the degenerate pattern ``N{10} X N{10}`` and lets seqkit
report every (overlapping) plus-strand match in every cleaned genome; a pattern ``N`` matches A, C, G or T but
not a genome ``N``. Because X is a perfect repeat of a primitive motif of size k, each occurrence lies inside
a maximal run of period k, so the search only visits those runs (found with numpy) instead of scanning the
genome once per pattern.

The pattern summary keeps croSSRoad's pairwise-folded "longest common substring" (the first string's earliest
longest match, folded over the matched strings in genome then position order), computed without the quadratic
table."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ssr_perf import periodic_runs

FLANK = 10
MIN_SUMMARY_SIZE = 14
FLANKED_HEADER = ["seqID", "patternName", "pattern", "strand", "start", "end", "matched"]
SUMMARY_HEADER = ["PatternName", "TotalSeqIDs", "PatternSize", "Pattern"]


def canonical(motif: str) -> str:
    """The smallest rotation of a motif: one key per cyclic family."""
    return min(motif[i:] + motif[:i] for i in range(len(motif)))


def smallest_period(text: str) -> int:
    """The smallest p such that text is a power of text[:p] (the text's length if none)."""
    n = len(text)
    for p in range(1, n + 1):
        if n % p == 0 and text[:p] * (n // p) == text:
            return p
    return n


class FlankSearch:
    """The conserved SSR strings (``locicons`` lines, named 1, 2, ... by line) and their flank search."""

    def __init__(self, conserved: list[str]):
        self.patterns = []  # (name, string, motif size)
        self.by_family: dict[tuple[int, str], list[tuple[str, str]]] = defaultdict(list)
        self.min_span: dict[int, int] = {}
        for number, text in enumerate(conserved, start=1):
            size = smallest_period(text)
            name = str(number)
            self.patterns.append((name, text, size))
            self.by_family[(size, canonical(text[:size]))].append((name, text))
            self.min_span[size] = min(self.min_span.get(size, len(text)), len(text))

    def locate(self, seq_id: str, seq: str) -> list[tuple[str, str, str, str, int, int, str]]:
        """Every flanked match in one cleaned genome as flanked.tsv rows, by pattern then position."""
        n = len(seq)
        arr = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
        n_prefix = np.concatenate(([0], np.cumsum(arr == ord("N")))).astype(np.int64)
        hits: dict[str, list[int]] = defaultdict(list)
        texts: dict[str, str] = {}
        for size, min_span in self.min_span.items():
            starts, stops = periodic_runs(arr, size, min_span)
            for run_start, run_stop in zip(starts.tolist(), stops.tolist()):
                family = self.by_family.get((size, canonical(seq[run_start:run_start + size])))
                if not family:
                    continue
                for name, text in family:
                    motif = text[:size]
                    length = len(text)
                    first = run_start
                    while seq[first:first + size] != motif:
                        first += 1
                    for pos in range(first, run_stop - length + 1, size):
                        left, right = pos - FLANK, pos + length + FLANK
                        if left < 0 or right > n:
                            continue
                        if n_prefix[pos] - n_prefix[left] or n_prefix[right] - n_prefix[pos + length]:
                            continue
                        hits[name].append(pos)
                        texts[name] = text
        rows = []
        for name, text, _size in self.patterns:
            if name not in hits:
                continue
            pattern = "N" * FLANK + text + "N" * FLANK
            for pos in sorted(hits[name]):
                left, right = pos - FLANK, pos + len(text) + FLANK
                rows.append((seq_id, name, pattern, "+", left + 1, right, seq[left:right]))
        return rows


def lcs_pair(first: str, second: str) -> str:
    """croSSRoad's two-string longest common substring: of maximal length, ending first in ``first``."""
    if not first or not second:
        return ""
    if first in second:
        return first

    def earliest(length: int) -> int:
        pieces = {second[j:j + length] for j in range(len(second) - length + 1)}
        for end in range(length, len(first) + 1):
            if first[end - length:end] in pieces:
                return end
        return -1

    low, high = 0, min(len(first), len(second))
    while low < high:  # the largest length with a common substring
        mid = (low + high + 1) // 2
        if earliest(mid) >= 0:
            low = mid
        else:
            high = mid - 1
    if low == 0:
        return ""
    end = earliest(low)
    return first[end - low:end]


def folded_lcs(strings: list[str]) -> str:
    """croSSRoad's find_longest_common_substring: lcs_pair folded over the strings in order."""
    if not strings:
        return ""
    result = strings[0]
    for text in strings[1:]:
        result = lcs_pair(result, text)
    return result


def pattern_summary(rows: list[tuple]) -> list[tuple[str, int, int, str]]:
    """pattern_summary.csv rows from flanked rows (genome order, then position): patterns whose folded
    common substring is at least 14 bp, in order of first appearance."""
    matched: dict[str, list[str]] = {}
    genomes: dict[str, set[str]] = {}
    for seq_id, name, _pattern, _strand, _start, _end, text in rows:
        matched.setdefault(name, []).append(text)
        genomes.setdefault(name, set()).add(seq_id)
    out = []
    for name, texts in matched.items():
        common = folded_lcs(texts)
        if len(common) >= MIN_SUMMARY_SIZE:
            out.append((name, len(genomes[name]), len(common), common))
    return out
