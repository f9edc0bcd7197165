"""The cache limit and the result TTL (webapp/cache_gc.py): least recently served first, never what is pinned,
streamed or being built; an evicted artifact is rebuilt on its next request with the same bytes; finished jobs
past the TTL are `expired` and their results answer 410. A real service, real builds, `trackprep gc` as an
operator runs it."""
from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from conftest import TRACKS, FileServer, Service, md5sum
from test_ssr_api import submit, tiny_fasta

SMALL = {"a": TRACKS / "htslib_bed_file.bed", "b": TRACKS / "pybedtools_example.narrowPeak",
         "c": TRACKS / "htslib_gff_file.gff"}
FMT = {"a": "bed", "b": "narrowpeak", "c": "gff"}


def gc(svc: Service, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`trackprep gc` against the service's data dir, with extra settings."""
    result = subprocess.run([sys.executable, "-m", "webapp.cli", "gc", *args], env={**svc.env, **env},
                            capture_output=True, text=True, timeout=120, cwd=svc.base)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def artifact_dir(svc: Service, name: str, fmt: str | None = None) -> Path:
    """Where the documented layout puts a source's artifact: v<N>/<format>/<md5>/."""
    versions = [path for path in svc.cache.glob("v*") if path.is_dir()]
    assert len(versions) == 1, versions
    return versions[0] / (fmt or FMT[name]) / md5sum(SMALL[name])


def source_dir(svc: Service, path: Path) -> Path:
    """Where a source's verified copy lives: src/<md5>/."""
    return svc.cache / "src" / md5sum(path)


def tree_bytes(*folders: Path) -> int:
    return sum(path.stat().st_size for folder in folders if folder.exists() for path in folder.rglob("*")
               if path.is_file())


def item_bytes(svc: Service, folder: Path) -> int:
    """A cache item's bytes as docs/api.md counts them: its folder and its logs folder."""
    rel = folder.relative_to(svc.cache)
    return tree_bytes(folder, svc.cache / "logs" / rel)


def snapshot(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): path.stat().st_size for path in root.rglob("*") if path.is_file()}


def served_rows(svc: Service) -> set[str]:
    with sqlite3.connect(svc.data_dir / "trackprep.sqlite") as conn:
        return {row[0] for row in conn.execute("SELECT item FROM cache_served")}


def wait_for(predicate, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return found


def rows(report: str, action: str) -> int:
    """How many rows of a `trackprep gc` table have this action."""
    return sum(line.startswith(action + " ") for line in report.splitlines())


def metric(svc: Service, name: str) -> float:
    text = svc.get("/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")
               or line.startswith(name + "{"))


def build_small(svc: Service, names=("a", "b", "c"), **fields) -> dict[str, bytes]:
    """Register and build the small sources; their artifacts' bytes."""
    built = {}
    for name in names:
        assert svc.register(name, SMALL[name], **fields).status_code == 201
        response = svc.fetch(f"/data/{name}")
        assert response.status_code == 200, response.text
        built[name] = response.content
    return built


def test_least_recently_served_go_first_and_come_back_identical(service_factory):
    svc = service_factory(TRACKPREP_SERVED_FLUSH_INTERVAL="0.2").start()
    built = build_small(svc)
    # served in the order c, a, b; none of the verified source copies is ever served
    assert svc.get("/data/c", headers={"Range": "bytes=0-99"}).status_code == 206  # the range fast path
    assert svc.get("/data/a").status_code == 200
    assert svc.get("/index/b").status_code == 200
    arts = {name: artifact_dir(svc, name) for name in SMALL}
    wait_for(lambda: {str(arts[n].relative_to(svc.cache)) for n in SMALL} <= served_rows(svc),
             "the last-served times were not written")
    sources = [source_dir(svc, path) for path in SMALL.values()]
    total = sum(item_bytes(svc, folder) for folder in [*arts.values(), *sources])
    # room for all but the three source copies and c's artifact: exactly those four are the oldest
    limit = total - sum(item_bytes(svc, folder) for folder in sources) - item_bytes(svc, arts["c"])
    result = gc(svc, TRACKPREP_CACHE_MAX_BYTES=str(limit), TRACKPREP_CACHE_LOW_WATER="1")
    assert not arts["c"].exists() and not any(folder.exists() for folder in sources), result.stdout
    assert arts["a"].is_dir() and arts["b"].is_dir(), result.stdout
    evicted = [line.split()[-1] for line in result.stdout.splitlines() if line.startswith("evicted")]
    assert sorted(evicted) == sorted(str(f.relative_to(svc.cache)) for f in [arts["c"], *sources])
    assert "freed" in result.stdout and "KiB" in result.stdout
    assert metric(svc, "trackprep_cache_evictions_total") == 4
    # under the limit now: a second pass frees nothing
    assert "nothing to remove" in gc(svc, TRACKPREP_CACHE_MAX_BYTES=str(limit)).stdout
    # an evicted artifact is a miss like any other: 202, rebuilt, the same bytes
    again = svc.get("/data/c")
    assert again.status_code == 202, again.text
    assert svc.wait_job(again.json()["job_id"])["status"] == "completed"
    assert svc.get("/data/c").content == built["c"]
    assert svc.get("/data/a").content == built["a"]


