"""Running it: `trackprep serve` registers the sample files; the production setup (gunicorn +
`trackprep worker`) serves the same API with jobs run by the worker alone."""
from __future__ import annotations

import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import REPO, TRACKS, free_port, md5sum


def test_serve_registers_the_sample_files_by_name(service_factory):
    svc = service_factory(TRACKPREP_SAMPLES=str(TRACKS), TRACKPREP_SOURCE_ROOTS="").start()
    record = svc.get("/files/pybedtools_x.bam").json()
    assert record["md5"] == md5sum(TRACKS / "pybedtools_x.bam") and record["format"] == "bam"
    assert svc.get("/files/htslib_index.vcf").json()["format"] == "vcf"
    assert svc.fetch("/data/htslib_index.vcf").status_code == 200  # the sample folder is a source root
    assert svc.get("/data/pybigwig_test.bw").content == (TRACKS / "pybigwig_test.bw").read_bytes()


def test_a_missing_sample_folder_is_skipped_silently(service_factory, tmp_path):
    svc = service_factory(TRACKPREP_SAMPLES=str(tmp_path / "absent")).start()
    assert svc.get("/health").json()["status"] == "ok"


@pytest.mark.skipif(shutil.which("gunicorn") is None, reason="gunicorn is installed by .ci/setup")
def test_production_gunicorn_plus_one_worker(service_factory):
    svc = service_factory()  # only for its environment and data dir
    port = free_port()
    web = subprocess.Popen([shutil.which("gunicorn"), "--workers", "2", "--threads", "4", "--bind",
                            f"127.0.0.1:{port}", "webapp.app:create_app()"], env=svc.env, cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    svc.port = port
    try:
        svc.wait_answering(web)
        svc.register("v", TRACKS / "htslib_index.vcf")
        svc.register("twin", TRACKS / "htslib_index.vcf")
        # concurrent misses spread over two gunicorn worker processes still converge on one job
        with ThreadPoolExecutor(30) as pool:
            urls = [svc.url(f"/data/{('v', 'twin')[i % 2]}") for i in range(30)]
            misses = list(pool.map(lambda url: requests.get(url, timeout=60), urls))
        assert {m.status_code for m in misses} == {202}
        assert len({m.json()["job_id"] for m in misses}) == 1
        miss = misses[0]
        # web workers run nothing
        assert svc.get(f"/jobs/{miss.json()['job_id']}").json()["status"] == "queued"
        # and without a worker nothing would ever run them: health says so, and what to start
        health = svc.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "no_dispatcher"
        assert "trackprep worker" in health.json()["detail"] and health.json()["queued"] == 1
        svc.start("worker")
        deadline = time.monotonic() + 60
        while svc.get("/health").status_code != 200:  # its first heartbeat comes before it claims anything
            assert time.monotonic() < deadline, svc.get("/health").json()
            time.sleep(0.2)
        assert svc.get("/health").json()["dispatchers"] == 1
        assert svc.wait_job(miss.json()["job_id"])["status"] == "completed"
        whole = svc.get("/data/v/data.vcf.gz").content
        assert whole[:2] == b"\x1f\x8b"
        for first, last in ((0, 1), (100, 4195), (len(whole) - 10, len(whole) + 10)):
            part = svc.get("/data/v/data.vcf.gz", headers={"Range": f"bytes={first}-{last}"})
            assert part.status_code == 206 and part.content == whole[first:last + 1]
        svc.stop()  # the worker stops: it takes its heartbeat with it
        health = svc.get("/health")
        assert health.status_code == 503 and health.json()["dispatchers"] == 0
    finally:
        web.terminate()
        web.wait(timeout=30)
