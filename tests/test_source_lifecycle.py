"""A source's life in the service: a failed build is remembered (one bad file never keeps a worker busy), an
operator retries it, and DELETE /files/{id} removes the record and the cached files nobody else needs."""
from __future__ import annotations

import shutil

from conftest import TRACKS, md5sum

BAD_GFF = TRACKS / "pybedtools_dm3-chr2L-5M-invalid.gff.gz"


def held_build(service_factory, file_server):
    """A service whose one job is held in its fetch stage (the file server holds the body): (svc, job id)."""
    svc = service_factory(TRACKPREP_ALLOWED_HOSTS=file_server.host).start()
    shutil.copy(TRACKS / "htslib_index.vcf", file_server.root / "calls.vcf")
    file_server.gate.clear()
    assert svc.register("calls", access_url=file_server.url("calls.vcf"),
                        md5=md5sum(file_server.root / "calls.vcf")).status_code == 201
    job_id = svc.get("/data/calls").json()["job_id"]
    file_server.wait_open(1)
    return svc, job_id


def test_a_failed_build_is_answered_until_registered_anew_or_retried(service):
    assert service.register("bad", BAD_GFF).status_code == 201
    first = service.get("/data/bad")
    assert first.status_code == 202
    failed = service.wait_job(first.json()["job_id"])
    assert failed["status"] == "failed"
    for path in ("/data/bad", "/index/bad", "/data/bad/data.gff3.gz.tbi"):
        again = service.get(path)
        assert again.status_code == 409, (path, again.text)
        body = again.json()
        assert body["error"] == "build_failed" and body["job_id"] == failed["job_id"]
        assert again.headers["Location"] == body["status_url"] == f"/jobs/{failed['job_id']}"
        assert "DELETE /files/bad" in body["detail"] and "retry" in body["detail"]
        assert failed["error"]["reason"] in body["detail"]
    assert len(service.jobs(kind="preprocess")) == 1  # no new job for the repeated requests
    assert service.get("/files/bad").json()["failed_job"]["job_id"] == failed["job_id"]

    # an operator retries: a new job runs (and fails the same way), and is the one answered from then on
    assert service.http.post(service.url(f"/jobs/{failed['job_id']}/retry")).status_code == 401
    retried = service.http.post(service.url(f"/jobs/{failed['job_id']}/retry"), headers=service.auth())
    assert retried.status_code == 202, retried.text
    assert retried.json()["job_id"] != failed["job_id"]
    assert service.wait_job(retried.json()["job_id"])["status"] == "failed"
    assert service.get("/data/bad").json()["job_id"] == retried.json()["job_id"]
    assert len(service.jobs(kind="preprocess")) == 2

    # registered anew (removed, then registered again): one new try
    assert service.http.delete(service.url("/files/bad"), headers=service.auth()).status_code == 200
    assert service.register("bad", BAD_GFF).status_code == 201
    fresh = service.get("/data/bad")
    assert fresh.status_code == 202
    assert fresh.json()["job_id"] not in (failed["job_id"], retried.json()["job_id"])
    service.wait_job(fresh.json()["job_id"])


def test_a_cancelled_build_is_not_remembered_as_a_failure(service_factory, file_server):
    svc, job_id = held_build(service_factory, file_server)
    svc.http.delete(svc.url(f"/jobs/{job_id}"), headers=svc.auth())
    assert svc.wait_job(job_id)["status"] == "cancelled"
    file_server.gate.set()
    again = svc.get("/data/calls")
    assert again.status_code == 202 and again.json()["job_id"] != job_id  # a new build, no remembered failure
    assert svc.fetch("/data/calls").status_code == 200


def test_wrong_md5_fails_naming_what_to_do(service, tmp_path):
    bed = service.base / "sources" / "peaks.bed"
    shutil.copy(TRACKS / "htslib_bed_file.bed", bed)
    assert service.register("peaks", bed, md5="0" * 32).status_code == 201
    job = service.wait_job(service.get("/data/peaks").json()["job_id"])
    assert job["status"] == "failed" and "md5 mismatch" in job["error"]["reason"]
    assert "DELETE /files/{id}" in job["error"]["log_tail"]
    # registering the id again with the right md5 is refused, and the refusal says what works
    again = service.register("peaks", bed)
    assert again.status_code == 409 and "DELETE /files/peaks" in again.json()["detail"]
    assert service.http.delete(service.url("/files/peaks"), headers=service.auth()).status_code == 200
    assert service.register("peaks", bed).status_code == 201
    assert service.fetch("/data/peaks").status_code == 200


