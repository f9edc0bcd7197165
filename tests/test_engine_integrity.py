"""Nothing unreadable or incomplete is published: truncated sources fail with the reason (tools that warn and
exit 0 are not trusted), every artifact opens in its format's standard reader, BAMs without mapped reads and
zero-length BED features index, and a conversion that drops records says so (conversion.json)."""
from __future__ import annotations

import gzip
import json
import re
import struct
import subprocess
from pathlib import Path

import pysam
import pytest

from conftest import TRACKS, Engine, Source


def sh(command: str, cwd: Path) -> None:
    """Run a shell pipeline with the real tools; it fails the test if its last command fails (no pipefail:
    `head` closing a pipe early is how these inputs are cut)."""
    subprocess.run(["bash", "-c", f"set -eu; {command}"], cwd=cwd, check=True)


def failing_rule(result: subprocess.CompletedProcess) -> str:
    """The rule snakemake names in its first `Error in rule` line."""
    match = re.search(r"Error in rule (\w+):", result.stdout + result.stderr)
    assert match, (result.stdout + result.stderr)[-3000:]
    return match.group(1)


def rule_log(cache: Path, source: Source, rule: str) -> str:
    """The log of one rule for one source (found by its md5, whatever the cache layout)."""
    logs = [p for p in cache.rglob(f"{rule}*.log") if source.md5 in p.parts]
    assert logs, f"no {rule} log for {source.id}"
    return "\n".join(p.read_text(errors="replace") for p in logs)


def assert_fails(engine: Engine, source: Source, rule: str, reason: str) -> str:
    """Build one source: it must fail in `rule` with `reason` in the rule's log and publish nothing."""
    result = engine.run([source])
    assert result.returncode != 0, f"{source.id} built"
    assert failing_rule(result) == rule
    log = rule_log(engine.cache, source, rule)
    assert reason in log, log[-3000:]
    assert not any(p.exists() for p in source.artifacts(engine.cache).values())
    return log


def assert_builds(engine: Engine, sources: list[Source]) -> None:
    """Build the sources together: the run succeeds and every artifact file of each is in place."""
    result = engine.run(sources)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    for source in sources:
        assert all(p.exists() for p in source.artifacts(engine.cache).values()), source.id


def read_count(path: Path) -> int:
    """Reads in a SAM/BAM file, counted by samtools scanning it."""
    return int(subprocess.run(["samtools", "view", "-c", str(path)], capture_output=True, text=True,
                              check=True).stdout)


# --- 1. truncated sources -----------------------------------------------------------------------------------

def test_truncated_bam_fails_at_sort_and_publishes_nothing(engine):
    sh(f"head -c 1500000 {TRACKS / 'pybedtools_x.bam'} > truncated.bam", engine.workdir)
    source = Source.local(engine.workdir / "truncated.bam")
    log = assert_fails(engine, source, "samtools_sort", "samtools_sort: the source is truncated or corrupt")
    assert "EOF block" in log, "the tool's own message names what is wrong"


def test_valid_bam_still_builds_with_every_read(engine):
    source = Source.local(TRACKS / "pybedtools_x.bam")
    assert_builds(engine, [source])
    data = source.artifacts(engine.cache)["data"]
    assert subprocess.run(["samtools", "quickcheck", str(data)]).returncode == 0
    assert read_count(data) == read_count(TRACKS / "pybedtools_x.bam") == 45593


def bgzf_block_offsets(path: Path) -> list[int]:
    """Start offsets of the BGZF blocks of a file, from each block's BSIZE field."""
    data, offsets, pos = path.read_bytes(), [], 0
    while pos < len(data):
        offsets.append(pos)
        pos += struct.unpack("<H", data[pos + 16:pos + 18])[0] + 1
    return offsets


def test_bgzf_vcf_cut_at_a_block_boundary_fails(engine):
    # bcftools -Oz ends its BGZF blocks on record boundaries: cut at a later block's start, gzip -cdf reads
    # whole records only, then stops and exits 0, and every record after the cut would be silently lost
    sh(f"(grep '^#' {TRACKS / 'htslib_index.vcf'}; for i in 1 2 3 4 5 6; do grep -v '^#' "
       f"{TRACKS / 'htslib_index.vcf'}; done | sort -k1,1 -k2,2n) | bcftools view -Oz -o whole.vcf.gz",
       engine.workdir)
    whole = engine.workdir / "whole.vcf.gz"
    offsets = bgzf_block_offsets(whole)
    assert len(offsets) >= 4, "the VCF spans several BGZF blocks"
    sh(f"head -c {offsets[2]} whole.vcf.gz > cut.vcf.gz", engine.workdir)
    cut = subprocess.run(["bash", "-c", "gzip -cdf cut.vcf.gz | tail -c 1 | od -c; exit ${PIPESTATUS[0]}"],
                         cwd=engine.workdir, capture_output=True, text=True)
    assert cut.returncode == 0 and "\\n" in cut.stdout, "gzip reads the cut file cleanly, ending on a record"
    source = Source.local(engine.workdir / "cut.vcf.gz")
    assert_fails(engine, source, "sort_bgzip", "sort_bgzip: the source is truncated")