def test_the_dispatcher_evicts_after_each_build_keeping_what_it_just_built(service_factory):
    svc = service_factory(TRACKPREP_CACHE_MAX_BYTES="1").start()
    first = build_small(svc, ["a"])["a"]
    art_a = artifact_dir(svc, "a")
    assert art_a.is_dir()  # just built: kept although the cache is over its limit
    build_small(svc, ["b"])
    wait_for(lambda: not art_a.exists(), "the artifact built first was not evicted after the second build")
    assert artifact_dir(svc, "b").is_dir()
    wait_for(lambda: metric(svc, "trackprep_cache_evictions_total") >= 2, "evictions were not counted")
    again = svc.get("/data/a")
    assert again.status_code == 202
    assert svc.wait_job(again.json()["job_id"])["status"] == "completed"
    assert svc.get("/data/a").content == first


def test_pinned_sources_stay_and_a_dry_run_removes_nothing(service_factory):
    svc = service_factory().start()
    assert svc.register("p", SMALL["a"], pinned=True).json()["pinned"] is True
    build_small(svc, ["b"])
    assert svc.register("r", SMALL["c"], access="restricted").status_code == 201  # evicted like any other
    assert svc.fetch("/data/r", headers=svc.auth()).status_code == 200
    assert svc.fetch("/data/p").status_code == 200
    assert svc.get("/files/p").json()["pinned"] is True and svc.get("/files/b").json()["pinned"] is False
    assert svc.register("x", SMALL["b"], pinned="yes").status_code == 422
    pinned = [artifact_dir(svc, "a"), source_dir(svc, SMALL["a"])]
    restricted = svc.cache / "restricted"
    others = [artifact_dir(svc, "b"), source_dir(svc, SMALL["b"]),
              restricted / artifact_dir(svc, "c").relative_to(svc.cache),
              restricted / source_dir(svc, SMALL["c"]).relative_to(svc.cache)]
    assert all(folder.is_dir() for folder in others)

    before = snapshot(svc.cache)
    dry = gc(svc, "--dry-run", TRACKPREP_CACHE_MAX_BYTES="1")
    assert snapshot(svc.cache) == before
    would = {line.split()[-1] for line in dry.stdout.splitlines() if line.startswith("would evict")}
    assert would == {str(folder.relative_to(svc.cache)) for folder in others}, dry.stdout
    kept = {line.split()[-1] for line in dry.stdout.splitlines() if line.startswith("kept: pinned")}
    assert kept == {str(folder.relative_to(svc.cache)) for folder in pinned}, dry.stdout
    assert "would free" in dry.stdout

    result = gc(svc, TRACKPREP_CACHE_MAX_BYTES="1")
    assert all(folder.is_dir() for folder in pinned) and not any(folder.exists() for folder in others)
    assert metric(svc, "trackprep_cache_evictions_total") == len(others)
    assert "kept: pinned" in result.stdout
    # the same record posted again unpins it; then it goes like any other
    unpinned = svc.register("p", SMALL["a"], pinned=False)
    assert unpinned.status_code == 200 and unpinned.json()["pinned"] is False
    assert svc.register("p", SMALL["a"]).json()["pinned"] is False  # saying nothing changes nothing
    gc(svc, TRACKPREP_CACHE_MAX_BYTES="1")
    assert not any(folder.exists() for folder in pinned)


def big_csv(path: Path, size: int = 12 << 20) -> Path:
    rng = random.Random(15)
    with open(path, "w") as handle:
        handle.write("name,value\n")
        while handle.tell() < size:
            handle.write("".join(f"{rng.getrandbits(64):016x},{rng.random()}\n" for _ in range(10_000)))
    return path


