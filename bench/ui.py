#!/usr/bin/env python3
"""Web UI benchmark: how soon the SSR result page of a completed 18-genome analysis draws its first plot.

    python3 bench/ui.py              # 10 warm loads (and 1 cold) of the result page
    python3 bench/ui.py --loads 30 --workdir /tmp/ui-bench

A real ``trackprep serve`` (its own data dir under the workdir) analyses the shared croSSRoad sample
(``crossroad/1small.fa``, ``3.tsv``, ``2.bed``, flanks on, default parameters) submitted through
``POST /analyze_ssr/``. Then Debian's chromium (driven by Playwright) opens ``/ui/ssr/{job_id}``:

* cold: the first open ever (the server builds each Arrow table on this first request; an empty browser cache);
* warm, new browser: the server's Arrow files exist, the browser's cache is empty (a new context each load);
* warm, same browser: a new page in one context (ECharts, Arrow JS and the immutable Arrow streams cached).

Each load reads the page's own performance marks (``static/ssr_result.js``): ``trackprep:first-plot`` (the first
chart's ``setOption`` returned: drawn, animation off) and ``trackprep:results-shown`` (every plot, table and the file
list done), in ms from the navigation's start, plus ``domContentLoadedEventEnd``. Medians and maxima are printed
and appended, with the load average, to ``<workdir>/results.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

LOG = logging.getLogger("bench.ui")
PROJECT = Path(__file__).resolve().parent.parent
SAMPLE = (PROJECT / ".." / "shared" / "data" / "crossroad").resolve()
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MEASURE = """() => {
  const at = (name) => { const e = performance.getEntriesByName(name)[0]; return e ? e.startTime : null; };
  const nav = performance.getEntriesByType("navigation")[0];
  return {first_plot_ms: at("trackprep:first-plot"), results_ms: at("trackprep:results-shown"),
          dom_ms: nav ? nav.domContentLoadedEventEnd : null};
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_service(workdir: Path) -> tuple[subprocess.Popen, str]:
    """A `trackprep serve` of this checkout with a fresh data dir; (process, base URL)."""
    port = free_port()
    env = {**os.environ, "TRACKPREP_DATA_DIR": str(workdir / "data"), "TRACKPREP_SAMPLES": "none",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")]))}
    log = open(workdir / "serve.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "webapp.cli", "serve", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/health", timeout=2).ok:
                return proc, base
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"trackprep serve did not come up; see {workdir / 'serve.log'}")
        time.sleep(0.2)


def analyse(base: str) -> str:
    """Submit the sample and wait until its analysis has completed; its job id."""
    names = {"fasta_file": "1small.fa", "categories_file": "3.tsv", "gene_bed": "2.bed"}
    handles = {field: open(SAMPLE / name, "rb") for field, name in names.items()}
    try:
        answer = requests.post(f"{base}/analyze_ssr/", files=handles, data={"flanks": "true"}, timeout=120)
    finally:
        for handle in handles.values():
            handle.close()
    answer.raise_for_status()
    job_id = answer.json()["job_id"]
    deadline = time.monotonic() + 900
    while True:
        job = requests.get(f"{base}/jobs/{job_id}?wait=25", timeout=60).json()
        if job["status"] == "completed":
            return job_id
        if job["status"] in ("failed", "cancelled") or time.monotonic() > deadline:
            raise SystemExit(f"the analysis did not complete: {job}")


def load(context, url: str) -> dict:
    """Open the page in a new tab of `context` until its results are shown; its marks."""
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(url)
    page.wait_for_function("window.trackprepSsr && window.trackprepSsr.status === 'shown'", timeout=120_000)
    marks = page.evaluate(MEASURE)
    page.close()
    if errors:
        raise SystemExit(f"console errors: {errors}")
    return marks


def summarise(name: str, runs: list[dict]) -> dict:
    row = {"case": name, "loads": len(runs)}
    for key in ("first_plot_ms", "results_ms", "dom_ms"):
        values = [run[key] for run in runs]
        row[f"{key}_median"] = round(statistics.median(values), 1)
        row[f"{key}_max"] = round(max(values), 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=10, help="warm loads per case (default 10)")
    parser.add_argument("--width", type=int, default=1280, help="viewport width in px (default 1280)")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a new folder under bench/work/ui")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from playwright.sync_api import sync_playwright

    root = PROJECT / "bench" / "work" / "ui"
    root.mkdir(parents=True, exist_ok=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="run-", dir=root))
    workdir.mkdir(parents=True, exist_ok=True)
    proc, base = start_service(workdir)
    try:
        job_id = analyse(base)
        url = f"{base}/ui/ssr/{job_id}"
        LOG.info("analysis %s completed; measuring %s", job_id, url)
        viewport = {"width": args.width, "height": 900}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            cold_context = browser.new_context(viewport=viewport)
            cold = [load(cold_context, url)]
            cold_context.close()
            fresh = []
            for _ in range(args.loads):
                context = browser.new_context(viewport=viewport)
                fresh.append(load(context, url))
                context.close()
            context = browser.new_context(viewport=viewport)
            load(context, url)  # fills this browser's cache
            same = [load(context, url) for _ in range(args.loads)]
            context.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    rows = [summarise("cold (server builds the Arrow tables)", cold),
            summarise("warm server, new browser each load", fresh),
            summarise("warm server, warm browser cache", same)]
    print("| case | loads | first plot (median / max) | all results | DOMContentLoaded |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        first = f"{row['first_plot_ms_median']:,.0f} / {row['first_plot_ms_max']:,.0f} ms"
        print(f"| {row['case']} | {row['loads']} | {first} | {row['results_ms_median']:,.0f} ms"
              f" | {row['dom_ms_median']:,.0f} ms |")
    record = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load_average": os.getloadavg(),
              "width": args.width, "job_id": job_id, "cases": rows}
    with open(root / "results.jsonl", "a") as handle:
        handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
