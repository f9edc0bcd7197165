"""The warm launcher: a single-threaded process that has imported Snakemake once and forks one child per job.

Starting ``python -m snakemake`` costs about a second of imports before any work, and the interpreter then waits
at exit for the job-rate limiter's last non-daemon ``threading.Timer`` (about a second more). The launcher pays
the imports once (and parses the workflow once, which imports what Snakemake otherwise loads lazily in every
run); each child runs ``snakemake.cli.main(argv)`` with exactly the arguments of the command line the
dispatcher would otherwise start (:func:`webapp.dispatcher.snakemake_command`) and leaves with
``os._exit(status)`` as soon as the run returns.

A child is what the subprocess was: the leader of its own session and process group (so the dispatcher's
SIGINT → SIGTERM → SIGKILL and the recovery's pid + start time work unchanged), in the job's folder, with the
job's environment (``TMPDIR``, ``TRACKPREP_EVENTS_FILE``), its output appended to the job's ``snakemake.log``.
Before ``os._exit`` it writes its status to ``STATUS_FILE`` in its folder, so the status survives a crash of the
launcher; the launcher also reports it (after ``waitpid``), which covers a child killed by a signal.

Protocol (JSON lines): the dispatcher writes ``{"id", "argv", "cwd", "env", "log"}`` to the launcher's stdin; the
launcher answers ``{"id", "pid"}`` (or ``{"id", "error"}``) at once and ``{"pid", "status"}`` when the child ends
(status as ``Popen.returncode``: negative for a signal). EOF on stdin ends the launcher once its children have.

The dispatcher side is :class:`Launcher` (start, launch, stop) and :class:`ForkedRun` (``pid`` and ``poll()``, the
two things the dispatcher uses of a ``Popen``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from . import procs  # stdlib only, as everything the launcher process imports of this package

log = logging.getLogger(__name__)
STATUS_FILE = "run.status"
# what the child runs is the workflow; these are what the launcher itself has imported and would run stale
WORKFLOW_SUFFIXES = (".smk", ".py", "Snakefile", ".yaml")
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
STATUS_UNKNOWN = -int(signal.SIGKILL)  # a child that vanished with its launcher and wrote no status


def workflow_stamp(workflow_dir: str) -> str:
    """A digest of the names, sizes and mtimes of the workflow's files and of this package's modules: a change
    means a launcher started before it runs stale code, and must be replaced."""
    digest = hashlib.sha1()
    for root in (workflow_dir, PACKAGE_DIR):
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("__pycache__", "tests"))
            for name in sorted(names):
                if name.endswith(WORKFLOW_SUFFIXES):
                    path = os.path.join(folder, name)
                    try:
                        info = os.stat(path)
                    except FileNotFoundError:
                        continue
                    digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
            if root == PACKAGE_DIR and folder == root:
                dirs[:] = [d for d in dirs if d == "snakemake_plugins"]
            if root == workflow_dir and folder == root:
                dirs[:] = [d for d in dirs if d in ("rules", "scripts", "workflow", "config")]
    return digest.hexdigest()


# ---- the launcher process ------------------------------------------------------------------------------------
def _warm_up(workflow_dir: str | None) -> None:
    """Import what every run imports, before the first fork. Parsing the workflow once (no DAG of jobs, no
    execution: no thread starts) imports what Snakemake loads lazily (source cache, smart_open, the validators,
    the Snakefile's own imports): without it a forked run still spent most of its start-up importing. That
    parse also fills the parser's memo (:mod:`webapp.parse_memo`), which the children inherit."""
    import snakemake.api  # noqa: F401
    import snakemake.cli  # noqa: F401
    import snakemake.dag  # noqa: F401
    import snakemake.scheduling.job_scheduler  # noqa: F401
    import snakemake.workflow  # noqa: F401
    from snakemake_interface_logger_plugins.registry import LoggerPluginRegistry
    LoggerPluginRegistry().collect_plugins()
    from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry
    ExecutorPluginRegistry().collect_plugins()
    from . import parse_memo
    parse_memo.install()
    if workflow_dir:
        _parse_workflow(os.path.join(workflow_dir, "Snakefile"))


def _parse_workflow(snakefile: str) -> None:
    """Parse the workflow with an empty cache in a scratch folder, and forget it."""
    from snakemake.api import SnakemakeApi
    from snakemake.cli import get_argument_parser
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    scratch = tempfile.mkdtemp(prefix="trackprep-launcher-")
    here = os.getcwd()
    try:
        os.chdir(scratch)
        get_argument_parser()
        with SnakemakeApi(OutputSettings()) as api:
            api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=Path(snakefile),
                         config_settings=ConfigSettings(config={"cache_dir": os.path.join(scratch, "cache")}),
                         workdir=Path(scratch)).dag()
    except Exception as err:  # noqa: BLE001 - a workflow that does not parse fails its runs, not the launcher
        print(f"warm launcher: parsing {snakefile} failed: {err}", file=sys.stderr)
    finally:
        os.chdir(here)
        shutil.rmtree(scratch, ignore_errors=True)