def test_an_open_range_stream_keeps_its_folder(service_factory, file_server):
    svc = service_factory(TRACKPREP_ALLOWED_HOSTS=file_server.host).start()
    build_small(svc, ["a"])
    big = big_csv(file_server.root / "big.csv")
    assert svc.register("big", access_url=file_server.url("big.csv"), md5=md5sum(big)).status_code == 201
    assert svc.fetch("/data/big", headers={"Range": "bytes=0-9"}).status_code == 206
    folder = source_dir(svc, big)
    assert folder.is_dir()

    # a real client that reads slowly: a small receive window, so the server cannot push the body out at once
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(("127.0.0.1", svc.port))
    client.sendall(b"GET /data/big HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    received = b""
    while b"\r\n\r\n" not in received:
        received += client.recv(4096)
    head, body = received.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    try:
        result = gc(svc, TRACKPREP_CACHE_MAX_BYTES="1")
        assert folder.is_dir(), result.stdout
        assert "kept: streaming" in result.stdout and str(folder.relative_to(svc.cache)) in result.stdout
        assert not artifact_dir(svc, "a").exists()  # the collection ran: the rest went
        while chunk := client.recv(1 << 16):
            body += chunk
    finally:
        client.close()
    assert len(body) == big.stat().st_size and body == big.read_bytes()
    # the stream has ended: its folder goes now
    wait_for(lambda: "evicted" in gc(svc, TRACKPREP_CACHE_MAX_BYTES="1").stdout and not folder.exists(),
             "the folder stayed after its stream ended")


def test_a_folder_being_built_is_kept(service_factory, tmp_path):
    (tmp_path / "remote").mkdir()
    server = FileServer(tmp_path / "remote", head=2 << 20)  # holds each body after its first 2 MiB
    try:
        svc = service_factory(TRACKPREP_ALLOWED_HOSTS=server.host).start()
        build_small(svc, ["a"])
        big = big_csv(server.root / "big.csv", 4 << 20)
        server.gate.clear()
        assert svc.register("big", access_url=server.url("big.csv"), md5=md5sum(big)).status_code == 201
        job_id = svc.get("/data/big").json()["job_id"]
        server.wait_open(1)
        folder = source_dir(svc, big)
        wait_for(lambda: tree_bytes(folder) > 0, "the fetch wrote nothing yet")  # its temp file, growing
        result = gc(svc, TRACKPREP_CACHE_MAX_BYTES="1")
        assert folder.is_dir() and "kept: building" in result.stdout, result.stdout
        assert not artifact_dir(svc, "a").exists()  # the collection ran: the rest went
        server.gate.set()
        assert svc.wait_job(job_id)["status"] == "completed"
        assert svc.get("/data/big", headers={"Range": "bytes=0-9"}).content == big.read_bytes()[:10]
    finally:
        server.close()


def test_finished_jobs_past_the_ttl_expire_and_their_results_answer_410(service_factory, tmp_path):
    svc = service_factory().start()
    fasta = tiny_fasta(tmp_path / "plain.fa")
    ssr = submit(svc, {"fasta_file": fasta}, perf_params=json.dumps({"minLen": 10})).json()
    assert svc.wait_job(ssr["job_id"])["status"] == "completed"
    assert svc.get(f"/api/job/{ssr['job_id']}/plot_data/plot_source").status_code == 200
    build_small(svc, ["a"])
    preprocess = svc.jobs(kind="preprocess")[0]["job_id"]
    analysis = svc.cache / "ssr" / "v1" / ssr["analysis_key"]
    job_dirs = [svc.data_dir / "jobs" / job for job in (ssr["job_id"], preprocess)]
    assert analysis.is_dir() and all(folder.is_dir() for folder in job_dirs)

    assert "nothing to remove" in gc(svc, TRACKPREP_RESULT_TTL_DAYS="1").stdout  # a day is not over yet
    time.sleep(1.0)  # both jobs finished over a second ago: past a TTL of 0.00001 days (0.864 s)
    dry = gc(svc, "--dry-run", TRACKPREP_RESULT_TTL_DAYS="0.00001")
    assert rows(dry.stdout, "would expire") == 2 and analysis.is_dir(), dry.stdout
    result = gc(svc, TRACKPREP_RESULT_TTL_DAYS="0.00001")
    assert rows(result.stdout, "expired") == 2, result.stdout
    assert not analysis.exists() and not any(folder.exists() for folder in job_dirs)
    for job in (ssr["job_id"], preprocess):
        view = svc.get(f"/jobs/{job}", headers=svc.auth()).json()
        assert view["status"] == "expired" and "TRACKPREP_RESULT_TTL_DAYS" in view["message"], view
    assert svc.get(f"/api/job/{ssr['job_id']}/status").json()["status"] == "expired"
    for path in ("plot_data/plot_source", "download_zip", "files", "download/intrim/reformatted.tsv", "logs"):
        gone = svc.get(f"/api/job/{ssr['job_id']}/{path}")
        assert gone.status_code == 410, (path, gone.text)
        assert gone.json()["error"] == "expired" and "expired" in gone.json()["detail"]
    assert artifact_dir(svc, "a").is_dir()  # artifacts are the cache limit's business, not the TTL's
    assert svc.get("/data/a").status_code == 200
    assert [job["job_id"] for job in svc.jobs(status="expired")] != []
    # the same analysis submitted again runs anew
    again = submit(svc, {"fasta_file": fasta}, perf_params=json.dumps({"minLen": 10})).json()
    assert again["job_id"] != ssr["job_id"]
    assert svc.wait_job(again["job_id"])["status"] == "completed"
    assert os.path.isdir(analysis)
