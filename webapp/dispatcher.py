"""The dispatcher: claims queued jobs while fewer than the bound run, runs Snakemake for each, records the
outcome.

A thread inside ``trackprep serve``, or one or more ``trackprep worker`` processes next to gunicorn. The bound
on running jobs is counted in the database, so it holds across processes; a worker that dies hands its jobs to
the others (:mod:`webapp.workers`). Each job
runs::

    python -m snakemake -s $WORKFLOW/Snakefile <targets> --configfile job.yaml --nolock --cores N \
        --logger trackprep --rerun-incomplete [--profile P]

in ``$DATA_DIR/jobs/<id>/`` (its own process group, TMPDIR there too). Cancel, time limit and shutdown stop a
run the same way: SIGINT to Snakemake, then SIGTERM and SIGKILL to its group after the grace period.

With ``TRACKPREP_WARM_LAUNCHER`` (the default, local runs) the same arguments run in a child forked from
:mod:`webapp.launcher` instead of a fresh interpreter; everything above holds for it too. The loop sleeps in
``select`` on its wake-up socket (:mod:`webapp.wake`: a submission, from any process), the launcher's reports and
a pidfd per run (a run's exit), at most ``TRACKPREP_POLL_INTERVAL``.
"""
from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import yaml

from . import cache_gc, cluster, events, heartbeat, jobs, launcher, metrics, procs, wake, workers
from .run_cleanup import disk_full_reason, disk_space, job_dirs, sweep_temp_files
from .db import open_store
from .job_record import ACTIVE, Job, JobStatus
from .settings import Settings

log = logging.getLogger(__name__)
PLUGIN_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "snakemake_plugins")
# the logger plugin imports webapp.events: the package's parent goes on the run's PYTHONPATH too
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECOVERY_EVERY = 5.0  # seconds between sweeps for jobs whose dispatcher died (webapp/workers.py)


@dataclass
class Run:
    """One Snakemake subprocess this dispatcher watches."""

    job: Job
    proc: subprocess.Popen | launcher.ForkedRun
    progress: events.RunProgress
    deadline: float
    stop_reason: str | None = None  # "cancelled", "timeout" or "shutdown" once a stop has begun
    stop_step: int = 0
    stop_at: float = field(default=0.0)
    started: float = field(default_factory=time.monotonic)
    pidfd: int | None = None  # readable once the run's process has ended (wakes the loop)


