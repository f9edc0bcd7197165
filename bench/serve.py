#!/usr/bin/env python3
"""Service benchmark, side by side in one run (issue 3, item 8).

    python3 bench/serve.py              # all three parts
    python3 bench/serve.py --quick      # shorter load runs, small miss-latency input only

(a) **Range reads**: random 64 KiB ``Range`` requests for one cached BAM, through ``trackprep serve``
    (waitress, embedded), through the production setup (gunicorn web workers + ``trackprep worker``), through
    that setup behind ``config/nginx/trackprep.conf`` (nginx caching public artifacts) and through nginx
    (Debian) serving the same file from disk. Load comes from ``wrk`` (C, keep-alive) with a Lua script that
    draws a fresh random offset per request; requests/s and the ratio to nginx are printed.
(b) **Cache-miss latency** (bench/serve_miss.py): from the first ``GET /data/{id}`` (202) until the artifact
    is servable and until its job reports completed, with the warm launcher and without, against the same
    tools typed by hand, for the small BAM, a 2M-read BAM and a 1M-record VCF; peak memory of the launcher and
    of each run.
(c) **Thundering herd**: 200 concurrent ``GET /data/{id}`` for one uncached source: how many jobs were created
    (must be 1) and the time until every client has the artifact.

Needs ``wrk`` and ``nginx`` (Debian packages; installed here when missing and running as root). Every server
runs on 127.0.0.1 on a free port and is stopped at the end. Results are appended to
``bench/work/serve-results.jsonl``.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

LOG = logging.getLogger("bench.serve")
PROJECT = Path(__file__).resolve().parent.parent
TRACKS = (PROJECT / ".." / "shared" / "data" / "tracks").resolve()
TOKEN = "bench-token"
RANGE = 64 * 1024
WRK_LUA = textwrap.dedent("""
    math.randomseed(20261122)
    local size = tonumber(os.getenv("BENCH_SIZE"))
    local span = tonumber(os.getenv("BENCH_RANGE"))
    request = function()
      local start = math.random(0, size - span)
      return wrk.format("GET", nil, {["Range"] = "bytes=" .. start .. "-" .. (start + span - 1)})
    end
    response = function(status, headers, body)
      if status ~= 206 then error("status " .. status) end
    end
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_tools() -> None:
    """wrk and nginx from Debian, installed when missing (root only)."""
    missing = [tool for tool in ("wrk", "nginx")
               if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}")]
    if missing and os.geteuid() == 0:
        LOG.info("installing %s from Debian", " ".join(missing))
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    elif missing:
        raise SystemExit(f"bench/serve.py needs {' '.join(missing)}: apt-get install {' '.join(missing)}")


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:  # not listening yet, or still starting up
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up within {timeout:.0f} s")


@contextmanager
def process(cmd: list[str], env: dict | None = None, cwd: Path | None = None, log_path: Path | None = None):
    """A server process in its own process group, stopped (SIGTERM, then SIGKILL) on exit."""
    out = open(log_path, "w") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        if log_path:
            out.close()


