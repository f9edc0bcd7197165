"""GET /metrics against real servers: scraped with a real HTTP client and parsed with prometheus_client's own
parser; every counter moves by exactly what the test's own requests did. Then gunicorn with two web workers and
a separate `trackprep worker`: the scraped totals are the sums over all of those processes."""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import REPO, TRACKS, Service, dump

BED = TRACKS / "pybedtools_CTCF_Kc_Bushey_2009.bed"


def scrape(svc: Service) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics: {(name, sorted labels): value}."""
    response = requests.get(svc.url("/metrics"), timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def rule_names() -> set[str]:
    """Every rule and checkpoint the workflow declares (read from its .smk sources)."""
    text = "\n".join(path.read_text() for path in [REPO / "Snakefile", *(REPO / "rules").glob("*.smk")])
    return set(re.findall(r"^(?:rule|checkpoint)\s+(\w+)\s*:", text, re.M))


def settle(svc: Service, check, timeout: float = 15) -> dict:
    """Scrape until ``check(samples)`` holds (a request is counted once its response is closed)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(svc)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.2)


def test_counters_move_by_what_the_requests_did(service):
    assert service.register("bed", BED).status_code == 201
    before = scrape(service)
    assert value(before, "trackprep_cache_evictions_total") == 0
    started = time.monotonic()
    miss = service.get("/data/bed")
    assert miss.status_code == 202
    job = service.wait_job(miss.json()["job_id"])
    elapsed = time.monotonic() - started
    assert job["status"] == "completed", dump(job)
    whole = service.get("/data/bed")
    ranged = service.get("/data/bed", headers={"Range": "bytes=100-4195"})
    assert whole.status_code == 200 and ranged.status_code == 206 and len(ranged.content) == 4096
    sent = len(miss.content) + len(whole.content) + len(ranged.content)

    after = settle(service, lambda s: delta(before, s, "trackprep_http_requests_total", route="data",
                                            code="206") >= 1)
    assert delta(before, after, "trackprep_cache_misses_total", route="data") == 1
    assert delta(before, after, "trackprep_cache_hits_total", route="data") == 2
    for code in ("202", "200", "206"):
        assert delta(before, after, "trackprep_http_requests_total", route="data", code=code) == 1, code
    assert delta(before, after, "trackprep_http_response_bytes_total", route="data") == sent
    polls = delta(before, after, "trackprep_http_requests_total", route="other", code="200")
    assert polls >= 1  # the job polls (and the first scrape, which is counted once it has been sent)

    # the job: its state in the store, its outcome, its duration and its stages'
    assert delta(before, after, "trackprep_jobs", kind="preprocess", state="completed") == 1
    assert value(after, "trackprep_queue_length") == 0
    assert delta(before, after, "trackprep_jobs_finished_total", kind="preprocess", status="completed") == 1
    assert delta(before, after, "trackprep_job_duration_seconds_count", kind="preprocess", stage="job") == 1
    job_seconds = delta(before, after, "trackprep_job_duration_seconds_sum", kind="preprocess", stage="job")
    assert 0 < job_seconds <= elapsed
    stages = {dict(labels)["stage"]: count for (name, labels), count in after.items()
              if name == "trackprep_job_duration_seconds_count" and dict(labels)["kind"] == "preprocess"}
    stages.pop("job")
    assert stages and set(stages) <= rule_names(), stages
    stage_sum = sum(value(after, "trackprep_job_duration_seconds_sum", kind="preprocess", stage=stage)
                    for stage in stages)
    assert 0 < stage_sum <= job_seconds * 2 + 1  # two cores: two stages may overlap

    # state read at scrape time
    assert value(after, "trackprep_cache_size_bytes") == sum(
        path.stat().st_size for path in service.cache.rglob("*") if path.is_file() and not path.is_symlink())
    free = shutil.disk_usage(service.data_dir).free
    assert abs(value(after, "trackprep_disk_free_bytes", dir="data") - free) < max(free * 0.05, 64 << 20)
    assert value(after, "trackprep_max_queued_jobs") == 1000
    assert value(after, "trackprep_dispatchers_live") == 1
    assert value(after, "trackprep_cache_evictions_total") == 0


@pytest.mark.skipif(shutil.which("gunicorn") is None, reason="gunicorn is installed by .ci/setup")
def test_totals_are_summed_over_gunicorn_workers_and_the_dispatcher(service_factory):
    svc = service_factory("gunicorn")
    log = open(svc.base / "gunicorn.log", "ab")
    web = subprocess.Popen([shutil.which("gunicorn"), "-c", str(REPO / "config" / "gunicorn.conf.py"),
                            "--workers", "2", "--threads", "1", "--bind", f"127.0.0.1:{svc.port}",
                            "webapp.app:create_app()"], env=svc.env, cwd=svc.base, stdout=log,
                           stderr=subprocess.STDOUT)
    worker = None
    try:
        svc.wait_answering(web, log=svc.base / "gunicorn.log")
        assert svc.register("bed", BED).status_code == 201
        before = scrape(svc)
        misses, others = 40, 30

        def one(path: str) -> int:
            return requests.get(svc.url(path), timeout=60).status_code  # a new connection each

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(one, ["/data/bed"] * misses + ["/files/bed"] * others))
        assert codes == [202] * misses + [200] * others
        # both web workers answered some of them: each counts into its own file of the shared folder
        pids = {int(m.group(1)) for path in (svc.data_dir / "metrics").glob("counter_*.db")
                if (m := re.fullmatch(r"counter_(\d+)\.db", path.name))}
        assert len(pids - {web.pid}) >= 2, pids

        after = settle(svc, lambda s: delta(before, s, "trackprep_http_requests_total", route="data",
                                            code="202") >= misses)
        assert delta(before, after, "trackprep_http_requests_total", route="data", code="202") == misses
        assert delta(before, after, "trackprep_cache_misses_total", route="data") == misses
        assert delta(before, after, "trackprep_http_requests_total", route="other", code="200") >= others
        assert value(after, "trackprep_queue_length") == 1  # forty misses, one job
        assert value(after, "trackprep_jobs", kind="preprocess", state="queued") == 1

        # the dispatcher, another process, runs the job: its histogram shows up in the web workers' scrape
        worker = Service(svc.base, svc.env)
        worker.start("worker")
        job_id = svc.jobs(status="queued")[0]["job_id"]
        assert svc.wait_job(job_id)["status"] == "completed"
        done = settle(svc, lambda s: value(s, "trackprep_jobs_finished_total", kind="preprocess",
                                           status="completed") >= 1)
        assert value(done, "trackprep_jobs_finished_total", kind="preprocess", status="completed") == 1
        assert value(done, "trackprep_job_duration_seconds_count", kind="preprocess", stage="job") == 1
        assert value(done, "trackprep_queue_length") == 0
    finally:
        if worker is not None:
            worker.stop()
        web.terminate()
        web.wait(timeout=60)
