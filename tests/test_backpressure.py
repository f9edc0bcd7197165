"""Backpressure against real servers: gunicorn serving the app with no dispatcher, so every queued job stays
queued and the queue limit (TRACKPREP_MAX_QUEUED_JOBS) and the upload quota (TRACKPREP_UPLOAD_QUOTA_BYTES) are
reached deterministically by the test's own requests."""
from __future__ import annotations

import os
import random
from pathlib import Path

import requests

from conftest import TRACKS, dump
from test_ssr_api import PARAMS, SAMPLE, WebOnly, submit


def files_under(root: Path) -> list[str]:
    """Every file below ``root`` (relative), sorted."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def assert_queue_full(response: requests.Response, queued: int, limit: int) -> None:
    assert response.status_code == 503, response.text
    retry_after = response.headers.get("Retry-After")
    assert retry_after is not None and retry_after.isdigit() and int(retry_after) > 0
    body = response.json()
    assert body["error"] == "queue_full" and "TRACKPREP_MAX_QUEUED_JOBS" in body["detail"], dump(body)
    assert body["queued"] == queued and body["max_queued_jobs"] == limit


def test_queue_limit_refuses_new_jobs_but_attaches_and_reuses(tmp_path):
    web = WebOnly(tmp_path, {"TRACKPREP_MAX_QUEUED_JOBS": "2"}).start_web()
    try:
        for source_id, name in (("bed_a", "htslib_bed_file.bed"), ("bed_b", "pybedtools_CTCF_Kc_Bushey_2009.bed"),
                                ("bam_c", "pybedtools_x.bam")):
            assert web.register(source_id, TRACKS / name).status_code == 201
        ssr = submit(web, SAMPLE, perf_params=PARAMS)  # queued job 1
        assert ssr.status_code == 202, ssr.text
        first = web.get("/data/bed_a")  # queued job 2: the limit
        assert first.status_code == 202, first.text

        # a new miss on every route that builds is refused, and queues nothing
        assert_queue_full(web.get("/data/bed_b"), 2, 2)
        assert_queue_full(web.get("/index/bam_c"), 2, 2)
        alias = web.get("/files/bam_c").json()["aliases"]["data"]
        assert_queue_full(web.get(alias), 2, 2)
        htsget = web.get("/reads/bam_c")
        assert htsget.status_code == 503 and htsget.headers.get("Retry-After", "").isdigit()
        assert htsget.json()["htsget"]["error"] == "QueueFull"
        ssr_dir = web.cache / "ssr"
        before = files_under(ssr_dir)
        other = submit(web, SAMPLE, perf_params=PARAMS, flanks="true")  # a different analysis
        assert_queue_full(other, 2, 2)
        assert files_under(ssr_dir) == before, "a refused submission left files behind"

        # joining the job already queued for the same target, or the identical analysis, is no new job
        again = web.get("/data/bed_a")
        assert again.status_code == 202 and again.json()["job_id"] == first.json()["job_id"]
        same = submit(web, SAMPLE, perf_params=PARAMS)
        assert same.status_code == 202 and same.json()["job_id"] == ssr.json()["job_id"]
        queued = web.jobs(status="queued")
        assert sorted(job["job_id"] for job in queued) == sorted([first.json()["job_id"], ssr.json()["job_id"]])
    finally:
        web.stop()


def fasta(path: Path, records: int, length: int, seed: int) -> Path:
    """A valid FASTA of random bases."""
    rng = random.Random(seed)
    with open(path, "w") as handle:
        for number in range(records):
            seq = "".join(rng.choice("ACGT") for _ in range(length))
            handle.write(f">r{number}\n" + "\n".join(seq[i:i + 60] for i in range(0, length, 60)) + "\n")
    return path


def test_upload_quota_refuses_what_would_pass_it_and_keeps_nothing(tmp_path):
    small = fasta(tmp_path / "a.fa", 2, 3000, 1)
    other = fasta(tmp_path / "b.fa", 2, 3000, 2)
    large = fasta(tmp_path / "c.fa", 10, 30000, 3)
    quota = small.stat().st_size + other.stat().st_size // 2  # room for one of them, not both
    (tmp_path / "svc").mkdir()
    web = WebOnly(tmp_path / "svc", {"TRACKPREP_UPLOAD_QUOTA_BYTES": str(quota)}).start_web()
    try:
        accepted = submit(web, {"fasta_file": small})
        assert accepted.status_code == 202, accepted.text
        ssr_dir = web.cache / "ssr"
        kept = files_under(ssr_dir)
        inputs = [name for name in kept if "/input/" in name]
        assert sum((ssr_dir / name).stat().st_size for name in inputs) == small.stat().st_size

        for refused_file in (other, large):
            refused = submit(web, {"fasta_file": refused_file})
            assert refused.status_code == 507, refused.text
            body = refused.json()
            assert body["error"] == "upload_quota_exceeded" and "TRACKPREP_UPLOAD_QUOTA_BYTES" in body["detail"]
            assert body["quota_bytes"] == quota and body["used_bytes"] == small.stat().st_size
            assert files_under(ssr_dir) == kept, "a refused upload left bytes on disk"
            assert not os.listdir(ssr_dir / ".uploads")
        queued = web.jobs(kind="ssr")
        assert [job["job_id"] for job in queued] == [accepted.json()["job_id"]]
    finally:
        web.stop()

