#!/usr/bin/env python3
"""Engine benchmark: the hand-written reference pipeline against the Snakemake workflow, in one run.

    python3 bench/engine.py            # large inputs: 2,000,000-read name-sorted BAM, 1,000,000-record VCF
    python3 bench/engine.py --small    # quick smoke run on small inputs
    python3 bench/engine.py --repeat 3 --workdir /scratch/bench

For each input the script runs, each in a fresh measuring subprocess:

* **reference** — the plain commands a careful engineer would type: ``md5sum -c``; ``samtools sort`` +
  ``samtools index`` + a ``samtools view`` region query (BAM); ``(grep '^#'; grep -v '^#' | LC_ALL=C sort)
  | bgzip`` + ``tabix -p vcf`` + a ``tabix`` query (VCF);
* **workflow** — ``snakemake --cores 2`` on a one-source manifest with an empty cache and an empty working
  directory (cold), building the same artifacts (fetch + md5 check, sort, index, index check);
* **startup** — the same snakemake command again, with nothing left to do: snakemake's fixed start-up cost.

It prints wall time, CPU time and peak memory of each, the ratio workflow/reference and the start-up-adjusted
ratio ``(workflow - startup) / reference``, and checks that both pipelines produced the same records. Inputs
are generated with pysam from a fixed seed under ``bench/work/`` (or ``--workdir``) and reused by later
runs. Each run's figures are appended, with the load average, to ``<workdir>/results.jsonl``.

Peak memory is given two ways: ``max RSS`` is ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of the measuring
subprocess (the largest single process of the tree), ``tree RSS`` is the largest sum of RSS over the whole
process tree, sampled every 0.1 s by a thread (it catches snakemake + tool running side by side; short
spikes may be missed).
"""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import logging
import os
import random
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

LOG = logging.getLogger("bench.engine")
PROJECT = Path(__file__).resolve().parent.parent
GENERATOR_VERSION = 1  # bump when the generated inputs change, so cached inputs are rebuilt
SEED = 20261122
CONTIGS = [("chr1", 12_000_000), ("chr2", 10_000_000), ("chr3", 8_000_000), ("chrX", 6_000_000),
           ("chrM", 16_569)]
READ_LENGTH = 100
UNMAPPED_FRACTION = 0.01
SIZES = {"large": {"reads": 2_000_000, "records": 1_000_000}, "small": {"reads": 20_000, "records": 20_000}}
CORES = 2
SAMPLE_INTERVAL = 0.1
STARTUP_RUNS = 3  # nothing-to-do runs per repeat: start-up is short, so take the median of a few


@dataclasses.dataclass(frozen=True)
class Source:
    """One generated input: its format, path, md5 and number of records."""

    name: str
    fmt: str
    path: Path
    md5: str
    records: int


@dataclasses.dataclass
class Measurement:
    """What one measured command cost."""

    wall_s: float
    started: float  # epoch seconds, to place file mtimes on the run's timeline
    cpu_s: float
    max_rss_mb: float
    tree_rss_mb: float
    returncode: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]


# ------------------------------------------------------------------------------------------------ generation


