"""An artifact belongs to exactly the source it was asked for: keyed by the registered format, reached by
alias names no other artifact shares, never pairing one source's data with another's index.

Inputs are the shared tracks and copies made here; outcomes are checked with samtools, tabix, bcftools and
pysam.
"""
from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pysam
import pytest

from conftest import PIPELINE_VERSION, TRACKS, Source, md5sum


def records(path: Path) -> list[str]:
    """The non-header lines of a bgzipped text artifact."""
    with gzip.open(path, "rt") as handle:
        return [line for line in handle if not line.startswith("#")]


def test_same_bytes_as_gff_and_gtf_get_two_artifacts_each_built_its_own_way(engine, tmp_path):
    # the same GTF bytes, once declared gtf (converted by gffread) and once gff (sorted as they are)
    gtf = engine.workdir / "genes.gtf"
    shutil.copy(TRACKS / "pyranges_ensembl.gtf", gtf)
    as_gtf = Source.local(gtf, id="as-gtf", format="gtf")
    as_gff = Source.local(gtf, id="as-gff", format="gff")
    result = engine.run([as_gtf, as_gff])
    assert result.returncode == 0, result.stderr[-3000:]
    converted, kept = as_gtf.artifacts(engine.cache), as_gff.artifacts(engine.cache)
    assert converted["data"] != kept["data"]
    assert converted["data"].parent.name == kept["data"].parent.name == md5sum(gtf)
    # GTF attributes look like `gene_id "X";`, GFF3's like `ID=X`: gffread rewrote one and not the other
    assert all('gene_id "' in line for line in records(kept["data"]))
    assert not any('gene_id "' in line for line in records(converted["data"]))
    assert any("Parent=" in line for line in records(converted["data"]))
    for paths in (converted, kept):
        assert subprocess.run(["tabix", "-l", str(paths["data"])], capture_output=True).returncode == 0


def test_a_bigbed_declared_bed_fails_alone_and_the_bigbed_declaration_still_builds(service):
    bigbed = TRACKS / "pybigwig_test.bigBed"
    assert service.register("as-bed", bigbed, format="bed").status_code == 201
    assert service.register("as-bigbed", bigbed, format="bigbed").status_code == 201
    first, second = service.get("/data/as-bed"), service.get("/data/as-bigbed")
    assert first.status_code == second.status_code == 202
    assert first.json()["job_id"] != second.json()["job_id"]  # no longer one shared job
    failed = service.wait_job(first.json()["job_id"])
    built = service.wait_job(second.json()["job_id"])
    assert failed["status"] == "failed" and built["status"] == "completed", (failed, built)
    data = service.get("/data/as-bigbed")
    assert data.status_code == 200
    local = service.base / "served.bed.gz"
    local.write_bytes(data.content)
    with pyBigWig_open(bigbed) as handle:
        expected = sum(len(handle.entries(chrom, 0, size) or []) for chrom, size in handle.chroms().items())
    assert len(records(local)) == expected


def pyBigWig_open(path: Path):
    import pyBigWig

    class Closing:
        def __enter__(self):
            self.handle = pyBigWig.open(str(path))
            return self.handle

        def __exit__(self, *exc):
            self.handle.close()

    return Closing()


def test_files_lists_unique_alias_urls_and_generic_names_still_work(service):
    service.register("reads", TRACKS / "pybedtools_x.bam")
    record = service.get("/files/reads").json()
    md5 = md5sum(TRACKS / "pybedtools_x.bam")
    # which index the data gets (BAI, or CSI past 2^29) is known once it is built
    assert record["aliases"] == {"data": f"/data/reads/{md5}-bam-v{PIPELINE_VERSION}.bam", "index": None}
    data = service.fetch("/data/reads")
    record = service.get("/files/reads").json()
    assert record["aliases"]["index"] == f"/data/reads/{md5}-bam-v{PIPELINE_VERSION}.bam.bai"
    assert service.get(record["aliases"]["data"]).content == data.content
    assert service.get(record["aliases"]["index"]).content == service.get("/index/reads").content
    assert service.get("/data/reads/data.bam").content == data.content
    wrong = service.get("/data/reads/other.bam")
    assert wrong.status_code == 404 and record["aliases"]["data"].rsplit("/", 1)[1] in wrong.json()["detail"]


def run(cmd: list[str], cwd: Path) -> str:
    """A tool's stdout (records need not be UTF-8: one shared VCF is Latin-1), failing on a non-zero exit."""
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, errors="surrogateescape",
                            timeout=120)
    assert result.returncode == 0, (cmd, result.stderr)
    return result.stdout


