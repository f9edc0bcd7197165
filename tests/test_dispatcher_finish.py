"""How the dispatcher ends a run that died (kill -9, a crash): with real SQLite, a real process that was
SIGKILLed and real files at the targets' paths. A run that had published every target built them (each is
renamed into place whole, an artifact's record last): its job is completed. One that had not is failed."""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from webapp import dispatcher, events, jobs, settings as settings_module
from webapp.job_record import JobStatus


def killed_process() -> subprocess.Popen:
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc


@pytest.mark.parametrize("published, expected", [(2, JobStatus.COMPLETED), (1, JobStatus.FAILED)])
def test_a_run_killed_after_publishing_every_target_completes_its_job(tmp_path: Path, published, expected):
    settings = settings_module.load({"TRACKPREP_DATA_DIR": str(tmp_path / "data"), "TRACKPREP_SAMPLES": "none",
                                     "TRACKPREP_WARM_LAUNCHER": "0"})
    runner = dispatcher.Dispatcher(settings)
    try:
        # stand-ins outside the cache (not artifacts: the suite's artifact guard reads those): the dispatcher
        # only asks whether each target exists; the second plays the record, the last file a run writes
        folder = tmp_path / "targets"
        targets = [folder / "first.txt", folder / "record.json"]
        folder.mkdir(parents=True)
        for target in targets[:published]:
            target.write_bytes(b"built")
        job, created = jobs.submit(runner.db, "bam", str(folder), [str(t) for t in targets], {})
        assert created
        claimed = jobs.claim_next(runner.db, 2, runner.owner)
        assert claimed is not None and claimed.id == job.id
        job_dir = Path(settings.jobs_dir) / job.id
        job_dir.mkdir(parents=True)
        (job_dir / "snakemake.log").write_text("")
        proc = killed_process()
        assert proc.returncode == -signal.SIGKILL
        run = dispatcher.Run(claimed, proc, events.RunProgress(str(job_dir / events.EVENTS_FILE)),
                             deadline=time.monotonic() + 60)
        runner.runs[job.id] = run
        runner._finish(run, proc.returncode)
        final = jobs.get(runner.db, job.id)
        assert final.status is expected, final
        if expected is JobStatus.FAILED:
            assert "SIGKILL" in final.error["reason"]
        assert all(t.exists() for t in targets[:published])  # nothing published is taken back
    finally:
        if runner.waker is not None:
            runner.waker.close()
