"""The fault tier (``-m faults``, issue 15 item 8): rounds of ``kill -9`` at random moments against the running
service, one of its Snakemake runs, or one rule's tool process (samtools, sort, bgzip, gffread, tabix).

Each round registers fresh sources (generated here, large enough that every tool runs for a while; a header line
names the round, so every round has new md5s and builds from scratch), asks for their artifacts, kills its target
at a moment drawn from a seeded RNG (the seed is printed; ``TRACKPREP_FAULT_SEED`` replays a run), then restarts
the service and waits for the queue to drain. After every round:

- no job is ``running`` (or ``queued``): every killed run was recovered and ended;
- no temp file is left anywhere in the cache;
- a job that failed (its tool or its run was killed) published no artifact record; it is retried, and builds in
  full from the stages it left;
- every artifact then opens in pysam with its index and holds as many records as its source (a GTF converted to
  GFF3: a gene, a transcript and two exons per transcript, as the conversion report says too).
"""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import pysam
import pytest
from conftest import Service, Source, leftovers, unreadable_artifact

from webapp import layout

pytestmark = pytest.mark.faults

ROUNDS = int(os.environ.get("TRACKPREP_FAULT_ROUNDS") or 20)
TOOLS = ("samtools", "sort", "bgzip", "gffread", "tabix")
# which generated source makes each tool run
TOOL_FORMATS = {"samtools": "sam", "sort": "bed", "bgzip": "bed", "gffread": "gtf", "tabix": "bed"}
CONTIGS = {f"chr{i}": 5_000_000 for i in range(1, 5)}
MARKS = {"bed": "#fault round ", "gtf": "#fault round ", "vcf": "##fault_round=", "sam": "@CO\tfault round "}
SIZES = {"bed": 60_000, "vcf": 30_000, "gtf": 6_000, "sam": 30_000}  # records (transcripts for the GTF)


# ---- generated sources -------------------------------------------------------------------------------------
def _body(fmt: str, rng: random.Random) -> tuple[str, str, int]:
    """(header, records, how many records) of a source in ``fmt``, records in random order."""
    contigs = list(CONTIGS)
    if fmt == "bed":
        lines = []
        for i in range(SIZES["bed"]):
            start = rng.randrange(4_900_000)
            lines.append(f"{rng.choice(contigs)}\t{start}\t{start + rng.randrange(1, 5000)}\tf{i}\t0\t+\n")
        return "", "".join(lines), len(lines)
    if fmt == "vcf":
        header = "##fileformat=VCFv4.2\n" + "".join(f"##contig=<ID={c},length={n}>\n" for c, n in CONTIGS.items())
        header += "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        seen, lines = set(), []
        while len(lines) < SIZES["vcf"]:
            contig, pos = rng.choice(contigs), rng.randrange(1, 4_900_000)
            if (contig, pos) not in seen:
                seen.add((contig, pos))
                lines.append(f"{contig}\t{pos}\t.\tA\tG\t50\tPASS\t.\n")
        return header, "".join(lines), len(lines)
    if fmt == "gtf":
        lines = []
        for i in range(SIZES["gtf"]):
            contig, start = rng.choice(contigs), rng.randrange(1, 4_900_000)
            attrs = f'gene_id "g{i}"; transcript_id "t{i}";'
            lines.append(f"{contig}\tsim\ttranscript\t{start}\t{start + 999}\t.\t+\t.\t{attrs}\n")
            lines.append(f"{contig}\tsim\texon\t{start}\t{start + 199}\t.\t+\t.\t{attrs}\n")
            lines.append(f"{contig}\tsim\texon\t{start + 800}\t{start + 999}\t.\t+\t.\t{attrs}\n")
        return "", "".join(lines), len(lines)
    header = "@HD\tVN:1.6\tSO:unsorted\n" + "".join(f"@SQ\tSN:{c}\tLN:{n}\n" for c, n in CONTIGS.items())
    lines = []
    for i in range(SIZES["sam"]):
        seq = "".join(rng.choice("ACGT") for _ in range(50))
        pos = rng.randrange(1, 4_900_000)
        lines.append(f"r{i}\t0\t{rng.choice(contigs)}\t{pos}\t60\t50M\t*\t0\t0\t{seq}\t{'I' * 50}\n")
    return header, "".join(lines), len(lines)