def test_htslib_clients_in_one_directory_never_pair_one_sources_data_with_anothers_index(service, tmp_path):
    """htslib keeps each remote index in the working directory under its basename and reuses it: with the
    unique aliases, four sources read one after another from one folder each answer their own records."""
    vcf_a = TRACKS / "htslib_index.vcf"
    # a second VCF with other records: the same contigs, every position 1,000 bases on
    vcf_b = service.base / "sources" / "shifted.vcf"
    with open(vcf_a) as source, open(vcf_b, "w") as out:
        for line in source:
            fields = line.split("\t")
            if not line.startswith("#"):
                fields[1] = str(int(fields[1]) + 1000)
            out.write("\t".join(fields))
    bam_a = TRACKS / "pybedtools_x.bam"
    sam_b = TRACKS / "htslib_ce1000.sam"
    for source_id, path in (("va", vcf_a), ("vb", vcf_b), ("ba", bam_a), ("bb", sam_b)):
        assert service.register(source_id, path).status_code == 201
        service.fetch(f"/index/{source_id}")
    aliases = {source_id: service.get(f"/files/{source_id}").json()["aliases"]
               for source_id in ("va", "vb", "ba", "bb")}
    local: dict[str, Path] = {}
    for source_id in aliases:  # local copies of each artifact and its index, for the expected answers
        artifact_dir = tmp_path / "expected" / source_id
        artifact_dir.mkdir(parents=True)
        name = Path(aliases[source_id]["data"]).name
        (artifact_dir / name).write_bytes(service.get(aliases[source_id]["data"]).content)
        (artifact_dir / (name + Path(aliases[source_id]["index"]).name[len(name):])).write_bytes(
            service.get(aliases[source_id]["index"]).content)
        local[source_id] = artifact_dir / name
    shared_dir = tmp_path / "client"
    shared_dir.mkdir()

    def first_region(path: Path, bam: bool) -> str:
        """A region holding records of this artifact: its first contig with data."""
        if bam:
            stats = run(["samtools", "idxstats", str(path)], path.parent).splitlines()
            chrom = next(line.split("\t")[0] for line in stats if line.split("\t")[2] != "0")
        else:
            chrom = run(["tabix", "-l", str(path)], path.parent).split()[0]
        return chrom

    for source_id, bam in (("va", False), ("vb", False), ("ba", True), ("bb", True), ("va", False)):
        url = service.url(aliases[source_id]["data"])
        region = first_region(local[source_id], bam)
        if bam:
            got = run(["samtools", "view", url, region], shared_dir)
            want = run(["samtools", "view", str(local[source_id]), region], local[source_id].parent)
        else:
            got = run(["tabix", url, region], shared_dir)
            want = run(["tabix", str(local[source_id]), region], local[source_id].parent)
            got_bcf = run(["bcftools", "view", "-H", "-r", region, url], shared_dir)
            assert got_bcf == run(["bcftools", "view", "-H", "-r", region, str(local[source_id])],
                                  local[source_id].parent)
        assert want.strip(), f"{source_id}: no records in {region}"
        assert got == want, source_id
    # every source left its own index in the folder, under its own name
    assert len({p.name for p in shared_dir.iterdir()}) >= 4
    # pysam from the same folder
    import os

    cwd = os.getcwd()
    os.chdir(shared_dir)
    try:
        for source_id in ("vb", "va"):
            region = first_region(local[source_id], False)
            with pysam.VariantFile(service.url(aliases[source_id]["data"])) as remote, \
                    pysam.VariantFile(str(local[source_id])) as mine:
                assert [str(r) for r in remote.fetch(region)] == [str(r) for r in mine.fetch(region)]
        for source_id in ("bb", "ba"):
            region = first_region(local[source_id], True)
            with pysam.AlignmentFile(service.url(aliases[source_id]["data"])) as remote, \
                    pysam.AlignmentFile(str(local[source_id])) as mine:
                assert [r.to_string() for r in remote.fetch(region)] == \
                    [r.to_string() for r in mine.fetch(region)]
    finally:
        os.chdir(cwd)


def test_all_zero_md5_fails_as_an_md5_mismatch(engine, tmp_path):
    bed = engine.workdir / "peaks.bed"
    shutil.copy(TRACKS / "htslib_bed_file.bed", bed)
    source = Source.local(bed, id="zeros", md5="0" * 32)
    result = engine.run([source])
    assert result.returncode != 0
    assert "PeriodicWildcardError" not in result.stderr and "periodically" not in result.stderr
    logs = "".join(p.read_text() for p in engine.cache.rglob("fetch_source*.log"))
    assert "md5 mismatch" in logs and "0" * 32 in logs
    assert not source.artifacts(engine.cache)["data"].exists()


@pytest.mark.parametrize("bad_id", [".", ".."])
def test_dot_ids_are_refused_by_the_service_and_the_engine(service, engine, bad_id):
    answer = service.register(bad_id, TRACKS / "htslib_bed_file.bed")
    assert answer.status_code == 422 and "'.'" in answer.json()["detail"]
    result = engine.run([Source.local(TRACKS / "htslib_bed_file.bed", id=bad_id)])
    assert result.returncode != 0 and bad_id in result.stderr
