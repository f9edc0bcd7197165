"""SSR stage M2 pieces on hand-made sequences whose expected calls are worked out by hand from PERF 0.4.8's
rules (windows of size x min_units; extension while the period holds; the next scan starting at stop - L + 1).
The parity tier compares with PERF itself on random sequences."""

from __future__ import annotations

import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "rules" / "scripts"))
import ssr_flanks  # noqa: E402
import ssr_m2  # noqa: E402
import ssr_perf  # noqa: E402

DEFAULT_UNITS = {1: 12, 2: 6, 3: 4, 4: 3, 5: 3, 6: 2}
# 20 bases with no 12-base window of period <= 6, so no SSR of its own, and ends that break any period
LEFT = "GACCTGAGCTTGCAGTCAGG"
RIGHT = "CGTACCAGTTGACGGATCGC"


def calls(seq: str, units=DEFAULT_UNITS) -> list[tuple]:
    return ssr_perf.detect(seq, ssr_perf.motif_table(units))


def naive_periodic_windows(seq: str) -> bool:
    """An independent check that a filler has no 12-base window with a period of 6 or less."""
    return any(
        all(seq[i + j] == seq[i + j + p] for j in range(12 - p))
        for p in range(1, 7)
        for i in range(len(seq) - 11)
    )


def test_fillers_hold_no_repeat():
    assert not naive_periodic_windows(LEFT) and not naive_periodic_windows(RIGHT)
    assert calls(LEFT + RIGHT) == []


def test_mono_and_di_calls_with_zero_based_start_and_exclusive_stop():
    seq = LEFT + "A" * 14 + RIGHT
    assert calls(seq) == [(20, 34, "A", 14, "+", 14, "A")]
    seq = LEFT + "AT" * 6 + RIGHT
    assert calls(seq) == [(20, 32, "AT", 12, "+", 6, "AT")]


def test_below_the_per_size_minimum_is_not_called():
    assert calls(LEFT + "A" * 11 + RIGHT) == []
    assert calls(LEFT + "AT" * 5 + RIGHT) == []
    assert calls(LEFT + "ACG" * 3 + RIGHT) == []


def test_trailing_partial_unit_is_inside_stop_but_not_in_units():
    # TCA x4 then "TC": the period-3 run is 14 bases long; units = 14 // 3 = 4; TCA is a rotation of ATC
    seq = LEFT + "TCA" * 4 + "TC" + RIGHT
    assert calls(seq) == [(20, 34, "ATC", 14, "+", 4, "TCA")]


def test_motif_is_the_rotation_found_first_and_class_and_strand_come_from_perf_families():
    # GT is the reverse complement of AC: class AC, strand "-"
    seq = LEFT + "GT" * 6 + RIGHT
    assert calls(seq) == [(20, 32, "AC", 12, "-", 6, "GT")]


def test_non_primitive_repeats_are_called_by_their_primitive_motif():
    seq = LEFT + "ATAT" * 3 + RIGHT
    assert calls(seq) == [(20, 32, "AT", 12, "+", 6, "AT")]


def test_n_breaks_a_repeat():
    assert calls(LEFT + "A" * 8 + "N" + "A" * 8 + RIGHT) == []


def test_overlapping_calls_are_both_reported():
    # A x12 at 20..32, then TATATATATATA: the period-2 run starts at 31 (A at 31, T at 32, A at 33 ...)
    # and ends at 44. After the mono call PERF resumes at 32 - 12 + 1 = 21, reaches 31 and reports the
    # di repeat too.
    seq = LEFT + "A" * 12 + "TATATATATATA" + RIGHT
    assert calls(seq) == [(20, 32, "A", 12, "+", 12, "A"), (31, 44, "AT", 13, "+", 6, "AT")]


