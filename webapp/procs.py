"""Process identity and stopping, for the dispatcher and its crash recovery.

A pid alone can be reused; pid + the kernel's start time (``/proc/<pid>/stat`` field 22) names one process for
good. Snakemake runs as the leader of its own process group (its pid is the group id), so the whole tree of
rules it started can be signalled at once.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
HOST = socket.gethostname()


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after its closing parenthesis
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] == b"Z":
        return None  # a zombie has finished; only its exit status is left
    return fields[19].decode()


def alive(pid: int | None, started: str | None) -> bool:
    """True when the process with this pid is still the one that started at ``started``."""
    return bool(pid) and started is not None and start_time(pid) == started


def identity() -> str:
    """This process as an owner string: ``host:pid:start``."""
    return f"{HOST}:{os.getpid()}:{start_time(os.getpid())}"


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send a signal to a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        log.warning("not allowed to signal process group %s", pgid)
        return False


def group_members(pgid: int) -> list[int]:
    """The pids of a process group's members (Linux: read from /proc)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid):  # after "pid (comm)": state, ppid, pgrp
            members.append(int(entry))
    return members


def signal_followers(pgid: int, sig: signal.Signals) -> int:
    """Send a signal to every member of a group but its leader; how many were signalled."""
    return sum(signal_process(pid, sig) for pid in group_members(pgid) if pid != pgid)


def signal_process(pid: int, sig: signal.Signals) -> bool:
    """Send a signal to one process; False when it no longer exists."""
    try:
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def stop_group(pid: int, is_running: Callable[[], bool], grace: float) -> None:
    """Stop a Snakemake run and its group, blocking: SIGINT to Snakemake (it stops its jobs, scancels cluster
    jobs), then SIGTERM and finally SIGKILL to the whole group, ``grace`` seconds apart."""
    steps = ((lambda: signal_process(pid, signal.SIGINT)), (lambda: signal_group(pid, signal.SIGTERM)),
             (lambda: signal_group(pid, signal.SIGKILL)))
    for step in steps:
        if not is_running():
            break
        step()
        deadline = time.monotonic() + grace
        while is_running() and time.monotonic() < deadline:
            time.sleep(0.05)
    signal_group(pid, signal.SIGKILL)  # whatever the leader left behind in its group
