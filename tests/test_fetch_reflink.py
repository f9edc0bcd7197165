"""Verified copies of local sources in ``cache/src`` (issue 15 item 7): a reflink where the filesystem allows it
(no extra space), a plain copy elsewhere, never a hard link; either way a later in-place change of the original
cannot reach the cache's copy. The reflink case runs on a real XFS (reflink=1) the test makes on a loop device."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, TRACKS, Engine, Source, md5sum

FETCH = REPO / "rules" / "scripts" / "fetch_source.py"


def fetch(source: Path, out: Path, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(FETCH), "--url", str(source), "--md5", md5sum(source),
                           "--out", str(out), "--source-root", str(root)], capture_output=True, text=True,
                          timeout=120)


def rewrite_in_place(path: Path) -> None:
    """Change a file's first bytes through the same inode (what `>>` or an editor writing in place does)."""
    with open(path, "r+b") as handle:
        handle.write(b"#changed after the fetch\n")


@pytest.fixture
def xfs(tmp_path: Path):
    """A folder on a fresh 320 MB XFS with reflink, loop-mounted for the test and unmounted at teardown."""
    mkfs = shutil.which("mkfs.xfs") or "/usr/sbin/mkfs.xfs"
    if not os.path.exists(mkfs):
        pytest.fail("mkfs.xfs is missing: bash .ci/setup installs xfsprogs")
    image, folder = tmp_path / "xfs.img", tmp_path / "xfs"
    folder.mkdir()
    with open(image, "wb") as handle:
        handle.truncate(320 << 20)
    subprocess.run([mkfs, "-q", "-m", "reflink=1", str(image)], check=True, capture_output=True)
    done = subprocess.run(["mount", "-o", "loop", str(image), str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"cannot loop-mount an XFS image (the test needs root and loop devices): {done.stderr}")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_a_local_source_is_copied_not_linked_where_reflinks_are_not_available(tmp_path):
    source = tmp_path / "roots" / "track.bed"
    source.parent.mkdir()
    shutil.copy(TRACKS / "htslib_bed_file.bed", source)
    original = md5sum(source)
    out = tmp_path / "cache" / "src" / original / "source.bed"
    result = fetch(source, out, source.parent)
    assert result.returncode == 0, result.stderr
    assert "(reflink)" not in result.stderr  # ext4/tmpfs here: a plain copy
    assert out.read_bytes() == source.read_bytes()
    assert os.stat(out).st_nlink == 1 and os.stat(out).st_ino != os.stat(source).st_ino
    rewrite_in_place(source)
    assert md5sum(out) == original


def test_a_local_source_on_a_reflink_filesystem_costs_no_space_and_stays_as_verified(xfs):
    source = xfs / "roots" / "big.bed"
    source.parent.mkdir()
    lines = (TRACKS / "htslib_bed_file.bed").read_bytes()
    with open(source, "wb") as handle:
        while handle.tell() < 48 << 20:
            handle.write(lines)
    os.sync()
    original = md5sum(source)
    out = xfs / "cache" / "src" / original / "source.bed"
    used = shutil.disk_usage(xfs).used
    result = fetch(source, out, source.parent)
    assert result.returncode == 0, result.stderr
    assert "(reflink)" in result.stderr
    os.sync()
    assert shutil.disk_usage(xfs).used - used < 8 << 20  # a 48 MB copy took (next to) no space: shared blocks
    assert os.stat(out).st_nlink == 1 and os.stat(out).st_ino != os.stat(source).st_ino  # not a hard link
    assert md5sum(out) == original
    rewrite_in_place(source)
    assert md5sum(source) != original and md5sum(out) == original  # copy on write kept the cache's bytes


def test_the_engine_reflinks_the_fetch_stage_and_builds_from_it(xfs):
    (xfs / "roots").mkdir()
    source = xfs / "roots" / "track.bed"
    shutil.copy(TRACKS / "htslib_bed_file.bed", source)
    (xfs / "work").mkdir()
    engine = Engine(workdir=xfs / "work", cache=xfs / "cache")
    row = Source.local(source)
    result = engine.run([row], roots=[xfs / "roots"])
    assert result.returncode == 0, result.stderr[-3000:]
    (log,) = (xfs / "cache" / "logs" / "src" / row.md5).glob("fetch_source.*.log")
    assert "(reflink)" in log.read_text()
    (copy,) = (xfs / "cache" / "src" / row.md5).glob("source.*")
    assert md5sum(copy) == row.md5
    from conftest import unreadable_artifact

    assert unreadable_artifact(row.artifacts(engine.cache)["data"]) is None
