"""Part (b) of bench/serve.py: cache-miss latency, warm launcher against plain subprocesses, against the tools.

For each input, from the first ``GET /data/{id}`` (202): **servable** = the first ``HEAD /data/{id}`` that answers
200 (polled every 20 ms), **completed** = the job's long poll (``GET /jobs/{id}?wait=30``) reporting
``completed``. By hand, the same work: ``md5sum``; BAM: ``samtools sort -@2`` + ``samtools index -@2``; VCF:
``(grep '^#'; grep -v '^#' | LC_ALL=C sort -k1,1 -k2,2n) | bgzip -@2`` + ``tabix -p vcf``.

Inputs: the shared name-sorted BAM (2.3 MB; each repeat a copy with one more ``@CO`` header line, so its md5 and
its cache key are new), and bench/engine.py's large inputs (2,000,000-read name-sorted BAM, 1,000,000-record VCF,
generated once under ``bench/work/inputs/large``). Memory: the warm launcher's peak RSS (``VmHWM``) and, for each
miss, the peak of the summed RSS of the run's process tree (the launcher's descendants, or the service's
children with the launcher off), sampled every 50 ms.
"""
from __future__ import annotations

import logging
import re
import shutil
import statistics
import subprocess
import threading
import time
from pathlib import Path

import psutil
import requests

LOG = logging.getLogger("bench.serve")
READY = re.compile(r"warm launcher (\d+) ready")


def hand(path: Path, fmt: str, out: Path) -> float:
    """Wall time of the work typed by hand (see the module docstring)."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = time.monotonic()
    subprocess.run(["md5sum", str(path)], check=True, stdout=subprocess.DEVNULL)
    if fmt == "bam":
        subprocess.run(["samtools", "sort", "-@", "2", "-m", "384M", "--no-PG", "-T", str(out / "t"), "-o",
                        str(out / "data.bam"), str(path)], check=True)
        subprocess.run(["samtools", "index", "-@", "2", str(out / "data.bam")], check=True)
    else:
        script = (f"set -euo pipefail; (grep '^#' {path}; grep -v '^#' {path} | LC_ALL=C sort -k1,1 -k2,2n)"
                  f" | bgzip -@2 > {out}/data.vcf.gz; tabix -p vcf {out}/data.vcf.gz")
        subprocess.run(["bash", "-c", script], check=True)
    return time.monotonic() - start


def small_copies(bam: Path, count: int, folder: Path) -> list[Path]:
    """``count`` copies of a BAM that differ only by a header comment (new md5, same work)."""
    header = subprocess.run(["samtools", "view", "-H", str(bam)], capture_output=True, text=True,
                            check=True).stdout
    copies = []
    for i in range(count):
        path = folder / f"small-{i}.bam"
        head = folder / f"small-{i}.header.sam"
        head.write_text(header + f"@CO\tbench copy {i} {time.time()}\n")
        with open(path, "wb") as handle:
            subprocess.run(["samtools", "reheader", str(head), str(bam)], stdout=handle, check=True)
        copies.append(path)
    return copies


class TreePeak:
    """Samples the summed RSS of a process's descendants (not the process itself) until stopped."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                for proc in self.root.children(recursive=True):
                    try:
                        total += proc.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.05)

    def stop(self) -> int:
        """Stop sampling; the peak in bytes."""
        self._stop.set()
        self._thread.join()
        return self.peak


def one_miss(base: str, source_id: str, watch_pid: int) -> dict:
    """Time one miss: servable and completed, from the first GET."""
    tree = TreePeak(watch_pid)
    start = time.monotonic()
    first = requests.get(f"{base}/data/{source_id}", timeout=60)
    if first.status_code != 202:
        raise SystemExit(f"{source_id}: expected a miss, got {first.status_code} {first.text[:200]}")
    servable: list[float] = []

    def poll_servable() -> None:
        while time.monotonic() - start < 1800:
            if requests.head(f"{base}/data/{source_id}", timeout=60).status_code == 200:
                servable.append(time.monotonic() - start)
                return
            time.sleep(0.02)

    poller = threading.Thread(target=poll_servable, daemon=True)
    poller.start()
    job_url = base + first.headers["Location"]
    while True:
        job = requests.get(job_url, params={"wait": 30}, timeout=60).json()
        if job["status"] in ("completed", "failed", "cancelled"):
            break
    completed = time.monotonic() - start
    if job["status"] != "completed":
        raise SystemExit(f"{source_id}: job {job['status']}: {job.get('error')}")
    poller.join(timeout=60)
    return {"servable_s": servable[0] if servable else None, "completed_s": completed,
            "retry_after": first.headers.get("Retry-After"), "run_tree_peak_mb": tree.stop() / 1e6}


