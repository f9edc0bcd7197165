"""The warm launcher (webapp/launcher.py) with real Snakemake runs: the process tree it makes, cancel and kill -9 of
a forked run, the dispatcher killed mid-run, the launcher killed mid-run, a changed workflow, the setting that
turns it off, and the dispatcher's wake-ups across processes.

A job is held in its fetch stage by the conftest file server (its responses wait on a gate), so a test looks at a
run while it certainly runs.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
from pathlib import Path

from conftest import REPO, TRACKS, leftovers, md5sum
from test_dispatcher import db_jobs, remote, wait_for

from webapp import procs

READY = re.compile(r"warm launcher (\d+) ready")


def launchers_ready(svc, log_name: str = "serve.log") -> list[int]:
    """Pids of the launchers the service has reported ready, oldest first."""
    path = svc.base / log_name
    return [int(pid) for pid in READY.findall(path.read_text())] if path.exists() else []


def wait_launcher(svc, count: int = 1, log_name: str = "serve.log") -> int:
    """Wait until the service has reported ``count`` launchers ready; the newest one's pid."""
    wait_for(lambda: len(launchers_ready(svc, log_name)) >= count, "the warm launcher to be ready")
    return launchers_ready(svc, log_name)[-1]


def stat(pid: int) -> dict:
    """ppid, process group and session of a process, from /proc."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return {"ppid": int(fields[1]), "pgrp": int(fields[2]), "session": int(fields[3])}


def environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as handle:
        pairs = [item.split(b"=", 1) for item in handle.read().split(b"\0") if b"=" in item]
    return {key.decode(): value.decode(errors="replace") for key, value in pairs}


def held_forked_job(svc, file_server, name: str = "htslib_index.vcf", source_id: str | None = None):
    """A job held in its fetch stage, run by a forked child: (source id, job id, job row)."""
    file_server.gate.clear()
    before = file_server.open_now
    source_id = remote(file_server, svc, name, source_id)
    job_id = svc.get(f"/data/{source_id}").json()["job_id"]
    file_server.wait_open(before + 1)
    wait_for(lambda: job_row(svc, job_id)["pid"] is not None, "the run's pid to be recorded")
    return source_id, job_id, job_row(svc, job_id)


def job_row(svc, job_id: str) -> dict:
    return next(row for row in db_jobs(svc) if row["id"] == job_id)


def started(service_factory, file_server, **env):
    svc = service_factory(TRACKPREP_ALLOWED_HOSTS=file_server.host, **env).start()
    return svc, wait_launcher(svc)


def test_a_run_is_a_child_of_the_launcher_in_its_own_session_folder_and_tmpdir(service_factory, file_server):
    svc, launcher = started(service_factory, file_server)
    source_id, job_id, row = held_forked_job(svc, file_server)
    pid = row["pid"]
    job_dir = svc.data_dir / "jobs" / job_id
    assert stat(pid)["ppid"] == launcher  # forked by the launcher ...
    assert stat(launcher)["ppid"] == svc.proc.pid  # ... which the service started
    assert stat(pid)["pgrp"] == stat(pid)["session"] == pid  # its own session and process group, as before
    assert os.readlink(f"/proc/{pid}/cwd") == str(job_dir)
    tools = [member for member in procs.group_members(pid) if member != pid]
    assert tools  # the fetch stage's tool, held by the file server, in the run's group
    for tool in tools:  # what the run passes to the tools it starts (the child's own /proc environ is the launcher's)
        env = environ(tool)
        assert env["TMPDIR"] == str(job_dir) and env["TRACKPREP_EVENTS_FILE"] == str(job_dir / "events.jsonl")
    assert procs.alive(pid, row["pid_start"])
    file_server.gate.set()
    job = svc.wait_job(job_id)
    assert job["status"] == "completed", job
    assert job["stages_done"] == job["stages_total"] == 4  # the logger plugin's events reached the dispatcher
    assert (job_dir / "run.status").read_text() == "0"
    assert "--nolock" in (job_dir / "snakemake.log").read_text()
    assert svc.fetch(f"/data/{source_id}").status_code == 200
    assert not procs.alive(pid, row["pid_start"])
    assert stat(launcher)["ppid"] == svc.proc.pid  # the launcher stays for the next job


def test_cancel_stops_a_forked_run_and_the_launcher_forks_the_next(service_factory, file_server):
    svc, launcher = started(service_factory, file_server)
    source_id, job_id, row = held_forked_job(svc, file_server)
    assert stat(row["pid"])["ppid"] == launcher
    response = svc.http.delete(svc.url(f"/jobs/{job_id}"), headers=svc.auth())
    assert response.status_code in (200, 202)
    job = svc.wait_job(job_id)
    assert job["status"] == "cancelled" and job["artifacts"] == []
    assert not procs.alive(row["pid"], row["pid_start"])
    # nothing of its process group is left (a tool SIGKILLed with it lingers until its new parent reaps it)
    wait_for(lambda: procs.group_members(row["pid"]) == [], "the run's process group to be gone", 30)
    assert not any(svc.cache.rglob("data.*")) and leftovers(svc) == []
    _source, next_id, next_row = held_forked_job(svc, file_server, "htslib_bed_file.bed")
    assert stat(next_row["pid"])["ppid"] == launcher
    file_server.gate.set()
    assert svc.wait_job(next_id)["status"] == "completed"


def test_a_forked_run_killed_with_sigkill_fails_its_job_and_a_retry_succeeds(service_factory, file_server):
    svc, launcher = started(service_factory, file_server)
    source_id, job_id, row = held_forked_job(svc, file_server)
    os.kill(row["pid"], signal.SIGKILL)
    job = svc.wait_job(job_id)
    assert job["status"] == "failed" and "SIGKILL" in job["error"]["reason"], job
    assert leftovers(svc) == []
    assert stat(launcher)["ppid"] == svc.proc.pid  # the launcher outlives its child
    file_server.gate.set()
    retried = svc.http.post(svc.url(f"/jobs/{job_id}/retry"), headers=svc.auth()).json()
    assert svc.wait_job(retried["job_id"])["status"] == "completed"
    assert svc.fetch(f"/data/{source_id}").status_code == 200


def test_a_service_killed_mid_forked_run_is_recovered_and_its_launcher_goes(service_factory, file_server):
    svc, launcher = started(service_factory, file_server)
    source_id, job_id, row = held_forked_job(svc, file_server)
    assert stat(row["pid"])["ppid"] == launcher
    svc.stop(signal.SIGKILL)
    assert procs.alive(row["pid"], row["pid_start"])  # the orphaned run is still fetching
    svc.start()  # same data dir: recovery stops the orphan (pid + start time) and re-queues the job
    wait_for(lambda: not procs.alive(row["pid"], row["pid_start"]), "the orphaned run to be stopped")
    wait_for(lambda: not os.path.exists(f"/proc/{launcher}") or stat(launcher)["ppid"] != svc.proc.pid
             and _zombie_or_gone(launcher), "the dead service's launcher to exit")
    file_server.gate.set()
    job = svc.wait_job(job_id)
    assert job["status"] == "completed", job
    assert job_row(svc, job_id)["attempts"] == 2
    assert svc.fetch(f"/data/{source_id}").status_code == 200
    assert leftovers(svc) == []


def _zombie_or_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_killed_launcher_loses_no_job_and_is_replaced(service_factory, file_server):
    svc, launcher = started(service_factory, file_server)
    source_id, job_id, row = held_forked_job(svc, file_server)
    os.kill(launcher, signal.SIGKILL)
    wait_for(lambda: _zombie_or_gone(launcher), "the launcher to die")
    assert procs.alive(row["pid"], row["pid_start"])  # its run goes on without it
    file_server.gate.set()
    job = svc.wait_job(job_id)  # the run's own status file tells how it ended
    assert job["status"] == "completed", job
    assert svc.fetch(f"/data/{source_id}").status_code == 200
    # the next jobs start a new launcher (running as subprocesses until it is ready) and fork from it
    wait_for(lambda: _complete(svc, file_server, "htslib_bed_file.bed") and len(launchers_ready(svc)) >= 2,
             "a new launcher")
    fresh = launchers_ready(svc)[-1]
    assert fresh != launcher and stat(fresh)["ppid"] == svc.proc.pid
    _source, next_id, next_row = held_forked_job(svc, file_server, "pybedtools_CTCF_Kc_Bushey_2009.bed")
    assert stat(next_row["pid"])["ppid"] == fresh
    file_server.gate.set()
    assert svc.wait_job(next_id)["status"] == "completed"


def _complete(svc, file_server, name: str) -> bool:
    file_server.gate.set()
    source_id = remote(file_server, svc, name) if not svc.get(f"/files/{name}").ok else name
    return svc.fetch(f"/data/{source_id}").status_code == 200


def copy_workflow(target: Path) -> Path:
    """A copy of the checkout's workflow (Snakefile, rules, config) to change."""
    target.mkdir()
    shutil.copy(REPO / "Snakefile", target / "Snakefile")
    for folder in ("rules", "config", "envs"):
        shutil.copytree(REPO / folder, target / folder)
    return target