class Progress:
    """Progress lines for a long loop: one line every 10 % with rate and time left."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self.start, self.next_step = label, total, time.monotonic(), 1

    def update(self, done: int) -> None:
        """Report when the next 10 % mark is reached."""
        if done * 10 < self.next_step * self.total and done != self.total:
            return
        self.next_step = done * 10 // self.total + 1
        elapsed = time.monotonic() - self.start
        rate = done / elapsed if elapsed else 0.0
        left = (self.total - done) / rate if rate else 0.0
        LOG.info("%s: %3d%% %s/%s (%.0f/s, %.0f s left)", self.label, 100 * done // self.total,
                 f"{done:,}", f"{self.total:,}", rate, left)


def random_genome(rng: random.Random) -> dict[str, bytes]:
    """A random ACGT sequence per contig: reads are cut from it, VCF REF alleles read from it."""
    table = bytes(b"ACGT"[i % 4] for i in range(256))
    return {name: rng.randbytes(length).translate(table) for name, length in CONTIGS}


def generate_bam(path: Path, n_reads: int, seed: int) -> None:
    """A name-sorted BAM of n_reads distinct single-end reads at random positions (1 % unmapped)."""
    import pysam

    rng = random.Random(seed)
    genome = random_genome(rng)
    names = [name for name, _ in CONTIGS]
    weights = [length for _, length in CONTIGS]
    header = {"HD": {"VN": "1.6", "SO": "queryname"},
              "SQ": [{"SN": name, "LN": length} for name, length in CONTIGS],
              "RG": [{"ID": "bench", "SM": "bench", "PL": "ILLUMINA"}]}
    quals = [pysam.qualitystring_to_array("".join(rng.choice("#,:FFFF") for _ in range(READ_LENGTH)))
             for _ in range(64)]
    progress = Progress(f"generate {path.name}", n_reads)
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i in range(n_reads):
            read = pysam.AlignedSegment(out.header)
            read.query_name = f"read{i:09d}"  # zero-padded: name order = generation order
            tid = rng.choices(range(len(names)), weights)[0]
            pos = rng.randrange(CONTIGS[tid][1] - READ_LENGTH)
            read.query_sequence = genome[names[tid]][pos:pos + READ_LENGTH].decode()
            read.query_qualities = quals[i % len(quals)]
            if rng.random() < UNMAPPED_FRACTION:
                read.flag = 4
                read.reference_id, read.reference_start, read.mapping_quality = -1, -1, 0
            else:
                read.flag = 16 if rng.random() < 0.5 else 0
                read.reference_id, read.reference_start = tid, pos
                read.mapping_quality = rng.choice((0, 20, 60, 60, 60))
                read.cigartuples = [(0, READ_LENGTH)]
            read.set_tag("RG", "bench")
            out.write(read)
            if i % 10_000 == 0 or i + 1 == n_reads:
                progress.update(i + 1)


def generate_vcf(path: Path, n_records: int, seed: int) -> None:
    """An unsorted plain-text VCF of n_records SNVs (two samples) in random order, with a full header."""
    import pysam

    rng = random.Random(seed + 1)
    genome = random_genome(rng)
    header = pysam.VariantHeader()
    header.add_line('##source=trackprep-bench')
    for name, length in CONTIGS:
        header.contigs.add(name, length=length)
    header.add_line('##INFO=<ID=DP,Number=1,Type=Integer,Description="Total depth">')
    header.add_line('##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">')
    header.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header.add_line('##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">')
    for sample in ("S1", "S2"):
        header.add_sample(sample)
    names = [name for name, _ in CONTIGS]
    weights = [length for _, length in CONTIGS]
    genotypes = [(0, 0), (0, 1), (1, 1), (0, 1)]
    progress = Progress(f"generate {path.name}", n_records)
    with pysam.VariantFile(str(path), "w", header=header) as out:
        for i in range(n_records):
            contig = names[rng.choices(range(len(names)), weights)[0]]
            start = rng.randrange(len(genome[contig]))
            ref = chr(genome[contig][start])
            alt = rng.choice([b for b in "ACGT" if b != ref])
            record = out.new_record(contig=contig, start=start, alleles=(ref, alt), id=f"rs{i + 1}",
                                    qual=round(rng.uniform(10, 99), 1), filter="PASS")
            record.info["DP"] = rng.randrange(5, 200)
            record.info["AF"] = (round(rng.random(), 3),)
            for sample in ("S1", "S2"):
                record.samples[sample]["GT"] = rng.choice(genotypes)
                record.samples[sample]["DP"] = rng.randrange(1, 100)
            out.write(record)
            if i % 10_000 == 0 or i + 1 == n_records:
                progress.update(i + 1)


def md5_of(path: Path) -> str:
    """The md5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_source(folder: Path, name: str, fmt: str, count: int, generator) -> Source:
    """Generate an input unless an identical one (same generator, seed and size) is cached; return it."""
    path = folder / f"{name}.{fmt}"
    stamp = folder / f"{name}.{fmt}.json"
    wanted = {"generator": GENERATOR_VERSION, "seed": SEED, "count": count}
    if stamp.exists() and path.exists():
        cached = json.loads(stamp.read_text())
        if {k: cached.get(k) for k in wanted} == wanted:
            LOG.info("using cached %s (%s records)", path, f"{count:,}")
            return Source(name, fmt, path, cached["md5"], count)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    generator(tmp, count, SEED)
    md5 = md5_of(tmp)
    os.replace(tmp, path)
    stamp.write_text(json.dumps({**wanted, "md5": md5}) + "\n")
    LOG.info("generated %s: %.1f MB, md5 %s", path, path.stat().st_size / 1e6, md5)
    return Source(name, fmt, path, md5, count)


