"""Removing a deleted source's files from the cache, never a file another registered source still needs.

A folder leaves in one step: it is renamed into ``{root}/.trash/`` (same filesystem, atomic) and only then
removed, so a reader never sees half a folder and a path is either whole or gone. Open range streams keep
reading their unlinked files to the end.
"""
from __future__ import annotations

import glob
import logging
import os
import shutil
import uuid
from typing import Any

import sqlite_utils

from . import layout, sources
from .settings import Settings

log = logging.getLogger(__name__)
TRASH = ".trash"


def move_aside(root: str, path: str) -> str | None:
    """Move a folder out of the cache's namespace into ``{root}/.trash/`` in one rename; where it went, or None
    when it was not there. Remove it with ``shutil.rmtree`` afterwards."""
    trash = os.path.join(root, TRASH)
    os.makedirs(trash, exist_ok=True)
    target = os.path.join(trash, uuid.uuid4().hex)
    try:
        os.rename(path, target)
    except FileNotFoundError:
        return None
    return target


def _discard(root: str, path: str) -> bool:
    """Move a folder out of the cache's namespace and remove it; False when it was not there."""
    target = move_aside(root, path)
    if target is None:
        return False
    shutil.rmtree(target, ignore_errors=True)
    return True


def remove_unshared(db: sqlite_utils.Database, settings: Settings, source: dict[str, Any]) -> list[str]:
    """Remove the cached files of a source whose record is gone: its artifacts (every pipeline version, with
    their logs and work folders) unless another id has the same md5 and format, and its verified source copy
    unless another id has the same md5. Returns the folders removed. Local source files are never touched."""
    root = layout.namespace_root(settings.cache_dir, source["access"])
    md5, fmt = source["md5"], source["format"]
    candidates: list[str] = []
    if not sources.sharing(db, source, same_format=True):
        # an artifact decoded against a reference (CRAM) has its md5 in its folder name: <md5>-ref-<md5>
        keys = (md5, md5 + layout.REFERENCE_KEY_SEPARATOR + "*")
        for pattern in (f"{where}/{fmt}/{key}" for where in ("v*", "logs/v*", "work") for key in keys):
            candidates += glob.glob(os.path.join(glob.escape(root), pattern))
    if not sources.sharing(db, source, same_format=False):
        candidates += [os.path.join(root, "src", md5), os.path.join(root, "logs", "src", md5)]
    removed = [path for path in candidates if os.path.isdir(path) and _discard(root, path)]
    for path in removed:
        log.info("source %s deleted: removed %s", source["id"], path)
    return removed