def test_a_changed_workflow_file_replaces_the_launcher_without_losing_a_job(service_factory, file_server, tmp_path):
    workflow = copy_workflow(tmp_path / "workflow")
    svc, launcher = started(service_factory, file_server, TRACKPREP_WORKFLOW_DIR=str(workflow))
    _source, first_id, first = held_forked_job(svc, file_server)
    assert stat(first["pid"])["ppid"] == launcher
    rule = workflow / "rules" / "tabix.smk"
    os.utime(rule, ns=(os.stat(rule).st_atime_ns, os.stat(rule).st_mtime_ns + 10**9))
    file_server.gate.set()
    assert svc.wait_job(first_id)["status"] == "completed"  # a run started before the change ends normally
    source_id = remote(file_server, svc, "htslib_bed_file.bed")
    assert svc.fetch(f"/data/{source_id}").status_code == 200  # the job after the change is not lost
    assert "the workflow changed" in (svc.base / "serve.log").read_text()
    fresh = wait_launcher(svc, 2)
    assert fresh != launcher
    wait_for(lambda: _zombie_or_gone(launcher), "the old launcher to exit")
    _source, next_id, next_row = held_forked_job(svc, file_server, "pybedtools_CTCF_Kc_Bushey_2009.bed")
    assert stat(next_row["pid"])["ppid"] == fresh
    file_server.gate.set()
    assert svc.wait_job(next_id)["status"] == "completed"