def ensure_inputs(workdir: Path, size: str) -> list[Source]:
    """The benchmark's inputs for a size, generated on first use."""
    folder = workdir / "inputs" / size
    counts = SIZES[size]
    return [ensure_source(folder, "reads.namesorted", "bam", counts["reads"], generate_bam),
            ensure_source(folder, "variants", "vcf", counts["records"], generate_vcf)]


# ------------------------------------------------------------------------------------------------- measuring


def tree_rss_peak(pid: int, stop: threading.Event, peak: list[int]) -> None:
    """Sample the summed RSS of a process tree until stop is set; the largest sum goes to peak[0]."""
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    while not stop.is_set():
        total = 0
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            procs = []
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        peak[0] = max(peak[0], total)
        stop.wait(SAMPLE_INTERVAL)


def measure_child(spec: dict) -> dict:
    """Run one command (in the fresh measuring subprocess) and return what it cost.

    ru_maxrss of RUSAGE_CHILDREN is the largest single descendant; the tree sum is sampled by a thread, so the
    wall time is taken the moment the command exits.
    """
    load_before = os.getloadavg()
    peak, stop = [0], threading.Event()
    with open(spec["log"], "ab") as log:
        started, start = time.time(), time.monotonic()
        proc = subprocess.Popen(spec["cmd"], cwd=spec["cwd"], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        sampler = threading.Thread(target=tree_rss_peak, args=(proc.pid, stop, peak), daemon=True)
        sampler.start()
        try:
            proc.wait()
        except KeyboardInterrupt:  # the command runs in its own session: pass the interrupt on
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait()
            raise
        wall = time.monotonic() - start
        stop.set()
        sampler.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall_s": wall, "started": started, "cpu_s": usage.ru_utime + usage.ru_stime,
            "max_rss_mb": usage.ru_maxrss / 1024, "tree_rss_mb": peak[0] / 2**20,
            "returncode": proc.returncode,
            "load_before": load_before, "load_after": os.getloadavg()}


def measure(cmd: list[str], cwd: Path, log: Path) -> Measurement:
    """Measure a command in a fresh Python subprocess, so RUSAGE_CHILDREN covers this command's tree only."""
    spec = {"cmd": cmd, "cwd": str(cwd), "log": str(log)}
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "_measure", json.dumps(spec)],
                            capture_output=True, text=True, check=True)
    data = json.loads(result.stdout)
    data["load_before"], data["load_after"] = tuple(data["load_before"]), tuple(data["load_after"])
    m = Measurement(**data)
    if m.returncode != 0:
        raise SystemExit(f"command failed (exit {m.returncode}), see {log}:\n  {shlex.join(cmd)}\n"
                         + tail(log))
    return m


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log, for error messages."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# ------------------------------------------------------------------------------------------------- pipelines


def reference_script(source: Source, out: Path, sort_mem_mb: int) -> str:
    """The hand-written pipeline for one source, as a bash script; it writes step times to stderr."""
    q = shlex.quote
    src, md5 = q(str(source.path)), source.md5
    step = 'echo "step $1 $(date +%s.%N)" >&2'
    if source.fmt == "bam":
        data = q(str(out / "data.bam"))
        body = f"""
step md5; echo "{md5}  "{src} | md5sum -c --quiet -
step sort; samtools sort -@{CORES} -m {sort_mem_mb}M -T {q(str(out / 'sort'))} -o {data} {src}
step index; samtools index -@{CORES} {data}
step query
first=$(samtools view -F 4 {data} | head -n 1 || true)
region="$(cut -f3 <<<"$first"):$(cut -f4 <<<"$first")-$(cut -f4 <<<"$first")"
hits=$(samtools view -c {data} "$region")
[ "$hits" -gt 0 ] || {{ echo "index query $region returned nothing" >&2; exit 1; }}
"""
    else:
        data = q(str(out / "data.vcf.gz"))
        body = f"""
step md5; echo "{md5}  "{src} | md5sum -c --quiet -
step sort; (grep '^#' {src}; grep -v '^#' {src} | LC_ALL=C sort -k1,1 -k2,2n) | bgzip -@{CORES} > {data}
step index; tabix -p vcf {data}
step query
first=$( (bgzip -dc {data} | grep -v -m 1 '^#') || true)
region="$(cut -f1 <<<"$first"):$(cut -f2 <<<"$first")-$(cut -f2 <<<"$first")"
hits=$(tabix {data} "$region" | wc -l)
[ "$hits" -gt 0 ] || {{ echo "index query $region returned nothing" >&2; exit 1; }}
"""
    return f"set -euo pipefail\nstep() {{ {step}; }}\n{body}step done\n"


