"""/data, /index and the extension-bearing aliases, against a real `trackprep serve` and real snakemake
runs."""
from __future__ import annotations

import gzip
import shutil

import pysam
from conftest import TRACKS, md5sum


def test_cache_miss_answers_202_then_the_job_completes_and_the_artifact_is_served(service):
    assert service.register("x", TRACKS / "pybedtools_x.bam").status_code == 201
    first = service.get("/data/x")
    assert first.status_code == 202
    body = first.json()
    assert first.headers["Location"] == f"/jobs/{body['job_id']}" == body["status_url"]
    assert first.headers["Retry-After"] == "1"  # a small input: built in about a second (issue 10)
    assert body["status"] in ("queued", "running")
    job = service.wait_job(body["job_id"])
    assert job["status"] == "completed", job
    assert job["kind"] == "preprocess" and job["progress"] == 1.0
    assert job["stages_done"] == job["stages_total"] == 4  # fetch, sort, index, the artifact's record
    assert {a.rsplit("/", 1)[-1] for a in job["artifacts"]} == {"data.bam", "data.bam.bai"}

    data = service.get("/data/x")
    assert data.status_code == 200
    assert data.headers["Content-Type"] == "application/octet-stream"
    assert "Content-Encoding" not in data.headers
    path = service.base / "got.bam"
    path.write_bytes(data.content)
    index = service.get("/index/x")
    assert index.status_code == 200
    (service.base / "got.bam.bai").write_bytes(index.content)
    # the served pair is a coordinate-sorted BAM whose index answers a region query like the source does
    with pysam.AlignmentFile(str(path)) as served, \
            pysam.AlignmentFile(str(TRACKS / "pybedtools_x.bam")) as src:
        assert served.header.get("HD", {}).get("SO") == "coordinate"
        records = list(src.fetch(until_eof=True))
        assert served.mapped == sum(1 for r in records if not r.is_unmapped)
        got = [r.query_name for r in served.fetch("chr2L", 10000, 20000)]
        want = [r.query_name for r in records
                if not r.is_unmapped and r.reference_name == "chr2L" and r.reference_end > 10000
                and r.reference_start < 20000]
        assert sorted(got) == sorted(want) and got
    # the aliases serve exactly the same bytes
    assert service.get("/data/x/data.bam").content == data.content
    assert service.get("/data/x/data.bam.bai").content == index.content
    record = service.get("/files/x").json()
    assert record["artifacts"]["data"]["ready"] and record["artifacts"]["index"]["ready"]
    assert record["active_job"] is None


def test_head_on_a_miss_is_404_and_starts_no_job(service):
    service.register("v", TRACKS / "htslib_index.vcf")
    for path in ("/data/v", "/index/v", "/data/v/data.vcf.gz", "/data/v/data.vcf.gz.tbi"):
        response = service.http.head(service.url(path))
        assert response.status_code == 404, path
    assert service.jobs() == []
    assert not service.cache.exists() or not any(service.cache.rglob("data.*"))


def test_alias_miss_is_503_with_retry_after_and_unknown_names_404_without_work(service):
    service.register("v", TRACKS / "htslib_index.vcf")
    assert service.get("/data/v/data.bam").status_code == 404
    assert service.get("/data/v/data.vcf.gz.bai").status_code == 404
    assert service.jobs() == []
    # before the build nobody knows which index the data gets: both names answer 503 and start the job
    for name in ("data.vcf.gz.csi", "data.vcf.gz.tbi"):
        miss = service.get(f"/data/v/{name}")
        assert miss.status_code == 503 and miss.headers["Retry-After"] == "1"
        assert miss.json()["error"] == "not_ready"
    (job,) = service.jobs()
    assert service.wait_job(job["job_id"])["status"] == "completed"
    tbi = service.get("/data/v/data.vcf.gz.tbi")
    assert tbi.status_code == 200 and gzip.decompress(tbi.content)[:4] == b"TBI\x01"
    # built with a TBI: the CSI name answers 404 at once and starts nothing
    csi = service.get("/data/v/data.vcf.gz.csi")
    assert csi.status_code == 404 and "TBI" in csi.json()["detail"]
    assert len(service.jobs()) == 1