def test_truncated_bigbed_fails_at_conversion(engine):
    size = (TRACKS / "pybigwig_test.bigBed").stat().st_size
    sh(f"head -c {size - 100} {TRACKS / 'pybigwig_test.bigBed'} > truncated.bb", engine.workdir)
    source = Source.local(engine.workdir / "truncated.bb")
    assert_fails(engine, source, "pybigwig_bigbed_to_bed",
                 "bigbed_to_bed: the source is truncated or corrupt")
    assert not list(engine.cache.rglob("converted.bed*"))


# --- 2. unreadable VCFs -------------------------------------------------------------------------------------

def test_empty_vcf_fails_with_the_reason(engine):
    (engine.workdir / "empty.vcf").write_bytes(b"")
    source = Source.local(engine.workdir / "empty.vcf")
    assert_fails(engine, source, "sort_bgzip", "vcf: no #CHROM header line in 0 line(s)")


def test_vcf_header_without_its_column_line_fails_with_the_reason(engine):
    sh(f"grep '^##' {TRACKS / 'htslib_index.vcf'} > meta_only.vcf", engine.workdir)
    source = Source.local(engine.workdir / "meta_only.vcf")
    assert_fails(engine, source, "sort_bgzip", "vcf: no #CHROM header line")


def test_every_shared_track_artifact_opens_in_its_reader(built_tracks):
    engine, sources = built_tracks
    for source in sources:
        paths = source.artifacts(engine.cache)
        if "index" not in paths:
            continue
        data = str(paths["data"])
        if data.endswith(".bam"):
            assert subprocess.run(["samtools", "quickcheck", data]).returncode == 0
            with pysam.AlignmentFile(data) as bam:
                assert bam.check_index()
        elif data.endswith(".vcf.gz"):
            header = subprocess.run(["bcftools", "view", "-h", data], capture_output=True, text=True)
            assert header.returncode == 0 and "\n#CHROM\t" in header.stdout, source.id
            with pysam.VariantFile(data) as vcf:
                assert vcf.index is not None
        else:
            assert subprocess.run(["tabix", "-l", data], capture_output=True, text=True).stdout.strip()
            with pysam.TabixFile(data) as tbx:
                assert tbx.contigs, source.id


# --- 3. BAMs without mapped reads ---------------------------------------------------------------------------

def test_bams_without_mapped_reads_build_and_keep_every_read(engine):
    x = TRACKS / "pybedtools_x.bam"
    # an unaligned BAM (no @SQ lines at all), and one whose reads are all flagged unmapped under its @SQ lines
    sh(f"samtools fastq {x} 2>/dev/null | head -4000 | samtools import -0 - -o unaligned.bam", engine.workdir)
    sh(f"samtools view -h {x} | head -3000 | awk 'BEGIN {{ FS = OFS = \"\\t\" }} /^@/ {{ print; next }} "
       "{ if (int($2 / 4) % 2 == 0) $2 += 4; $5 = 0; $6 = \"*\"; print }' "
       "| samtools view -b -o unmapped.bam -", engine.workdir)
    sources = [Source.local(engine.workdir / name) for name in ("unaligned.bam", "unmapped.bam")]
    assert_builds(engine, sources)
    for source in sources:
        paths = source.artifacts(engine.cache)
        expected = read_count(Path(source.access_url))
        assert expected > 900
        assert read_count(paths["data"]) == expected
        with pysam.AlignmentFile(str(paths["data"]), check_sq=False) as bam:
            reads = list(bam.fetch(until_eof=True))
            assert len(reads) == expected and all(read.is_unmapped for read in reads)
        stats = subprocess.run(["samtools", "idxstats", str(paths["data"])], capture_output=True, text=True,
                               check=True).stdout.splitlines()
        assert sum(int(line.split("\t")[3]) for line in stats) == expected, "the index counts every read"


# --- 4. zero-length BED features ----------------------------------------------------------------------------