def snakemake_command(settings: Settings, job: Job) -> list[str]:
    """The Snakemake command line for a job (run in the job's directory)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", os.path.join(settings.workflow_dir, "Snakefile"),
           *job.targets, "--configfile", "job.yaml", "--nolock", "--rerun-incomplete",
           "--cores", str(settings.snakemake_cores), "--logger", "trackprep",
           # a job's DAG is a few jobs: the default ILP scheduler starts its solver (a CBC process) for every
           # selection, tens of milliseconds of a small miss, to choose among at most a handful of ready jobs
           "--scheduler", "greedy"]
    if settings.snakemake_profile:
        profile = settings.snakemake_profile
        if not os.path.isabs(profile):
            profile = os.path.join(settings.workflow_dir, profile)
        cmd += ["--profile", profile]
    return cmd


def run_environment() -> dict[str, str]:
    """The environment every run shares (a job adds its TMPDIR and events file): the rules' ``python3`` is this
    service's interpreter (its environment has pysam and this package), not whichever python3 comes first on
    the PATH of whoever started the service; the logger plugin and this package are importable."""
    return dict(os.environ,
                PATH=os.pathsep.join(filter(None, [os.path.dirname(sys.executable), os.environ.get("PATH")])),
                PYTHONPATH=os.pathsep.join(filter(None, [PLUGIN_PATH, PACKAGE_PARENT, os.environ.get("PYTHONPATH")])))


class Dispatcher:
    """Runs queued jobs, at most ``settings.max_concurrent_jobs`` at once over all dispatchers."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.owner = procs.identity()
        self.db = open_store(settings.db_path)
        self.runs: dict[str, Run] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_recovery = 0.0
        self._last_beat = 0.0
        self.collector = cache_gc.Collector(settings)  # evicts and expires in its own thread
        self.warm = launcher.WarmRoute(settings.workflow_dir, settings.warm_launcher)
        try:
            self.waker: wake.Waker | None = wake.Waker(self.owner)
        except OSError:  # another dispatcher object of this very process already listens: poll instead
            self.waker = None

    # ---- life cycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Recover jobs of dead dispatchers, then run the loop in a background thread."""
        self._beat()  # before anything answers /health
        self.recover()
        self._thread = threading.Thread(target=self.loop, name="trackprep-dispatcher", daemon=True)
        self._thread.start()

    def loop(self) -> None:
        """Claim, watch and finish jobs until :meth:`shutdown`."""
        log.info("dispatcher %s: up to %d jobs at once", self.owner, self.settings.max_concurrent_jobs)
        self.collector.start()
        self.warm.prepare(run_environment())  # warms up while the first jobs, if any, run as subprocesses
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:  # one bad tick must not end the dispatcher
                log.exception("dispatcher tick failed")
            self._wait(self.settings.poll_interval)

    def _wait(self, timeout: float) -> None:
        """Sleep until a submission (this process or another), a launcher report, a run's exit, or ``timeout``."""
        if jobs.wakeup.is_set():
            jobs.wakeup.clear()
            return
        fds: list = [run.pidfd for run in self.runs.values() if run.pidfd is not None]
        fds += {current.fileno() for current in self.warm.launchers(run.proc for run in self.runs.values())}
        if self.waker is not None:
            fds.append(self.waker.fileno())
        deadline = time.monotonic() + timeout
        while not jobs.wakeup.is_set():  # an in-process submission sets the event and sends a datagram
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                ready, _, _ = select.select(fds, [], [], min(left, 0.05) if self.waker is None else left)
            except (OSError, ValueError):  # a descriptor closed under us: a plain pass will sort it out
                break
            if ready:
                break
        jobs.wakeup.clear()
        if self.waker is not None:
            self.waker.drain()

    def stop_soon(self) -> None:
        """Ask :meth:`loop` to return after its current pass (safe from a signal handler)."""
        self._stopping.set()
        jobs.wakeup.set()
        if self.waker is not None:
            self.waker.poke()

    def shutdown(self) -> None:
        """Stop claiming, stop the running Snakemake runs and put their jobs back in the queue."""
        self.stop_soon()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=60)
        for run in self.runs.values():
            run.stop_reason = run.stop_reason or "shutdown"
        while self.runs:  # the same stop sequence as a cancel; _finish re-queues
            for run in list(self.runs.values()):
                self._watch(run)
            time.sleep(0.05)
        self.collector.stop()
        self.warm.close()
        heartbeat.forget(self.db, self.owner)

    def _beat(self) -> None:
        """Record this dispatcher's heartbeat (a third of the timeout /health allows, at most every 5 s)."""
        heartbeat.beat(self.db, self.owner)
        self._last_beat = time.monotonic()

    # ---- recovery ------------------------------------------------------------------------------------------
    def recover(self) -> None:
        """Take over the running jobs of dispatchers that are gone (this one's earlier life, or another worker
        killed on this host or silent past the heartbeat timeout on another; :mod:`webapp.workers`): stop any
        Snakemake they left running, sweep its temp files and re-queue the job."""
        self._last_recovery = time.monotonic()
        if not self._last_beat:
            self._beat()  # seen as live before touching anyone's jobs
        for job in workers.orphaned(self.db, self.settings.heartbeat_timeout):
            if not workers.adopt(self.db, job.id, job.owner, self.owner):
                continue  # another live dispatcher took it over first
            host = workers.parse_owner(job.owner)[0]
            if host not in ("", procs.HOST):
                log.warning("job %s: its dispatcher %s on %s is silent; its Snakemake (pid %s there) cannot be "
                            "stopped from here", job.id, job.owner, host, job.pid)
            elif procs.alive(job.pid, job.pid_start):
                log.warning("job %s: stopping Snakemake %s left by dead dispatcher %s", job.id, job.pid,
                            job.owner)
                procs.stop_group(job.pid, lambda job=job: procs.alive(job.pid, job.pid_start),
                                 self.settings.cancel_grace)
            cluster.cancel_cluster_jobs(os.path.join(self.settings.jobs_dir, job.id))
            sweep_temp_files(sorted(job_dirs(job) - self._dirs_of_other_active_jobs(job.id)))
            if workers.hand_back(self.db, job.id, self.owner, "re-queued after its dispatcher stopped"):
                log.info("job %s re-queued by %s (its dispatcher %s is gone)", job.id, self.owner,
                         job.owner)
        workers.forget_gone(self.db, self.settings.heartbeat_timeout)

    # ---- one pass ------------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Advance every run, then start queued jobs while there is room."""
        if time.monotonic() - self._last_beat > min(5.0, self.settings.heartbeat_timeout / 3):
            self._beat()
        self.warm.pump()
        for run in list(self.runs.values()):
            self._watch(run)
        if time.monotonic() - self._last_recovery > RECOVERY_EVERY:
            self.recover()
        while not self._stopping.is_set():
            job = jobs.claim_next(self.db, self.settings.max_concurrent_jobs, self.owner)
            if job is None:
                break
            try:
                self._launch(job)
            except Exception as err:  # a job we claimed must never stay 'running' without a process
                log.exception("job %s: could not start", job.id)
                jobs.finish(self.db, job.id, JobStatus.FAILED, "could not start snakemake",
                            {"rule": None, "reason": f"could not start snakemake: {err}", "log_tail": ""})

    def _launch(self, job: Job) -> None:
        job_dir = os.path.join(self.settings.jobs_dir, job.id)
        os.makedirs(job_dir, exist_ok=True)
        for name, text in job.files.items():
            with open(os.path.join(job_dir, os.path.basename(name)), "w", encoding="utf-8") as handle:
                handle.write(text)
        with open(os.path.join(job_dir, "job.yaml"), "w", encoding="utf-8") as handle:
            yaml.safe_dump(job.config, handle, sort_keys=True)
        events_path = os.path.join(job_dir, events.EVENTS_FILE)
        open(events_path, "w").close()  # a re-queued job starts a fresh event stream
        env = dict(run_environment(), TMPDIR=job_dir, TRACKPREP_EVENTS_FILE=events_path)
        cmd = snakemake_command(self.settings, job)
        log_path = os.path.join(job_dir, "snakemake.log")
        try:
            os.unlink(os.path.join(job_dir, launcher.STATUS_FILE))  # an earlier attempt's
        except FileNotFoundError:
            pass
        with open(log_path, "ab") as output:
            output.write(f"\n# attempt {job.attempts}: {' '.join(cmd)}\n".encode())
        proc = self.warm.fork(job.id, cmd, job_dir, env, log_path)
        if proc is None:
            with open(log_path, "ab") as output:
                proc = subprocess.Popen(cmd, cwd=job_dir, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        started = proc.started if isinstance(proc, launcher.ForkedRun) else procs.start_time(proc.pid)
        jobs.set_process(self.db, job.id, proc.pid, started)
        try:
            pidfd = os.pidfd_open(proc.pid)
        except OSError:  # ended already, or no pidfd here: the timed pass notices
            pidfd = None
        self.runs[job.id] = Run(job, proc, events.RunProgress(events_path),
                                deadline=time.monotonic() + self.settings.job_timeout, pidfd=pidfd)
        log.info("job %s (%s): started snakemake pid %s (%s) for %s", job.id, job.kind, proc.pid,
                 "forked" if isinstance(proc, launcher.ForkedRun) else "subprocess", job.workflow_key)

    def _watch(self, run: Run) -> None:
        if run.progress.read():
            jobs.set_progress(self.db, run.job.id, run.progress.done, run.progress.total,
                              run.progress.message if run.stop_reason is None else "stopping")
        returncode = run.proc.poll()
        if returncode is not None:
            self._finish(run, returncode)
            return
        if run.stop_reason is None:
            current = jobs.get(self.db, run.job.id)
            if current is not None and current.cancel_requested:
                run.stop_reason = "cancelled"
            elif time.monotonic() > run.deadline:
                run.stop_reason = "timeout"
        if run.stop_reason is not None:
            self._advance_stop(run)

    def _advance_stop(self, run: Run) -> None:
        """One step of SIGINT -> SIGTERM (group) -> SIGKILL (group), a grace period apart; never blocks."""
        pid = run.proc.pid
        if run.stop_step and time.monotonic() - run.stop_at < self.settings.cancel_grace:
            if run.stop_step == 1:  # a tool Snakemake started after the SIGINT (it was still starting) goes too
                procs.signal_followers(pid, signal.SIGTERM)
            return
        if run.stop_step == 0:
            # SIGINT lets Snakemake clean up, but it waits for a running tool to end: a long sort outlived a time
            # limit by the whole grace period. The tools get SIGTERM at once; their temp files are swept after.
            log.info("job %s: stopping (%s): SIGINT to snakemake %s, SIGTERM to its tools", run.job.id,
                     run.stop_reason, pid)
            procs.signal_process(pid, signal.SIGINT)
            procs.signal_followers(pid, signal.SIGTERM)
        elif run.stop_step == 1:
            log.info("job %s: SIGTERM to process group %s", run.job.id, pid)
            procs.signal_group(pid, signal.SIGTERM)
        else:
            log.info("job %s: SIGKILL to process group %s", run.job.id, pid)
            procs.signal_group(pid, signal.SIGKILL)
        run.stop_step += 1
        run.stop_at = time.monotonic()

    def _finish(self, run: Run, returncode: int) -> None:
        job = run.job
        del self.runs[job.id]
        if run.pidfd is not None:
            os.close(run.pidfd)
        run.progress.read()
        missing = [path for path in job.targets if not os.path.exists(path)]
        space = disk_space(self.settings, job.id)  # before the sweep frees what the run left
        if returncode != 0 or missing:
            procs.signal_group(run.proc.pid, signal.SIGKILL)  # rules Snakemake left behind
            cluster.cancel_cluster_jobs(os.path.join(self.settings.jobs_dir, job.id))  # and cluster jobs
            sweep_temp_files(sorted(job_dirs(job) - self._dirs_of_other_active_jobs(job.id)))
        # A run that died (kill -9, a crash) after it had published every target built them all: each target is
        # renamed into place whole by its rule, an artifact's record last, so they are served either way
        published = returncode != 0 and not missing and run.stop_reason is None
        if published:
            log.warning("job %s: snakemake ended with status %s after publishing every target: completed", job.id,
                        returncode)
        if (returncode == 0 or published) and not missing and run.stop_reason != "timeout":
            # done, even if cancelled meanwhile
            total = run.progress.total or run.progress.done
            jobs.set_progress(self.db, job.id, total, total, "completed")
            jobs.finish(self.db, job.id, JobStatus.COMPLETED, "completed")
            self.collector.built(job.workflow_key)
        elif run.stop_reason == "shutdown":
            jobs.requeue(self.db, job.id, "re-queued: the service stopped while it ran")
        elif run.stop_reason == "cancelled":
            jobs.finish(self.db, job.id, JobStatus.CANCELLED, "cancelled",
                        {"rule": run.progress.current_rule, "reason": "cancelled by request", "log_tail": ""})
        elif run.stop_reason == "timeout":
            reason = f"time limit of {self.settings.job_timeout} s exceeded (TRACKPREP_JOB_TIMEOUT)"
            jobs.finish(self.db, job.id, JobStatus.FAILED, reason,
                        {"rule": run.progress.current_rule, "reason": reason, "log_tail": ""})
        else:
            error = self._failure(job, run.progress, returncode, missing, space)
            jobs.finish(self.db, job.id, JobStatus.FAILED, error["reason"], error)
        self._log_outcome(job, returncode, run.stop_reason)
        if run.stop_reason != "shutdown" or (returncode == 0 and not missing):  # a re-queued run did not end
            final = jobs.get(self.db, job.id) or job
            metrics.job_finished(job.kind, final.status.value, time.monotonic() - run.started,
                                 run.progress.stage_seconds)

    def _log_outcome(self, job: Job, returncode: int, stop_reason: str | None) -> None:
        """One line per finished run naming the job, what it built, how it ended and, on failure, why."""
        final = jobs.get(self.db, job.id) or job
        error = final.error or {}
        what = f"source {job.source_id}" if job.source_id else f"{job.kind} analysis"
        level = logging.WARNING if final.status is JobStatus.FAILED else logging.INFO
        log.log(level, "job %s (%s, %s): %s%s%s [snakemake exit %s%s]", job.id, job.kind, what,
                final.status.value, f", rule {error['rule']}" if error.get("rule") else "",
                f": {error['reason']}" if error.get("reason") and final.status is not JobStatus.COMPLETED else "",
                returncode, f", stopped: {stop_reason}" if stop_reason else "")

    def _failure(self, job: Job, progress: events.RunProgress, returncode: int, missing: list[str],
                 space: list[tuple[str, str, int, int]] | None = None) -> dict:
        """The readable error of a failed run: the failing rule, its tool's last words and its log tail. A run
        that ran out of disk space says so, and where (the tool's own message stays in ``log_tail``)."""
        snakemake_log = os.path.join(self.settings.jobs_dir, job.id, "snakemake.log")
        run_tail = events.file_tail(snakemake_log)
        if returncode > 0 or missing:
            full = disk_full_reason(job.id, f"{progress.failed_log_tail or ''}\n{run_tail}",
                                    space if space is not None else disk_space(self.settings, job.id))
            if full is not None:
                if progress.failed_rule:
                    full = full.replace("; free space", f" (rule {progress.failed_rule} failed); free space", 1)
                return {"rule": progress.failed_rule, "reason": full,
                        "log_tail": progress.failed_log_tail or run_tail}
        if progress.failed_rule:
            tail = progress.failed_log_tail or run_tail
            reason = f"rule {progress.failed_rule} failed: {events.last_line(tail) or 'see log_tail'}"
            return {"rule": progress.failed_rule, "reason": reason, "log_tail": tail}
        tail = run_tail
        if returncode < 0:
            reason = f"snakemake was killed by {signal.Signals(-returncode).name}"
        elif returncode == 0:
            reason = f"snakemake finished but did not produce {', '.join(missing)}"
        elif progress.errors:
            reason = " ".join(progress.errors[0].split("\n", 2)[:2]).strip()
        else:
            reason = f"snakemake exited with status {returncode}: {events.last_line(tail)}"
        return {"rule": None, "reason": reason, "log_tail": tail}

    def _dirs_of_other_active_jobs(self, job_id: str) -> set[str]:
        """Folders other queued or running jobs write into: their temp files are not ours to sweep."""
        dirs: set[str] = set()
        for status in ACTIVE:
            for other in jobs.list_jobs(self.db, status=status, limit=10_000, include_private=True):
                if other.id != job_id:
                    dirs |= job_dirs(other)
        return dirs
