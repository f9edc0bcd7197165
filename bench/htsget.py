#!/usr/bin/env python3
"""Bytes and time for a 1 Mbp slice of a larger BAM: htsget ticket vs plain range reads of the alias.

Input: pybedtools_x.bam concatenated COPIES times (`samtools cat`), sorted (`samtools sort`; every read
repeated COPIES times: a deeper BAM over the same positions). A real `trackprep serve` builds it; a counting
HTTP proxy in front of it counts the response bytes each client pulls. Both clients write the slice with
`samtools view -b`: one on the htsget URL, one on the alias URL with the region (htslib reads the index too).
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
TRACK = REPO.parent / "shared" / "data" / "tracks" / "pybedtools_x.bam"
log = logging.getLogger("bench.htsget")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def counting_proxy(upstream: int) -> tuple[ThreadingHTTPServer, dict]:
    """A proxy on 127.0.0.1 that forwards GET/POST to the service and counts the bytes it sends back."""
    counter = {"bytes": 0, "requests": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=300)
            conn.request(self.command, self.path, body=body, headers=dict(self.headers))
            answer = conn.getresponse()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.end_headers()
            sent = 0
            try:  # count only what reaches the client: htslib drops open-ended ranges once it has enough
                while chunk := answer.read(16384):
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            finally:
                conn.close()
                with lock:
                    counter["bytes"] += sent
                    counter["requests"] += 1

        do_GET = do_POST = _forward

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, counter


def make_bam(work: Path, copies: int) -> Path:
    """The larger BAM: the shared BAM ``copies`` times, sorted."""
    cat, out = work / "cat.bam", work / "sources" / f"x{copies}.bam"
    out.parent.mkdir(exist_ok=True)
    subprocess.run(["samtools", "cat", "-o", str(cat), *[str(TRACK)] * copies], check=True)
    subprocess.run(["samtools", "sort", "-o", str(out), str(cat)], check=True)
    return out


def measure(cmd: list[str], counter: dict, cwd: Path) -> tuple[int, int, float]:
    counter["bytes"] = counter["requests"] = 0
    began = time.monotonic()
    subprocess.run(cmd, check=True, cwd=cwd, capture_output=True)
    return counter["bytes"], counter["requests"], time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--region", default="chr2L:4000001-5000000")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bam = make_bam(work, args.copies)
        port = free_port()
        env = {**os.environ, "TRACKPREP_DATA_DIR": str(work / "data"), "TRACKPREP_SAMPLES": "none",
               "TRACKPREP_SOURCE_ROOTS": str(bam.parent), "TRACKPREP_API_TOKEN": "bench",
               "PYTHONPATH": str(REPO)}
        serve = subprocess.Popen([sys.executable, "-m", "webapp.cli", "serve", "--port", str(port)], env=env,
                                 cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    if requests.get(base + "/health", timeout=2).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.2)
            md5 = hashlib.md5(bam.read_bytes()).hexdigest()
            requests.post(base + "/files", json={"id": "big", "access_url": str(bam), "md5": md5},
                          headers={"Authorization": "Bearer bench"}, timeout=60).raise_for_status()
            while requests.get(base + "/data/big", timeout=300).status_code == 202:
                time.sleep(1)
            proxy, counter = counting_proxy(port)
            front = f"http://127.0.0.1:{proxy.server_address[1]}"
            alias = requests.get(base + "/files/big", timeout=60).json()["aliases"]["data"]
            ref, span = args.region.split(":")
            start, end = (int(x) for x in span.split("-"))
            ticket = f"{front}/reads/big?referenceName={ref}&start={start - 1}&end={end}"
            began = time.monotonic()
            requests.get(ticket, timeout=60).raise_for_status()
            latency = time.monotonic() - began
            h_bytes, h_req, h_time = measure(["samtools", "view", "-b", "-o", "h.bam", ticket], counter, work)
            r_bytes, r_req, r_time = measure(["samtools", "view", "-b", "-o", "r.bam", front + alias,
                                              args.region], counter, work)
            for name in ("h.bam", "r.bam"):
                subprocess.run(["samtools", "index", str(work / name)], check=True)
            count = [subprocess.run(["samtools", "view", "-c", str(work / name), args.region], check=True,
                                    capture_output=True, text=True, cwd=work).stdout.strip()
                     for name in ("h.bam", "r.bam")]
            if count[0] != count[1]:
                raise SystemExit(f"records in {args.region} differ: htsget {count[0]}, ranges {count[1]}")
            size = os.path.getsize(bam)
            log.info("input %s: %d bytes (%d copies); region %s", bam.name, size, args.copies, args.region)
            log.info("records in the region: %s (same both ways)", count[0])
            log.info("ticket latency: %.3f s", latency)
            log.info("htsget:      %10d bytes, %3d requests, %.2f s", h_bytes, h_req, h_time)
            log.info("range reads: %10d bytes, %3d requests, %.2f s", r_bytes, r_req, r_time)
            log.info("range reads / htsget bytes: %.2f", r_bytes / max(h_bytes, 1))
            proxy.shutdown()
        finally:
            serve.terminate()
            serve.wait(timeout=90)


if __name__ == "__main__":
    main()
