"""Passthrough formats (bigWig, CSV, TSV) and bigBed are checked by their first bytes: at registration for
local sources (POST /files, `trackprep register`), in the fetch stage for remote ones, against one table
(`webapp/magic.py`). Real files, a real server, real HTTP."""
from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, TRACKS, Source, md5sum

from webapp import layout, magic

BIGWIG = TRACKS / "pybigwig_test.bw"
BIGBED = TRACKS / "pybigwig_test.bigBed"
BAM = TRACKS / "pybedtools_x.bam"
VCF = TRACKS / "htslib_index.vcf"


# ---- the table itself, on the real sample files

def test_the_sample_files_start_with_the_ucsc_magic_numbers_little_endian():
    # read independently of the module: the 32-bit magic as the UCSC spec gives it, in the file's byte order
    assert int.from_bytes(BIGWIG.read_bytes()[:4], "little") == 0x888FFC26
    assert int.from_bytes(BIGBED.read_bytes()[:4], "little") == 0x8789F2EB


@pytest.mark.parametrize("path, kind", [(BIGWIG, "bigwig"), (BIGBED, "bigbed"), (BAM, "bam"), (VCF, "text"),
                                        (TRACKS / "pybedtools_issue319.vcf.gz", "bgzf"),
                                        (TRACKS / "pyranges_gencode_human.gtf.gz", "gzip")])
def test_identify_real_files(path, kind):
    assert magic.identify(path.read_bytes()[:magic.SNIFF_BYTES]) == kind


def test_big_endian_headers_are_recognised_too():
    # the spec lets a writer use its native byte order: the same header with the magic stored big-endian
    for path, kind in ((BIGWIG, "bigwig"), (BIGBED, "bigbed")):
        data = path.read_bytes()
        swapped = data[:4][::-1] + data[4:]
        assert magic.identify(swapped) == kind
        assert magic.mismatch(kind, swapped) is None


def test_mismatches_name_what_the_file_is():
    head = BIGBED.read_bytes()[:magic.SNIFF_BYTES]
    assert magic.mismatch("bigwig", head) == \
        "registered as bigwig but the file is a bigBed; register it with format bigbed"
    assert "register it with format bigwig" in magic.mismatch("bigbed", BIGWIG.read_bytes())
    assert "BAM" in magic.mismatch("csv", BAM.read_bytes()[:65536])
    assert "text" in magic.mismatch("bigwig", VCF.read_bytes()[:65536])
    assert "NUL" in magic.mismatch("tsv", b"a\tb\n\x00\x01\x02")
    # formats the tools check themselves are not checked here
    assert magic.mismatch("bam", VCF.read_bytes()) is None


def test_csv_may_be_gzip_only_when_its_name_says_so():
    packed = gzip.compress(b"a,b\n1,2\n")
    assert magic.mismatch("csv", packed, compressed_name=True) is None
    assert "gzip-compressed" in magic.mismatch("csv", packed, compressed_name=False)
    assert "plain text" in magic.mismatch("csv", b"a,b\n1,2\n", compressed_name=True)
    assert "bigWig" in magic.mismatch("csv", gzip.compress(BIGWIG.read_bytes()), compressed_name=True)


# ---- registration of local sources (the service reads their first bytes)

@pytest.mark.parametrize("path, fmt, words", [
    (BIGBED, "bigwig", "registered as bigwig but the file is a bigBed; register it with format bigbed"),
    (BIGWIG, "bigbed", "registered as bigbed but the file is a bigWig; register it with format bigwig"),
    (BAM, "csv", "registered as csv but the file is a BAM"),
    (VCF, "bigwig", "registered as bigwig but the file is text"),
    (BIGWIG, "tsv", "registered as tsv but the file is a bigWig"),
])
def test_local_source_of_another_format_is_422_with_the_reason(service, path, fmt, words):
    response = service.register("wrong", path, format=fmt)
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == "invalid"
    assert words in response.json()["detail"]
    assert service.get("/files/wrong").status_code == 404
    assert service.get("/data/wrong").status_code == 404


def test_a_bigbed_named_bw_is_refused_by_its_bytes_not_its_name(service):
    disguised = service.base / "sources" / "signal.bw"
    shutil.copy(BIGBED, disguised)
    response = service.register("signal", disguised)  # format inferred from the name: bigwig
    assert response.status_code == 422
    assert "the file is a bigBed; register it with format bigbed" in response.json()["detail"]
    assert service.register("signal", disguised, format="bigbed").status_code == 201


