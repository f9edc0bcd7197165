"""POST /files, GET /files/{id}, the token, the source policy and restricted sources.

Validation and refusal cases run the app in process (`api`); what needs a build or the real server's path handling
runs against a real `trackprep serve` (`service`)."""
from __future__ import annotations

import shutil

import pytest
from conftest import TRACKS, InProcessApi, Service, md5sum

BAM = TRACKS / "pybedtools_x.bam"


@pytest.fixture(scope="module")
def shared_service(tmp_path_factory):
    """One server for the many read-only refusal cases."""
    svc = Service(tmp_path_factory.mktemp("policy")).start()
    yield svc
    svc.stop()


def test_registration_needs_the_token(api):
    body = {"id": "x", "access_url": str(BAM), "md5": md5sum(BAM)}
    missing = api.post("/files", json=body)
    assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
    wrong = api.post("/files", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert api.get("/files/x").status_code == 404


def test_without_a_configured_token_protected_calls_are_refused(tmp_path):
    response = InProcessApi(tmp_path, {"TRACKPREP_API_TOKEN": ""}).register("x", TRACKS / "pybedtools_x.bam")
    assert response.status_code == 403 and "TRACKPREP_API_TOKEN" in response.json()["detail"]


def test_register_201_then_same_fields_200_then_different_fields_409(api):
    service = api
    first = service.register("x", TRACKS / "pybedtools_x.bam")
    assert first.status_code == 201
    record = first.json()
    assert record["format"] == "bam" and record["access"] == "public" and record["index_url"] == ""
    assert first.headers["Location"] == "/files/x"
    assert service.register("x", TRACKS / "pybedtools_x.bam").status_code == 200
    conflict = service.register("x", TRACKS / "pybedtools_x.bam", access="restricted")
    assert conflict.status_code == 409 and conflict.json()["error"] == "conflict"
    got = service.get("/files/x").json()
    assert got["md5"] == md5sum(TRACKS / "pybedtools_x.bam")
    assert got["artifacts"]["data"] == {"url": "/data/x", "ready": False}
    assert got["active_job"] is None


def test_an_id_is_generated_when_absent(api):
    path = TRACKS / "htslib_bed_file.bed"
    response = api.post("/files", json={"access_url": str(path), "md5": md5sum(path)}, headers=api.auth())
    assert response.status_code == 201
    assert api.get(f"/files/{response.json()['id']}").json()["format"] == "bed"


@pytest.mark.parametrize("fields, words", [
    ({"md5": "xyz"}, "md5"),
    ({"md5": None}, "md5"),
    ({"format": "fastq"}, "format"),  # reads are not a browser track format
    ({"access": "secret"}, "access"),
    ({"id": "a b"}, "id"),
    ({"id": "x;rm -rf /"}, "id"),
    ({"id": "$(reboot)"}, "id"),
    ({"id": "../../etc"}, "id"),
    ({"format": "bam; ls"}, "format"),
    ({"color": "red"}, "unknown field"),
    ({"access_url": "relative/x.bam"}, "absolute"),
    ({"access_url": str(TRACKS / ".." / ".." / ".." / "etc" / "passwd")}, "outside the source roots"),
    ({"access_url": str(TRACKS / "nope.bam")}, "no such file"),
    ({"access_url": str(TRACKS / "pybedtools_x.bam") + "; touch /tmp/pwned"}, "not allowed"),
    ({"access_url": str(TRACKS / "$(id).bam")}, "not allowed"),
    ({"access_url": "https://evil.example.org/x.bam"}, "not in TRACKPREP_ALLOWED_HOSTS"),
    ({"access_url": "drs://evil.example.org/abc"}, "not in TRACKPREP_ALLOWED_HOSTS"),
    ({"access_url": "ftp://example.org/x.bam"}, "unsupported scheme"),
    ({"index_url": "https://evil.example.org/x.bam.bai"}, "not in TRACKPREP_ALLOWED_HOSTS"),
    ({"index_url": str(TRACKS / "pybedtools_x.bam")}, ".bai, .tbi or .csi"),
])
def test_invalid_fields_are_422_with_the_reason(api, fields, words):
    body = {"id": "x", "access_url": str(BAM), "md5": md5sum(BAM)}
    body.update(fields)
    response = api.post("/files", json=body, headers=api.auth())
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid"
    assert words.lower() in response.json()["detail"].lower()
    assert api.jobs() == [] and api.get("/files/x").status_code == 404


def test_non_json_body_is_422(api):
    response = api.post("/files", data="id=x", headers=api.auth())
    assert response.status_code == 422 and response.json()["error"] == "invalid"


def test_a_symlink_out_of_the_roots_is_refused(api, tmp_path):
    link = api.base / "sources" / "escape.vcf"
    outside = tmp_path / "outside.vcf"
    shutil.copy(TRACKS / "htslib_index.vcf", outside)
    link.symlink_to(outside)
    response = api.register("esc", link)
    assert response.status_code == 422 and "outside the source roots" in response.json()["detail"]


def test_path_traversal_in_urls_is_refused(shared_service):
    service = shared_service
    for path in ("/data/..%2F..%2Fetc%2Fpasswd", "/data/../../etc/passwd", "/files/..%2Fx", "/index/%2e%2e"):
        response = service.get(path)
        assert response.status_code == 404, path
        assert response.headers["Content-Type"].startswith("application/json")


def test_a_restricted_source_answers_like_an_unknown_one_without_the_token(service):
    assert service.register("secret", TRACKS / "htslib_index.vcf", access="restricted").status_code == 201
    unknown = {path: service.get(path.replace("secret", "never-registered")) for path in
               ("/files/secret", "/data/secret", "/index/secret", "/data/secret/data.vcf.gz")}
    for path, like in unknown.items():
        response = service.get(path)
        assert response.status_code == like.status_code == 404
        assert response.json()["detail"] == like.json()["detail"].replace("never-registered", "secret")
        wrong = service.get(path, headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 404
    # with the token it is built and served, privately, and its job is visible only with the token
    served = service.fetch("/data/secret", headers=service.auth())
    assert served.status_code == 200 and served.headers["Cache-Control"] == "private"
    restricted_jobs = service.jobs()
    assert len(restricted_jobs) == 1
    assert service.get("/jobs").json()["jobs"] == []
    assert service.get(f"/jobs/{restricted_jobs[0]['job_id']}").status_code == 404
    assert all(a.startswith("restricted/") for a in restricted_jobs[0]["artifacts"])


def test_public_source_with_a_restricted_files_md5_reveals_nothing(service):
    service.register("secret", TRACKS / "htslib_index.vcf", access="restricted")
    service.fetch("/data/secret", headers=service.auth())
    service.register("public-twin", TRACKS / "htslib_index.vcf")
    # the public twin gets its own job and artifact in the public namespace, not the restricted one
    assert service.get("/data/public-twin").status_code == 202
    assert service.get("/files/public-twin").json()["artifacts"]["data"]["ready"] is False


def test_trackprep_register_reads_a_manifest(service, tmp_path):
    import subprocess
    import sys

    manifest = tmp_path / "sources.tsv"
    vcf = service.base / "sources" / "calls.vcf"
    shutil.copy(TRACKS / "htslib_index.vcf", vcf)
    manifest.write_text("id\taccess_url\tmd5\tformat\tindex_url\taccess\n"
                        f"calls\t{vcf}\t{md5sum(vcf)}\t\t\t\n"
                        f"bad\t/etc/passwd\t{'a' * 32}\tvcf\t\t\n")
    result = subprocess.run([sys.executable, "-m", "webapp.cli", "register", str(manifest)], env=service.env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "registered calls" in result.stdout and "outside the source roots" in result.stderr
    assert service.get("/files/calls").json()["format"] == "vcf"
    assert service.get("/files/bad").status_code == 404


def test_health_counts_queued_and_running(service):
    health = service.get("/health").json()
    assert {key: health[key] for key in ("status", "queued", "running", "max_concurrent_jobs", "dispatchers")} \
        == {"status": "ok", "queued": 0, "running": 0, "max_concurrent_jobs": 2, "dispatchers": 1}
    import shutil
    free = shutil.disk_usage(service.data_dir).free
    assert abs(health["disk_free_bytes"]["data"] - free) < 1 << 30


def test_jobs_listing_filters_and_validates(service):
    service.register("v", TRACKS / "htslib_index.vcf")
    job = service.wait_job(service.get("/data/v").json()["job_id"])
    assert [j["job_id"] for j in service.get("/jobs?status=completed&kind=preprocess").json()["jobs"]] == \
        [job["job_id"]]
    assert service.get("/jobs?status=failed").json()["jobs"] == []
    assert service.get("/jobs?kind=ssr").json()["jobs"] == []
    assert service.get("/jobs?status=bogus").status_code == 422
    assert service.get("/jobs/unknown-job").status_code == 404
    cancel = service.http.delete(service.url(f"/jobs/{job['job_id']}"), headers=service.auth())
    assert cancel.status_code == 409
    assert service.http.delete(service.url(f"/jobs/{job['job_id']}")).status_code == 401


def test_a_body_over_the_upload_limit_is_413_json(tmp_path):
    svc = InProcessApi(tmp_path, {"TRACKPREP_MAX_UPLOAD_BYTES": "1000"})
    response = svc.post("/files", data=b"x" * 5000, headers={**svc.auth(), "Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["detail"]


def test_unknown_methods_and_paths_answer_json(shared_service):
    for response in (shared_service.http.put(shared_service.url("/files")),
                     shared_service.get("/no/such/path")):
        assert response.status_code in (404, 405)
        assert set(response.json()) == {"error", "detail"}
