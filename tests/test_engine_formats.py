"""Every file in shared/data/tracks built through the workflow: the artifact is valid, indexed, and a region
query through the index returns exactly the records the source holds for that region."""
from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pysam
import pyBigWig
import pytest

from conftest import TRACKS, Source

pytestmark = pytest.mark.usefixtures("built_tracks")


def artifact(built_tracks, name: str) -> tuple[Source, dict[str, Path]]:
    engine, sources = built_tracks
    source = next(s for s in sources if s.id == name)
    return source, source.artifacts(engine.cache)


def text_lines(path: Path) -> list[str]:
    """Lines of a plain or gzip-compressed text file."""
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="latin-1") as handle:
        return handle.read().splitlines()


def records(lines: list[str]) -> list[list[str]]:
    """Data lines split into fields (header, comment, track and browser lines dropped)."""
    return [line.split("\t") for line in lines
            if line.strip() and not line.startswith(("#", "track", "browser"))]


def middle_region(rows: list[list[str]], start_col: int) -> tuple[str, int, int]:
    """A region around the middle record of the file (1-based, inclusive), wide enough to hold several
    records."""
    chrom, pos = rows[len(rows) // 2][0], int(rows[len(rows) // 2][start_col])
    return chrom, max(1, pos - 50_000), pos + 50_000


def overlapping(rows, chrom, start, end, start_col, end_col, zero_based):
    """Records that overlap [start, end] (1-based inclusive), computed from the source alone."""
    hits = []
    for row in rows:
        first = int(row[start_col]) + (1 if zero_based else 0)
        last = max(int(row[end_col]), first) if end_col is not None else first
        if row[0] == chrom and first <= end and last >= start:
            hits.append(row)
    return sorted(hits)


def tabix_query(path: Path, chrom: str, start: int, end: int) -> list[list[str]]:
    with pysam.TabixFile(str(path), encoding="latin-1") as tbx:
        return sorted(line.split("\t") for line in tbx.fetch(chrom, start - 1, end))


# --- BAM ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["pybedtools_x.bam", "pybedtools_x.namesorted.bam", "htslib_ce1000.sam"])
def test_bam_is_coordinate_sorted_indexed_and_answers_region_queries(built_tracks, name):
    _, paths = artifact(built_tracks, name)
    assert subprocess.run(["samtools", "quickcheck", str(paths["data"])]).returncode == 0
    assert paths["index"].stat().st_size > 0
    with pysam.AlignmentFile(str(paths["data"])) as bam:
        assert bam.header.to_dict()["HD"]["SO"] == "coordinate"
        pg_lines = bam.header.to_dict().get("PG", [])
        mapped = [r for r in bam.fetch(until_eof=True) if not r.is_unmapped]
        keys = [(read.reference_id, read.reference_start) for read in mapped]
        assert keys == sorted(keys)
        ref, pos = mapped[len(mapped) // 2].reference_name, mapped[len(mapped) // 2].reference_start
        start, end = max(0, pos - 20_000), pos + 20_000
        via_index = sorted(r.to_string() for r in bam.fetch(ref, start, end))
    # The same region computed from the untouched source by scanning every read.
    with pysam.AlignmentFile(str(TRACKS / name), "r" if name.endswith(".sam") else "rb") as src:
        assert pg_lines == src.header.to_dict().get("PG", []), \
            "no @PG line of ours: it would carry temp paths and break byte-identical rebuilds"
        reads = list(src.fetch(until_eof=True))
    expected = sorted(r.to_string() for r in reads
                      if not r.is_unmapped and r.reference_name == ref
                      and r.reference_start < end and r.reference_end is not None and r.reference_end > start)
    total = len(reads)
    assert via_index == expected and len(expected) > 10
    assert int(pysam.view("-c", str(paths["data"])).strip()) == total  # no read lost or added


# --- VCF ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["htslib_index.vcf"])
def test_vcf_keeps_header_and_answers_region_queries(built_tracks, name):
    _, paths = artifact(built_tracks, name)
    source_lines = text_lines(TRACKS / name)
    out_lines = text_lines(paths["data"])
    assert out_lines[0].startswith("##fileformat=VCF"), \
        "single BGZF layer, header first (no double compression)"
    header = [line for line in source_lines if line.startswith("#")]
    assert out_lines[: len(header)] == header
    rows = records(source_lines)
    assert len(records(out_lines)) == len(rows)
    chrom, start, end = middle_region(rows, 1)
    expected = [r for r in rows if r[0] == chrom and start <= int(r[1]) <= end]
    assert tabix_query(paths["data"], chrom, start, end) == sorted(expected) and expected
    with pysam.VariantFile(str(paths["data"])) as vcf:
        assert len(list(vcf.fetch(chrom, start - 1, end))) == len(expected)


# --- GFF / GTF ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["htslib_gff_file.gff", "pybedtools_hg19.gff"])
def test_gff_is_sorted_and_answers_region_queries(built_tracks, name):
    _, paths = artifact(built_tracks, name)
    rows = records(text_lines(TRACKS / name))
    out = records(text_lines(paths["data"]))
    assert sorted(out) == sorted(rows)
    assert [(r[0], int(r[3])) for r in out] == sorted((r[0], int(r[3])) for r in out)
    chrom, start, end = middle_region(rows, 3)
    expected = overlapping(rows, chrom, start, end, 3, 4, zero_based=False)
    assert tabix_query(paths["data"], chrom, start, end) == expected and expected


@pytest.mark.parametrize("name", ["pyranges_ensembl.gtf", "pyranges_gencode_human.gtf.gz"])
def test_gtf_becomes_gff3_with_the_gene_hierarchy(built_tracks, name):
    _, paths = artifact(built_tracks, name)
    assert paths["data"].name == "data.gff3.gz"
    gtf = records(text_lines(TRACKS / name))
    gene_ids = {field.split('"')[1] for r in gtf for field in r[8].split(";")
                if field.strip().startswith("gene_id")}
    transcript_ids = {field.split('"')[1] for r in gtf for field in r[8].split(";")
                      if field.strip().startswith("transcript_id")}
    lines = text_lines(paths["data"])
    assert lines[0] == "##gff-version 3"
    gff3 = records(lines)
    assert all(len(r) == 9 for r in gff3)
    attrs = [dict(kv.split("=", 1) for kv in r[8].split(";") if "=" in kv) for r in gff3]
    genes = {a["ID"] for r, a in zip(gff3, attrs) if r[2] == "gene"}
    assert genes == gene_ids
    transcripts = {a["ID"]: a.get("Parent") for r, a in zip(gff3, attrs) if r[2] in ("transcript", "mRNA")}
    assert set(transcripts) == transcript_ids
    assert set(transcripts.values()) <= genes, "every transcript hangs from a gene"
    exon_parents = {a["Parent"] for r, a in zip(gff3, attrs) if r[2] == "exon"}
    assert exon_parents <= set(transcripts)
    # The region query returns what the GFF3 holds there.
    chrom, start, end = middle_region(gff3, 3)
    assert tabix_query(paths["data"], chrom, start, end) == overlapping(gff3, chrom, start, end, 3, 4, False)


# --- BED family ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["htslib_bed_file.bed", "pybedtools_CTCF_Kc_Bushey_2009.bed",
                                  "pybedtools_example.narrowPeak"])