def test_bed_whose_first_record_is_zero_length_builds_and_answers_for_it(engine):
    (engine.workdir / "insertions.bed").write_text(
        "chr1\t100\t100\tins1\nchr1\t150\t300\tspan\nchr2\t40\t40\tins2\nchr2\t50\t60\tafter\n")
    (engine.workdir / "at_start.bed").write_text("chr1\t0\t0\tins0\nchr1\t5\t9\tnext\n")
    sources = [Source.local(engine.workdir / name) for name in ("insertions.bed", "at_start.bed")]
    assert_builds(engine, sources)
    data = sources[0].artifacts(engine.cache)["data"]
    hits = subprocess.run(["tabix", str(data), "chr1:100-101"], capture_output=True, text=True, check=True)
    assert "chr1\t100\t100\tins1" in hits.stdout.splitlines()
    with pysam.TabixFile(str(data)) as tbx:
        assert [line.split("\t")[3] for line in tbx.fetch("chr2", 39, 41)] == ["ins2"]
    # at a contig's start no query can return a zero-length feature; the file still builds with it kept
    at_start = sources[1].artifacts(engine.cache)["data"]
    with gzip.open(at_start, "rt") as handle:
        assert handle.read().splitlines() == ["chr1\t0\t0\tins0", "chr1\t5\t9\tnext"]


# --- 5. conversions that drop records -----------------------------------------------------------------------

GTF_LINES = [
    'chr1\tsrc\tgene\t100\t900\t.\t+\t.\tgene_id "g1";',
    'chr1\tsrc\ttranscript\t100\t900\t.\t+\t.\tgene_id "g1"; transcript_id "t1";',
    'chr1\tsrc\texon\t100\t200\t.\t+\t.\tgene_id "g1"; transcript_id "t1";',
    'chr1\tsrc\texon\t700\t900\t.\t+\t.\tgene_id "g1"; transcript_id "t1";',
    'chr1\tsrc\texon\t1000\t1100\t.\t+\t.\tgene_id "g2";',
    'chr2\tsrc\tCDS\t10\t40\t.\t-\t0\tgene_id "g3";',
]


def conversion_report(engine: Engine, source: Source) -> dict:
    """The conversion.json beside a source's artifact (the only JSON file there)."""
    folder = source.artifacts(engine.cache)["data"].parent
    return json.loads((folder / "conversion.json").read_text())


def test_gtf_conversion_that_drops_some_records_completes_and_reports_them(engine):
    (engine.workdir / "partial.gtf").write_text("\n".join(GTF_LINES) + "\n")
    source = Source.local(engine.workdir / "partial.gtf")
    assert_builds(engine, [source])
    data = source.artifacts(engine.cache)["data"]
    with pysam.TabixFile(str(data)) as tbx:
        out = [line.split("\t") for contig in tbx.contigs for line in tbx.fetch(contig)]
        assert "trackprep" not in "\n".join(tbx.header), "the report never reaches the artifact"
    assert sorted((r[2], r[3]) for r in out) == [("exon", "100"), ("exon", "700"), ("gene", "100"),
                                                 ("transcript", "100")]
    assert conversion_report(engine, source) == {
        "records_in": 6, "records_out": 4, "dropped": 2,
        "warnings": ["2 GTF records without transcript_id were dropped by gffread"]}


def test_gtf_conversion_that_drops_every_record_fails(engine):
    (engine.workdir / "no_transcripts.gtf").write_text("\n".join(GTF_LINES[4:]) + "\n")
    source = Source.local(engine.workdir / "no_transcripts.gtf")
    assert_fails(engine, source, "gffread_gtf_to_gff3",
                 "gffread_gtf_to_gff3: the conversion dropped every record: 2 GTF records in, none out")
    assert not list(engine.cache.rglob("conversion.json")) and not list(engine.cache.rglob("converted.gff3"))


@pytest.mark.parametrize("name", ["pyranges_ensembl.gtf", "pyranges_gencode_human.gtf.gz"])
def test_shared_gtf_conversions_report_nothing_dropped(built_tracks, name):
    engine, sources = built_tracks
    source = next(s for s in sources if s.id == name)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(TRACKS / name, "rt") as handle:
        records_in = sum(1 for line in handle if line.strip() and not line.startswith("#"))
    with pysam.TabixFile(str(source.artifacts(engine.cache)["data"])) as tbx:
        records_out = sum(1 for contig in tbx.contigs for _ in tbx.fetch(contig))
    assert conversion_report(engine, source) == {
        "records_in": records_in, "records_out": records_out, "dropped": 0, "warnings": []}
