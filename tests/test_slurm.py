"""The `slurm` tier: the engine and the service on a real single-node SLURM (tests/slurm_cluster.py), through
config/profiles/slurm-single-node. Run alone with `python3 -m pytest -m slurm`.

What is checked: the artifacts of every shared track and the SSR analysis of the croSSRoad sample, built
through SLURM, hold the same records (and, builds being deterministic, the same bytes) as a local run; the
work really went through SLURM (the controller lists the run's jobs as COMPLETED); jobs submitted to the
service with TRACKPREP_SNAKEMAKE_PROFILE set report progress, results and errors on /jobs/{id}; the
concurrency bound holds on the cluster; cancelling or timing out a job leaves nothing of it in `squeue`.

The figures docs/scaling.md quotes (wall times, queue wait, status latency) are measured here and printed at
the end of the tier, never asserted.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import statistics
import sqlite3
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pysam
import pytest
import yaml
from conftest import CROSSROAD, REPO, TRACKS, Engine, md5sum, track_sources
from slurm_cluster import SlurmCluster

pytestmark = pytest.mark.slurm

PROFILE = REPO / "config" / "profiles" / "slurm-single-node"
FIGURES: dict[str, object] = {}
ENDED = ("completed", "failed", "cancelled")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, pytestconfig):
    """A running single-node SLURM; SLURM_CONF points this process and its children at it."""
    slurm = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        slurm.start()
        with pytest.MonkeyPatch.context() as patch:
            for name, value in slurm.env().items():
                patch.setenv(name, value)
            yield slurm
    finally:
        slurm.stop()
        report_figures(pytestconfig, slurm.root.parent / "slurm-figures.json")


def report_figures(pytestconfig, path: Path) -> None:
    """Write the measured figures to a JSON file and to the terminal (they are reported, not asserted)."""
    if not FIGURES:
        return
    path.write_text(json.dumps(FIGURES, indent=1))
    terminal = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    if terminal is None or capture is None:
        return
    # teardown output is captured (and dropped on success) otherwise
    with capture.global_and_fixture_disabled():
        terminal.write_line(f"\nSLURM tier figures ({path}):")
        for name, value in FIGURES.items():
            terminal.write_line(f"  {name}: {value}")


# ---- helpers -----------------------------------------------------------------------------------------------

def slurm_run_ids(log_text: str) -> list[str]:
    """The SLURM run ids (job names) a snakemake log announces: the plugin names every job of a run by it."""
    return re.findall(r"SLURM run ID: (\S+)", log_text)


def slurm_jobs(cluster: SlurmCluster, run_id: str) -> list[dict]:
    """The controller's record of a run's jobs, finished ones included (kept for MinJobAge)."""
    return [{"id": job_id, "state": state, "submit": timestamp(submit), "start": timestamp(start),
             "end": timestamp(end)}
            for job_id, state, submit, start, end in cluster.squeue("%i|%T|%V|%S|%e", "-n", run_id)]


def timestamp(text: str) -> float | None:
    """Seconds since the epoch of a SLURM time stamp (local time, one-second resolution)."""
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:  # N/A, Unknown
        return None


def artifact_records(path: Path) -> list[str]:
    """What an artifact holds, independent of compression: BAM header + reads, or the text lines."""
    if path.name.endswith(".bam"):
        with pysam.AlignmentFile(str(path)) as bam:
            return [json.dumps(bam.header.to_dict(), sort_keys=True)] + [r.to_string() for r in bam]
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="latin-1") as handle:
            return handle.read().splitlines()
    return [path.read_bytes().hex()]


def table_rows(text: str) -> list[str]:
    """A result table's header, then its rows sorted (row order is not part of the SSR contract)."""
    lines = text.splitlines()
    return lines[:1] + sorted(lines[1:])


def timed(engine: Engine, sources, **kwargs) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = engine.run(sources, **kwargs)
    return result, time.monotonic() - started


def make_engine(base: Path) -> Engine:
    (base / "work").mkdir(parents=True)
    return Engine(workdir=base / "work", cache=base / "cache")


def median_max(values: list[float]) -> str:
    return f"{statistics.median(values):.0f}/{max(values):.0f}"


