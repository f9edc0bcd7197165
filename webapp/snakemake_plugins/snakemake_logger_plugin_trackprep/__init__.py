"""Snakemake (>= 9) logger plugin: one JSON object per line for the events the trackprep dispatcher reads.

Enabled with ``snakemake --logger trackprep`` when this folder's parent is on ``PYTHONPATH``; the file it
appends to is named by the ``TRACKPREP_EVENTS_FILE`` environment variable (nothing is written when it is
unset). Events:

- ``run_info``: ``{"total": N}`` — the stages (Snakemake jobs) this run needs, finished ones included;
- ``job_info``: ``{"rule": ..., "jobid": ...}`` — a stage started;
- ``job_finished``: ``{"jobid": ...}`` — a stage finished (its run time, from ``time``, feeds the metrics);
- ``progress``: ``{"done": d, "total": N}`` — stages finished so far;
- ``job_error``: ``{"rule": ..., "jobid": ..., "log": [...], "log_tail": "..."}`` — a stage failed, with the
  last lines of its log (read here, while the file still exists);
- ``error``: ``{"message": ...}`` — a workflow-level error (bad config, missing input, ...).
"""
from __future__ import annotations

import json
import os
import time
from logging import LogRecord

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

from webapp.events import file_tail  # stdlib-only module of the service that runs this plugin


class LogHandler(LogHandlerBase):
    """Appends the dispatcher's events to ``$TRACKPREP_EVENTS_FILE`` as JSON lines."""

    def __post_init__(self) -> None:
        self.path = os.environ.get("TRACKPREP_EVENTS_FILE") or None

    def _write(self, kind: str, **fields) -> None:
        if self.path is None:
            return
        line = json.dumps({"event": kind, "time": time.time(), **fields}, default=str)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def emit(self, record: LogRecord) -> None:
        """Translate one Snakemake log record; records of other events are ignored."""
        event = getattr(record, "event", None)
        try:
            if event == LogEvent.RUN_INFO:
                stats = getattr(record, "stats", None) or {}
                self._write("run_info", total=int(stats.get("total", 0)))
            elif event == LogEvent.JOB_INFO:
                self._write("job_info", rule=record.rule_name, jobid=record.jobid)
            elif event == LogEvent.JOB_FINISHED:
                self._write("job_finished", jobid=getattr(record, "job_id", None))
            elif event == LogEvent.PROGRESS:
                self._write("progress", done=int(record.done), total=int(record.total))
            elif event == LogEvent.JOB_ERROR:
                logs = [str(path) for path in (getattr(record, "log", None) or [])]
                log_tail = "\n".join(file_tail(path) for path in logs if os.path.exists(path))
                self._write("job_error", rule=record.rule_name, jobid=record.jobid, log=logs,
                            log_tail=log_tail)
            elif event == LogEvent.ERROR:
                self._write("error", message=record.getMessage(),
                            exception=getattr(record, "exception", None))
        except Exception:  # a logging handler must never break the run it reports on
            self.handleError(record)

    @property
    def writes_to_stream(self) -> bool:
        return False

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return True  # every record, whatever the quietness settings: the filter is the event switch above

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False
