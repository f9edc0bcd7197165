"""Reads the JSON-lines events the ``trackprep`` Snakemake logger plugin writes, into one job's progress."""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
EVENTS_FILE = "events.jsonl"
LOG_TAIL_CHARS = 4000


@dataclass
class RunProgress:
    """What a Snakemake run has reported so far."""

    path: str
    offset: int = 0
    done: int = 0
    total: int | None = None
    current_rule: str | None = None
    failed_rule: str | None = None
    failed_log_tail: str = ""
    errors: list[str] = field(default_factory=list)
    started: dict[Any, tuple[str, float]] = field(default_factory=dict)  # jobid -> (rule, start time)
    stage_seconds: list[tuple[str, float]] = field(default_factory=list)  # (rule, run time) of finished stages

    def read(self) -> bool:
        """Consume the lines appended since the last call; True when anything changed."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return False
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next call
        self.offset += len(complete)
        changed = False
        for line in complete.splitlines():
            try:
                self._apply(json.loads(line))
                changed = True
            except (ValueError, KeyError, TypeError):
                log.warning("%s: unreadable event line %r", self.path, line[:200])
        return changed

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "run_info":
            self.total = int(event["total"])
        elif kind == "job_info":
            self.current_rule = event["rule"]
            if "time" in event:
                self.started[event.get("jobid")] = (event["rule"], float(event["time"]))
        elif kind == "job_finished":
            begun = self.started.pop(event.get("jobid"), None)
            if begun is not None and "time" in event:
                self.stage_seconds.append((begun[0], float(event["time"]) - begun[1]))
        elif kind == "progress":
            self.done, self.total = int(event["done"]), int(event["total"])
        elif kind == "job_error":
            if self.failed_rule is None:  # the first failure is the cause; later ones are its consequences
                self.failed_rule = event["rule"]
                self.failed_log_tail = event.get("log_tail", "")[-LOG_TAIL_CHARS:]
        elif kind == "error":
            self.errors.append(str(event.get("message", "")))

    @property
    def message(self) -> str:
        """A one-line status for ``/jobs/{id}``."""
        if self.total is None:
            return "planning"
        if self.done >= self.total:
            return f"{self.done} of {self.total} stages done"
        return f"{self.done} of {self.total} stages done; running {self.current_rule or 'the next stage'}"


def last_line(text: str) -> str:
    """The last non-empty line of a text: usually a tool's own reason for failing."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def file_tail(path: str, limit: int = LOG_TAIL_CHARS) -> str:
    """The end of a text file ('' when it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - limit))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""