class Sources:
    """One generated source per format, written anew for each round with a round-naming header line."""

    def __init__(self, folder: Path, rng: random.Random):
        self.folder = folder
        self.bodies = {fmt: _body(fmt, rng) for fmt in SIZES}

    def write(self, fmt: str, round_no: int) -> tuple[Path, int]:
        header, records, count = self.bodies[fmt]
        mark = MARKS[fmt] + f"{round_no}\n"
        if fmt == "vcf":  # after ##fileformat, which must come first
            first, rest = header.split("\n", 1)
            text = f"{first}\n{mark}{rest}{records}"
        elif fmt == "sam":
            first, rest = header.split("\n", 1)
            text = f"{first}\n{mark}{rest}{records}"
        else:
            text = mark + header + records
        path = self.folder / f"r{round_no}.{fmt}"
        path.write_text(text)
        return path, count


# ---- looking at the service from outside ---------------------------------------------------------------------
def job_rows(svc: Service) -> list[dict]:
    with sqlite3.connect(svc.data_dir / "trackprep.sqlite", timeout=30) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute("SELECT * FROM jobs")]


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(command name, process group) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return (None if fields[0] == "Z" else comm), int(fields[2])


def tool_processes(tool: str, groups: set[int]) -> list[tuple[int, int]]:
    """(pid, group) of live processes named ``tool`` in one of the given process groups (our Snakemake runs')."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(int(entry))
            if stat is not None and stat[0] == tool and stat[1] in groups:
                found.append((int(entry), stat[1]))
    return found


def kill(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


def active(svc: Service) -> list[dict]:
    return [row for row in job_rows(svc) if row["status"] in ("queued", "running")]


def strike(svc: Service, target: str, tool: str, rng: random.Random) -> tuple[str, str | None]:
    """Kill the round's target at a random moment: (what was killed or why nothing was, the job it hit)."""
    if target == "service":
        time.sleep(rng.uniform(0.0, 4.0))
        svc.stop(signal.SIGKILL)
        return "service", None
    deadline = time.monotonic() + 60
    if target == "snakemake":
        while time.monotonic() < deadline:
            running = [row for row in job_rows(svc) if row["status"] == "running" and row["pid"]]
            if running:
                time.sleep(rng.uniform(0.0, 2.0))
                row = rng.choice(running)
                if kill(row["pid"]):
                    return f"snakemake {row['pid']}", row["id"]
                return "snakemake (already ended)", None
            if not active(svc):
                return "nothing (the jobs ended first)", None
            time.sleep(0.02)
        return "nothing (no run started)", None
    delay = rng.uniform(0.0, 0.25)  # after the tool is first seen
    seen_at = None
    while time.monotonic() < deadline:
        groups = {row["pid"]: row["id"] for row in job_rows(svc) if row["status"] == "running" and row["pid"]}
        found = tool_processes(tool, set(groups)) if groups else []
        if found and seen_at is None:
            seen_at = time.monotonic()
        if found and time.monotonic() - seen_at >= delay:
            pid, group = found[0]
            if kill(pid):
                return f"{tool} {pid}", groups[group]
        if not active(svc):
            return f"nothing (no {tool} seen before the jobs ended)", None
        time.sleep(0.005)
    return f"nothing ({tool} not seen)", None


# ---- what every round checks -----------------------------------------------------------------------------------
def record_count(data: Path) -> int:
    if data.name.endswith(".bam"):
        with pysam.AlignmentFile(str(data), check_sq=False) as bam:
            return sum(1 for _ in bam.fetch(until_eof=True))
    if data.name.startswith("data.vcf"):
        with pysam.VariantFile(str(data)) as vcf:
            return sum(1 for _ in vcf.fetch())
    with pysam.TabixFile(str(data)) as tabix:
        return sum(1 for contig in tabix.contigs for _ in tabix.fetch(contig))


def latest_jobs(svc: Service, built: list[tuple[Source, int]]) -> dict[str, dict]:
    """The newest job of each source's artifact, by source id."""
    rows = job_rows(svc)
    latest = {}
    for source, _count in built:
        key = str(source.artifacts(svc.cache)["data"].parent)
        latest[source.id] = max((row for row in rows if row["workflow_key"] == key),
                                key=lambda row: (row["created_at"], row["attempts"]))
    return latest


