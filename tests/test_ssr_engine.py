"""The SSR analysis through real `snakemake` runs on four small hand-built genomes whose SSRs, gene overlaps,
hotspots and flanks are worked out by hand from SSR.md (positions are sums of the segment lengths below)."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from test_ssr_detect import LEFT, RIGHT, naive_periodic_windows

MID = "TGGACTTCAGCATGGCTCAG"
TAIL = "GTTCCAGGCTAACGATTGCA"
# segment starts: A x14 at 20, filler, (AG) x7 at 54, filler, the tri repeat at 88
P1, P2, P3 = 20, 54, 88
TRI = {"g1": "ATC" * 4, "g2": "ATC" * 4, "g3": "ATC" * 5, "g4": "CAT" * 5}


def genome(gid: str) -> str:
    return LEFT + "A" * 14 + RIGHT + "AG" * 7 + MID + TRI[gid] + TAIL


def genes(gid: str) -> list[tuple]:
    tri_end = P3 + len(TRI[gid])
    rows = [(gid, 10, P1, "geneZ")]  # ends where the A repeat starts: no overlap
    if gid != "g2":
        rows.append((gid, P1 + 4, P1 + 20, "geneA"))  # the SSR starts before the gene: intersect_start
    if gid == "g1":
        rows.append(
            (gid, P1 + 2, P1 + 6, "geneS")
        )  # the SSR spans the gene: starts before -> intersect_start
    rows += [
        (gid, P2 - 5, P2 + 19, "geneB"),  # inside: IN
        (gid, P2, P2 + 14, "geneE"),  # same bounds: IN
        (gid, P3 - 3, tri_end - 2, "geneC"),  # the SSR ends after the gene: intersect_stop
        (gid, 110, 118, "geneD"),
    ]  # no SSR
    return rows


def write_inputs(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    fasta = folder / "genomes.fa"
    fasta.write_text("".join(f">{gid} strain {gid}\n{genome(gid)}\n" for gid in TRI))
    bed = folder / "genes.bed"
    bed.write_text("".join("\t".join(map(str, row)) + "\n" for gid in TRI for row in genes(gid)))
    categories = folder / "categories.tsv"
    categories.write_text(
        "genomeID\tcategory\tcountry\tyear\tlineage\n"
        "g1\tI\tSudan\t2022\tB.1\n"
        "g2\tII\tPeru\t2021.0\tNA\n"
        "g3\tII\tNA\tNA\t001\n"
    )  # g4 is missing from the table
    return {"fasta": fasta, "gene_bed": bed, "categories": categories}


def run(workdir: Path, cache: Path, ssr: dict) -> subprocess.CompletedProcess:
    config = workdir / "ssr.yaml"
    config.write_text(yaml.safe_dump({"ssr": ssr}))
    return subprocess.run(
        [
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "--cores",
            "2",
            "--configfile",
            str(config),
            "--config",
            f"cache_dir={cache}",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
    )


def output_dir(cache: Path) -> Path:
    found = list(cache.glob("ssr/v1/*/output"))
    assert len(found) == 1, found
    return found[0]


def table(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="," if path.suffix == ".csv" else "\t"))


PARAMS = {"minLen": 100, "maxLen": 1000, "unfair": 0}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("ssr_full")
    inputs = write_inputs(base / "in")
    ssr = {
        "fasta": str(inputs["fasta"]),
        "categories": str(inputs["categories"]),
        "gene_bed": str(inputs["gene_bed"]),
        "flanks": True,
        "perf_params": PARAMS,
    }
    result = run(base, base / "cache", ssr)
    assert result.returncode == 0, result.stderr[-3000:]
    return base, ssr, output_dir(base / "cache")


def test_fillers_are_repeat_free():
    for filler in (LEFT, RIGHT, MID, TAIL):
        assert not naive_periodic_windows(filler)


def test_m2_calls_and_merge_with_extra_category_columns(full_run):
    _, _, out = full_run
    rows = table(out / "intrim" / "reformatted.tsv")
    got = {(r["genomeID"], r["start"], r["stop"], r["repeat"], r["motif"], r["loci"]) for r in rows}
    expected = set()
    for gid, tri in TRI.items():
        expected |= {
            (gid, "20", "34", "14", "A", "(A)14"),
            (gid, "54", "68", "7", "AG", "(AG)7"),
            (gid, "88", str(88 + len(tri)), str(len(tri) // 3), tri[:3], f"({tri[:3]}){len(tri) // 3}"),
        }
    assert got == expected
    merged = table(out / "main" / "mergedOut.tsv")
    assert list(merged[0]) == [
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
        "category",
        "country",
        "year",
        "lineage",
        "length_genome",
        "N_count",
        "genome_GC_per",
    ]
    by_genome = {r["genomeID"]: (r["category"], r["country"], r["year"], r["lineage"]) for r in merged}
    assert by_genome == {
        "g1": ("I", "Sudan", "2022", "B.1"),
        "g2": ("II", "Peru", "2021", "undefined"),
        "g3": ("II", "undefined", "undefined", "001"),
        "g4": ("undefined", "undefined", "undefined", "undefined"),
    }
    assert {r["length_genome"] for r in merged if r["genomeID"] == "g3"} == {str(len(genome("g3")))}


def test_every_ssr_position_case_and_the_non_overlap_tables(full_run):
    _, _, out = full_run
    combo = table(out / "main" / "ssr_genecombo.tsv")
    assert list(combo[0])[:3] == ["genomeID", "start1", "end1"]
    assert list(combo[0])[-5:] == ["genomeID2", "start2", "end2", "gene", "ssr_position"]
    got = sorted((r["genomeID"], r["gene"], r["ssr_position"]) for r in combo)
    expected = []
    for gid in TRI:
        if gid != "g2":
            expected.append((gid, "geneA", "intersect_start"))
        if gid == "g1":
            expected.append((gid, "geneS", "intersect_start"))
        expected += [(gid, "geneB", "IN"), (gid, "geneE", "IN"), (gid, "geneC", "intersect_stop")]
    assert got == sorted(expected)
    assert all(r["lineage"] for r in combo)  # category columns carried by name
    assert [(r["genomeID"], r["start"]) for r in table(out / "intrim" / "ssr_non_gene.tsv")] == [("g2", "20")]
    assert sorted((r["genomeID"], r["gene"]) for r in table(out / "intrim" / "genes_non_ssr.tsv")) == sorted(
        (gid, gene) for gid in TRI for gene in ("geneZ", "geneD")
    )


def test_hotspots_include_the_rotation_family(full_run):
    _, _, out = full_run
    hot = table(out / "main" / "mutational_hotspot.csv")
    assert [
        (r["motif"], r["gene"], r["loci"], r["length_of_ssr"], r["repeat_count"], r["genomeID_count"])
        for r in hot
    ] == [("ATC", "geneC", "(ATC)4: (ATC)5", "12: 15", "2", "3"), ("CAT", "geneC", "(CAT)5", "15", "1", "1")]
    hssr = table(out / "main" / "hssr_data.csv")
    assert sorted((r["genomeID"], r["motif"]) for r in hssr) == [
        ("g1", "ATC"),
        ("g2", "ATC"),
        ("g3", "ATC"),
        ("g4", "CAT"),
    ]
    assert "country" in hssr[0] and "lineage" in hssr[0]


def test_conserved_ssrs_and_their_flanks(full_run):
    _, _, out = full_run
    assert (out / "intrim" / "locicons.txt").read_text() == "A" * 14 + "\n" + "AG" * 7 + "\n"
    flanked = table(out / "main" / "flanks" / "flanked.tsv")
    assert sorted((r["seqID"], r["patternName"], r["start"], r["end"]) for r in flanked) == sorted(
        [(gid, "1", "11", "44") for gid in TRI] + [(gid, "2", "45", "78") for gid in TRI]
    )
    assert all(r["matched"] == genome(r["seqID"])[int(r["start"]) - 1:int(r["end"])] for r in flanked)
    summary = table(out / "main" / "flanks" / "pattern_summary.csv")
    assert [(r["PatternName"], r["TotalSeqIDs"], r["PatternSize"], r["Pattern"]) for r in summary] == [
        ("1", "4", "34", genome("g1")[10:44]),
        ("2", "4", "34", genome("g1")[44:78]),
    ]


def test_identical_analysis_elsewhere_reuses_the_result(full_run, tmp_path):
    base, ssr, out = full_run
    copies = write_inputs(tmp_path / "elsewhere")  # same bytes, other paths, another thread count
    again = dict(
        ssr,
        fasta=str(copies["fasta"]),
        categories=str(copies["categories"]),
        gene_bed=str(copies["gene_bed"]),
        perf_params=dict(PARAMS, thread=1),
    )
    result = run(tmp_path, base / "cache", again)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Nothing to be done" in result.stdout + result.stderr


def test_reference_mode_without_categories(tmp_path):
    inputs = write_inputs(tmp_path / "in")
    ssr = {
        "fasta": str(inputs["fasta"]),
        "gene_bed": str(inputs["gene_bed"]),
        "reference_id": "g4",
        "perf_params": PARAMS,
    }
    result = run(tmp_path, tmp_path / "cache", ssr)
    assert result.returncode == 0, result.stderr[-3000:]
    out = output_dir(tmp_path / "cache")
    assert not (out / "main" / "mergedOut.tsv").exists()
    ref = table(out / "main" / "ref_ssr_genecombo.csv")
    # g4's own 4 rows, plus the others' (gene, loci) pairs g4 lacks:
    # g1 (A)14 in geneS and every (ATC)n in geneC
    assert sorted((r["genomeID"], r["gene"], r["loci"]) for r in ref) == sorted(
        [
            ("g4", "geneA", "(A)14"),
            ("g4", "geneB", "(AG)7"),
            ("g4", "geneE", "(AG)7"),
            ("g4", "geneC", "(CAT)5"),
            ("g1", "geneS", "(A)14"),
            ("g1", "geneC", "(ATC)4"),
            ("g2", "geneC", "(ATC)4"),
            ("g3", "geneC", "(ATC)5"),
        ]
    )


def test_bad_inputs_fail_with_the_reason(tmp_path):
    inputs = write_inputs(tmp_path / "in")
    short_bed = tmp_path / "in" / "short.bed"
    short_bed.write_text("g1\t1\t10\n")
    result = run(
        tmp_path,
        tmp_path / "cache",
        {"fasta": str(inputs["fasta"]), "gene_bed": str(short_bed), "perf_params": PARAMS},
    )
    assert result.returncode != 0
    log = next((tmp_path / "cache").glob("ssr/v1/*/logs/bedtools_ssr_gene_intersect.log")).read_text()
    assert "gene BED line 1: 3 column(s)" in log
    result = run(
        tmp_path,
        tmp_path / "cache2",
        {"fasta": str(inputs["fasta"]), "reference_id": "nope", "perf_params": PARAMS},
    )
    assert result.returncode != 0
    log = next((tmp_path / "cache2").glob("ssr/v1/*/logs/ssr_detect.log")).read_text()
    assert "reference genome 'nope' is not among its records" in log
    result = run(tmp_path, tmp_path / "cache3", {"fasta": str(inputs["fasta"]), "perf_params": {"mono": 1}})
    assert result.returncode != 0 and "mono" in result.stderr