def step_times(log: Path) -> dict[str, float]:
    """Seconds per step of the reference pipeline, from the 'step NAME EPOCH' lines in its log."""
    lines = log.read_text(errors="replace").splitlines()
    marks = [line.split() for line in lines if line.startswith("step ")]
    return {a[1]: float(b[2]) - float(a[2]) for a, b in zip(marks, marks[1:])}


def snakemake_command(project: Path, cache: Path, manifest: Path, roots: Path) -> list[str]:
    """The engine as the service runs it: plain snakemake, absolute cache path, a one-source manifest."""
    return ["snakemake", "-s", str(project / "Snakefile"), "--cores", str(CORES),
            "--config", f"cache_dir={cache}", f"manifest={manifest}", f"source_roots=['{roots}']"]


def artifact_of(cache: Path, source: Source) -> Path:
    """Where the workflow puts a source's data file (the cache layout of ARCHITECTURE.md)."""
    name = "data.bam" if source.fmt == "bam" else "data.vcf.gz"
    return next(cache.glob(f"v*/{source.fmt}/{source.md5}/{name}"))


def workflow_timeline(cache: Path, source: Source, run: Measurement) -> dict[str, float]:
    """Seconds from the workflow's start until the verified source, the data file and the index were written
    (their mtimes; every rule renames a finished file into place), and until snakemake exited."""
    data = artifact_of(cache, source)
    index = Path(f"{data}.{'bai' if source.fmt == 'bam' else 'tbi'}")
    src = next((cache / "src" / source.md5).glob("source.*"))
    return {"source": src.stat().st_mtime - run.started, "data": data.stat().st_mtime - run.started,
            "index": index.stat().st_mtime - run.started, "exit": run.wall_s}


def rule_benchmarks(cache: Path, source: Source) -> dict[str, dict[str, float]]:
    """The workflow's own per-rule benchmark files (s, max_rss) for this source."""
    found = {}
    for tsv in sorted((cache / "logs").glob(f"v*/*/{source.md5}/*.benchmark.tsv")):
        header, values = tsv.read_text().splitlines()[:2]
        row = dict(zip(header.split("\t"), values.split("\t")))
        rule = tsv.name.removesuffix(".benchmark.tsv")
        found[rule] = {"s": float(row["s"]), "max_rss_mb": float(row["max_rss"])}
    return found


def records_digest(path: Path, fmt: str) -> tuple[str, str]:
    """(md5 of the header minus @PG lines, md5 of the records) of a BAM or bgzipped file, decompressed."""
    head, body = hashlib.md5(), hashlib.md5()
    if fmt == "bam":
        header = subprocess.run(["samtools", "view", "--no-PG", "-H", str(path)],
                                capture_output=True, check=True)
        head.update(b"".join(line for line in header.stdout.splitlines(keepends=True)
                             if not line.startswith(b"@PG")))
        with subprocess.Popen(["samtools", "view", "--no-PG", str(path)], stdout=subprocess.PIPE) as proc:
            while chunk := proc.stdout.read(1 << 20):
                body.update(chunk)
        if proc.returncode:
            raise SystemExit(f"samtools view {path} failed")
    else:
        with gzip.open(path, "rb") as handle:
            for line in handle:
                (head if line.startswith(b"#") else body).update(line)
    return head.hexdigest(), body.hexdigest()


# ------------------------------------------------------------------------------------------------------- run


