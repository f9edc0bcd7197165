"""Real clients over HTTP: samtools, tabix, bcftools (Debian, built with libcurl) and pysam read regions from
the extension-bearing URLs, finding the index by themselves, and get the records a local file gives.

Each client runs in a fresh temp dir: htslib caches downloaded indexes in the working directory.
"""
from __future__ import annotations

import shutil
import subprocess

import pysam
import pytest
from conftest import TRACKS, Service

BAM_REGION = "chr2L:10000-20000"
VCF_REGION = ("2", 5000000, 5000100)  # 1-based inclusive
BED_REGION = ("Y", 100450, 100650)


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A server with the BAM, VCF and BED artifacts built."""
    svc = Service(tmp_path_factory.mktemp("clients")).start()
    for source_id, name in (("reads", "pybedtools_x.bam"), ("calls", "htslib_index.vcf"),
                            ("peaks", "htslib_bed_file.bed")):
        svc.register(source_id, TRACKS / name)
        assert svc.fetch(f"/data/{source_id}").status_code == 200
    yield svc
    svc.stop()


def run(cmd: list[str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


def vcf_records(chrom: str, start: int, end: int) -> list[str]:
    """The source VCF's records in a 1-based inclusive region, read as plain text."""
    lines = (TRACKS / "htslib_index.vcf").read_text().splitlines()
    return [line for line in lines if not line.startswith("#") and line.split("\t")[0] == chrom
            and start <= int(line.split("\t")[1]) <= end]


def bed_records(chrom: str, start: int, end: int) -> list[str]:
    """The source BED's records overlapping a 1-based inclusive region."""
    lines = (TRACKS / "htslib_bed_file.bed").read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#") and line.split("\t")[0] == chrom
            and int(line.split("\t")[1]) < end and int(line.split("\t")[2]) >= start]


def local_bam(tmp_path) -> str:
    """The source BAM sorted and indexed locally, as a bioinformatician would."""
    out = str(tmp_path / "local.bam")
    pysam.sort("-o", out, str(TRACKS / "pybedtools_x.bam"))
    pysam.index(out)
    return out


def test_samtools_reads_a_region_from_the_alias(warm, tmp_path):
    url = warm.url("/data/reads/data.bam")
    remote = run(["samtools", "view", url, BAM_REGION], tmp_path)
    assert remote.returncode == 0, remote.stderr
    local = run(["samtools", "view", local_bam(tmp_path), BAM_REGION], tmp_path)
    assert remote.stdout.splitlines() == local.stdout.splitlines() and remote.stdout


def test_tabix_reads_vcf_and_bed_regions_from_the_alias(warm, tmp_path):
    chrom, start, end = VCF_REGION
    vcf = run(["tabix", warm.url("/data/calls/data.vcf.gz"), f"{chrom}:{start}-{end}"], tmp_path / ".")
    assert vcf.returncode == 0, vcf.stderr
    assert vcf.stdout.splitlines() == vcf_records(chrom, start, end) and vcf.stdout
    (tmp_path / "bed").mkdir()
    chrom, start, end = BED_REGION
    bed = run(["tabix", warm.url("/data/peaks/data.bed.gz"), f"{chrom}:{start}-{end}"], tmp_path / "bed")
    assert bed.returncode == 0, bed.stderr
    assert bed.stdout.splitlines() == bed_records(chrom, start, end) and bed.stdout


def test_bcftools_reads_a_region_from_the_alias(warm, tmp_path):
    chrom, start, end = VCF_REGION
    url = warm.url("/data/calls/data.vcf.gz")
    result = run(["bcftools", "view", "-H", "-r", f"{chrom}:{start}-{end}", url], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == vcf_records(chrom, start, end)


def test_pysam_reads_regions_from_the_aliases(warm, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    chrom, start, end = VCF_REGION
    with pysam.VariantFile(warm.url("/data/calls/data.vcf.gz")) as vcf:
        got = [str(rec).rstrip("\n") for rec in vcf.fetch(chrom, start - 1, end)]
    assert got == vcf_records(chrom, start, end)
    with pysam.AlignmentFile(warm.url("/data/reads/data.bam")) as remote, \
            pysam.AlignmentFile(local_bam(tmp_path)) as local:
        assert [r.to_string() for r in remote.fetch(region=BAM_REGION)] == \
            [r.to_string() for r in local.fetch(region=BAM_REGION)]


def test_with_a_cold_cache_clients_get_a_clean_error_not_garbage(service, tmp_path):
    service.register("cold", TRACKS / "pybedtools_x.bam")
    service.register("coldvcf", TRACKS / "htslib_index.vcf")
    for cmd in (["samtools", "view", service.url("/data/cold/data.bam"), BAM_REGION],
                ["tabix", service.url("/data/coldvcf/data.vcf.gz"), "2:1-100"],
                ["bcftools", "view", "-H", "-r", "2:1-100", service.url("/data/coldvcf/data.vcf.gz")]):
        workdir = tmp_path / cmd[0]
        workdir.mkdir()
        result = run(cmd, workdir)
        assert result.returncode != 0, cmd
        assert result.stdout == "", cmd
    assert shutil.which("samtools")