def check_round(svc: Service, built: list[tuple[Source, int]]) -> dict[str, str]:
    """The invariants after a round's restart; the outcome per source. A source whose job failed (its tool or
    its run was killed) published nothing; it is retried, and must then build in full from what is left."""
    rows = job_rows(svc)
    assert [row["id"] for row in rows if row["status"] in ("running", "queued")] == []
    assert leftovers(svc) == []
    outcome = {source_id: job["status"] for source_id, job in latest_jobs(svc, built).items()}
    for source, _count in built:
        if outcome[source.id] != "completed":
            assert not source.artifacts(svc.cache)["record"].exists(), source.id
            job_id = latest_jobs(svc, built)[source.id]["id"]
            response = svc.http.post(svc.url(f"/jobs/{job_id}/retry"), headers=svc.auth(), timeout=60)
            assert response.status_code in (200, 201, 202), response.text
    drain(svc)
    assert leftovers(svc) == []
    for source, count in built:
        assert latest_jobs(svc, built)[source.id]["status"] == "completed", source.id
        paths = source.artifacts(svc.cache)
        assert unreadable_artifact(paths["data"]) is None, source.id
        if source.access_url.endswith(".gtf"):
            converted = json.loads((paths["data"].parent / layout.CONVERSION_REPORT).read_text())
            assert converted["records_in"] == count and converted["dropped"] == 0
            assert record_count(paths["data"]) == converted["records_out"] == count // 3 * 4  # + a gene each
        else:
            assert record_count(paths["data"]) == count, source.id
    return outcome


def drain(svc: Service, timeout: float = 180) -> None:
    """Wait until no job is queued or running."""
    deadline = time.monotonic() + timeout
    while active(svc):
        assert time.monotonic() < deadline, f"jobs never ended: {active(svc)}"
        time.sleep(0.2)


def test_kill_9_at_random_moments(tmp_path: Path):
    seed = int(os.environ.get("TRACKPREP_FAULT_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"fault tier seed: {seed} (TRACKPREP_FAULT_SEED={seed} replays it)")
    rng = random.Random(seed)
    svc = Service(tmp_path, {"TRACKPREP_MAX_CONCURRENT_JOBS": "2", "TRACKPREP_CANCEL_GRACE": "1"})
    generated = Sources(tmp_path / "sources", rng)
    svc.start()
    log = []
    round_no = 0
    try:
        for round_no in range(ROUNDS):
            target = ("service", "snakemake", "tool")[round_no % 3] if round_no < 3 else \
                rng.choice(("service", "snakemake", "tool"))
            tool = rng.choice(TOOLS)
            formats = [TOOL_FORMATS[tool]]  # a tool round builds what runs its tool; the others build two
            if target != "tool":
                formats.append(rng.choice([f for f in SIZES if f != formats[0]]))
            built = []
            for fmt in formats:
                path, count = generated.write(fmt, round_no)
                source = Source.local(path, id=path.name)
                response = svc.register(source.id, path)
                assert response.status_code == 201, response.text
                assert svc.get(f"/data/{source.id}").status_code == 202
                built.append((source, count))
            started = time.monotonic()
            struck, hit = strike(svc, target, tool, rng)
            if hit is not None:  # let the dispatcher see the kill (else the stop below re-queues the run)
                settle = time.monotonic() + 15
                while time.monotonic() < settle and any(row["id"] == hit and row["status"] == "running"
                                                        for row in job_rows(svc)):
                    time.sleep(0.05)
            svc.stop(signal.SIGTERM)  # no-op after a service kill; else a clean stop re-queues what runs
            svc.start()
            drain(svc)
            outcome = check_round(svc, built)
            log.append(f"round {round_no}: killed {struck}; {outcome} ({time.monotonic() - started:.1f} s)")
            print(log[-1])
    except AssertionError as err:  # under pytest-xdist the printed seed shows only with a failure: name it here too
        raise AssertionError(f"seed {seed} (TRACKPREP_FAULT_SEED), round {round_no}: {err}\n" + "\n".join(log)) from err
    finally:
        svc.stop(signal.SIGKILL)
    landed = [line for line in log if "killed nothing" not in line]
    assert len(landed) >= ROUNDS // 2, "\n".join(log)  # most rounds killed something mid-flight
