"""What a run leaves behind and why it failed: the temp names a killed run leaves in the folders it writes,
and whether a failed run's cause is a full disk (tools misreport ENOSPC, so the free space is checked too).
Used by the dispatcher when a run ends, and by the hand-over of a dead worker's jobs."""
from __future__ import annotations

import logging
import os
import shutil

from . import metrics
from .job_record import Job
from .settings import Settings

log = logging.getLogger(__name__)
TEMP_PREFIXES = (".fetch-", ".tabix.", ".sidecar.")
TEMP_SUFFIXES = (".tmp",)
# a failed run is put down to a full disk when its log says so, or (tools misreport ENOSPC: samtools sort says
# "No such file or directory") when a filesystem it writes to has less than this left
DISK_FULL_WORDS = ("No space left on device", "Errno 28", "ENOSPC", "Disk quota exceeded")
LOW_SPACE_BYTES = 1 << 20
LOW_SPACE_FRACTION = 0.005


def sweep_temp_files(directories: list[str]) -> None:
    """Remove the temp names rules write before renaming into place (left behind by a killed run)."""
    for directory in directories:
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            continue
        for name in names:
            if name.startswith(TEMP_PREFIXES) or name.endswith(TEMP_SUFFIXES):
                path = os.path.join(directory, name)
                log.info("removing leftover %s", path)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass


def disk_space(settings: Settings, job_id: str) -> list[tuple[str, str, int, int]]:
    """The filesystems a job writes to, as (folder, setting, free bytes, total bytes): the cache and the job's
    folder under the data dir (its TMPDIR). Free bytes come from :func:`webapp.metrics.disk_free`."""
    found = []
    for folder, setting in ((settings.cache_dir, "TRACKPREP_CACHE_DIR"),
                            (os.path.join(settings.jobs_dir, job_id), "TRACKPREP_DATA_DIR")):
        free = metrics.disk_free(folder)
        if free is None:
            continue
        try:
            total = shutil.disk_usage(folder if os.path.exists(folder) else settings.data_dir).total
        except OSError:
            total = 0
        found.append((folder, setting, free, total))
    return found


def disk_full_reason(job_id: str, tail: str, space: list[tuple[str, str, int, int]]) -> str | None:
    """Why a failed run failed when the cause is a full disk, else None: the log says ENOSPC, or a filesystem
    the job writes to has less than LOW_SPACE_BYTES (or LOW_SPACE_FRACTION of its size) free."""
    said = any(word.lower() in tail.lower() for word in DISK_FULL_WORDS)
    low = [entry for entry in space if entry[2] < max(LOW_SPACE_BYTES, LOW_SPACE_FRACTION * entry[3])]
    if not said and not low:
        return None
    candidates = low or space
    if not candidates:
        where = "a filesystem the job writes to is out of space"
    else:
        folder, setting, free, _total = min(candidates, key=lambda entry: entry[2])
        where = f"{folder} has {metrics.human_bytes(free)} free ({setting})"
    return f"the disk is full: {where}; free space and retry the job (POST /jobs/{job_id}/retry)"


def job_dirs(job: Job) -> set[str]:
    """The folders a job writes into: its targets' folders and its declared work dirs."""
    return {os.path.dirname(path) for path in job.targets} | set(job.work_dirs)
