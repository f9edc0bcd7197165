"""Hotspot selection and the analysis key, on hand-made rows whose answers follow from SSR.md's rules."""

from __future__ import annotations

import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "rules" / "scripts"))
import ssr_hotspots  # noqa: E402
from webapp import ssr_layout  # noqa: E402

HEADER = [
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
    "category",
    "country",
    "year",
    "length_genome",
    "N_count",
    "genome_GC_per",
    "genomeID2",
    "start2",
    "end2",
    "gene",
    "ssr_position",
]


def row(gid: str, motif: str, repeat: int, gene: str) -> list[str]:
    return [
        gid,
        "10",
        str(10 + len(motif) * repeat),
        str(repeat),
        motif,
        "0.0",
        "100.0",
        str(len(motif)),
        f"({motif}){repeat}",
        str(len(motif) * repeat),
        "I",
        "Peru",
        "2022",
        "1000",
        "0",
        "30.0",
        gid,
        "0",
        "900",
        gene,
        "IN",
    ]


def groups(rows):
    return ssr_hotspots.group_records(HEADER, rows)[1]


def test_grouping_joins_distinct_values_in_first_seen_order():
    rows = [row("g2", "AT", 7, "G1"), row("g1", "AT", 6, "G1"), row("g2", "AT", 7, "G1")]
    columns, found = ssr_hotspots.group_records(HEADER, rows)
    assert columns == [
        "motif",
        "gene",
        "genomeID",
        "repeat",
        "length_of_motif",
        "loci",
        "length_of_ssr",
        "category",
        "year",
        "ssr_position",
        "country",
    ]
    (group,) = found
    assert group["genomeID"] == ["g2", "g1"] and group["repeat"] == ["7", "6"]
    assert (group["repeat_count"], group["genomeID_count"]) == (2, 2)


def test_strong_groups_and_their_rotation_families_within_the_gene():
    rows = (
        [row(g, "ATC", r, "G1") for g, r in (("g1", 4), ("g2", 5), ("g3", 4))]  # strong: 3 genomes, 2 repeats
        + [row("g4", "CAT", 5, "G1")]  # rotation of ATC, same gene: in
        + [row("g4", "GAT", 5, "G1")]  # reverse complement family: out
        + [row("g5", "TCA", 5, "G2")]  # rotation, other gene: out
        + [row(g, "AG", r, "G3") for g, r in (("g1", 6), ("g2", 7), ("g3", 8))]  # strong, family of one
        + [row(g, "T", 12, "G4") for g in ("g1", "g2", "g3", "g4")]
    )  # one repeat count: out
    found = ssr_hotspots.hotspots(groups(rows), min_repeat_count=1, min_genome_count=2)
    assert sorted((g["motif"][0], g["gene"][0]) for g in found) == [
        ("AG", "G3"),
        ("ATC", "G1"),
        ("CAT", "G1"),
    ]


def test_thresholds_are_strict():
    rows = [row(g, "AT", r, "G1") for g, r in (("g1", 6), ("g2", 7))]
    assert ssr_hotspots.hotspots(groups(rows), 1, 2) == []  # 2 genomes is not more than 2
    assert len(ssr_hotspots.hotspots(groups(rows), 1, 1)) == 1
    assert ssr_hotspots.hotspots(groups(rows), 2, 1) == []  # 2 repeat counts is not more than 2


def test_reference_rows_keep_what_the_reference_lacks():
    rows = [
        row("ref", "AT", 6, "G1"),
        row("g1", "AT", 6, "G1"),
        row("g1", "AT", 7, "G1"),
        row("g2", "A", 12, "G2"),
    ]
    kept = ssr_hotspots.reference_rows(HEADER, rows, "ref")
    assert [(r[0], r[8]) for r in kept] == [("ref", "(AT)6"), ("g1", "(AT)7"), ("g2", "(A)12")]


def test_analysis_key_hashes_content_and_result_changing_params_only(tmp_path):
    a, b = tmp_path / "a.fa", tmp_path / "b.fa"
    a.write_text(">x\nACGT\n")
    b.write_text(">x\nACGT\n")
    key = ssr_layout.analysis_key_of_files(str(a), None, None, {}, None, False)
    assert key == ssr_layout.analysis_key_of_files(str(b), None, None, {"thread": 7, "mono": 12}, None, False)
    assert key != ssr_layout.analysis_key_of_files(str(a), None, None, {"mono": 11}, None, False)
    assert key != ssr_layout.analysis_key_of_files(str(a), None, None, {}, None, True)
    assert key != ssr_layout.analysis_key_of_files(str(a), None, None, {}, "x", False)
    b.write_text(">x\nACGA\n")
    assert key != ssr_layout.analysis_key_of_files(str(b), None, None, {}, None, False)


@pytest.mark.parametrize(
    "params, reason",
    [
        ({"mono": 1}, "perf_params.mono = 1 is out of range"),
        ({"speed": 3}, "unknown perf_params key(s): speed"),
        ({"di": "six"}, "perf_params.di must be an integer"),
        ({"minLen": 50, "maxLen": 10}, "minLen (50) is larger than maxLen (10)"),
    ],
)
def test_bad_params_say_why(params, reason):
    with pytest.raises(ssr_layout.ParamError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        ssr_layout.normalize_params(params)