def test_delete_removes_the_record_and_the_files_only_when_no_other_id_shares_them(service):
    bam = TRACKS / "pybedtools_x.bam"
    service.register("one", bam)
    service.register("two", bam)
    data = service.fetch("/data/one")
    service.fetch("/index/one")
    artifact = next(service.cache.rglob(f"v*/bam/{md5sum(bam)}/data.bam"))
    ranged = {"Range": "bytes=0-65535"}
    assert service.get("/data/one", headers=ranged).status_code == 206  # served by the range fast path

    assert service.http.delete(service.url("/files/one")).status_code == 401
    gone = service.http.delete(service.url("/files/one"), headers=service.auth())
    assert gone.status_code == 200 and gone.json() == {"deleted": "one", "removed": []}  # "two" shares it
    for path in ("/files/one", "/data/one", "/index/one"):
        assert service.get(path).status_code == 404, path
    assert service.get("/data/one", headers=ranged).status_code == 404  # the fast path forgot it too
    assert artifact.exists()
    assert service.get("/data/two").content == data.content

    last = service.http.delete(service.url("/files/two"), headers=service.auth())
    assert last.status_code == 200
    assert any(path.endswith(md5sum(bam)) for path in last.json()["removed"])
    assert not artifact.exists() and not artifact.parent.exists()
    assert not (service.cache / "src" / md5sum(bam)).exists()
    assert bam.exists()  # the user's own file is never touched
    assert service.get("/data/two", headers=ranged).status_code == 404
    assert service.http.delete(service.url("/files/two"), headers=service.auth()).status_code == 404


def test_delete_refuses_while_a_job_builds_the_source(service_factory, file_server):
    svc, job_id = held_build(service_factory, file_server)
    answer = svc.http.delete(svc.url("/files/calls"), headers=svc.auth())
    assert answer.status_code == 409 and job_id in answer.json()["detail"]
    assert svc.get("/files/calls").status_code == 200
    file_server.gate.set()
    assert svc.wait_job(job_id)["status"] == "completed"
    assert svc.http.delete(svc.url("/files/calls"), headers=svc.auth()).status_code == 200
    assert svc.get("/files/calls").status_code == 404


def test_a_conversion_that_drops_records_says_so_in_the_job_and_the_record(service):
    # gffread drops GTF records that carry no transcript_id: 2 of these 6 (the gene line is kept)
    gtf = service.base / "sources" / "partial.gtf"
    gtf.write_text("\n".join([
        'chr1\tsrc\tgene\t100\t900\t.\t+\t.\tgene_id "g1";',
        'chr1\tsrc\ttranscript\t100\t900\t.\t+\t.\tgene_id "g1"; transcript_id "t1";',
        'chr1\tsrc\texon\t100\t200\t.\t+\t.\tgene_id "g1"; transcript_id "t1";',
        'chr1\tsrc\texon\t700\t900\t.\t+\t.\tgene_id "g1"; transcript_id "t1";',
        'chr1\tsrc\texon\t1000\t1100\t.\t+\t.\tgene_id "g2";',
        'chr2\tsrc\tCDS\t10\t40\t.\t-\t0\tgene_id "g3";']) + "\n")
    assert service.register("partial", gtf).status_code == 201
    job = service.wait_job(service.get("/data/partial").json()["job_id"])
    assert job["status"] == "completed"
    assert job["conversion"]["records_in"] == 6 and job["conversion"]["dropped"] == 2
    assert job["warnings"] == ["2 GTF records without transcript_id were dropped by gffread"]
    assert service.get("/files/partial").json()["conversion"] == job["conversion"]
    plain = service.base / "sources" / "plain.bed"
    shutil.copy(TRACKS / "htslib_bed_file.bed", plain)
    service.register("plain", plain)
    built = service.wait_job(service.get("/data/plain").json()["job_id"])
    assert built["conversion"] is None and built["warnings"] == []