def test_penta_calls_come_from_the_second_pass_after_all_twelve_base_calls():
    # penta x3 = 15 bases: PERF's second pass (cutoff 15) runs after the whole cutoff-12 pass
    seq = LEFT + "AACGT" * 3 + RIGHT + "A" * 12 + LEFT
    assert calls(seq) == [(55, 67, "A", 12, "+", 12, "A"), (20, 35, "AACGT", 15, "+", 3, "AACGT")]


def test_clean_genome_stats_and_reformat(tmp_path):
    fasta = tmp_path / "g.fa"
    fasta.write_text(">g1 a description\nacgtRY\nNN-A\n\n>g2\nGGCC\n")
    records = list(ssr_m2.read_fasta(str(fasta)))
    assert records == [("g1", "ACGTNNNNNA"), ("g2", "GGCC")]
    # GC% over the non-N bases: 2 of 5 = 40.0
    assert ssr_m2.genome_stats("ACGTNNNNNA") == (10, 5, 40.0)
    rows = ssr_m2.reformat("g1", [(3, 17, "ACG", 14, "+", 4, "ACG")])
    assert rows == [["g1", "3", "17", "4", "ACG", "66.7", "33.3", "3", "(ACG)4", "12"]]


def test_not_fasta_and_duplicate_ids_are_refused(tmp_path):
    bad = tmp_path / "bad.fa"
    bad.write_text("ACGT\n")
    with pytest.raises(ssr_m2.InputError, match="not FASTA"):
        list(ssr_m2.read_fasta(str(bad)))
    dup = tmp_path / "dup.fa"
    dup.write_text(f">x\n{LEFT}\n>x\n{RIGHT}\n")
    with pytest.raises(ssr_m2.InputError, match="duplicate record id 'x'"):
        ssr_m2.detect_all(str(dup), DEFAULT_UNITS, 0, 10**7, 0)


def test_conserved_strings_are_those_in_every_genome_with_an_ssr():
    rows = [
        ["g1", "0", "12", "6", "AT"],
        ["g2", "5", "17", "6", "AT"],
        ["g1", "30", "42", "12", "A"],
        ["g2", "30", "43", "13", "A"],
    ]
    assert ssr_m2.conserved(rows) == ["ATATATATATAT"]


def test_flank_search_reports_every_overlapping_match_with_acgt_flanks_only():
    ten = "GACCTGAGCT"
    genome = (
        ten + "A" * 14 + ten
    )  # A x12 occurs at 10, 11, 12; its 10-base flanks must be A/C/G/T and in range
    search = ssr_flanks.FlankSearch(["A" * 12])
    rows = search.locate("g", genome)
    pattern = "N" * 10 + "A" * 12 + "N" * 10
    # seqkit's 1-based inclusive coordinates; the last match (at 12) ends exactly at the genome's end
    assert rows == [
        ("g", "1", pattern, "+", 1, 32, genome[0:32]),
        ("g", "1", pattern, "+", 2, 33, genome[1:33]),
        ("g", "1", pattern, "+", 3, 34, genome[2:34]),
    ]
    assert search.locate("g", ten[:9] + "N" + "A" * 12 + ten) == []


def test_longest_common_substring_folds_like_crossroad():
    assert ssr_flanks.lcs_pair("XABCY", "ZABCW") == "ABC"
    # two maximal common substrings (AB and CD): the one ending first in the first string wins
    assert ssr_flanks.lcs_pair("ABXCD", "CDYAB") == "AB"
    assert ssr_flanks.folded_lcs(["QQABCDEQ", "ABCDE", "RBCDER"]) == "BCDE"
    assert ssr_flanks.folded_lcs(["AAA", "CCC"]) == ""


def test_pattern_summary_keeps_common_cores_of_14_or_more():
    rows = [
        ("g1", "1", "p", "+", 1, 30, "TTTTT" + "ACGTACGTACGTAC" + "GGGGG"),
        ("g2", "1", "p", "+", 1, 30, "CCCCC" + "ACGTACGTACGTAC" + "AAAAA"),
        ("g1", "2", "q", "+", 1, 30, "ACGTACGTACGTA"),
        ("g2", "2", "q", "+", 1, 30, "ACGTACGTACGTA"),
    ]
    assert ssr_flanks.pattern_summary(rows) == [("1", 2, 14, "ACGTACGTACGTAC")]