def record_run_figures(prefix: str, cluster: SlurmCluster, log_text: str, slurm_wall: float,
                       local_wall: float) -> list[dict]:
    (run_id,) = slurm_run_ids(log_text)
    jobs = slurm_jobs(cluster, run_id)
    waits = [j["start"] - j["submit"] for j in jobs if j["start"] and j["submit"]]
    spans = [j["end"] - j["start"] for j in jobs if j["end"] and j["start"]]
    FIGURES[f"{prefix}: wall time local / SLURM (s)"] = f"{local_wall:.1f} / {slurm_wall:.1f}"
    FIGURES[f"{prefix}: SLURM jobs"] = len(jobs)
    added = (slurm_wall - local_wall) / max(1, len(jobs))
    FIGURES[f"{prefix}: added wall time per SLURM job (s)"] = round(added, 1)
    if waits:
        FIGURES[f"{prefix}: queue wait submit->start, median/max (s)"] = median_max(waits)
    if spans:
        FIGURES[f"{prefix}: time in allocation, median/max (s)"] = median_max(spans)
    return jobs


# ---- the engine through the profile ------------------------------------------------------------------------

def test_tracks_built_through_slurm_hold_the_same_records_as_a_local_run(cluster, tmp_path):
    sources = track_sources()
    local, slurm = make_engine(tmp_path / "local"), make_engine(tmp_path / "slurm")
    result, local_wall = timed(local, sources)
    assert result.returncode == 0, result.stderr[-4000:]
    result, slurm_wall = timed(slurm, sources, extra_args=["--profile", str(PROFILE)])
    assert result.returncode == 0, result.stderr[-6000:]

    jobs = record_run_figures("tracks", cluster, result.stderr, slurm_wall, local_wall)
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", result.stderr)
    assert submitted and sorted(j["id"] for j in jobs) == sorted(submitted)
    assert {j["state"] for j in jobs} == {"COMPLETED"}

    for source in sources:
        built, expected = source.artifacts(slurm.cache), source.artifacts(local.cache)
        assert built.keys() == expected.keys()
        for role in expected:
            assert artifact_records(built[role]) == artifact_records(expected[role]), (source.id, role)
            # builds are deterministic (ARCHITECTURE decision 1), so the bytes agree too
            assert built[role].read_bytes() == expected[role].read_bytes(), (source.id, role)


def ssr_config(cache: Path) -> dict:
    """The croSSRoad sample analysis of config/ssr.yaml, with absolute input paths."""
    config = yaml.safe_load((REPO / "config" / "ssr.yaml").read_text())
    section = config["ssr"]
    for role, name in (("fasta", "1small.fa"), ("categories", "3.tsv"), ("gene_bed", "2.bed")):
        section[role] = str(CROSSROAD / name)
    return {"cache_dir": str(cache), "ssr": section}


def run_ssr(base: Path, extra_args: list[str] = ()) -> tuple[Path, subprocess.CompletedProcess, float]:
    """Run the sample analysis with plain snakemake: its output folder, the run, its wall time."""
    engine = make_engine(base)
    configfile = engine.workdir / "ssr.yaml"
    configfile.write_text(yaml.safe_dump(ssr_config(engine.cache)))
    result, wall = timed(engine, [], extra_args=["--configfile", str(configfile), *extra_args])
    assert result.returncode == 0, result.stderr[-6000:]
    (output,) = (engine.cache / "ssr").glob("v1/*/output")
    return output, result, wall


def result_files(output: Path) -> list[str]:
    return sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def local_ssr(tmp_path_factory) -> tuple[Path, float]:
    """The sample analysis run locally, once: the reference for the SLURM runs."""
    output, _, wall = run_ssr(tmp_path_factory.mktemp("ssr_local"))
    assert "main/mutational_hotspot.csv" in result_files(output)
    return output, wall


def test_the_ssr_analysis_through_slurm_holds_the_same_rows_as_a_local_run(cluster, tmp_path, local_ssr):
    expected, local_wall = local_ssr
    output, result, wall = run_ssr(tmp_path / "slurm", ["--profile", str(PROFILE)])
    jobs = record_run_figures("SSR analysis", cluster, result.stderr, wall, local_wall)
    assert jobs and {j["state"] for j in jobs} == {"COMPLETED"}
    assert result_files(output) == result_files(expected)
    for relative in result_files(expected):
        built, wanted = (output / relative).read_text(), (expected / relative).read_text()
        assert table_rows(built) == table_rows(wanted), relative


# ---- the service with TRACKPREP_SNAKEMAKE_PROFILE ----------------------------------------------------------

def slurm_service(service_factory, name: str = "svc", **env):
    """A `trackprep serve` whose jobs go through the single-node profile (a path relative to the checkout)."""
    settings = {"TRACKPREP_SNAKEMAKE_PROFILE": "config/profiles/slurm-single-node",
                # snakemake needs a moment after SIGINT to scancel its cluster jobs before the group is killed
                "TRACKPREP_CANCEL_GRACE": "30", **env}
    return service_factory(name, **settings).start()