def test_real_bigwig_csv_tsv_still_pass_through_byte_identical(service):
    sources = service.base / "sources"
    (sources / "table.csv").write_text("chrom,start,end\nchr1,1,10\n")
    (sources / "table.tsv").write_text("chrom\tstart\tend\nchr1\t1\t10\n")
    (sources / "packed.csv.gz").write_bytes(gzip.compress(b"chrom,start\nchr1,1\n"))
    files = {"bw": BIGWIG, "csv": sources / "table.csv", "tsv": sources / "table.tsv",
             "gz": sources / "packed.csv.gz"}
    for source_id, path in files.items():
        assert service.register(source_id, path).status_code == 201, source_id
        response = service.get(f"/data/{source_id}")
        assert response.status_code == 200 and response.content == path.read_bytes(), source_id
    assert service.jobs() == []  # streamed as they are: no job
    bigbed = service.fetch("/data/bb") if service.register("bb", BIGBED).status_code == 201 else None
    assert bigbed is not None and bigbed.status_code == 200  # a real bigBed is still converted


def test_trackprep_register_refuses_the_row_with_the_reason(service, tmp_path):
    manifest = tmp_path / "sources.tsv"
    manifest.write_text("id\taccess_url\tmd5\tformat\tindex_url\taccess\n"
                        f"wrong\t{BIGBED}\t{md5sum(BIGBED)}\tbigwig\t\t\n"
                        f"right\t{BIGWIG}\t{md5sum(BIGWIG)}\t\t\t\n")
    result = subprocess.run([sys.executable, "-m", "webapp.cli", "register", str(manifest)], env=service.env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "refused wrong" in result.stderr
    assert "registered as bigwig but the file is a bigBed; register it with format bigbed" in result.stderr
    assert "registered right" in result.stdout
    assert service.get("/files/wrong").status_code == 404
    assert service.get("/files/right").json()["format"] == "bigwig"


# ---- remote sources: the fetch stage checks before anything is published

def test_remote_bigbed_registered_as_bigwig_fails_at_fetch_and_leaves_nothing(service_factory, file_server):
    shutil.copy(BIGBED, file_server.root / "signal.bw")
    svc = service_factory(TRACKPREP_ALLOWED_HOSTS=file_server.host).start()
    md5 = md5sum(BIGBED)
    url = file_server.url("signal.bw")
    assert svc.register("remote", access_url=url, md5=md5).status_code == 201  # its bytes are not here yet
    started = svc.get("/data/remote")
    assert started.status_code == 202
    job = svc.wait_job(started.json()["job_id"])
    assert job["status"] == "failed", job
    assert job["error"]["rule"] == "fetch_source", job
    assert "registered as bigwig but the file is a bigBed; register it with format bigbed" \
        in job["error"]["reason"], job
    cached = Path(layout.source_path(str(svc.cache), md5, "bigwig", "public", url))
    assert cached.name == "source.bw" and not cached.exists()
    assert [p for p in svc.cache.rglob("*") if p.is_file() and "logs" not in p.parts] == []


def test_remote_real_bigwig_and_tsv_are_fetched_and_served_byte_identical(service_factory, file_server):
    shutil.copy(BIGWIG, file_server.root / "signal.bw")
    (file_server.root / "table.tsv").write_text("chrom\tstart\tend\nchr1\t1\t10\n")
    svc = service_factory(TRACKPREP_ALLOWED_HOSTS=file_server.host).start()
    for source_id, name in (("bw", "signal.bw"), ("tsv", "table.tsv")):
        path = file_server.root / name
        assert svc.register(source_id, access_url=file_server.url(name), md5=md5sum(path)).status_code == 201
        served = svc.fetch(f"/data/{source_id}")
        assert served.status_code == 200 and served.content == path.read_bytes()


def test_the_engine_alone_refuses_a_bigbed_declared_bigwig(engine):
    source = Source.local(BIGBED, format="bigwig")
    result = engine.run([source])
    assert result.returncode != 0
    assert re.search(r"Error in rule fetch_source:", result.stdout + result.stderr)
    log = "\n".join(p.read_text() for p in engine.cache.rglob("fetch_source*.log"))
    assert "registered as bigwig but the file is a bigBed; register it with format bigbed" in log
    assert not source.artifacts(engine.cache)["data"].exists()


def test_fetch_source_script_imports_the_table_from_the_checkout_when_run_standalone(tmp_path):
    # run as the rule runs it: a plain script, outside the package, from another folder
    out = tmp_path / "out.bw"
    result = subprocess.run([sys.executable, str(REPO / "rules" / "scripts" / "fetch_source.py"), "--url",
                             str(BIGBED), "--md5", md5sum(BIGBED), "--format", "bigwig", "--out", str(out),
                             "--source-root", str(TRACKS)], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 1, result.stderr
    assert "the file is a bigBed" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []
