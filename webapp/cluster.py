"""Ending a run's SLURM jobs when its Snakemake could not cancel them itself.

Snakemake's SLURM executor names every job it submits after the run's id and logs ``SLURM run ID: <id>``;
on SIGINT it cancels them. A Snakemake that was killed outright (SIGKILL after the grace period, the OOM
killer, a crashed host process) leaves them running, so after every run that did not end cleanly the
dispatcher cancels them by name. Harmless when there is nothing left: ``scancel --name`` of finished jobs
does nothing.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess

log = logging.getLogger(__name__)

SLURM_RUN_ID = re.compile(r"SLURM run ID: (\S+)")
SNAKEMAKE_LOG = "snakemake.log"


def slurm_run_ids(job_dir: str) -> list[str]:
    """The SLURM run ids that the job's Snakemake runs (one per attempt) logged, in order."""
    try:
        with open(os.path.join(job_dir, SNAKEMAKE_LOG), encoding="utf-8", errors="replace") as handle:
            return list(dict.fromkeys(SLURM_RUN_ID.findall(handle.read())))
    except FileNotFoundError:
        return []


def cancel_cluster_jobs(job_dir: str) -> list[str]:
    """``scancel --name`` every SLURM run the job's Snakemake started; returns the run ids it cancelled."""
    run_ids = slurm_run_ids(job_dir)
    scancel = shutil.which("scancel")
    if not run_ids or scancel is None:
        return []
    for run_id in run_ids:
        try:
            result = subprocess.run([scancel, "--name", run_id], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            log.warning("scancel --name %s failed: %s", run_id, err)
            continue
        if result.returncode != 0:
            log.warning("scancel --name %s: exit %s: %s", run_id, result.returncode, result.stderr.strip())
    log.info("cancelled any SLURM jobs left by runs %s", ", ".join(run_ids))
    return run_ids