def run_ids_of(svc, job_id: str) -> list[str]:
    return slurm_run_ids((svc.data_dir / "jobs" / job_id / "snakemake.log").read_text(errors="replace"))


def active_cluster_jobs(cluster: SlurmCluster, run_ids: list[str]) -> list[list[str]]:
    """(id, name, state) of these runs' jobs that are still pending, running or being torn down."""
    return [row for row in cluster.active_jobs() if row[1] in run_ids]


def wait_until(predicate, what: str, timeout: float = 300, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step)


def test_a_service_job_runs_on_slurm_and_reports_progress_and_results(cluster, service_factory):
    svc = slurm_service(service_factory)
    log = svc.base / "serve.log"
    wait_until(lambda: re.search(r"warm launcher \d+ ready", log.read_text()), "the warm launcher", 120)
    assert svc.register("x.bam", TRACKS / "pybedtools_x.namesorted.bam").status_code == 201
    started = svc.get("/data/x.bam")
    assert started.status_code == 202
    job_id = started.json()["job_id"]

    seen, ended_at = [], None
    while True:
        job = svc.get(f"/jobs/{job_id}").json()
        seen.append(job)
        if job["status"] in ENDED:
            ended_at = time.time()
            break
        assert len(seen) < 3000, f"job still {job['status']} after {len(seen)} polls"
        time.sleep(0.1)
    assert job["status"] == "completed", job
    assert job["stages_total"] and job["stages_done"] == job["stages_total"] and job["progress"] == 1
    assert "running" in {j["status"] for j in seen}
    # the profile's run was forked from the warm launcher like a local one (--profile is one more argument)
    assert re.search(rf"job {job_id} \(\w+\): started snakemake pid \d+ \(forked\)", log.read_text())

    (run_id,) = run_ids_of(svc, job_id)
    jobs = slurm_jobs(cluster, run_id)
    assert jobs and {j["state"] for j in jobs} == {"COMPLETED"}
    last_end = max(j["end"] for j in jobs)
    latency = round(ended_at - last_end, 1)
    FIGURES["service: status latency, last SLURM job end -> /jobs says completed (s)"] = latency

    served = svc.fetch("/data/x.bam")
    assert served.status_code == 200
    with pysam.AlignmentFile(str(TRACKS / "pybedtools_x.namesorted.bam")) as source:
        expected = sorted(r.to_string() for r in source)
    path = svc.base / "served.bam"
    path.write_bytes(served.content)
    with pysam.AlignmentFile(str(path)) as bam:
        assert bam.header.to_dict()["HD"]["SO"] == "coordinate"
        assert sorted(r.to_string() for r in bam) == expected


def test_an_ssr_analysis_submitted_to_the_service_runs_on_slurm(cluster, service_factory, local_ssr):
    expected, _ = local_ssr
    svc = slurm_service(service_factory)
    params = yaml.safe_load((REPO / "config" / "ssr.yaml").read_text())["ssr"]["perf_params"]
    uploads = {"fasta_file": "1small.fa", "categories_file": "3.tsv", "gene_bed": "2.bed"}
    handles = {field: open(CROSSROAD / name, "rb") for field, name in uploads.items()}
    try:
        response = svc.http.post(svc.url("/analyze_ssr/"), files=handles, timeout=120,
                                 data={"perf_params": json.dumps(params), "flanks": "true"})
    finally:
        for handle in handles.values():
            handle.close()
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    job = svc.wait_job(job_id, timeout=600)
    assert job["status"] == "completed", job
    (run_id,) = run_ids_of(svc, job_id)
    assert {j["state"] for j in slurm_jobs(cluster, run_id)} == {"COMPLETED"}

    listed = sorted(f["path"] for f in svc.get(f"/api/job/{job_id}/files").json()["files"])
    assert listed == result_files(expected)
    for relative in listed:
        served = svc.get(f"/api/job/{job_id}/download/{relative}")
        assert served.status_code == 200
        assert table_rows(served.text) == table_rows((expected / relative).read_text()), relative


def test_a_failing_rule_on_slurm_reaches_the_job_record(cluster, service_factory):
    svc = slurm_service(service_factory)
    fake = svc.base / "sources" / "not_really.bam"
    shutil.copy(TRACKS / "htslib_index.vcf", fake)  # text registered as BAM: samtools_sort refuses it
    assert svc.register("not_really.bam", fake, format="bam").status_code == 201
    job = svc.wait_job(svc.get("/data/not_really.bam").json()["job_id"], timeout=300)
    assert job["status"] == "failed", job
    assert job["error"]["rule"] == "samtools_sort", job["error"]
    assert "registered as BAM" in json.dumps(job["error"]), job["error"]
    assert not (svc.cache / "v1" / "bam" / md5sum(fake) / "data.bam").exists()


