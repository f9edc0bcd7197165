#!/usr/bin/env python3
"""SSR benchmark: trackprep's analysis against croSSRoad (crossroad-cli 0.3.5), side by side in one run.

    python3 bench/ssr.py           # (a) sample + flanks, (b) sample, (c) 180 and 1000 strains, delivery
    python3 bench/ssr.py --small   # smoke run: (a), (b), 36 strains, delivery
    python3 bench/ssr.py --strains 180,1000,2000 --cap 1800 --workdir /scratch/ssr-bench
    python3 bench/ssr.py --skip a,b,delivery --strains 1000,10000   # scale; croSSRoad only up to 2,000 genomes

Cases, each run cold by both tools with every croSSRoad parameter passed explicitly (12/6/4/3/3/2, minLen
1000, maxLen 10000000, unfair 0, min_repeat_count 1, min_genome_count 2, 2 threads):

* (a) the shared sample (18 mpox genomes, categories, genes) with flanks;
* (b) the same without flanks (snakemake's own start-up, ~2-3 s, weighs here);
* (c) strains generated from the sample with repeat-length changes (each strain copies a sample genome and
  grows or shrinks a fifth of its repeats by one or two units; genes shifted accordingly), without flanks.

trackprep runs twice per case: as plain ``snakemake --cores 2`` into an empty cache and working directory (the
bioinformatician's way), and through a real ``trackprep serve`` with its warm launcher (``SsrService``: upload,
then the run, timed apart, on the cases croSSRoad runs on; ``--skip service`` leaves it out). croSSRoad runs its
CLI in a venv (``--crossroad-python``, ``$TRACKPREP_CROSSROAD_PYTHON``, or one installed from PyPI under the
workdir). A peer run longer than ``--cap`` seconds (default 1800) is stopped and reported as a lower bound.
After each case the result tables are compared row for row (order aside). Wall time, CPU time and peak memory
(largest sum of RSS over the process tree, sampled every 0.1 s) are printed with the ratios, and every run is
appended, with the load average, to ``<workdir>/results.jsonl``.

Plot-data delivery: a real ``trackprep serve`` analyses case (a); then the Arrow endpoint and the zip download
(+ unzip + pandas TSV parse) are each timed to a parsed table, cold (first request: the server builds the
Arrow or zip) and warm, with the bytes on the wire."""

from __future__ import annotations

import argparse
import bisect
import collections
import contextlib
import csv
import io
import itertools
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import psutil

LOG = logging.getLogger("bench.ssr")
PROJECT = Path(__file__).resolve().parent.parent
SAMPLE = (PROJECT / ".." / "shared" / "data" / "crossroad").resolve()
GENERATOR_VERSION = 1
SEED = 20261122
PARAMS = {
    "mono": 12,
    "di": 6,
    "tri": 4,
    "tetra": 3,
    "penta": 3,
    "hexa": 2,
    "minLen": 1000,
    "maxLen": 10_000_000,
    "unfair": 0,
    "thread": 2,
    "min_repeat_count": 1,
    "min_genome_count": 2,
}
CROSSROAD_DEPS = [
    "biopython",
    "numpy",
    "pandas",
    "pyarrow",
    "plotly",
    "plotly-upset-hd",
    "upsetplot",
    "rich",
    "rich-click",
    "typer",
    "colorlog",
    "argcomplete",
    "fastapi",
    "uvicorn",
    "python-multipart",
    "pydantic",
    "requests",
    "python-dotenv",
    "tqdm",
]
COMPARED = [
    "intrim/reformatted.tsv",
    "main/mergedOut.tsv",
    "main/ssr_genecombo.tsv",
    "main/mutational_hotspot.csv",
    "main/hssr_data.csv",
    "main/flanks/flanked.tsv",
    "main/flanks/pattern_summary.csv",
]
SAMPLE_INTERVAL = 0.1


# ---------------------------------------------------------------------------------------------------- inputs