class Service:
    """A trackprep deployment on a free port: embedded (``trackprep serve``) or production
    (gunicorn + worker)."""

    def __init__(self, workdir: Path, mode: str):
        self.mode = mode
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "TRACKPREP_DATA_DIR": str(workdir / f"data-{mode}"),
                    "TRACKPREP_SOURCE_ROOTS": f"{TRACKS}:{workdir}", "TRACKPREP_API_TOKEN": TOKEN,
                    "TRACKPREP_MAX_CONCURRENT_JOBS": "2", "TRACKPREP_SNAKEMAKE_CORES": "2",
                    # this checkout's webapp before any installed copy (an editable install may be another clone)
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")]))}
        self.workdir = workdir
        self._stack: list = []

    def __enter__(self) -> "Service":
        logs = self.workdir
        if self.mode == "embedded":
            cm = process(["trackprep", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                         env=self.env, log_path=logs / "serve-embedded.log")
            self._stack.append(cm)
            cm.__enter__()
        else:
            web = process([sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "4",
                           "--worker-class", "gthread", "--bind", f"127.0.0.1:{self.port}",
                           "--log-level", "warning", "webapp:create_app()"],
                          env=self.env, cwd=PROJECT, log_path=logs / "serve-gunicorn.log")
            worker = process(["trackprep", "worker"], env=self.env, log_path=logs / "serve-worker.log")
            for cm in (web, worker):
                self._stack.append(cm)
                cm.__enter__()
        wait_http(f"{self.base}/health")
        return self

    def __exit__(self, *exc) -> None:
        for cm in reversed(self._stack):
            cm.__exit__(None, None, None)

    def register(self, source_id: str, path: Path) -> None:
        resp = requests.post(f"{self.base}/files", headers={"Authorization": f"Bearer {TOKEN}"},
                             json={"id": source_id, "access_url": str(path), "md5": md5sum(path)}, timeout=30)
        if resp.status_code not in (200, 201, 409):
            raise SystemExit(f"register {source_id}: {resp.status_code} {resp.text}")

    def fetch_artifact(self, source_id: str, poll: float = 0.1, timeout: float = 1800) -> bytes:
        """GET /data/{id} until the artifact is served (following 202 + job polling); returns its bytes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            resp = requests.get(f"{self.base}/data/{source_id}", timeout=60)
            if resp.status_code == 200:
                return resp.content
            if resp.status_code != 202:
                raise SystemExit(f"GET /data/{source_id}: {resp.status_code} {resp.text[:300]}")
            job_url = self.base + resp.headers["Location"]
            while time.monotonic() < deadline:
                job = requests.get(job_url, timeout=30).json()
                if job["status"] in ("completed", "failed", "cancelled"):
                    break
                time.sleep(poll)
            if job["status"] != "completed":
                raise SystemExit(f"job for {source_id} ended {job['status']}: {job.get('error')}")
        raise SystemExit(f"{source_id}: not served within {timeout} s")

    def cached_path(self, source_id: str) -> Path:
        """The artifact file on disk (this deployment's cache holds one BAM)."""
        candidates = sorted((Path(self.env["TRACKPREP_DATA_DIR"]) / "cache").rglob("data.bam"))
        if len(candidates) != 1:
            raise SystemExit(f"expected one cached BAM for {source_id}, found {candidates}")
        return candidates[0]


def wrk(url: str, size: int, seconds: int, connections: int, workdir: Path) -> float:
    """Requests per second of random 64 KiB range reads (every answer must be a 206)."""
    script = workdir / "ranges.lua"
    script.write_text(WRK_LUA)
    result = subprocess.run(["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s",
                             "-s", str(script), url],
                            env={**os.environ, "BENCH_SIZE": str(size), "BENCH_RANGE": str(RANGE)},
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"wrk against {url} failed: {result.stdout}{result.stderr}")
    errors = [line for line in result.stdout.splitlines() if "Non-2xx" in line or "errors" in line.lower()]
    if errors:
        raise SystemExit(f"wrk against {url} saw errors: {errors}\n{result.stdout}")
    rate = next(line for line in result.stdout.splitlines() if line.startswith("Requests/sec:"))
    return float(rate.split()[1])


def nginx_main_conf(workdir: Path, http_body: str) -> Path:
    """A self-contained nginx.conf (pid, logs and temp folders under workdir) around an ``http {}`` body."""
    conf = workdir / "nginx.conf"
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(textwrap.dedent(f"""
        {user}
        worker_processes 2;
        pid {workdir}/nginx.pid;
        error_log {workdir}/nginx-error.log;
        daemon off;
        events {{ worker_connections 1024; }}
        http {{
            access_log off;
            client_body_temp_path {workdir}/nginx-body;
            proxy_temp_path {workdir}/nginx-proxy;
            fastcgi_temp_path {workdir}/nginx-fastcgi;
            uwsgi_temp_path {workdir}/nginx-uwsgi;
            scgi_temp_path {workdir}/nginx-scgi;
    """) + http_body + "\n}\n")
    return conf


@contextmanager
def nginx_front(upstream: str, workdir: Path):
    """The production front, config/nginx/trackprep.conf, before gunicorn; yields its base URL."""
    from webapp.nginx_conf import render

    port = free_port()
    front_dir = workdir / "front"
    front_dir.mkdir(exist_ok=True)
    conf = nginx_main_conf(front_dir,
                           "sendfile on;\n" + render(upstream, f"127.0.0.1:{port}", str(front_dir / "cache")))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    with process([nginx, "-c", str(conf), "-p", str(front_dir)], log_path=front_dir / "nginx.log"):
        wait_http(f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{port}"


@contextmanager
def nginx_serving(directory: Path, workdir: Path):
    """Plain nginx serving ``directory`` from disk (the peer); yields its base URL."""
    port = free_port()
    # sendfile, as every deployment has it; tcp_nopush stays at nginx's default (off): Debian's stock
    # nginx.conf turns it on, which stalls each 64 KiB range ~40 ms on loopback
    # (measured: 237 vs 19,582 req/s)
    conf = nginx_main_conf(workdir, f"sendfile on;\nserver {{ listen 127.0.0.1:{port}; root {directory}; }}")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    with process([nginx, "-c", str(conf), "-p", str(workdir)], log_path=workdir / "nginx.log"):
        wait_http(f"http://127.0.0.1:{port}/")
        yield f"http://127.0.0.1:{port}"


def part_a(workdir: Path, seconds: int) -> dict:
    """Range-read throughput: embedded, production, nginx on the same cached BAM."""
    bam = TRACKS / "pybedtools_x.namesorted.bam"
    results = {}
    for mode in ("embedded", "production"):
        with Service(workdir, mode) as service:
            service.register("bench-bam", bam)
            artifact = service.fetch_artifact("bench-bam")
            path = service.cached_path("bench-bam")
            size = len(artifact)
            results[mode] = wrk(f"{service.base}/data/bench-bam", size, seconds, 8, workdir)
            LOG.info("%s: %.0f req/s", mode, results[mode])
            if mode == "production":
                with nginx_front(f"127.0.0.1:{service.port}", workdir) as front:
                    # the one upstream read that fills the cache
                    requests.get(f"{front}/data/bench-bam", timeout=60)
                    results["production+nginx"] = wrk(f"{front}/data/bench-bam", size, seconds, 8, workdir)
                LOG.info("production behind nginx's cache: %.0f req/s", results["production+nginx"])
    with nginx_serving(path.parent, workdir) as base:
        results["nginx"] = wrk(f"{base}/{path.name}", size, seconds, 8, workdir)
    LOG.info("nginx: %.0f req/s", results["nginx"])
    return {"file_bytes": size, "range_bytes": RANGE, "seconds": seconds, "connections": 8,
            "requests_per_s": results,
            "ratio_vs_nginx": {m: results[m] / results["nginx"] for m in results if m != "nginx"}}


def part_b(workdir: Path, quick: bool) -> list[dict]:
    """Cache-miss latency: bench/serve_miss.py."""
    import engine
    import serve_miss

    return serve_miss.part_b(workdir, quick, Service, lambda: engine.ensure_inputs(PROJECT / "bench" / "work",
                                                                                  "large"),
                             TRACKS / "pybedtools_x.namesorted.bam")


def part_c(workdir: Path, clients: int) -> dict:
    """``clients`` concurrent GETs for one uncached source: jobs created and time until all are served."""
    with Service(workdir, "embedded") as service:
        service.register("herd", TRACKS / "htslib_index.vcf")
        service.register("herd-twin", TRACKS / "htslib_index.vcf")  # same md5: must share the job
        start = time.monotonic()
        ids = ["herd" if i % 2 else "herd-twin" for i in range(clients)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as pool:
            bodies = list(pool.map(lambda sid: service.fetch_artifact(sid, poll=0.2), ids))
        elapsed = time.monotonic() - start
        jobs = requests.get(f"{service.base}/jobs", params={"kind": "preprocess"}, timeout=30).json()["jobs"]
    return {"clients": clients, "jobs_created": len(jobs), "all_served_s": elapsed,
            "identical_bodies": len({hashlib.md5(b).hexdigest() for b in bodies}) == 1}


def main(argv: list[str] | None = None) -> int:
    """Run the three parts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short load runs; small miss-latency input only")
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--workdir", type=Path, default=PROJECT / "bench" / "work")
    parser.add_argument("--parts", default="abc")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    ensure_tools()
    args.workdir.mkdir(parents=True, exist_ok=True)
    report = {"load_before": os.getloadavg(), "quick": args.quick}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp_path = Path(tmp)
        for part in "abc":
            (tmp_path / part).mkdir()
        if "a" in args.parts:
            report["ranges"] = part_a(tmp_path / "a", 3 if args.quick else args.seconds)
        if "b" in args.parts:
            report["miss_latency"] = part_b(tmp_path / "b", args.quick)
        if "c" in args.parts:
            report["herd"] = part_c(tmp_path / "c", args.clients)
    report["load_after"] = os.getloadavg()
    with open(args.workdir / "serve-results.jsonl", "a") as handle:
        handle.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **report}) + "\n")

    if "ranges" in report:
        r = report["ranges"]
        print(f"\n(a) random {RANGE >> 10} KiB range reads of a {r['file_bytes']:,}-byte BAM, "
              f"wrk 8 connections, {r['seconds']} s each")
        for mode in ("nginx", "embedded", "production", "production+nginx"):
            ratio = "" if mode == "nginx" else f"   {r['ratio_vs_nginx'][mode]:.2f}x nginx"
            print(f"    {mode:<17} {r['requests_per_s'][mode]:>9.0f} req/s{ratio}")
    if "miss_latency" in report:
        import serve_miss

        serve_miss.print_rows(report["miss_latency"])
    if "herd" in report:
        h = report["herd"]
        print(f"\n(c) {h['clients']} concurrent GETs for one uncached source (two ids, one md5): "
              f"{h['jobs_created']} job(s), all served in {h['all_served_s']:.2f} s, "
              f"identical bodies: {h['identical_bodies']}")
    print(f"\nload average before {report['load_before'][0]:.2f}, after {report['load_after'][0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