def test_the_concurrency_bound_holds_on_the_cluster(cluster, service_factory, file_server):
    svc = slurm_service(service_factory, TRACKPREP_ALLOWED_HOSTS=file_server.host,
                        TRACKPREP_MAX_CONCURRENT_JOBS="1")
    file_server.gate.clear()
    ids = []
    for name in ("htslib_bed_file.bed", "htslib_gff_file.gff"):
        shutil.copy(TRACKS / name, file_server.root / name)
        registered = svc.register(name, access_url=file_server.url(name), md5=md5sum(TRACKS / name))
        assert registered.status_code == 201
        ids.append(name)
    job_ids = [svc.get(f"/data/{i}").json()["job_id"] for i in ids]
    file_server.wait_open(1, timeout=300)  # the first job's fetch is running inside its SLURM allocation
    assert len(svc.jobs(status="running")) == 1 and len(svc.jobs(status="queued")) == 1
    running_names = {name for _, name, _ in cluster.active_jobs()}
    assert len(running_names) == 1, cluster.active_jobs()  # one snakemake run's jobs on the cluster, not two
    file_server.gate.set()
    for job_id in job_ids:
        assert svc.wait_job(job_id, timeout=600)["status"] == "completed"
    assert file_server.max_open == 1


def snakemake_pid(svc, job_id: str) -> int:
    """The pid of the Snakemake running a job, as the job store records it (a forked run's command line is the
    launcher's, so it cannot be found by name)."""
    with sqlite3.connect(svc.data_dir / "trackprep.sqlite") as db:
        (pid,) = db.execute("SELECT pid FROM jobs WHERE id = ?", (job_id,)).fetchone()
    job_dir = str((svc.data_dir / "jobs" / job_id).resolve())
    assert os.readlink(f"/proc/{pid}/cwd") == job_dir  # the run itself: it works in the job's folder
    return pid


@pytest.mark.parametrize("how", ["cancel", "timeout", "killed"])
def test_cancel_or_timeout_leaves_nothing_in_squeue(cluster, service_factory, file_server, how):
    env = {"TRACKPREP_ALLOWED_HOSTS": file_server.host}
    if how == "timeout":
        env["TRACKPREP_JOB_TIMEOUT"] = "45"
    svc = slurm_service(service_factory, **env)
    file_server.gate.clear()  # the fetch inside the SLURM job hangs mid-body until we let it go
    name = "htslib_index.vcf"
    shutil.copy(TRACKS / name, file_server.root / name)
    assert svc.register(name, access_url=file_server.url(name), md5=md5sum(TRACKS / name)).status_code == 201
    job_id = svc.get(f"/data/{name}").json()["job_id"]
    file_server.wait_open(1, timeout=300)
    run_ids = run_ids_of(svc, job_id)
    assert run_ids and active_cluster_jobs(cluster, run_ids), "the job should be running on the cluster"

    stop_at = time.monotonic()
    if how == "cancel":
        cancelled = svc.http.delete(svc.url(f"/jobs/{job_id}"), headers=svc.auth(), timeout=60)
        assert cancelled.status_code in (200, 202)
    elif how == "killed":  # Snakemake dies without a chance to scancel: the dispatcher must end its jobs
        os.kill(snakemake_pid(svc, job_id), signal.SIGKILL)
    job = svc.wait_job(job_id, timeout=300)
    ended_at = time.monotonic()
    assert job["status"] == ("cancelled" if how == "cancel" else "failed"), job
    # nothing of the run may still be pending or running once its trackprep job has ended; a job that slurmd
    # is still tearing down (COMPLETING, at most KillWait) is allowed to finish leaving
    assert not [row for row in active_cluster_jobs(cluster, run_ids) if row[2] != "COMPLETING"]
    wait_until(lambda: not active_cluster_jobs(cluster, run_ids), "the run's jobs to leave squeue", 60)
    if how == "cancel":
        FIGURES["service: DELETE -> job cancelled (s)"] = round(ended_at - stop_at, 1)
        FIGURES["service: DELETE -> nothing of the run in squeue (s)"] = round(time.monotonic() - stop_at, 1)
    states = {j["state"] for run_id in run_ids for j in slurm_jobs(cluster, run_id)}
    assert states and states <= {"CANCELLED", "FAILED", "COMPLETED"}, states
    file_server.gate.set()
    assert not (svc.cache / "v1" / "vcf" / md5sum(TRACKS / name) / "data.vcf.gz").exists()
