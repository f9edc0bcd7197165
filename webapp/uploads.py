"""The upload quota (``TRACKPREP_UPLOAD_QUOTA_BYTES``): the total size of SSR uploads kept on disk, enforced while
a request body is parsed.

Werkzeug's form parser asks the request for a file to write each uploaded part into. :class:`UploadRequest`
hands it a file in the request's staging folder (under the cache, never the system temp dir) that counts every
byte against the request's :class:`Budget`: the first write past the quota removes that file and raises
:class:`webapp.errors.QuotaExceeded`, so nothing beyond the quota is ever written. The view then removes the
staging folder, so a refused upload leaves nothing behind.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import IO, Any

from flask import Request

from .errors import QuotaExceeded
from .ssr_layout import SSR_DIR

BUDGET = "trackprep.upload_budget"  # the WSGI environ key of a request's Budget
STAGING = ".uploads"  # under {cache}/ssr/: uploads being received


@dataclass
class Budget:
    """What one request may still write: ``allowance`` bytes into ``folder``."""

    folder: str
    allowance: int
    quota: int
    used_before: int
    written: int = 0

    def take(self, size: int) -> None:
        """Count ``size`` more bytes; QuotaExceeded when they would pass the allowance."""
        if self.written + size > self.allowance:
            raise QuotaExceeded(
                f"the uploads kept on disk would pass TRACKPREP_UPLOAD_QUOTA_BYTES ({self.quota} bytes; "
                f"{self.used_before} in use): the upload was refused and nothing of it kept. Try again once "
                "older analyses have expired, or ask the operator to raise the quota",
                fields={"quota_bytes": self.quota, "used_bytes": self.used_before})
        self.written += size


class QuotaFile:
    """A real file in the staging folder whose writes are counted against a :class:`Budget`."""

    def __init__(self, budget: Budget):
        fd, self.name = tempfile.mkstemp(prefix="part-", dir=budget.folder)
        self._handle: IO[bytes] = os.fdopen(fd, "w+b")
        self._budget = budget

    def write(self, data: bytes) -> int:
        """Write ``data`` if the budget allows it; otherwise remove the file and raise QuotaExceeded. A write the
        disk has no room for (OSError ENOSPC) removes the file too, and raises on (the view answers 507)."""
        try:
            self._budget.take(len(data))
        except QuotaExceeded:
            self.discard()
            raise
        try:
            return self._handle.write(data)
        except OSError:
            self.discard()
            raise

    def discard(self) -> None:
        """Close and remove the file (closing flushes: a full disk's error there is moot, the file goes)."""
        try:
            self._handle.close()
        except OSError:
            pass
        try:
            os.unlink(self.name)
        except FileNotFoundError:
            pass

    def __getattr__(self, name: str) -> Any:  # read, seek, tell, flush, close, ...
        return getattr(self._handle, name)


class UploadRequest(Request):
    """Flask's request, whose uploaded files go to the request's quota-bound staging folder when it has one."""

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        budget = self.environ.get(BUDGET)
        if budget is None:
            return super()._get_file_stream(total_content_length, content_type, filename, content_length)
        return QuotaFile(budget)  # type: ignore[return-value]


def tree_size(path: str) -> int:
    """Bytes of the files below ``path`` (0 when it does not exist); symlinks are not followed."""
    total = 0
    try:
        entries = list(os.scandir(path))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                total += tree_size(entry.path)
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            continue
    return total


def on_disk(cache_dir: str) -> int:
    """Bytes of uploads kept on disk: every analysis' ``input/`` folder plus the uploads being received."""
    root = os.path.join(cache_dir, SSR_DIR)
    total = tree_size(os.path.join(root, STAGING))
    try:
        versions = [entry.path for entry in os.scandir(root) if entry.is_dir() and entry.name != STAGING]
    except FileNotFoundError:
        return total
    for version in versions:
        for analysis in os.scandir(version):
            if analysis.is_dir():
                total += tree_size(os.path.join(analysis.path, "input"))
    return total