def test_scan_split_into_parts_writes_what_one_sequential_pass_writes(tmp_path):
    """ssr_scan cuts the FASTA into byte ranges at record starts and concatenates the workers' part files; the
    bytes must be those of the one-process path (detect_all + merge + write_table), order and quoting
    included."""
    import ssr_io
    import ssr_scan

    genomes = [
        ("g1", LEFT + "A" * 14 + RIGHT),
        ('g"2', (LEFT + "AG" * 7 + RIGHT).lower()),  # an id csv must quote
        ("g3", LEFT + RIGHT),  # no SSR
        ("g4", LEFT + "ATC" * 5 + "N" + RIGHT),  # fails the N filter
        ("g5", LEFT + "CAT" * 5 + RIGHT + "A" * 13 + LEFT),
    ]
    fasta = tmp_path / "g.fa"
    fasta.write_text("".join(f">{gid} desc\n{seq[:30]}\n{seq[30:]}\n" for gid, seq in genomes))
    categories = tmp_path / "c.tsv"
    categories.write_text('genomeID\tcountry\tyear\ng1\tSu\tdan\t2022\ng5\tA\t2021.0\ng5\tB\tNA\n'.replace(
        "Su\tdan", '"Su\tdan"'))
    columns, table = ssr_m2.read_categories(str(categories))
    stats, rows = ssr_m2.detect_all(str(fasta), DEFAULT_UNITS, 0, 10**7, 0)
    header, merged = ssr_m2.merge(rows, stats, columns, table)
    ssr_io.write_table(str(tmp_path / "ref.tsv"), ssr_m2.REFORMATTED_HEADER, rows)
    ssr_io.write_table(str(tmp_path / "ref_merged.tsv"), header, merged)

    ranges = ssr_scan.record_ranges(str(fasta), 4, min_part_bytes=1)
    data = fasta.read_bytes()
    assert 3 <= len(ranges) <= 4 and ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(data[start:start + 1] == b">" and data[start - 1:start] == b"\n" for start, _ in ranges[1:])
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))

    settings = ssr_scan.Settings(DEFAULT_UNITS, 0, 10**7, 0, columns, table)
    parts = ssr_scan.scan(str(fasta), settings, 4, str(tmp_path), min_part_bytes=1)
    assert len(parts) == len(ranges)
    ssr_scan.publish_concatenated(str(tmp_path / "out.tsv"), ssr_m2.REFORMATTED_HEADER,
                                  [p.reformatted for p in parts])
    ssr_scan.publish_concatenated(str(tmp_path / "out_merged.tsv"), header, [p.merged for p in parts])
    assert (tmp_path / "out.tsv").read_bytes() == (tmp_path / "ref.tsv").read_bytes()
    assert (tmp_path / "out_merged.tsv").read_bytes() == (tmp_path / "ref_merged.tsv").read_bytes()
    assert b'"g""2"' in (tmp_path / "out.tsv").read_bytes()
    assert [row for p in parts for row in p.stats] == stats
    assert ssr_scan.conserved(parts) == ssr_m2.conserved(rows)


def test_scan_refuses_a_duplicate_id_split_across_parts(tmp_path):
    import ssr_scan

    fasta = tmp_path / "dup.fa"
    fasta.write_text(f">x\n{LEFT}\n>y\n{RIGHT}\n>x\n{LEFT}\n")
    settings = ssr_scan.Settings(DEFAULT_UNITS, 0, 10**7, 0)
    assert len(ssr_scan.record_ranges(str(fasta), 3, min_part_bytes=1)) >= 2
    with pytest.raises(ssr_m2.InputError, match="duplicate record id 'x'"):
        ssr_scan.scan(str(fasta), settings, 3, str(tmp_path), min_part_bytes=1)
