#!/usr/bin/env python3
"""Soak: a bounded mixed load against the production setup on one machine, for a set time (issue 15 item 8).

    python3 bench/soak.py                   # 120 s
    python3 bench/soak.py --seconds 180

Starts gunicorn (``config/gunicorn.conf.py``, 2 web workers x 4 threads) and one ``trackprep worker`` on a fresh
data dir under ``bench/work/soak/``, builds a hot set of artifacts, then runs at once, until the time is up:

- **range**: 4 clients reading random 64 KiB ranges of the hot artifacts (every answer compared with the bytes of
  a whole download taken at the start);
- **miss**: 1 client registering a fresh generated BED (new md5 each time) and following it to its artifact;
- **ssr**: 1 client submitting the croSSRoad sample with a new ``maxLen`` (a new analysis) and waiting for it,
  then submitting it again identically (must reuse the result: same job id, no new job);
- **cancel**: 1 client queuing a miss or an SSR analysis and cancelling it (``DELETE /jobs/{id}``) at a random
  moment;
- **ops**: ``/health`` and ``/metrics`` once a second;
- **eviction** (only when this checkout honours ``TRACKPREP_CACHE_MAX_BYTES``): the cache limit is set to twice the
  hot set, so misses evict; a range read of an evicted artifact answers 202 and is followed like a miss.

Every 5 s it samples RSS, open file descriptors and threads of the web side (gunicorn master + workers, summed)
and of the worker process (without its Snakemake children) and fits a line through the samples after the first
fifth of the run (warm-up). It prints errors by class (every 5xx, connection error, failed job, wrong bytes or
unexpected status is one; must be 0), p50/p99 latency per class, and the slopes, and appends the whole result to
``bench/work/soak-results.jsonl``. Exit status 1 when there was an error.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
from webapp.settings import SETTINGS  # noqa: E402

LOG = logging.getLogger("bench.soak")
TRACKS = (PROJECT / ".." / "shared" / "data" / "tracks").resolve()
CROSSROAD = (PROJECT / ".." / "shared" / "data" / "crossroad").resolve()
TOKEN = "soak-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOT = ["pybedtools_x.bam", "htslib_index.vcf", "pybedtools_CTCF_Kc_Bushey_2009.bed", "pybedtools_hg19.gff"]
SSR_PARAMS = {"mono": 12, "di": 6, "tri": 4, "tetra": 3, "penta": 3, "hexa": 2, "minLen": 1000,
              "maxLen": 10000000, "unfair": 0, "thread": 1, "min_repeat_count": 1, "min_genome_count": 2}
RANGE = 64 * 1024
SAMPLE_EVERY = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def md5sum(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


class Tally:
    """Latencies and errors per request class, shared by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)

    def ok(self, cls: str, seconds: float) -> None:
        with self.lock:
            self.latency[cls].append(seconds)

    def error(self, cls: str, what: str) -> None:
        with self.lock:
            self.errors[cls].append(what)
        LOG.error("%s: %s", cls, what)

    def count(self, name: str) -> None:
        with self.lock:
            self.counts[name] += 1


