"""Many clients asking for one uncached target converge on one job (the partial unique index is the mutex)."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests
from conftest import TRACKS


def fetch_following_jobs(svc, path: str) -> tuple[str | None, bytes]:
    """GET a path until it is served; (the job id a 202 named, the bytes)."""
    session = requests.Session()
    response = session.get(svc.url(path), timeout=120)
    job_id = None
    while response.status_code == 202:
        job_id = response.json()["job_id"]
        svc.wait_job(job_id)
        response = session.get(svc.url(path), timeout=120)
    assert response.status_code == 200, response.text
    return job_id, response.content


def test_fifty_concurrent_gets_create_exactly_one_job(service):
    service.register("x", TRACKS / "pybedtools_x.bam")
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: fetch_following_jobs(service, "/data/x"), range(50)))
    job_ids = {job_id for job_id, _ in results if job_id}
    assert len(job_ids) == 1
    assert len(service.jobs()) == 1
    assert len({content for _, content in results}) == 1


def test_two_ids_with_one_md5_share_one_job(service):
    service.register("a", TRACKS / "htslib_index.vcf")
    service.register("b", TRACKS / "htslib_index.vcf")
    paths = ["/data/a", "/data/b"] * 25
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda path: fetch_following_jobs(service, path), paths))
    assert len({job_id for job_id, _ in results if job_id}) == 1
    assert len(service.jobs()) == 1
    assert len({content for _, content in results}) == 1


def test_a_herd_of_clients_without_keep_alive_all_get_served_by_one_job(service):
    """150 clients, each request on a fresh connection (requests.get), polling the job: more connections at
    once than waitress' default limit of 100, which used to leave requests unaccepted until clients gave
    up."""
    service.register("herd", TRACKS / "htslib_bed_file.bed")

    def fetch(_):
        response = requests.get(service.url("/data/herd"), timeout=120)
        while response.status_code == 202:
            status_url = service.url(response.headers["Location"])
            while requests.get(status_url, timeout=120).json()["status"] in ("queued", "running"):
                time.sleep(0.2)
            response = requests.get(service.url("/data/herd"), timeout=120)
        return response.status_code, response.content

    with ThreadPoolExecutor(150) as pool:
        results = list(pool.map(fetch, range(150)))
    assert {status for status, _ in results} == {200}
    assert len({content for _, content in results}) == 1
    assert len(service.jobs()) == 1