def sort_memory_mb(project: Path) -> int:
    """samtools_sort_memory_mb from the engine's config, so both pipelines sort with the same -m."""
    import yaml

    return int(yaml.safe_load((project / "config" / "config.yaml").read_text())["samtools_sort_memory_mb"])


def fresh_dir(path: Path) -> Path:
    """An empty directory at path."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def bench_source(source: Source, workdir: Path, repeat: int, project: Path) -> dict:
    """Measure reference, cold workflow and start-up for one source, `repeat` times, alternating."""
    runs = workdir / "runs" / source.name
    mem = sort_memory_mb(project)
    result: dict = {"input": source.name, "fmt": source.fmt, "records": source.records,
                    "size_mb": source.path.stat().st_size / 1e6,
                    "reference": [], "workflow": [], "startup": [], "reference_steps": [],
                    "workflow_rules": [], "workflow_timeline": []}
    for i in range(repeat):
        ref_out = fresh_dir(runs / "reference")
        log = ref_out / "reference.log"
        LOG.info("%s: reference pipeline (run %d/%d)", source.name, i + 1, repeat)
        m = measure(["bash", "-c", reference_script(source, ref_out, mem)], ref_out, log)
        result["reference"].append(dataclasses.asdict(m))
        result["reference_steps"].append(step_times(log))

        wf = fresh_dir(runs / "workflow")
        cache, workdir_sm = fresh_dir(wf / "cache"), fresh_dir(wf / "run")
        manifest = wf / "manifest.tsv"
        manifest.write_text("id\taccess_url\tmd5\tformat\tindex_url\taccess\n"
                            f"{source.name}\t{source.path}\t{source.md5}\t{source.fmt}\t\tpublic\n")
        cmd = snakemake_command(project, cache, manifest, source.path.parent)
        LOG.info("%s: workflow, cold cache (run %d/%d)", source.name, i + 1, repeat)
        m = measure(cmd, workdir_sm, wf / "snakemake.log")
        result["workflow"].append(dataclasses.asdict(m))
        result["workflow_rules"].append(rule_benchmarks(cache, source))
        result["workflow_timeline"].append(workflow_timeline(cache, source, m))
        LOG.info("%s: workflow, nothing to do (start-up) x%d", source.name, STARTUP_RUNS)
        noop = []
        for _ in range(STARTUP_RUNS):
            noop.append(measure(cmd, workdir_sm, wf / "snakemake-noop.log"))
            if "Nothing to be done" not in (wf / "snakemake-noop.log").read_text(errors="replace"):
                raise SystemExit(f"the start-up run did work; see {wf / 'snakemake-noop.log'}")
        result["startup"].append(dataclasses.asdict(sorted(noop, key=lambda n: n.wall_s)[len(noop) // 2]))

    ref_data = ref_out / ("data.bam" if source.fmt == "bam" else "data.vcf.gz")
    wf_data = artifact_of(cache, source)
    suffix = ".bai" if source.fmt == "bam" else ".tbi"
    index_ok = all(Path(f"{p}{suffix}").exists() for p in (ref_data, wf_data))
    ref_digest, wf_digest = records_digest(ref_data, source.fmt), records_digest(wf_data, source.fmt)
    result["same_header"] = ref_digest[0] == wf_digest[0]
    result["same_records"] = ref_digest[1] == wf_digest[1] and index_ok
    return result


def median_of(runs: list[dict], key: str) -> float:
    """The median over repeats (the only value when run once)."""
    return statistics.median(r[key] for r in runs)


NOTES = """wf/ref = workflow wall / reference wall; adj = (workflow - start-up) / reference wall;
cpu = user + system seconds of the whole tree; adj cpu = that ratio on CPU time (steadier on a busy machine);
maxRSS = largest single process (getrusage RUSAGE_CHILDREN); tree = peak RSS sum of the process tree;
load = highest 1-min load average seen before a measured run.
A cold run ends about 1 s after its last job: snakemake's job-rate limiter leaves a 1 s threading.Timer
running that the interpreter waits for; a nothing-to-do run starts no timer, so 'start s' omits it."""


def table_row(r: dict) -> str:
    """One input's line of the result table."""
    ref, wf = median_of(r["reference"], "wall_s"), median_of(r["workflow"], "wall_s")
    up = median_of(r["startup"], "wall_s")
    cpu_adj = ((median_of(r["workflow"], "cpu_s") - median_of(r["startup"], "cpu_s"))
               / median_of(r["reference"], "cpu_s"))
    load = max(m["load_before"][0] for m in r["reference"] + r["workflow"])
    same = ("yes" if r["same_records"] else "NO") + ("" if r["same_header"] else " (header differs)")
    mem = [median_of(r[side], key)
           for key in ("max_rss_mb", "tree_rss_mb") for side in ("reference", "workflow")]
    return (f"{r['input']:<18}{r['records']:>10,}{r['size_mb']:>8.1f}{ref:>8.1f}{wf:>8.1f}{up:>8.1f}"
            f"{wf / ref:>8.2f}{(wf - up) / ref:>7.2f}{median_of(r['reference'], 'cpu_s'):>8.1f}"
            f"{median_of(r['workflow'], 'cpu_s'):>8.1f}{cpu_adj:>8.2f}"
            f"{mem[0]:>9.0f}MB{mem[1]:>8.0f}MB{mem[2]:>7.0f}MB"
            f"{mem[3]:>6.0f}MB{load:>6.2f}  {same}")