def test_turned_off_every_run_is_a_subprocess_of_the_service(service_factory, file_server):
    svc = service_factory(TRACKPREP_ALLOWED_HOSTS=file_server.host, TRACKPREP_WARM_LAUNCHER="0").start()
    source_id, job_id, row = held_forked_job(svc, file_server)
    assert stat(row["pid"])["ppid"] == svc.proc.pid
    assert launchers_ready(svc) == []
    file_server.gate.set()
    assert svc.wait_job(job_id)["status"] == "completed"


def test_the_bound_holds_for_forked_runs(service_factory, file_server):
    svc, launcher = started(service_factory, file_server, TRACKPREP_MAX_CONCURRENT_JOBS="1")
    file_server.gate.clear()
    ids = [remote(file_server, svc, name) for name in
           ("htslib_index.vcf", "htslib_bed_file.bed", "pybedtools_CTCF_Kc_Bushey_2009.bed")]
    job_ids = [svc.get(f"/data/{i}").json()["job_id"] for i in ids]
    file_server.wait_open(1)
    wait_for(lambda: len(svc.jobs(status="queued")) == 2, "two jobs to stay queued")
    file_server.gate.set()
    for job_id in job_ids:
        assert svc.wait_job(job_id)["status"] == "completed"
    assert file_server.max_open == 1
    rows = sorted((job_row(svc, job_id) for job_id in job_ids), key=lambda row: row["started_at"])
    for earlier, later in zip(rows, rows[1:]):  # each run ended (and was recorded) before the next began
        assert earlier["finished_at"] <= later["started_at"]


def test_a_worker_wakes_on_a_submission_from_another_process_and_on_each_run_exit(service_factory, file_server):
    """The worker's timed pass is 10 minutes apart here: the job can only start, and be seen to end, because
    the submitting process wakes the worker and the run's exit wakes it again."""
    from webapp import db, jobs as jobstore, plan, settings, sources

    worker = service_factory("worker", TRACKPREP_ALLOWED_HOSTS=file_server.host, TRACKPREP_POLL_INTERVAL="600")
    worker.start("worker")
    wait_launcher(worker, log_name="worker.log")  # it has made its first pass (and beat) by then
    conf = settings.load({k: v for k, v in worker.env.items() if k.startswith("TRACKPREP_")})
    store = db.open_store(conf.db_path)
    for name in ("htslib_index.vcf", "htslib_bed_file.bed"):  # two in a row: the second needs the first's exit
        path = file_server.root / name
        shutil.copy(TRACKS / name, path)
        record, _ = sources.register(store, sources.validate(
            {"id": name, "access_url": file_server.url(name), "md5": md5sum(path)}, conf))
        work = plan.make(conf, record, plan.resolve(conf, record, "data", raw=False))
        job, created = jobstore.submit(store, work.kind, work.key, work.targets, work.config, files=work.files,
                                       work_dirs=work.work_dirs)
        assert created
        wait_for(lambda: _status(conf.db_path, job["id"]) == "completed", f"job of {name} to complete", 120)


def _status(db_path: str, job_id: str) -> str:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]


def test_retry_after_is_one_second_for_a_small_input_and_longer_for_a_large_one(service_factory, tmp_path):
    svc = service_factory().start()
    small = TRACKS / "htslib_index.vcf"
    assert svc.register("small", small).status_code == 201
    assert svc.get("/data/small").headers["Retry-After"] == "1"
    large = tmp_path / "svc" / "sources" / "large.vcf"
    with open(large, "w", encoding="utf-8") as handle:  # 40 MB of records: several seconds of sorting here
        handle.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        line = "chr1\t{}\t.\tA\tC\t50\tPASS\t" + "X" * 60 + "\n"
        handle.writelines(line.format(i + 1) for i in range(500_000))
    assert svc.register("large", large).status_code == 201
    miss = svc.get("/data/large")
    assert miss.status_code == 202
    assert 1 < int(miss.headers["Retry-After"]) <= 60
    svc.http.delete(svc.url(f"/jobs/{miss.json()['job_id']}"), headers=svc.auth())