def vm_hwm_mb(pid: int) -> float | None:
    """A process's peak RSS (VmHWM) in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def part_b(workdir: Path, quick: bool, service_class, large_inputs, small_bam: Path) -> list[dict]:
    """Cache-miss latency through the service (warm launcher on, then off) vs the tools by hand."""
    small_repeat = 3
    inputs: list[tuple[str, str, list[Path]]] = []
    rows = []
    large = [] if quick else large_inputs()
    for mode in ("warm", "subprocess"):
        folder = workdir / mode
        folder.mkdir()
        runs = [("small BAM", "bam", small_copies(small_bam, small_repeat, folder))]
        runs += [(f"{source.records:,}-record {source.fmt.upper()}", source.fmt, [source.path]) for source in large]
        inputs = runs
        service = service_class(folder, "embedded")
        service.env["TRACKPREP_WARM_LAUNCHER"] = "1" if mode == "warm" else "0"
        service.env["TRACKPREP_SOURCE_ROOTS"] += ":" + ":".join(str(s.path.parent) for s in large)
        with service:
            log_path = folder / "serve-embedded.log"
            launcher = None
            if mode == "warm":
                deadline = time.monotonic() + 120
                while not READY.search(log_path.read_text()):
                    if time.monotonic() > deadline:
                        raise SystemExit("the warm launcher did not come up")
                    time.sleep(0.2)
                launcher = int(READY.findall(log_path.read_text())[-1])
            server_pid = next(p.pid for p in psutil.process_iter(["cmdline"])
                              if p.info["cmdline"] and "--port" in p.info["cmdline"]
                              and str(service.port) in p.info["cmdline"])
            for label, fmt, paths in inputs:
                results = []
                for i, path in enumerate(paths):
                    source_id = f"miss-{fmt}-{path.stem}-{i}".replace(".", "-")
                    service.register(source_id, path)
                    results.append(one_miss(service.base, source_id, launcher or server_pid))
                by_hand = [hand(path, fmt, folder / "hand") for path in paths]
                row = {"mode": mode, "input": label, "bytes": paths[0].stat().st_size, "runs": len(paths),
                       "servable_s": statistics.median(r["servable_s"] for r in results),
                       "completed_s": statistics.median(r["completed_s"] for r in results),
                       "hand_s": statistics.median(by_hand),
                       "retry_after": [r["retry_after"] for r in results],
                       "run_tree_peak_mb": max(r["run_tree_peak_mb"] for r in results),
                       "launcher_peak_mb": vm_hwm_mb(launcher) if launcher else None}
                LOG.info("miss %s (%s): servable %.2f s, completed %.2f s, by hand %.2f s", label, mode,
                         row["servable_s"], row["completed_s"], row["hand_s"])
                rows.append(row)
    return rows


def print_rows(rows: list[dict]) -> None:
    """The part (b) table."""
    print("\n(b) cache miss, from the first GET (median of the runs): servable = HEAD answers 200, "
          "completed = job completed; by hand = md5sum + sort + index")
    for row in rows:
        launcher = f"   launcher {row['launcher_peak_mb']:.0f} MB" if row["launcher_peak_mb"] else ""
        print(f"    {row['mode']:<10} {row['input']:<24} {row['bytes']:>12,} B  servable {row['servable_s']:6.2f} s"
              f"  completed {row['completed_s']:6.2f} s  by hand {row['hand_s']:6.2f} s  overhead "
              f"{row['servable_s'] - row['hand_s']:5.2f} / {row['completed_s'] - row['hand_s']:5.2f} s  "
              f"Retry-After {','.join(row['retry_after'])}  run tree {row['run_tree_peak_mb']:.0f} MB{launcher}")
