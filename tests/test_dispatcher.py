"""The dispatcher with real snakemake runs: the concurrency bound (in one process and across two), cancel,
time limit, shutdown and recovery after the whole service is killed.

Remote sources come from a local HTTP server whose responses can be held mid-body, so a job stays in its fetch
stage exactly as long as a test needs — no sleeps standing in for "long enough".
"""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import time
from datetime import datetime

import pytest
from conftest import TRACKS, leftovers, md5sum

from webapp import procs

SOURCES = ["htslib_index.vcf", "htslib_bed_file.bed", "pybedtools_CTCF_Kc_Bushey_2009.bed"]


def remote(file_server, svc, name: str, source_id: str | None = None):
    """Copy a track into the file server's folder and register its URL."""
    path = file_server.root / name
    if not path.exists():
        shutil.copy(TRACKS / name, path)
    response = svc.register(source_id or name, access_url=file_server.url(name), md5=md5sum(path))
    assert response.status_code == 201, response.text
    return source_id or name


def held_job(service_factory, file_server, **env):
    """A started service whose one job is held in its fetch stage: (service, source id, job id)."""
    svc = service_factory(TRACKPREP_ALLOWED_HOSTS=file_server.host, **env).start()
    file_server.gate.clear()
    source_id = remote(file_server, svc, "htslib_index.vcf")
    job_id = svc.get(f"/data/{source_id}").json()["job_id"]
    file_server.wait_open(1)
    return svc, source_id, job_id


def wait_for(predicate, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def db_jobs(svc) -> list[dict]:
    with sqlite3.connect(svc.data_dir / "trackprep.sqlite") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute("SELECT * FROM jobs")]


def test_the_bound_holds_with_more_jobs_than_slots(service_factory, file_server):
    svc = service_factory(TRACKPREP_ALLOWED_HOSTS=file_server.host, TRACKPREP_MAX_CONCURRENT_JOBS="2").start()
    file_server.gate.clear()
    ids = [remote(file_server, svc, name) for name in SOURCES]
    job_ids = [svc.get(f"/data/{i}").json()["job_id"] for i in ids]
    file_server.wait_open(2)
    wait_for(lambda: len(svc.jobs(status="running")) == 2 and len(svc.jobs(status="queued")) == 1,
             "two running, one queued")
    (queued,) = svc.jobs(status="queued")
    assert queued["queue_position"] == 1
    assert svc.get("/health").json()["running"] == 2
    file_server.gate.set()
    for job_id in job_ids:
        assert svc.wait_job(job_id)["status"] == "completed"
    assert file_server.max_open == 2
    assert file_server.requests == 3


def test_the_bound_holds_across_a_server_and_a_worker_process(service_factory, file_server):
    svc = service_factory(TRACKPREP_ALLOWED_HOSTS=file_server.host, TRACKPREP_MAX_CONCURRENT_JOBS="1").start()
    worker = service_factory("worker", TRACKPREP_ALLOWED_HOSTS=file_server.host,
                             TRACKPREP_MAX_CONCURRENT_JOBS="1", TRACKPREP_DATA_DIR=str(svc.data_dir))
    worker.start("worker")
    file_server.gate.clear()
    ids = [remote(file_server, svc, name) for name in SOURCES[:2]]
    job_ids = [svc.get(f"/data/{i}").json()["job_id"] for i in ids]
    file_server.wait_open(1)
    wait_for(lambda: len(svc.jobs(status="queued")) == 1, "the second job to stay queued")
    file_server.gate.set()
    for job_id in job_ids:
        assert svc.wait_job(job_id)["status"] == "completed"
    assert file_server.max_open == 1


def test_cancel_stops_the_run_and_leaves_no_partial_artifact(service_factory, file_server):
    svc, source_id, job_id = held_job(service_factory, file_server)
    assert svc.http.delete(svc.url(f"/jobs/{job_id}")).status_code == 401
    response = svc.http.delete(svc.url(f"/jobs/{job_id}"), headers=svc.auth())
    assert response.status_code in (200, 202)
    job = svc.wait_job(job_id)
    assert job["status"] == "cancelled" and job["artifacts"] == []
    assert not any(svc.cache.rglob("data.*")) and not any(svc.cache.rglob("source.*"))
    assert leftovers(svc) == []
    (row,) = db_jobs(svc)
    assert not procs.alive(row["pid"], row["pid_start"])
    # a later request starts afresh and succeeds
    file_server.gate.set()
    assert svc.fetch(f"/data/{source_id}").status_code == 200


def test_a_queued_job_is_cancelled_at_once(service_factory, file_server):
    svc = service_factory(TRACKPREP_ALLOWED_HOSTS=file_server.host, TRACKPREP_MAX_CONCURRENT_JOBS="1").start()
    file_server.gate.clear()
    first, second = (remote(file_server, svc, name) for name in SOURCES[:2])
    svc.get(f"/data/{first}")
    file_server.wait_open(1)
    queued = svc.get(f"/data/{second}").json()["job_id"]
    response = svc.http.delete(svc.url(f"/jobs/{queued}"), headers=svc.auth())
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    file_server.gate.set()


def test_the_time_limit_fails_the_job(service_factory, file_server):
    svc = service_factory(TRACKPREP_ALLOWED_HOSTS=file_server.host, TRACKPREP_JOB_TIMEOUT="3").start()
    file_server.gate.clear()
    source_id = remote(file_server, svc, "htslib_index.vcf")
    job = svc.wait_job(svc.get(f"/data/{source_id}").json()["job_id"])
    assert job["status"] == "failed"
    assert "time limit" in job["error"]["reason"]
    assert job["error"]["rule"] in (None, "fetch_source")  # None: stopped before its first stage began
    assert not any(svc.cache.rglob("data.*")) and leftovers(svc) == []