def test_bed_family_keeps_every_record_and_answers_region_queries(built_tracks, name):
    _, paths = artifact(built_tracks, name)
    source_lines = text_lines(TRACKS / name)
    rows = records(source_lines)
    out_lines = text_lines(paths["data"])
    assert sorted(records(out_lines)) == sorted(rows)
    # track/browser lines survive as comments, where tabix cannot mistake them for records
    for line in source_lines:
        if line.startswith(("track", "browser")):
            assert "#" + line in out_lines
    chrom, start, end = middle_region(rows, 1)
    expected = overlapping(rows, chrom, start, end, 1, 2, zero_based=True)
    assert tabix_query(paths["data"], chrom, start, end) == expected and expected
    # a query on every contig works (the narrowPeak's track line would break this if it were a record)
    with pysam.TabixFile(str(paths["data"])) as tbx:
        assert sum(len(list(tbx.fetch(c))) for c in tbx.contigs) == len(rows)


def test_bigbed_becomes_indexed_bed_with_every_entry(built_tracks):
    _, paths = artifact(built_tracks, "pybigwig_test.bigBed")
    bb = pyBigWig.open(str(TRACKS / "pybigwig_test.bigBed"))
    expected = sorted([chrom, str(s), str(e), *rest.split("\t")]
                      for chrom, length in bb.chroms().items() for s, e, rest in bb.entries(chrom, 0, length))
    bb.close()
    assert len(expected) == 19
    out = records(text_lines(paths["data"]))
    assert sorted(out) == expected
    chrom, start, end = expected[5][0], int(expected[5][1]) + 1, int(expected[5][2])
    assert (tabix_query(paths["data"], chrom, start, end)
            == overlapping(expected, chrom, start, end, 1, 2, True))


# --- passthrough --------------------------------------------------------------------------------------------

def test_bigwig_passes_through_byte_for_byte(built_tracks):
    source, paths = artifact(built_tracks, "pybigwig_test.bw")
    assert set(paths) == {"data"}
    assert paths["data"].read_bytes() == (TRACKS / "pybigwig_test.bw").read_bytes()


def test_passthrough_csv_and_tsv(engine, tmp_path):
    csv_file = engine.workdir / "table.csv"
    csv_file.write_text("a,b\n1,2\n")
    tsv_file = engine.workdir / "table.tsv"
    tsv_file.write_text("a\tb\n1\t2\n")
    sources = [Source.local(csv_file), Source.local(tsv_file)]
    result = engine.run(sources)
    assert result.returncode == 0, result.stderr[-3000:]
    for source, original in zip(sources, (csv_file, tsv_file)):
        assert source.artifacts(engine.cache)["data"].read_bytes() == original.read_bytes()
