"""Several `trackprep worker` processes on one data dir (issue 15 item 7): they share the bound on running jobs,
and when one is killed with SIGKILL mid-job another takes its jobs over (stops the Snakemake it left, re-queues
the job, runs it to the end). Real worker processes, real snakemake runs, real SQLite; jobs are submitted
through the library as a gunicorn web worker does."""
from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import TRACKS, leftovers, md5sum, unreadable_artifact

from webapp import db, heartbeat, jobs as jobstore, layout, plan, procs, settings, sources, workers

NAMES = ["htslib_index.vcf", "htslib_bed_file.bed", "pybedtools_CTCF_Kc_Bushey_2009.bed"]


def wait_for(predicate, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def rows(data_dir: Path, table: str = "jobs") -> list[dict]:
    with sqlite3.connect(data_dir / "trackprep.sqlite") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(f"SELECT * FROM {table}")]


def store_of(svc):
    conf = settings.load({k: v for k, v in svc.env.items() if k.startswith("TRACKPREP_")})
    return conf, db.open_store(conf.db_path)


def submit(conf, store, source_id: str, access_url: str, md5: str) -> str:
    """Register a source and queue its artifact's build, as a web worker does on a miss; the job id."""
    record, _ = sources.register(store, sources.validate({"id": source_id, "access_url": access_url, "md5": md5},
                                                         conf))
    work = plan.make(conf, record, plan.resolve(conf, record, "data", raw=False))
    job, created = jobstore.submit(store, work.kind, work.key, work.targets, work.config, files=work.files,
                                   work_dirs=work.work_dirs)
    assert created
    return job.id


def published(cache: Path) -> list[Path]:
    names = {spec.data_name for spec in layout.KINDS.values()}
    return [p for p in cache.rglob("data.*") if p.name in names]


class RunningSampler:
    """Counts the jobs in state `running` every 50 ms in a thread; `most` is the highest count seen."""

    def __init__(self, data_dir: Path):
        self.data_dir, self.most = data_dir, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        conn = sqlite3.connect(self.data_dir / "trackprep.sqlite", timeout=30)
        while not self._stop.wait(0.05):
            count = conn.execute("SELECT count(*) FROM jobs WHERE status = 'running'").fetchone()[0]
            self.most = max(self.most, count)
        conn.close()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.most


def test_a_killed_worker_hands_its_jobs_to_the_other_and_the_bound_holds(service_factory, file_server):
    env = {"TRACKPREP_ALLOWED_HOSTS": file_server.host, "TRACKPREP_MAX_CONCURRENT_JOBS": "2"}
    a = service_factory("a", **env)
    b = service_factory("b", **env, TRACKPREP_DATA_DIR=str(a.data_dir))
    file_server.gate.clear()
    a.start("worker")
    conf, store = store_of(a)
    sampler = RunningSampler(a.data_dir)
    urls = {}
    for name in NAMES:
        shutil.copy(TRACKS / name, file_server.root / name)
        urls[name] = (file_server.url(name), md5sum(file_server.root / name))
    first = submit(conf, store, "first", *urls[NAMES[0]])
    file_server.wait_open(1)
    b.start("worker")
    wait_for(lambda: len(rows(a.data_dir, "dispatchers")) == 2, "both workers to beat")
    others = [submit(conf, store, f"j{i}", *urls[name]) for i, name in enumerate(NAMES[1:])]
    file_server.wait_open(2)
    wait_for(lambda: sorted(r["status"] for r in rows(a.data_dir)) == ["queued", "running", "running"],
             "two running (the bound), one queued")
    wait_for(lambda: all(r["pid"] for r in rows(a.data_dir) if r["status"] == "running"), "pids recorded")

    a_pid = a.proc.pid
    owned_by_a = [r for r in rows(a.data_dir) if r["status"] == "running" and r["owner"].split(":")[1] == str(a_pid)]
    assert any(r["id"] == first for r in owned_by_a)  # a claimed the first job before b existed
    a.stop(signal.SIGKILL)
    for row in owned_by_a:
        assert procs.alive(row["pid"], row["pid_start"])  # its snakemake outlived it, still fetching
    # b notices (a's pid is gone on this host), stops a's snakemake runs and re-queues their jobs
    for row in owned_by_a:
        wait_for(lambda row=row: not procs.alive(row["pid"], row["pid_start"]), "b to stop a's orphaned snakemake")
    wait_for(lambda: all(r["owner"] is None or str(a_pid) not in r["owner"].split(":")[1] for r in rows(a.data_dir)),
             "no job owned by the dead worker")
    file_server.gate.set()
    wait_for(lambda: all(r["status"] == "completed" for r in rows(a.data_dir)), "every job to complete", 300)
    most = sampler.stop()

    b_pid = str(b.proc.pid)
    final = {r["id"]: r for r in rows(a.data_dir)}
    for row in owned_by_a:
        assert final[row["id"]]["attempts"] == 2
        assert final[row["id"]]["owner"].split(":")[1] == b_pid  # finished by b
    assert set(final) == {first, *others}
    assert most <= 2 and file_server.max_open <= 2  # the bound, counted and as real downloads, over both
    registry = rows(a.data_dir, "dispatchers")
    assert [(r["pid"], r["host"]) for r in registry] == [(b.proc.pid, procs.HOST)]  # a was forgotten
    assert registry[0]["pid_start"] == procs.start_time(b.proc.pid)
    assert leftovers(a) == []
    artifacts = published(a.cache)
    assert len(artifacts) == 3 and [unreadable_artifact(p) for p in artifacts] == [None] * 3
    log = (b.base / "worker.log").read_text()
    for row in owned_by_a:
        assert f"job {row['id']} re-queued" in log


