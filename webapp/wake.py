"""Waking dispatchers across processes: a submission in gunicorn starts the job in ``trackprep worker`` at once.

Each dispatcher binds a Linux abstract-namespace datagram socket named after its owner string (no file to
clean up, no path-length limit); :func:`notify` sends one byte to every dispatcher of this host listed in the
store's heartbeat table. A lost datagram costs nothing but the dispatcher's next timed pass
(``TRACKPREP_POLL_INTERVAL``), so sending never blocks and never fails the caller.
"""
from __future__ import annotations

import hashlib
import logging
import socket

import sqlite_utils

from . import procs

log = logging.getLogger(__name__)


def address(owner: str) -> bytes:
    """The abstract socket name of the dispatcher ``owner`` (``host:pid:start``)."""
    return b"\0trackprep-wake-" + hashlib.sha1(owner.encode()).hexdigest()[:24].encode()


class Waker:
    """The receiving end of one dispatcher: select on :meth:`fileno`, then :meth:`drain`."""

    def __init__(self, owner: str):
        """Bind the socket of ``owner``."""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address(owner))
        self.sock.setblocking(False)
        self.owner = owner

    def fileno(self) -> int:
        """Readable when someone asked this dispatcher to look at the queue."""
        return self.sock.fileno()

    def drain(self) -> None:
        """Consume every pending wake-up."""
        try:
            while self.sock.recv(64):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def poke(self) -> None:
        """Wake this dispatcher from its own process (safe in a signal handler)."""
        send(self.owner)

    def close(self) -> None:
        """Release the name."""
        self.sock.close()


def send(owner: str) -> None:
    """One wake-up to ``owner``; silently nothing when it does not listen."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"!", socket.MSG_DONTWAIT, address(owner))
    except OSError:
        pass


def notify(db: sqlite_utils.Database) -> None:
    """Wake every dispatcher of this host that runs this store's queue."""
    try:
        owners = [row["owner"] for row in db.query("SELECT owner FROM dispatchers")]
    except Exception:  # a store without the table yet, or busy: the timed pass will do
        log.debug("no dispatcher to wake", exc_info=True)
        return
    for owner in owners:
        if owner.partition(":")[0] == procs.HOST:
            send(owner)