def read_fasta(path: Path) -> list[tuple[str, str]]:
    records, name, chunks = [], None, []
    for line in open(path):
        if line.startswith(">"):
            if name is not None:
                records.append((name, "".join(chunks)))
            name, chunks = line[1:].split()[0], []
        else:
            chunks.append(line.strip().upper())
    records.append((name, "".join(chunks)))
    return records


def repeat_loci(seq: str) -> list[tuple[int, int, int]]:
    """(start, stop, period) of perfect runs of period 1-6 at least 8 bases long: where strains differ."""
    loci = []
    for period in range(1, 7):
        start = 0
        for i in range(period, len(seq) + 1):
            if i == len(seq) or seq[i] != seq[i - period]:
                if i - start >= max(8, 2 * period + 2):
                    loci.append((start, i, period))
                start = i - period + 1 if i < len(seq) else i
    return sorted(loci)


def generate_strains(folder: Path, count: int) -> dict[str, Path]:
    """``count`` strains of the sample: FASTA, category table and gene BED (cached under ``folder``)."""
    done = folder / f".done-v{GENERATOR_VERSION}"
    paths = {
        "fasta": folder / "strains.fa",
        "categories": folder / "strains.tsv",
        "gene_bed": folder / "strains.bed",
    }
    if done.exists():
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED + count)
    genomes = read_fasta(SAMPLE / "1small.fa")
    loci = {name: [locus for locus in repeat_loci(seq)] for name, seq in genomes}
    genes = collections.defaultdict(list)
    for line in open(SAMPLE / "2.bed"):
        gid, start, end, gene = line.rstrip("\n").split("\t")[:4]
        genes[gid].append((int(start), int(end), gene))
    categories = {}
    with open(SAMPLE / "3.tsv") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader)
        for row in reader:
            categories[row[0]] = row[1:]
    with open(paths["fasta"], "w") as fasta, open(paths["categories"], "w") as cats, open(
        paths["gene_bed"], "w"
    ) as bed:
        cats.write("\t".join(header) + "\n")
        for i in range(count):
            base, seq = genomes[i % len(genomes)]
            name = f"STRAIN_{i:05d}"
            pieces, shifts, last = [], [], 0
            chosen = [locus for locus in loci[base] if rng.random() < 0.2]
            for start, stop, period in chosen:
                if start < last:
                    continue
                change = rng.choice((-2, -1, 1, 2)) * period
                change = max(change, -(stop - start - period))
                pieces.append(seq[last:stop])
                if change > 0:
                    pieces.append(seq[stop - period:stop] * (change // period))
                else:
                    pieces[-1] = pieces[-1][: len(pieces[-1]) + change]
                shifts.append((stop, change))
                last = stop
            pieces.append(seq[last:])
            strain = "".join(pieces)
            fasta.write(f">{name}\n")
            for j in range(0, len(strain), 60):
                fasta.write(strain[j:j + 60] + "\n")
            cats.write("\t".join([name, *categories.get(base, ["undefined"] * (len(header) - 1))]) + "\n")

            # shifts are in increasing position order: the change before a position is a prefix sum
            wheres = [where for where, _ in shifts]
            before = list(itertools.accumulate((change for _, change in shifts), initial=0))

            def moved(position: int) -> int:
                return position + before[bisect.bisect_right(wheres, position)]

            for start, end, gene in genes.get(base, []):
                new_start, new_end = moved(start), moved(end)
                if new_end > new_start:
                    bed.write(f"{name}\t{new_start}\t{new_end}\t{gene}\n")
    done.touch()
    return paths


# ------------------------------------------------------------------------------------------------- measuring


def measure(cmd: list[str], cwd: Path, log: Path, env: dict | None = None, cap: float | None = None) -> dict:
    """Run a command: wall and CPU seconds, peak process-tree RSS (sampled), exit code, whether it was
    capped."""
    cwd.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    with open(log, "ab") as out:
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        root = psutil.Process(proc.pid)
        peak, cpu, capped = 0, {}, False
        while proc.poll() is None:
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                procs = []
            for p in procs:
                try:
                    total += p.memory_info().rss
                    times = p.cpu_times()
                    # each process's own CPU: a parent's children_* would count its reaped children twice
                    cpu[p.pid] = times.user + times.system
                except psutil.Error:
                    pass
            peak = max(peak, total)
            if cap is not None and time.monotonic() - start > cap:
                capped = True
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(SAMPLE_INTERVAL)
        proc.wait()
        wall = time.monotonic() - start
    return {
        "wall_s": round(wall, 3),
        "cpu_s": round(sum(cpu.values()), 2),
        "peak_rss_mb": round(peak / 2**20, 1),
        "returncode": proc.returncode,
        "capped": capped,
        "load_before": load,
    }


def crossroad_python(workdir: Path, given: str | None) -> Path:
    """An interpreter with crossroad-cli 0.3.5 and perf_ssr 0.4.8 (installed per shared SSR.md if needed)."""
    if given:
        return Path(given)
    home = workdir / "crossroad-venv"
    python = home / "bin" / "python"
    if not (home / ".installed").exists():
        venv.create(home, with_pip=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run(pip + CROSSROAD_DEPS, check=True)
        subprocess.run(pip + ["--no-deps", "perf_ssr==0.4.8", "crossroad-cli==0.3.5"], check=True)
        (home / ".installed").touch()
    return python


def run_crossroad(
    python: Path, inputs: dict, flanks: bool, out: Path, cap: float
) -> tuple[dict, Path | None]:
    args = [
        "--fasta",
        str(inputs["fasta"]),
        "--categories",
        str(inputs["categories"]),
        "--gene-bed",
        str(inputs["gene_bed"]),
        "--output-dir",
        str(out),
        "--threads",
        str(PARAMS["thread"]),
        "--mono",
        "12",
        "--di",
        "6",
        "--tri",
        "4",
        "--tetra",
        "3",
        "--penta",
        "3",
        "--hexa",
        "2",
        "--min-len",
        "1000",
        "--max-len",
        "10000000",
        "--unfair",
        "0",
        "--repeat-threshold",
        "1",
        "--genome-threshold",
        "2",
    ] + (["--flanks"] if flanks else [])
    env = dict(os.environ, PATH=f"{python.parent}:{os.environ['PATH']}", CROSSROAD_JOB_DIR=str(out))
    m = measure(
        [str(python), "-c", "from crossroad.cli.main import app; app()", *args],
        out,
        out / "run.log",
        env,
        cap,
    )
    jobs = [p for p in out.iterdir() if p.name.startswith("job_")]
    return m, (jobs[0] / "output" if jobs and not m["capped"] and m["returncode"] == 0 else None)


def this_checkout() -> str:
    """PYTHONPATH for the services started here: this checkout's ``webapp`` before any installed copy (an
    editable install may point at another clone)."""
    return os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")]))


def run_trackprep(inputs: dict, flanks: bool, work: Path) -> tuple[dict, Path]:
    import yaml

    work.mkdir(parents=True, exist_ok=True)
    config = {
        "ssr": {
            "fasta": str(inputs["fasta"]),
            "categories": str(inputs["categories"]),
            "gene_bed": str(inputs["gene_bed"]),
            "flanks": flanks,
            "perf_params": PARAMS,
        }
    }
    (work / "ssr.yaml").write_text(yaml.safe_dump(config))
    m = measure(
        [
            "snakemake",
            "-s",
            str(PROJECT / "Snakefile"),
            "--cores",
            "2",
            "--configfile",
            "ssr.yaml",
            "--config",
            f"cache_dir={work / 'cache'}",
        ],
        work,
        work / "run.log",
    )
    if m["returncode"] != 0:
        raise SystemExit(f"trackprep failed, see {work / 'run.log'}")
    (out,) = (work / "cache").glob("ssr/v1/*/output")
    m["stages"] = stage_figures(out.parent / "logs")
    m["outside_stages_s"] = round(m["wall_s"] - sum(s["wall_s"] for s in m["stages"].values()), 2)
    return m, out


def stage_figures(logs: Path) -> dict[str, dict]:
    """Wall s, CPU s and max RSS MB of each rule, from snakemake's benchmark files (the rest of the wall time
    is snakemake itself: start-up, DAG, scheduling, exit)."""
    stages = {}
    for path in sorted(logs.glob("*.benchmark.tsv")):
        with open(path) as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        stages[path.name.removesuffix(".benchmark.tsv")] = {
            "wall_s": round(float(row["s"]), 2),
            "cpu_s": round(float(row["cpu_time"]), 2),
            "max_rss_mb": round(float(row["max_rss"])),
        }
    return stages


def row_multiset(path: Path) -> tuple[list[str], collections.Counter]:
    text = path.read_text().replace("\r\n", "\n")
    reader = csv.reader(text.splitlines(), delimiter="," if path.suffix == ".csv" else "\t")
    header = next(reader, [])
    return header, collections.Counter(tuple(r) for r in reader)


def compare(ours: Path, theirs: Path | None) -> dict[str, bool] | None:
    if theirs is None:
        return None
    return {
        t: row_multiset(ours / t) == row_multiset(theirs / t)
        for t in COMPARED
        if (theirs / t).exists() or (ours / t).exists()
    }


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


class SsrService:
    """A real ``trackprep serve`` (warm launcher on, as by default; an empty data folder) that every case is also
    submitted to, the way the web page and API clients run an analysis: ``POST /analyze_ssr/`` with the three
    files, then ``GET /jobs/{id}?wait=30`` until the job ends. Two times are kept: the upload (the request,
    including the server's checks of the inputs, until its 202) and the run (from the 202 to the long poll
    reporting ``completed``); the run is the analysis itself, what croSSRoad's CLI run is timed for. Peak memory
    is the largest summed RSS of the warm launcher's children (the forked runs and their tools)."""

    def __init__(self, workdir: Path):
        self.base = fresh(workdir / "service")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.launcher_pid: int | None = None

    def __enter__(self) -> "SsrService":
        import requests

        from serve_miss import READY

        env = dict(os.environ, TRACKPREP_DATA_DIR=str(self.base / "data"), TRACKPREP_SAMPLES="none",
                   TRACKPREP_WARM_LAUNCHER="1", TRACKPREP_SNAKEMAKE_CORES="2", PYTHONPATH=this_checkout())
        log_path = self.base / "serve.log"
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "webapp.cli", "serve", "--port", str(self.port)],
                                         env=env, cwd=self.base, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + 120
        while not READY.search(log_path.read_text()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"trackprep serve or its warm launcher did not come up, see {log_path}")
            time.sleep(0.2)
        self.launcher_pid = int(READY.findall(log_path.read_text())[-1])
        requests.get(f"{self.url}/health", timeout=10).raise_for_status()
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=60)

    def run(self, inputs: dict, flanks: bool) -> tuple[dict, Path]:
        """Submit one analysis and wait for it: upload and run seconds, peak MB; its output folder."""
        import requests

        from serve_miss import TreePeak

        tree = TreePeak(self.launcher_pid)
        answer_path = self.base / "answer.json"
        # curl streams the files from disk, as a browser's form upload does; requests would build the whole
        # multipart body in memory first, timing the client rather than the service
        command = ["curl", "-sS", "-o", str(answer_path), "-w", "%{http_code}", "--max-time", "600",
                   "-F", f"fasta_file=@{inputs['fasta']}", "-F", f"categories_file=@{inputs['categories']}",
                   "-F", f"gene_bed=@{inputs['gene_bed']}", "-F", f"perf_params={json.dumps(PARAMS)}",
                   "-F", f"flanks={str(flanks).lower()}", f"{self.url}/analyze_ssr/"]
        start = time.monotonic()
        posted = subprocess.run(command, capture_output=True, text=True)
        accepted = time.monotonic()
        if posted.stdout != "202":
            raise SystemExit(f"POST /analyze_ssr/: {posted.stdout} {posted.stderr} "
                             f"{answer_path.read_text()[:300] if answer_path.exists() else ''}")
        answer = json.loads(answer_path.read_text())
        job_id, key = answer["job_id"], answer["analysis_key"]
        while True:
            job = requests.get(f"{self.url}/jobs/{job_id}", params={"wait": 30}, timeout=60).json()
            if job["status"] not in ("queued", "running"):
                break
        done = time.monotonic()
        peak = tree.stop()
        if job["status"] != "completed":
            raise SystemExit(f"service analysis {job_id} {job['status']}: {job.get('error')}")
        out = self.base / "data" / "cache" / "ssr" / "v1" / key / "output"
        return {"upload_s": round(accepted - start, 3), "run_s": round(done - accepted, 3),
                "wall_s": round(done - start, 3), "peak_rss_mb": round(peak / 2**20, 1),
                "stages": stage_figures(out.parent / "logs")}, out


def bench_case(
    name: str, inputs: dict, flanks: bool, workdir: Path, python: Path, cap: float, peer_max: int,
    service: SsrService | None = None,
) -> dict:
    LOG.info("case %s: trackprep", name)
    ours_m, ours = run_trackprep(inputs, flanks, fresh(workdir / "runs" / name / "trackprep"))
    LOG.info("case %s: trackprep %.1f s; croSSRoad (cap %d s)", name, ours_m["wall_s"], cap)
    served_m = served = None
    genomes = sum(1 for line in open(inputs["fasta"]) if line[0] == ">")
    if service is not None and genomes <= peer_max:  # a 2 GB upload is a test of the upload, not the analysis
        served_m, served = service.run(inputs, flanks)
        LOG.info("case %s: trackprep service: upload %.2f s, run %.2f s", name, served_m["upload_s"],
                 served_m["run_s"])
    if genomes > peer_max:
        LOG.info("case %s: %d genomes, croSSRoad not run (--peer-max-genomes %d)", name, genomes, peer_max)
        theirs_m, theirs = None, None
    else:
        theirs_m, theirs = run_crossroad(
            python, inputs, flanks, fresh(workdir / "runs" / name / "crossroad"), cap
        )
    same = compare(ours, theirs)
    result = {
        "case": name,
        "flanks": flanks,
        "genomes": genomes,
        "trackprep": ours_m,
        "service": served_m,
        "crossroad": theirs_m,
        "identical": same,
        "identical_service": compare(served, theirs) if served is not None else None,
        "speedup": round(theirs_m["wall_s"] / ours_m["wall_s"], 1) if theirs_m else None,
        "speedup_service_run": round(theirs_m["wall_s"] / served_m["run_s"], 1) if theirs_m and served_m else None,
        "speedup_service_with_upload": (round(theirs_m["wall_s"] / served_m["wall_s"], 1)
                                        if theirs_m and served_m else None),
        "speedup_is_lower_bound": bool(theirs_m and theirs_m["capped"]),
    }
    LOG.info("case %s: trackprep stages %s", name, ours_m["stages"])
    if theirs_m:
        LOG.info(
            "case %s: croSSRoad %.1f s%s -> %.1fx; identical tables: %s",
            name,
            theirs_m["wall_s"],
            " (capped)" if theirs_m["capped"] else "",
            result["speedup"],
            same,
        )
    return result


# -------------------------------------------------------------------------------------------------- delivery


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_delivery(workdir: Path, repeat: int) -> dict:
    """Arrow endpoint vs zip + TSV, bytes and seconds to a parsed table, against a real trackprep serve."""
    import pandas as pd
    import pyarrow as pa
    import requests

    base = fresh(workdir / "serve")
    port = free_port()
    env = dict(os.environ, TRACKPREP_DATA_DIR=str(base / "data"), TRACKPREP_SAMPLES="none",
               PYTHONPATH=this_checkout())
    log = open(base / "serve.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "webapp.cli", "serve", "--port", str(port)],
        env=env,
        cwd=base,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    http = requests.Session()
    try:
        for _ in range(300):
            try:
                if http.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        files = {
            name: open(SAMPLE / f, "rb")
            for name, f in (("fasta_file", "1small.fa"), ("categories_file", "3.tsv"), ("gene_bed", "2.bed"))
        }
        job = http.post(
            f"{url}/analyze_ssr/", files=files, data={"perf_params": json.dumps(PARAMS), "flanks": "true"}
        ).json()
        for handle in files.values():
            handle.close()
        while http.get(f"{url}/api/job/{job['job_id']}/status").json()["status"] not in (
            "completed",
            "failed",
        ):
            time.sleep(0.2)
        results = {}
        for key, table in (
            ("plot_source", "main/mergedOut.tsv"),
            ("ssr_gene_intersect", "main/ssr_genecombo.tsv"),
            ("flanked_data", "main/flanks/flanked.tsv"),
        ):
            runs = {"arrow": [], "zip_tsv": []}
            for attempt in range(repeat + 1):  # the first one is cold: the server builds the Arrow / the zip
                start = time.perf_counter()
                body = http.get(f"{url}/api/job/{job['job_id']}/plot_data/{key}").content
                arrow = pa.ipc.open_stream(body).read_all()
                runs["arrow"].append((time.perf_counter() - start, len(body), arrow.num_rows))
                start = time.perf_counter()
                body = http.get(f"{url}/api/job/{job['job_id']}/download_zip").content
                with zipfile.ZipFile(io.BytesIO(body)) as archive:
                    frame = pd.read_csv(io.BytesIO(archive.read(f"output/{table}")), sep="\t")
                runs["zip_tsv"].append((time.perf_counter() - start, len(body), len(frame)))
            summary = {}
            for way, values in runs.items():
                warm = sorted(v[0] for v in values[1:]) or [values[0][0]]
                summary[way] = {
                    "bytes": values[-1][1],
                    "rows": values[-1][2],
                    "cold_s": round(values[0][0], 4),
                    "warm_median_s": round(warm[len(warm) // 2], 4),
                }
            summary["bytes_ratio"] = round(summary["zip_tsv"]["bytes"] / summary["arrow"]["bytes"], 1)
            summary["warm_time_ratio"] = round(
                summary["zip_tsv"]["warm_median_s"] / summary["arrow"]["warm_median_s"], 1
            )
            results[key] = summary
            LOG.info("delivery %s: %s", key, summary)
        return results
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="smoke run: 36 strains only")
    parser.add_argument("--strains", default="180,1000", help="strain counts for case (c), comma-separated")
    parser.add_argument("--cap", type=float, default=1800, help="seconds before a croSSRoad run is stopped")
    parser.add_argument("--workdir", type=Path, default=PROJECT / "bench" / "work" / "ssr")
    parser.add_argument("--crossroad-python", default=os.environ.get("TRACKPREP_CROSSROAD_PYTHON"))
    parser.add_argument("--repeat", type=int, default=5, help="warm delivery requests per way")
    parser.add_argument("--skip", default="",
                        help="comma-separated parts to skip: a,b,c,delivery, and service (the runs through a "
                             "real trackprep serve)")
    parser.add_argument(
        "--peer-max-genomes",
        type=int,
        default=2000,
        help="run croSSRoad only on cases with at most this many genomes (it needs ~0.1 s per genome)",
    )
    args = parser.parse_args(argv)
    peer_max = args.peer_max_genomes
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    args.workdir.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    python = crossroad_python(args.workdir, args.crossroad_python)
    sample = {"fasta": SAMPLE / "1small.fa", "categories": SAMPLE / "3.tsv", "gene_bed": SAMPLE / "2.bed"}
    results = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "load_at_start": os.getloadavg(),
        "cpus": os.cpu_count(),
        "cases": [],
        "delivery": None,
    }
    with contextlib.ExitStack() as stack:
        service = None if "service" in skip else stack.enter_context(SsrService(args.workdir))
        if "a" not in skip:
            results["cases"].append(bench_case("a_sample_flanks", sample, True, args.workdir, python, args.cap,
                                               peer_max, service))
        if "b" not in skip:
            results["cases"].append(bench_case("b_sample", sample, False, args.workdir, python, args.cap,
                                               peer_max, service))
        if "c" not in skip:
            for count in ([36] if args.small else [int(c) for c in args.strains.split(",")]):
                inputs = generate_strains(args.workdir / "inputs" / f"strains_{count}", count)
                results["cases"].append(
                    bench_case(f"c_strains_{count}", inputs, False, args.workdir, python, args.cap, peer_max,
                               service)
                )
    if "delivery" not in skip:
        results["delivery"] = bench_delivery(args.workdir, args.repeat)
    results["load_at_end"] = os.getloadavg()
    with open(args.workdir / "results.jsonl", "a") as handle:
        handle.write(json.dumps(results) + "\n")
    print(
        f"{'case':<20} {'genomes':>7} {'trackprep s':>11} {'MB':>6} {'croSSRoad s':>12} {'MB':>6} "
        f"{'speed-up':>9}"
        f"  identical"
    )
    for case in results["cases"]:
        ours, theirs = case["trackprep"], case["crossroad"]
        if theirs is None:
            print(f"{case['case']:<20} {case['genomes']:>7} {ours['wall_s']:>11.2f} {ours['peak_rss_mb']:>6.0f} "
                  f"{'not run':>12} {'':>6} {'':>9}  n/a")
        else:
            bound = ">" if case["speedup_is_lower_bound"] else ""
            same = "n/a (capped)" if case["identical"] is None else all(case["identical"].values())
            print(
                f"{case['case']:<20} {case['genomes']:>7} {ours['wall_s']:>11.2f} {ours['peak_rss_mb']:>6.0f} "
                f"{bound + format(theirs['wall_s'], '.1f'):>12} {theirs['peak_rss_mb']:>6.0f} "
                f"{bound + format(case['speedup'], '.1f') + 'x':>9}  {same}"
            )
        served = case.get("service")
        if served:
            versus = ""
            if theirs is not None:
                same = "n/a" if case["identical_service"] is None else all(case["identical_service"].values())
                versus = (f" -> {case['speedup_service_run']}x on the run, {case['speedup_service_with_upload']}x "
                          f"with the upload; identical {same}")
            print(f"{'':<20} through the service (warm launcher): run {served['run_s']:.2f} s + upload "
                  f"{served['upload_s']:.2f} s, peak {served['peak_rss_mb']:.0f} MB{versus}")
        print(f"{'':<20} trackprep stages (wall/CPU s, max RSS MB): "
              + ", ".join(f"{k} {v['wall_s']}/{v['cpu_s']}/{v['max_rss_mb']}" for k, v in ours["stages"].items())
              + f"; snakemake itself {ours['outside_stages_s']} s")
    if results["delivery"]:
        for key, d in results["delivery"].items():
            print(
                f"delivery {key}: Arrow {d['arrow']['bytes']} B, {d['arrow']['warm_median_s'] * 1000:.1f} ms "
                f"(cold {d['arrow']['cold_s'] * 1000:.0f} ms); zip+TSV {d['zip_tsv']['bytes']} B, "
                f"{d['zip_tsv']['warm_median_s'] * 1000:.1f} ms "
                f"(cold {d['zip_tsv']['cold_s'] * 1000:.0f} ms); "
                f"{d['bytes_ratio']}x fewer bytes, {d['warm_time_ratio']}x faster"
            )
    print(f"load average: start {results['load_at_start']}, end {results['load_at_end']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