def test_the_time_limit_stops_the_tools_at_once_not_after_the_grace_period(service_factory, file_server):
    """The held download is a tool that would outlive SIGINT to Snakemake: with a 30 s grace period, a job that
    waited for SIGTERM would end at least 30 s after its limit; the tools get SIGTERM with the SIGINT instead."""
    svc = service_factory(TRACKPREP_ALLOWED_HOSTS=file_server.host, TRACKPREP_JOB_TIMEOUT="3",
                          TRACKPREP_CANCEL_GRACE="30").start()
    file_server.gate.clear()
    source_id = remote(file_server, svc, "htslib_index.vcf")
    job = svc.wait_job(svc.get(f"/data/{source_id}").json()["job_id"])
    assert job["status"] == "failed" and "time limit of 3 s" in job["error"]["reason"], job
    ran = datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
    assert ran.total_seconds() < 3 + 30, ran  # the grace period was not waited out
    assert not any(svc.cache.rglob("data.*")) and leftovers(svc) == []


def test_shutdown_requeues_the_running_job_and_a_restart_finishes_it(service_factory, file_server):
    svc, source_id, job_id = held_job(service_factory, file_server)
    svc.stop(signal.SIGTERM)
    (row,) = db_jobs(svc)
    assert row["status"] == "queued"
    assert not procs.alive(row["pid"], row["pid_start"]) if row["pid"] else True
    assert leftovers(svc) == []
    file_server.gate.set()
    svc.start()
    assert svc.wait_job(job_id)["status"] == "completed"
    assert svc.fetch(f"/data/{source_id}").status_code == 200


def test_a_service_killed_with_sigkill_mid_job_is_recovered_after_a_restart(service_factory, file_server):
    svc, source_id, job_id = held_job(service_factory, file_server)
    wait_for(lambda: db_jobs(svc)[0]["pid"] is not None, "the snakemake pid to be recorded")
    svc.stop(signal.SIGKILL)
    (row,) = db_jobs(svc)
    assert row["status"] == "running"
    assert procs.alive(row["pid"], row["pid_start"])  # the orphaned snakemake is still fetching
    svc.start()  # same data dir: recovery stops the orphan and re-queues the job
    wait_for(lambda: not procs.alive(row["pid"], row["pid_start"]), "the orphaned snakemake to be stopped")
    file_server.gate.set()
    job = svc.wait_job(job_id)
    assert job["status"] == "completed", job
    assert svc.fetch(f"/data/{source_id}").status_code == 200
    assert db_jobs(svc)[0]["attempts"] == 2
    assert leftovers(svc) == []


def test_finished_stages_are_not_rebuilt(service_factory, file_server):
    svc = service_factory(TRACKPREP_ALLOWED_HOSTS=file_server.host).start()
    source_id = remote(file_server, svc, "htslib_index.vcf")
    assert svc.fetch(f"/data/{source_id}?raw=true").status_code == 200  # the fetch stage alone
    (source,) = [p for p in svc.cache.rglob("source.vcf")]
    mtime = os.stat(source).st_mtime_ns
    response = svc.get(f"/data/{source_id}")
    job = svc.wait_job(response.json()["job_id"])
    assert job["status"] == "completed"
    assert job["stages_total"] == 3  # sort_bgzip, tabix_index, artifact_record; the fetch was already done
    assert os.stat(source).st_mtime_ns == mtime
    assert file_server.requests == 1


@pytest.mark.parametrize("env", [{"TRACKPREP_MAX_CONCURRENT_JOBS": "0"}, {"TRACKPREP_JOB_TIMEOUT": "soon"}])
def test_bad_settings_stop_the_service_with_a_message(service_factory, env):
    import subprocess
    import sys

    svc = service_factory(**env)
    result = subprocess.run([sys.executable, "-m", "webapp.cli", "serve", "--port", str(svc.port)],
                            env=svc.env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and next(iter(env)) in result.stderr


def test_a_worker_stopped_with_sigterm_requeues_its_job(service_factory, file_server):
    from webapp import db, jobs as jobstore, plan, settings, sources

    worker = service_factory("worker", TRACKPREP_ALLOWED_HOSTS=file_server.host).start("worker")
    file_server.gate.clear()
    # submit through the library, as a gunicorn web worker does
    conf = settings.load({k: v for k, v in worker.env.items() if k.startswith("TRACKPREP_")})
    store = db.open_store(conf.db_path)
    path = file_server.root / "htslib_index.vcf"
    shutil.copy(TRACKS / "htslib_index.vcf", path)
    record, _ = sources.register(store, sources.validate(
        {"id": "v", "access_url": file_server.url(path.name), "md5": md5sum(path)}, conf))
    work = plan.make(conf, record, plan.resolve(conf, record, "data", raw=False))
    _job, created = jobstore.submit(store, work.kind, work.key, work.targets, work.config, files=work.files,
                                    work_dirs=work.work_dirs)
    assert created
    file_server.wait_open(1)
    worker.stop(signal.SIGTERM)
    assert worker.proc.returncode == 0
    (row,) = db_jobs(worker)
    assert row["status"] == "queued" and not procs.alive(row["pid"], row["pid_start"])
    assert leftovers(worker) == []
