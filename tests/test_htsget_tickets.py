"""htsget tickets from real indexes: the concatenated pieces, read by samtools/bcftools, hold exactly the
records the real tools find in the region of the whole file."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from webapp import htsget

BAM = "/work/shared/data/tracks/pybedtools_x.bam"
VCF = "/work/shared/data/tracks/htslib_index.vcf"


def _assemble(path: str, pieces: list, out: str) -> None:
    with open(path, "rb") as src, open(out, "wb") as dst:
        for kind, value in pieces:
            if kind == "data":
                dst.write(value)
            else:
                src.seek(value[0])
                dst.write(src.read(value[1] - value[0] + 1))


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def bam(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("bam") / "x.bam")
    shutil.copy(BAM, path)
    _run("samtools", "index", path)
    return path


@pytest.mark.parametrize("ref,beg,end", [("chr2L", 0, 23011544), ("chr2L", 10000, 200000),
                                         ("chr3L", 5000000, 5100000), ("chr2R", 1, 2)])
def test_bam_region_equals_samtools(bam, tmp_path, ref, beg, end):
    names = _run("samtools", "view", "--no-PG", "-H", bam)
    refs = [line.split("SN:")[1].split("\t")[0] for line in names.splitlines() if line.startswith("@SQ")]
    pieces = htsget.ticket_pieces(bam, htsget.read_index(bam + ".bai"), refs.index(ref), beg, end)
    out = str(tmp_path / "slice.bam")
    _assemble(bam, pieces, out)
    _run("samtools", "quickcheck", out)
    _run("samtools", "index", out)
    region = f"{ref}:{beg + 1}-{end}"
    assert _run("samtools", "view", out, region) == _run("samtools", "view", bam, region)
    assert _run("samtools", "view", "--no-PG", "-H", out) == names


@pytest.mark.parametrize("csi", [False, True])
def test_vcf_region_equals_bcftools(tmp_path, csi):
    gz = str(tmp_path / "v.vcf.gz")
    _run("bcftools", "view", "-Oz", "-o", gz, VCF)
    _run("bcftools", "index", "--csi" if csi else "--tbi", gz)
    index = htsget.read_index(gz + (".csi" if csi else ".tbi"))
    contigs = index.names or [line.split("ID=")[1].split(",")[0].rstrip(">") for line in
                              _run("bcftools", "view", "-h", gz).splitlines() if line.startswith("##contig")]
    for ref in sorted(set(_run("bcftools", "query", "-f", "%CHROM\n", gz).split())):
        for beg, end in ((0, 1 << 29), (9999950, 10000100), (100000, 100001)):
            out = str(tmp_path / "slice.vcf.gz")
            _assemble(gz, htsget.ticket_pieces(gz, index, contigs.index(ref), beg, end), out)
            _run("bcftools", "index", "-f", "--tbi", out)
            region = f"{ref}:{beg + 1}-{end}"
            assert _run("bcftools", "view", "-H", out, "-r", region) == \
                _run("bcftools", "view", "-H", gz, "-r", region)


def test_header_only(bam, tmp_path):
    out = str(tmp_path / "h.bam")
    index = htsget.read_index(bam + ".bai")
    _assemble(bam, htsget.ticket_pieces(bam, index, 0, 0, 10, header_only=True), out)
    assert _run("samtools", "view", "-c", out).strip() == "0"
    assert _run("samtools", "view", "--no-PG", "-H", out) == _run("samtools", "view", "--no-PG", "-H", bam)


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(beg=st.integers(0, 23_011_544), span=st.integers(1, 3_000_000))
def test_random_bam_regions_equal_samtools(bam, tmp_path, beg, span):
    end = beg + span
    out = str(tmp_path / "r.bam")
    _assemble(bam, htsget.ticket_pieces(bam, htsget.read_index(bam + ".bai"), 0, beg, end), out)
    _run("samtools", "index", out)
    region = f"chr2L:{beg + 1}-{end}"
    assert _run("samtools", "view", out, region) == _run("samtools", "view", bam, region)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contig=st.sampled_from(["1", "2", "10"]), beg=st.integers(9_999_000, 10_001_000),
       span=st.integers(1, 2_000))
def test_random_vcf_regions_equal_bcftools(tmp_path, contig, beg, span):
    gz = str(tmp_path / "p.vcf.gz")
    if not (tmp_path / "p.vcf.gz.tbi").exists():
        _run("bcftools", "view", "-Oz", "-o", gz, VCF)
        _run("bcftools", "index", "--tbi", gz)
    index = htsget.read_index(gz + ".tbi")
    out = str(tmp_path / "s.vcf.gz")
    _assemble(gz, htsget.ticket_pieces(gz, index, index.names.index(contig), beg, beg + span), out)
    _run("bcftools", "index", "-f", "--tbi", out)
    region = f"{contig}:{beg + 1}-{beg + span}"
    assert _run("bcftools", "view", "-H", out, "-r", region) == \
        _run("bcftools", "view", "-H", gz, "-r", region)