def test_index_matches_the_served_bytes_and_raw_serves_upstream(service):
    service.register("v", TRACKS / "htslib_index.vcf")
    data = service.fetch("/data/v")
    index = service.fetch("/index/v")
    (service.base / "d.vcf.gz").write_bytes(data.content)
    (service.base / "d.vcf.gz.tbi").write_bytes(index.content)
    with pysam.VariantFile(str(service.base / "d.vcf.gz")) as served:
        first = next(served.fetch())
        assert any(rec.pos == first.pos for rec in served.fetch(first.chrom, first.pos - 1, first.pos))
    raw = service.get("/data/v?raw=true")
    assert raw.status_code == 200 and raw.content == (TRACKS / "htslib_index.vcf").read_bytes()
    assert service.get("/index/v?raw=true").status_code == 404  # no upstream sidecar registered
    assert service.get("/data/v?raw=maybe").status_code == 422


def test_passthrough_formats_stream_local_sources_at_once_and_have_no_index(service):
    service.register("bw", TRACKS / "pybigwig_test.bw")
    response = service.get("/data/bw")
    assert response.status_code == 200
    assert response.content == (TRACKS / "pybigwig_test.bw").read_bytes()
    assert service.get("/index/bw").status_code == 404
    assert service.get("/data/bw/data.bw").status_code == 404
    assert service.jobs() == []


def test_local_sidecar_is_served_only_for_raw(service):
    vcf = service.base / "sources" / "calls.vcf.gz"
    pysam.tabix_compress(str(TRACKS / "htslib_index.vcf"), str(vcf))
    pysam.tabix_index(str(vcf), preset="vcf", force=True, keep_original=True)
    assert service.register("calls", vcf, index_url=str(vcf) + ".tbi").status_code == 201
    assert service.get("/index/calls?raw=true").content == (vcf.parent / "calls.vcf.gz.tbi").read_bytes()
    own = service.fetch("/index/calls")  # the artifact's own index, not the upstream one
    assert own.status_code == 200 and own.content[:2] == b"\x1f\x8b"


def test_remote_source_and_its_sidecar_are_fetched_verified_for_raw(service_factory, file_server):
    bam = file_server.root / "reads.bam"
    shutil.copy(TRACKS / "pybedtools_x.bam", bam)
    pysam.index(str(bam))
    svc = service_factory(TRACKPREP_ALLOWED_HOSTS=file_server.host).start()
    assert svc.register("r", md5=md5sum(bam), access_url=file_server.url("reads.bam"),
                        index_url=file_server.url("reads.bam.bai")).status_code == 201
    assert svc.get("/data/r?raw=true").status_code == 202
    assert svc.fetch("/data/r?raw=true").content == bam.read_bytes()
    assert svc.fetch("/index/r?raw=true").content == (file_server.root / "reads.bam.bai").read_bytes()


def test_failing_sources_end_failed_with_the_reason(service):
    # a wrong md5: the fetch stage refuses the bytes
    wrong = service.register("wrong", TRACKS / "htslib_index.vcf", md5="0123456789abcdef" * 2)
    assert wrong.status_code == 201
    job = service.wait_job(service.get("/data/wrong").json()["job_id"])
    assert job["status"] == "failed"
    assert job["error"]["rule"] == "fetch_source", job
    assert "md5 mismatch" in job["error"]["reason"]
    # a corrupt file: a BAM that is not one
    corrupt = service.base / "sources" / "corrupt.bam"
    corrupt.write_bytes(b"this is not a BAM file\n" * 100)
    service.register("corrupt", corrupt)
    job = service.wait_job(service.get("/data/corrupt").json()["job_id"])
    assert job["status"] == "failed" and job["error"]["rule"] == "samtools_sort", job
    assert "registered as BAM" in job["error"]["reason"]
    assert not any(service.cache.rglob("data.bam*"))
    # the service's log names each failed job in one line: id, kind, source, status, rule and reason
    lines = (service.base / "serve.log").read_text().splitlines()
    for source_id, rule, reason in (("wrong", "fetch_source", "md5 mismatch"),
                                    ("corrupt", "samtools_sort", "registered as BAM")):
        outcome = [line for line in lines if f"source {source_id})" in line]
        assert len(outcome) == 1, lines[-20:]
        assert "WARNING" in outcome[0] and f"preprocess, source {source_id}): failed, rule {rule}: " in outcome[0]
        assert reason in outcome[0]
