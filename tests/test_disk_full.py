"""Full disks (issue 15 item 2): on a real, size-limited tmpfs the test mounts and unmounts, a track build that
runs out of space fails its job with a reason that says the disk is full (not samtools' misleading "No such file
or directory"), leaves nothing at a final path, and the service keeps answering; an SSR upload that runs out of
space answers 507 with a JSON reason and keeps nothing of the upload."""
from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import TRACKS, leftovers

BAM = TRACKS / "pybedtools_x.bam"
MIB = 1 << 20


@pytest.fixture
def small_disk(tmp_path: Path):
    """``small_disk(size)``: a folder on a fresh tmpfs of ``size`` bytes; unmounted at teardown, even on failure."""
    mounted: list[Path] = []

    def mount(size: int, name: str = "disk") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"cannot mount a {size}-byte tmpfs on {folder} (the test needs root and mount(8)): "
                        f"{done.stderr.strip()}")
        mounted.append(folder)
        assert shutil.disk_usage(folder).total == size  # the size limit is real
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_build_on_a_full_disk_fails_saying_so_and_publishes_nothing(small_disk, service_factory):
    disk = small_disk(4 * MIB)
    # the verified copy fits, the sorted BAM next to it must not: fill what would be left over for it
    room = BAM.stat().st_size + MIB // 2
    if shutil.disk_usage(disk).free > room:
        (disk / "filler").write_bytes(b"\0" * (shutil.disk_usage(disk).free - room))
    assert BAM.stat().st_size < shutil.disk_usage(disk).free < 2 * BAM.stat().st_size
    cache = disk / "cache"
    svc = service_factory(TRACKPREP_CACHE_DIR=str(cache)).start()
    assert svc.register("xbam", BAM, format="bam").status_code in (200, 201)
    answer = svc.get("/data/xbam")
    assert answer.status_code == 202, answer.text
    job = svc.wait_job(answer.json()["job_id"])
    assert job["status"] == "failed", job
    error = job["error"]
    assert "disk is full" in error["reason"], error
    assert str(cache) in error["reason"] and "TRACKPREP_CACHE_DIR" in error["reason"], error
    assert error["rule"] == "samtools_sort" and error["log_tail"], error  # the tool's own words are kept
    assert f"POST /jobs/{answer.json()['job_id']}/retry" in error["reason"], error
    published = [p.name for p in cache.rglob("*") if p.name in ("data.bam", "data.bam.bai", "artifact.json")]
    assert published == []
    assert leftovers(svc) == []
    health = svc.get("/health")
    assert health.status_code == 200, health.text
    free = health.json()["disk_free_bytes"]["cache"]
    assert free == shutil.disk_usage(cache).free and free < MIB
    # a request for the source answers (the failed build), rather than hanging or erroring
    again = svc.get("/data/xbam")
    assert again.status_code == 409 and again.json()["error"] == "build_failed", again.text
    # what the reason says to do works: free space, retry the job, and the artifact is built and opens
    (disk / "filler").unlink()
    retried = svc.http.post(svc.url(f"/jobs/{job['job_id']}/retry"), headers=svc.auth(), timeout=60)
    assert retried.status_code in (200, 202), retried.text
    assert svc.wait_job(retried.json()["job_id"])["status"] == "completed"
    (bam,) = [p for p in cache.rglob("data.bam")]
    subprocess.run(["samtools", "quickcheck", str(bam)], check=True)
    count = subprocess.run(["samtools", "view", "-c", str(bam)], capture_output=True, text=True, check=True)
    expected = subprocess.run(["samtools", "view", "-c", str(BAM)], capture_output=True, text=True, check=True)
    assert count.stdout == expected.stdout


def fasta_records(path: Path, size: int) -> int:
    """Write valid FASTA records of random bases to ``path`` until it holds at least ``size`` bytes."""
    rng = random.Random(15)
    written = 0
    with open(path, "w") as handle:
        index = 0
        while written < size:
            bases = "".join(rng.choice("ACGT") for _ in range(6000))
            lines = [f">seq{index}"] + [bases[i:i + 60] for i in range(0, len(bases), 60)]
            text = "\n".join(lines) + "\n"
            handle.write(text)
            written += len(text)
            index += 1
    return written


def test_an_upload_on_a_full_disk_answers_507_and_keeps_nothing(small_disk, service_factory, tmp_path):
    disk = small_disk(1 * MIB)
    fasta = tmp_path / "big.fa"
    assert fasta_records(fasta, 3 * MIB) > shutil.disk_usage(disk).total
    cache = disk / "cache"
    svc = service_factory(TRACKPREP_CACHE_DIR=str(cache)).start()
    with open(fasta, "rb") as handle:
        answer = svc.http.post(svc.url("/analyze_ssr/"), files={"fasta_file": handle}, timeout=120)
    assert answer.status_code == 507, answer.text
    body = answer.json()
    assert body["error"] == "disk_full" and "disk is full" in body["detail"], body
    staging = cache / "ssr" / ".uploads"
    assert staging.is_dir() and list(staging.iterdir()) == []
    assert [p for p in (cache / "ssr").rglob("*") if p.is_file()] == []
    assert shutil.disk_usage(disk).free > 0.9 * MIB  # the space the upload took is free again
    assert svc.get("/health").status_code == 200
    assert svc.jobs(kind="ssr") == []
    # a small submission afterwards is accepted: the service is not left broken
    small = tmp_path / "small.fa"
    fasta_records(small, 20_000)
    with open(small, "rb") as handle:
        again = svc.http.post(svc.url("/analyze_ssr/"), files={"fasta_file": handle}, timeout=120)
    assert again.status_code == 202, again.text


def test_a_log_that_says_enospc_names_the_folder_with_least_space(small_disk, tmp_path):
    """The other way a full disk is recognised: the tool said so (errno 28), though the run's clean-up freed the
    space again before the dispatcher looked. The reason names the fullest folder the job writes to."""
    from webapp import run_cleanup, settings

    disk = small_disk(4 * MIB)
    (disk / "filler").write_bytes(b"\0" * (2 * MIB))
    config = settings.load({"TRACKPREP_DATA_DIR": str(tmp_path / "data"), "TRACKPREP_CACHE_DIR": str(disk)})
    space = run_cleanup.disk_space(config, "job1")
    assert {entry[0] for entry in space} == {str(disk), str(tmp_path / "data" / "jobs" / "job1")}
    tail = "mv: error writing '/x/data.bam.tmp': No space left on device\n"
    reason = run_cleanup.disk_full_reason("job1", tail, space)
    assert reason is not None and reason.startswith("the disk is full: ")
    assert f"{disk} has 2.0 MiB free (TRACKPREP_CACHE_DIR)" in reason and "POST /jobs/job1/retry" in reason
    # plenty of space and a log that does not say so: another failure, not a full disk
    assert run_cleanup.disk_full_reason("job1", "samtools sort: truncated file\n", space) is None