def test_a_worker_takes_over_a_job_of_a_silent_worker_on_another_host(service_factory):
    """A dispatcher on another host is gone once its heartbeat is older than TRACKPREP_HEARTBEAT_TIMEOUT."""
    worker = service_factory("w", TRACKPREP_HEARTBEAT_TIMEOUT="3")
    conf, store = store_of(worker)
    path = TRACKS / "htslib_index.vcf"
    job_id = submit(conf, store, "v", str(path), md5sum(path))
    elsewhere = "otherhost.example:4242:777"
    heartbeat.beat(store, elsewhere)
    claimed = jobstore.claim_next(store, 2, elsewhere)
    assert claimed.id == job_id
    assert not workers.gone(store, elsewhere, 3.0)  # it beat just now
    store.execute("UPDATE dispatchers SET beat_at = beat_at - 60 WHERE owner = ?", (elsewhere,))
    assert workers.gone(store, elsewhere, 3.0)
    worker.start("worker")
    wait_for(lambda: rows(worker.data_dir)[0]["status"] == "completed", "the job to be taken over and built", 300)
    (row,) = rows(worker.data_dir)
    assert row["attempts"] == 2 and row["owner"].split(":")[1] == str(worker.proc.pid)
    assert elsewhere not in {r["owner"] for r in rows(worker.data_dir, "dispatchers")}
    assert "cannot be stopped from here" in (worker.base / "worker.log").read_text()


def test_gone_and_adopt_on_a_real_store(tmp_path):
    store = db.open_store(str(tmp_path / "trackprep.sqlite"))
    me = procs.identity()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    dead = f"{procs.HOST}:{child.pid}:{procs.start_time(child.pid) or 'x'}"
    child.wait()
    assert not workers.gone(store, me, 30)
    assert workers.gone(store, dead, 30)  # this host: the process is gone, whatever its heartbeat says
    assert workers.gone(store, None, 30) and workers.gone(store, "garbage", 30)
    assert workers.gone(store, "otherhost:1:1", 30)  # another host with no heartbeat row
    path = TRACKS / "htslib_index.vcf"
    conf = settings.load({"TRACKPREP_DATA_DIR": str(tmp_path), "TRACKPREP_SOURCE_ROOTS": str(TRACKS),
                          "TRACKPREP_SAMPLES": "none"})
    job_id = submit(conf, store, "v", str(path), md5sum(path))
    jobstore.claim_next(store, 2, dead)
    assert [job.id for job in workers.orphaned(store, 30)] == [job_id]
    # two live dispatchers race for the orphan: exactly one wins, and only the winner can re-queue it
    assert workers.adopt(store, job_id, dead, me)
    assert not workers.adopt(store, job_id, dead, "otherhost:2:2")
    assert not workers.hand_back(store, job_id, "otherhost:2:2", "not mine")
    assert workers.orphaned(store, 30) == []
    assert workers.hand_back(store, job_id, me, "re-queued")
    assert jobstore.get(store, job_id).status == "queued"