def stage_lines(r: dict) -> list[str]:
    """Where one input's time went, in its last run: reference steps, workflow rules and timeline."""
    steps = ", ".join(f"{k} {v:.1f}" for k, v in r["reference_steps"][-1].items())
    rules = ", ".join(f"{k} {v['s']:.1f} ({v['max_rss_mb']:.0f} MB)"
                      for k, v in r["workflow_rules"][-1].items())
    t = r["workflow_timeline"][-1]
    return [f"  {r['input']}: {steps} | {rules or 'none'}",
            f"  {'':{len(r['input'])}}  workflow timeline: source verified at {t['source']:.1f}, "
            f"data at {t['data']:.1f}, index at {t['index']:.1f}, snakemake exited at {t['exit']:.1f} "
            f"({t['exit'] - t['index']:.1f} s after the last artifact)"]


def report(results: list[dict], size: str) -> str:
    """The result tables as text."""
    load = os.getloadavg()
    lines = [f"engine benchmark, {size} inputs, --cores {CORES}; load average now "
             f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
             f"medians of {len(results[0]['reference'])} run(s)", ""]
    head = (f"{'input':<18}{'records':>10}{'MB':>8}{'ref s':>8}{'wf s':>8}{'start s':>8}{'wf/ref':>8}"
            f"{'adj':>7}{'ref cpu':>8}{'wf cpu':>8}{'adj cpu':>8}"
            f"{'ref maxRSS':>11}{'wf maxRSS':>10}{'ref tree':>9}"
            f"{'wf tree':>8}{'load':>6}  same")
    lines += [head, "-" * len(head), *map(table_row, results), "", NOTES, "",
              "stages (seconds, last run): reference steps | workflow rules with a benchmark: file"]
    for r in results:
        lines += stage_lines(r)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_measure"]:
        print(json.dumps(measure_child(json.loads(argv[1]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="small inputs: a smoke run of a minute or so")
    parser.add_argument("--workdir", type=Path, default=PROJECT / "bench" / "work",
                        help="where inputs are generated and cached and runs happen (default: bench/work)")
    parser.add_argument("--repeat", type=int, default=1, help="measure each pipeline N times, report medians")
    parser.add_argument("--project", type=Path, default=PROJECT,
                        help="the trackprep checkout whose Snakefile and config to run (default: this one); "
                             "point it at a modified copy to measure a rule change")
    parser.add_argument("--only", choices=["bam", "vcf"], help="benchmark one input only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for tool in ("snakemake", "samtools", "bgzip", "tabix", "md5sum"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found on PATH (bash .ci/setup installs the tools)")
    size = "small" if args.small else "large"
    workdir = args.workdir.resolve()
    sources = [s for s in ensure_inputs(workdir, size) if args.only in (None, s.fmt)]
    project = args.project.resolve()
    results = [bench_source(source, workdir, max(1, args.repeat), project) for source in sources]
    text = report(results, size)
    print(text)
    with open(workdir / "results.jsonl", "a") as out:
        out.write(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "size": size,
                              "project": str(project), "loadavg": os.getloadavg(),
                              "results": results}) + "\n")
    return 0 if all(r["same_records"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