def _child(request: dict, keep: tuple[int, ...]) -> None:
    """In the forked child: become the job's run and never return."""
    status = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        out = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        for fd in (out, null, *keep):
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # TMPDIR is the job's folder now
        sys.argv = ["snakemake", *request["argv"]]
        import snakemake.cli
        try:
            snakemake.cli.main(request["argv"])
            status = 0
        except SystemExit as done:
            status = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except KeyboardInterrupt:
            status = 130
    except BaseException:  # noqa: BLE001 - whatever happens, the child must end here with a status
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            with open(STATUS_FILE, "w", encoding="utf-8") as handle:
                handle.write(str(status))
        finally:
            os._exit(status)


def _send(message: dict) -> None:
    try:
        os.write(1, (json.dumps(message) + "\n").encode())
    except OSError:  # the dispatcher is gone: its successor's recovery stops the runs; keep reaping them
        pass


def serve(workflow_dir: str | None = None) -> None:
    """The launcher's main loop: fork a child per request, report each child's pid and exit status."""
    _warm_up(workflow_dir)
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the dispatcher stops runs, never the launcher by a Ctrl-C
    children: set[int] = set()
    buffer = b""
    reading = True
    _send({"ready": os.getpid(), "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss})
    while reading or children:
        ready, _, _ = select.select([0, wake_r] if reading else [wake_r], [], [], 1.0)
        if wake_r in ready:
            try:
                os.read(wake_r, 4096)
            except BlockingIOError:
                pass
        while children:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
            if pid == 0:
                break
            children.discard(pid)
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            _send({"pid": pid, "status": code, "maxrss_kb": usage.ru_maxrss})
        if reading and 0 in ready:
            chunk = os.read(0, 65536)
            if not chunk:
                reading = False
                continue
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                try:
                    pid = os.fork()
                except OSError as err:
                    _send({"id": request["id"], "error": str(err)})
                    continue
                if pid == 0:
                    _child(request, (wake_r, wake_w))
                children.add(pid)
                _send({"id": request["id"], "pid": pid})


# ---- the dispatcher's side -----------------------------------------------------------------------------------
class LauncherGone(RuntimeError):
    """The launcher did not answer: the caller falls back to a subprocess."""


class Launcher:
    """One launcher process, as the dispatcher sees it. Starting one does not wait for its warm-up: until it
    reports ready, :meth:`launch` refuses and the job takes the subprocess route."""

    def __init__(self, env: dict[str, str], stamp: str, workflow_dir: str | None = None):
        """Start the launcher with ``env`` (the runs' common environment); it parses ``workflow_dir``'s
        Snakefile once while warming up."""
        self.stamp = stamp
        self.statuses: dict[int, int] = {}
        self.peak_kb: dict[int, int] = {}
        self.ready_pid: int | None = None
        self._buffer = b""
        self.proc = subprocess.Popen([sys.executable, "-m", "webapp.launcher", *filter(None, [workflow_dir])],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, cwd="/", start_new_session=True)
        os.set_blocking(self.proc.stdout.fileno(), False)

    def alive(self) -> bool:
        """True while the launcher process runs."""
        return self.proc.poll() is None

    def ready(self) -> bool:
        """True once the launcher has warmed up (and still runs)."""
        self.pump()
        return self.ready_pid is not None and self.alive()

    def fileno(self) -> int:
        """The launcher's output pipe: readable when a child started or ended (for the dispatcher's select)."""
        return self.proc.stdout.fileno()

    def _read(self) -> list[dict]:
        try:
            chunk = os.read(self.fileno(), 65536)
        except BlockingIOError:
            return []
        except OSError:
            chunk = b""
        if not chunk:
            raise LauncherGone("the launcher closed its output")
        self._buffer += chunk
        messages = []
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            message = json.loads(line)
            if "status" in message:
                self.statuses[message["pid"]] = int(message["status"])
                self.peak_kb[message["pid"]] = int(message.get("maxrss_kb") or 0)
            elif "ready" in message:
                self.ready_pid = int(message["ready"])
                log.info("warm launcher %s ready (%d MB)", self.ready_pid, message.get("rss_kb", 0) // 1024)
            messages.append(message)
        return messages

    def pump(self) -> None:
        """Take in whatever the launcher has reported (readiness, children's exit statuses)."""
        try:
            while self._read():
                pass
        except LauncherGone:
            pass

    def launch(self, job_id: str, argv: list[str], cwd: str, env: dict[str, str], log_path: str) -> int:
        """Fork a run of ``snakemake <argv>`` in ``cwd``; its pid."""
        if not self.ready():
            raise LauncherGone("the launcher is not ready")
        request = {"id": job_id, "argv": argv, "cwd": cwd, "env": env, "log": log_path}
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as err:
            raise LauncherGone(f"the launcher is gone: {err}") from err
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            select.select([self.fileno()], [], [], 0.5)
            for message in self._read():
                if message.get("id") == job_id:
                    if "error" in message:
                        raise LauncherGone(message["error"])
                    return int(message["pid"])
        raise LauncherGone("the launcher did not answer in time")

    def close(self) -> None:
        """Let the launcher end once its running children have (closing its input)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass


class WarmRoute:
    """The dispatcher's launcher, kept current: started ahead of need, replaced when it died or when the
    workflow's files changed, given up (subprocesses only) after repeated failures."""

    MAX_FAILURES = 4

    def __init__(self, workflow_dir: str, enabled: bool):
        """``enabled``: ``TRACKPREP_WARM_LAUNCHER``. A run with a cluster profile forks too: its ``--profile``
        is an argument like the others, and its executor plugin is loaded in the child."""
        self.workflow_dir = workflow_dir
        self.enabled = enabled
        self.launcher: Launcher | None = None
        self.failures = 0

    def prepare(self, env: dict[str, str]) -> Launcher | None:
        """The current launcher, starting one (without waiting for it) when there is none fit to use."""
        if not self.enabled or self.failures >= self.MAX_FAILURES:
            return None
        stamp = workflow_stamp(self.workflow_dir)
        if self.launcher is not None and (not self.launcher.alive() or self.launcher.stamp != stamp):
            log.info("warm launcher: %s; starting a new one",
                     "the workflow changed" if self.launcher.alive() else "it exited")
            if not self.launcher.alive():
                self.failures += 1
            self.close()
        if self.launcher is None:
            common = {k: v for k, v in env.items() if k not in ("TMPDIR", "TRACKPREP_EVENTS_FILE")}
            try:
                self.launcher = Launcher(common, stamp, self.workflow_dir)
            except OSError as err:
                log.warning("warm launcher could not start: %s", err)
                self.failures += 1
        return self.launcher

    def fork(self, job_id: str, cmd: list[str], cwd: str, env: dict[str, str], log_path: str) -> ForkedRun | None:
        """Run the command line ``cmd`` (``python -m snakemake ...``) as a forked child; None when the job is to
        take the subprocess route (off, launcher still warming up, or failed: the job is never lost)."""
        current = self.prepare(env)
        if current is None:
            return None
        try:
            pid = current.launch(job_id, cmd[3:], cwd, env, log_path)
        except LauncherGone as err:
            if current.ready_pid is not None:
                log.warning("job %s: warm launcher failed (%s); running it as a subprocess", job_id, err)
                self.failures += 1
                self.close()
            return None
        self.failures = 0
        return ForkedRun(current, pid, procs.start_time(pid), cwd)

    def pump(self) -> None:
        """Read the current launcher's reports (its readiness is logged when it comes)."""
        if self.launcher is not None:
            self.launcher.pump()

    def launchers(self, runs) -> set[Launcher]:
        """The live launchers whose reports the dispatcher waits on: the current one and those of ``runs``."""
        found = {run.launcher for run in runs if isinstance(run, ForkedRun)}
        if self.launcher is not None:
            found.add(self.launcher)
        return {current for current in found if current.alive()}

    def close(self) -> None:
        """Let the current launcher end once its children have; the next :meth:`prepare` starts a new one."""
        if self.launcher is not None:
            self.launcher.close()
            self.launcher = None


class ForkedRun:
    """A run forked by a launcher: what the dispatcher uses of a ``Popen`` (``pid``, ``poll()``)."""

    def __init__(self, launcher: Launcher, pid: int, started: str | None, job_dir: str):
        self.launcher = launcher
        self.pid = pid
        self.started = started
        self.job_dir = job_dir
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The run's exit status once it has ended, else None."""
        if self.returncode is not None:
            return self.returncode
        self.launcher.pump()
        if self.pid in self.launcher.statuses:
            self.returncode = self.launcher.statuses.pop(self.pid)
            return self.returncode
        if procs.alive(self.pid, self.started):
            return None
        if self.launcher.alive():  # ended: its launcher reports the status in a moment (no spinning meanwhile)
            select.select([self.launcher.fileno()], [], [], 1.0)
            self.launcher.pump()
            if self.pid in self.launcher.statuses:
                self.returncode = self.launcher.statuses.pop(self.pid)
                return self.returncode
            if self.launcher.alive():
                return None
        self.launcher.pump()  # the launcher may have reported it just before it ended
        if self.pid in self.launcher.statuses:
            self.returncode = self.launcher.statuses.pop(self.pid)
            return self.returncode
        try:  # the launcher is gone and so is the run: its own record of how it ended, if it wrote one
            with open(os.path.join(self.job_dir, STATUS_FILE), encoding="utf-8") as handle:
                self.returncode = int(handle.read().strip())
        except (OSError, ValueError):
            self.returncode = STATUS_UNKNOWN
        return self.returncode


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 else None)
