"""A real single-node SLURM for the `slurm` test tier: munged, slurmctld and slurmd under a temp dir.

Debian's `slurm-wlm` and `munge` are installed when missing (nothing else in the project installs them). The
cluster has no accounting storage, tracks processes with proctrack/linuxproc (no cgroup), listens on 127.0.0.1
only, on free ports, with its own munge socket. The one thing outside the temp dir is a symlink at
/etc/slurm/slurm.conf while the cluster runs (see DEFAULT_CONF); a machine with a slurm.conf of its own is
refused.
Every daemon runs in the foreground as our own child, and `stop()` ends exactly those pids.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from conftest import free_port

log = logging.getLogger(__name__)

#: command -> the Debian package that provides it
COMMANDS = {
    "munged": "munge", "slurmctld": "slurm-wlm", "slurmd": "slurm-wlm", "sbatch": "slurm-wlm",
    "squeue": "slurm-wlm", "scancel": "slurm-wlm", "sinfo": "slurm-wlm", "scontrol": "slurm-wlm",
    "srun": "slurm-wlm",
}
PARTITION = "debug"
#: where Debian's slurm-wlm looks for its config. The executor's job step strips SLURM_CONF from the
#: environment of the `srun` it starts inside each job, so that srun only finds the cluster through the
#: default path.
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")


def ensure_installed() -> None:
    """Install `slurm-wlm` and `munge` from Debian when any of their commands is missing."""
    missing = sorted({pkg for cmd, pkg in COMMANDS.items() if shutil.which(cmd) is None})
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log.info("installing Debian packages %s", missing)
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   check=True, env=env, timeout=1200, stdout=subprocess.DEVNULL)
    still = [cmd for cmd in COMMANDS if shutil.which(cmd) is None]
    if still:
        raise RuntimeError(f"after installing {missing}, still missing: {still}")


def memory_mb() -> int:
    """Physical memory in MiB, less a margin for the daemons and the test process."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    return max(1024, total - 512)


@dataclass
class SlurmCluster:
    """One controller and one compute node on 127.0.0.1, all state under `root`."""

    root: Path
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    memory_mb: int = field(default_factory=memory_mb)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    linked_conf: bool = False

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    def env(self) -> dict[str, str]:
        """Variables that point SLURM's client commands (and the jobs they start) at this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def write_config(self) -> None:
        """The munge key and a single-node `slurm.conf` without accounting."""
        for sub in ("munge", "state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
            key.chmod(0o400)
        ctl_port, node_port = free_port(), free_port()
        r = self.root
        self.conf.write_text(f"""\
# Written by tests/slurm_cluster.py: one node on 127.0.0.1, no accounting, no cgroup.
ClusterName=trackprep-test
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={ctl_port}
SlurmdPort={node_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no accounting storage: sacct has nothing to ask, so status checks must use squeue
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
# plain process tracking: no cgroup hierarchy is needed (containers often have none)
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# finished jobs stay visible to squeue this long: the executor's squeue status checks rely on it, and the tests
# read a whole run's jobs back after it ends (a loaded machine took 403 s for one run, and 300 s lost its first jobs)
MinJobAge=7200
# seconds between SIGTERM and SIGKILL when a job is cancelled
KillWait=5
InactiveLimit=0
SlurmdParameters=config_overrides
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} State=UNKNOWN
PartitionName={PARTITION} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
""")

    def link_default_conf(self) -> None:
        """Point the default config path at our `slurm.conf`, unless a real SLURM already owns that path."""
        if DEFAULT_CONF.is_symlink() and not DEFAULT_CONF.exists():
            DEFAULT_CONF.unlink()  # left behind by an earlier run that was killed before stop()
        if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
            raise RuntimeError(f"{DEFAULT_CONF} exists: this machine has a SLURM of its own; the slurm tier "
                               "needs a machine where it can run a cluster of its own at the default path")
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_CONF.symlink_to(self.conf)
        self.linked_conf = True

    def _spawn(self, name: str, cmd: list[str]) -> None:
        out = open(self.root / "log" / f"{name}.out", "ab")
        log.info("starting %s: %s", name, " ".join(cmd))
        self.procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                            env={**os.environ, **self.env()}, start_new_session=True)
        out.close()

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.root / "log" / f"{name}.out").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}: {tail}")

    def start(self, timeout: float = 120) -> None:
        """Start munged, slurmctld and slurmd, and wait until `sinfo` shows the node idle."""
        ensure_installed()
        self.write_config()
        self.link_default_conf()
        m = self.root / "munge"
        # --force: the key and socket live in a private temp dir munged did not create for itself
        self._spawn("munged", ["munged", "--foreground", "--force", f"--socket={self.munge_socket}",
                               f"--key-file={m / 'munge.key'}", f"--pid-file={m / 'munged.pid'}",
                               f"--log-file={m / 'munged.log'}", f"--seed-file={m / 'munged.seed'}"])
        self._wait(lambda: self.munge_socket.exists(), timeout, "munged socket")
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._wait(lambda: self._run(["scontrol", "ping"]).returncode == 0, timeout, "slurmctld")
        self._spawn("slurmd", ["slurmd", "-D", "-N", self.node, "-f", str(self.conf)])
        self._wait(self.node_idle, timeout, f"node {self.node} idle in sinfo")
        log.info("SLURM cluster up under %s", self.root)

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if ready():
                return
            time.sleep(0.5)
        raise TimeoutError(f"{what} not ready after {timeout}s; logs in {self.root / 'log'}")

    def _run(self, cmd: list[str]) -> subprocess.CompletedProcess:
        env = {**os.environ, **self.env()}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=env)

    def node_idle(self) -> bool:
        """Whether `sinfo` reports the node idle."""
        result = self._run(["sinfo", "-h", "-N", "-n", self.node, "-o", "%T"])
        return result.returncode == 0 and result.stdout.strip() == "idle"

    def squeue(self, fmt: str = "%i|%j|%T", *args: str, finished: bool = True) -> list[list[str]]:
        """`squeue` rows split on `|`: every job the controller still knows (finished ones for MinJobAge), or
        with `finished=False` only those pending, running or being torn down."""
        states = ["--states=all"] if finished else []
        result = self._run(["squeue", "-h", *states, "-o", fmt, *args])
        result.check_returncode()
        return [line.split("|") for line in result.stdout.splitlines() if line.strip()]

    def active_jobs(self) -> list[list[str]]:
        """(id, name, state) of every job pending, running or still being torn down."""
        return self.squeue(finished=False)

    def stop(self, grace: float = 15) -> None:
        """Cancel any job still on the cluster, then stop the daemons we started (by pid), newest first."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            self._run(["scancel", "--full", f"--partition={PARTITION}"])
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(grace)
                except subprocess.TimeoutExpired:
                    log.warning("%s (pid %d) ignored SIGTERM; killing it", name, proc.pid)
                    proc.kill()
                    proc.wait(grace)
        self.procs.clear()
        if self.linked_conf and DEFAULT_CONF.is_symlink() and DEFAULT_CONF.resolve() == self.conf.resolve():
            DEFAULT_CONF.unlink()
        self.linked_conf = False