def proc_figures(pid: int) -> tuple[int, int, int]:
    """(RSS bytes, open fds, threads) of one process; zeros when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0, 0, 0
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) * 1024, fds, int(fields["Threads"])


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) pairs, per minute."""
    if len(samples) < 3:
        return 0.0
    xs, ys = [s[0] for s in samples], [s[1] for s in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


class Soak:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.base = Path(args.workdir).resolve()
        shutil.rmtree(self.base, ignore_errors=True)
        (self.base / "sources").mkdir(parents=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "TRACKPREP_DATA_DIR": str(self.base / "data"), "TRACKPREP_SAMPLES": "none",
                    "TRACKPREP_SOURCE_ROOTS": f"{TRACKS}:{self.base / 'sources'}", "TRACKPREP_API_TOKEN": TOKEN,
                    "TRACKPREP_MAX_CONCURRENT_JOBS": "2", "TRACKPREP_SNAKEMAKE_CORES": "1",
                    "TRACKPREP_CANCEL_GRACE": "3", "TRACKPREP_POLL_INTERVAL": "0.2",
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")]))}
        self.tally = Tally()
        self.stop = threading.Event()
        self.whole: dict[str, bytes] = {}
        self.samples: dict[str, list[tuple[float, int, int, int]]] = {"web": [], "worker": []}
        self.rng = random.Random(args.seed)
        self.evicting = "TRACKPREP_CACHE_MAX_BYTES" in SETTINGS
        self.procs: list[subprocess.Popen] = []

    # ---- the service --------------------------------------------------------------------------------------
    def start(self) -> None:
        log = open(self.base / "service.log", "ab")
        self.web = subprocess.Popen([shutil.which("gunicorn") or "gunicorn", "-c", "config/gunicorn.conf.py",
                                     "--workers", "2", "--threads", "4", "--bind", f"127.0.0.1:{self.port}",
                                     "webapp.app:create_app()"], env=self.env, cwd=PROJECT, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.worker = subprocess.Popen([sys.executable, "-m", "webapp.cli", "worker"], env=self.env, cwd=self.base,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs = [self.web, self.worker]
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or self.web.poll() is not None:
                raise SystemExit(f"the service did not come up; see {self.base / 'service.log'}")
            time.sleep(0.3)

    def shutdown(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def follow(self, http: requests.Session, job_id: str, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = http.get(f"{self.url}/jobs/{job_id}", headers=AUTH, timeout=30).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                return job
            time.sleep(0.3)
        raise TimeoutError(f"job {job_id} did not end")

    def fetch(self, http: requests.Session, path: str, headers: dict | None = None) -> requests.Response:
        response = http.get(f"{self.url}{path}", headers={**AUTH, **(headers or {})}, timeout=60)
        while response.status_code == 202:
            job = self.follow(http, response.json()["job_id"])
            if job["status"] != "completed":
                raise RuntimeError(f"{path}: job {job['job_id']} {job['status']}: {job.get('error')}")
            response = http.get(f"{self.url}{path}", headers={**AUTH, **(headers or {})}, timeout=60)
        return response

    def prepare(self) -> None:
        http = requests.Session()
        for name in HOT:
            body = {"id": name, "access_url": str(TRACKS / name), "md5": md5sum(TRACKS / name)}
            assert http.post(f"{self.url}/files", json=body, headers=AUTH, timeout=60).status_code == 201
            response = self.fetch(http, f"/data/{name}")
            assert response.status_code == 200, response.text
            self.whole[name] = response.content
        if self.evicting:  # restart with a limit of twice the hot set, so misses must evict
            self.shutdown()
            self.env["TRACKPREP_CACHE_MAX_BYTES"] = str(2 * sum(len(b) for b in self.whole.values()))
            self.start()

    # ---- the clients --------------------------------------------------------------------------------------
    def pause(self, http: requests.Session, seconds: float) -> None:
        """Wait between requests; a client idle past gunicorn's 2 s keep-alive then opens a new connection (as
        browsers do) instead of racing the server's close of the old one (a reset no server fault causes)."""
        self.stop.wait(seconds)
        if seconds >= 1.0:
            http.close()

    def run_client(self, cls: str, step) -> None:
        http = requests.Session()
        while not self.stop.is_set():
            try:
                step(http)
            except Exception as err:  # every unexpected answer or exception is an error of its class
                self.tally.error(cls, f"{type(err).__name__}: {err}")
                time.sleep(0.5)

    def range_read(self, http: requests.Session) -> None:
        name = self.rng.choice(HOT)
        whole = self.whole[name]
        start = self.rng.randrange(max(1, len(whole) - RANGE))
        header = {"Range": f"bytes={start}-{start + RANGE - 1}"}
        began = time.perf_counter()
        response = http.get(f"{self.url}/data/{name}", headers={**AUTH, **header}, timeout=60)
        if response.status_code == 202:  # evicted: rebuilt like any miss
            self.tally.count("range_after_eviction")
            response = self.fetch(http, f"/data/{name}", header)
        if response.status_code != 206 or response.content != whole[start:start + RANGE]:
            raise RuntimeError(f"range of {name} at {start}: {response.status_code}, wrong or short bytes")
        self.tally.ok("range", time.perf_counter() - began)

    def new_bed(self, label: str) -> tuple[str, Path]:
        path = self.base / "sources" / f"{label}-{self.rng.randrange(1 << 40):x}.bed"
        lines = [f"chr{self.rng.randrange(1, 4)}\t{p}\t{p + 100}\tr{i}\n"
                 for i, p in enumerate(self.rng.sample(range(10_000_000), 20_000))]
        path.write_text("".join(lines))
        return path.name, path

    def miss(self, http: requests.Session) -> None:
        name, path = self.new_bed("miss")
        began = time.perf_counter()
        body = {"id": name, "access_url": str(path), "md5": md5sum(path)}
        response = http.post(f"{self.url}/files", json=body, headers=AUTH, timeout=60)
        if response.status_code != 201:
            raise RuntimeError(f"register {name}: {response.status_code} {response.text[:200]}")
        response = self.fetch(http, f"/data/{name}")
        if response.status_code != 200 or response.content[:2] != b"\x1f\x8b":
            raise RuntimeError(f"miss {name}: {response.status_code}")
        self.tally.ok("miss", time.perf_counter() - began)
        self.pause(http, 2.0)

    def submit_ssr(self, http: requests.Session, max_len: int) -> requests.Response:
        """The croSSRoad sample; each ``maxLen`` (every genome is shorter) is another analysis, same tables."""
        params = dict(SSR_PARAMS, maxLen=max_len)
        files = {key: open(CROSSROAD / name, "rb") for key, name in
                 (("fasta_file", "1small.fa"), ("categories_file", "3.tsv"), ("gene_bed", "2.bed"))}
        try:
            return http.post(f"{self.url}/analyze_ssr/", files=files, data={"perf_params": json.dumps(params)},
                             timeout=120)
        finally:
            for handle in files.values():
                handle.close()

    def ssr(self, http: requests.Session) -> None:
        max_len = self.rng.randrange(1_000_000, 10_000_000)
        began = time.perf_counter()
        response = self.submit_ssr(http, max_len)
        self.tally.ok("ssr_submit", time.perf_counter() - began)
        if response.status_code not in (200, 202):
            raise RuntimeError(f"ssr submit: {response.status_code} {response.text[:200]}")
        job = self.follow(http, response.json()["job_id"])
        if job["status"] != "completed":
            raise RuntimeError(f"ssr job {job['job_id']} {job['status']}: {job.get('error')}")
        self.tally.ok("ssr_done", time.perf_counter() - began)
        again = self.submit_ssr(http, max_len)
        if again.status_code not in (200, 202) or again.json()["job_id"] != job["job_id"]:
            raise RuntimeError(f"identical ssr submission not reused: {again.status_code} {again.text[:200]}")
        self.pause(http, 2.0)

    def cancel(self, http: requests.Session) -> None:
        if self.rng.random() < 0.5:
            name, path = self.new_bed("cancel")
            body = {"id": name, "access_url": str(path), "md5": md5sum(path)}
            http.post(f"{self.url}/files", json=body, headers=AUTH, timeout=60).raise_for_status()
            response = http.get(f"{self.url}/data/{name}", headers=AUTH, timeout=60)
        else:
            response = self.submit_ssr(http, self.rng.randrange(10_000_000, 20_000_000))
        if response.status_code not in (200, 202):
            raise RuntimeError(f"cancel: queuing answered {response.status_code} {response.text[:200]}")
        self.pause(http, self.rng.uniform(0.0, 3.0))
        began = time.perf_counter()
        answer = http.delete(f"{self.url}/jobs/{response.json()['job_id']}", headers=AUTH, timeout=60)
        if answer.status_code not in (200, 202, 409):  # 409: it had ended already
            raise RuntimeError(f"cancel: {answer.status_code} {answer.text[:200]}")
        self.tally.ok("cancel", time.perf_counter() - began)
        job = self.follow(http, response.json()["job_id"])
        self.tally.count(f"cancel_{job['status']}")
        if job["status"] == "failed":
            raise RuntimeError(f"cancelled job {job['job_id']} failed: {job.get('error')}")
        self.pause(http, 3.0)

    def ops(self, http: requests.Session) -> None:
        for cls, path in (("health", "/health"), ("metrics", "/metrics")):
            began = time.perf_counter()
            response = http.get(f"{self.url}{path}", timeout=30)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
            self.tally.ok(cls, time.perf_counter() - began)
        self.pause(http, 1.0)

    # ---- resources ----------------------------------------------------------------------------------------
    def sample(self, t0: float) -> None:
        while not self.stop.wait(SAMPLE_EVERY):
            now = time.monotonic() - t0
            web = [proc_figures(pid) for pid in [self.web.pid, *children(self.web.pid)]]
            self.samples["web"].append((now, *(sum(f[i] for f in web) for i in range(3))))
            self.samples["worker"].append((now, *proc_figures(self.worker.pid)))

    def run(self) -> dict:
        self.start()
        try:
            self.prepare()
            t0 = time.monotonic()
            clients = [("range", self.range_read)] * 4 + [("miss", self.miss), ("ssr", self.ssr),
                                                         ("cancel", self.cancel), ("ops", self.ops)]
            threads = [threading.Thread(target=self.run_client, args=client, daemon=True) for client in clients]
            threads.append(threading.Thread(target=self.sample, args=(t0,), daemon=True))
            for thread in threads:
                thread.start()
            self.stop.wait(self.args.seconds)
            self.stop.set()
            for thread in threads:
                thread.join(timeout=700)
            elapsed = time.monotonic() - t0
        finally:
            self.shutdown()
        return self.report(elapsed)

    def report(self, elapsed: float) -> dict:
        latency = {cls: {"n": len(v), "p50_ms": round(1000 * statistics.median(v), 1),
                         "p99_ms": round(1000 * sorted(v)[min(len(v) - 1, int(0.99 * len(v)))], 1)}
                   for cls, v in sorted(self.tally.latency.items()) if v}
        resources = {}
        for side, samples in self.samples.items():
            kept = [s for s in samples if s[0] >= elapsed / 5]
            resources[side] = {}
            for i, name in enumerate(("rss_bytes", "fds", "threads"), start=1):
                values = [s[i] for s in kept]
                slope = slope_per_minute([(s[0], s[i]) for s in kept])
                resources[side][name] = {
                    "first": values[0] if values else None, "last": values[-1] if values else None,
                    "min": min(values, default=None), "max": max(values, default=None),
                    "slope_per_min": round(slope, 1),
                    "second_half_slope_per_min": round(slope_per_minute(
                        [(s[0], s[i]) for s in samples if s[0] >= elapsed / 2]), 1),
                    "slope_pct_of_mean_per_min": round(100 * slope / statistics.fmean(values), 2) if values else None}
        with open("/proc/loadavg") as handle:
            load = handle.read().split()[:3]
        return {"seconds": round(elapsed, 1), "seed": self.args.seed, "eviction": self.evicting,
                "errors": {cls: len(v) for cls, v in self.tally.errors.items()},
                "error_samples": {cls: v[:3] for cls, v in self.tally.errors.items()},
                "counts": dict(self.tally.counts), "latency": latency, "resources": resources,
                "samples": {side: [[round(s[0]), s[1] >> 20, s[2], s[3]] for s in samples]  # t, RSS MiB, fds, threads
                            for side, samples in self.samples.items()}, "load_average": load,
                "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--workdir", default=str(PROJECT / "bench" / "work" / "soak"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = Soak(args).run()
    print(json.dumps(result, indent=1))
    (PROJECT / "bench" / "work").mkdir(parents=True, exist_ok=True)
    with open(PROJECT / "bench" / "work" / "soak-results.jsonl", "a") as handle:
        handle.write(json.dumps(result) + "\n")
    return 1 if any(result["errors"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
