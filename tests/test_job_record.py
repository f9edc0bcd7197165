"""The job record (webapp.job_record.Job) as the job store builds it from a real SQLite store, and the rule that
no job status is typed into SQL as a string anywhere in webapp/ (JobStatus is bound instead)."""
from __future__ import annotations

import io
import json
import re
import sqlite3
import tokenize
from dataclasses import fields

import pytest

from conftest import REPO
from webapp import db, jobs
from webapp.job_record import ACTIVE, FINISHED, TERMINAL, Job, JobStatus

# docs/api.md's job states, from its "Status values:" line
STATUS_WORDS = tuple(re.findall(r"`(\w+)`", next(line for line in (REPO / "docs" / "api.md").read_text().splitlines()
                                                 if line.startswith("Status values:")).split("(")[0]))
# a status written as an SQL string literal inside a Python string: status = 'queued', IN ('queued', ...)
SQL_STATUS_LITERAL = re.compile(r"'(%s)'" % "|".join(STATUS_WORDS))


@pytest.fixture()
def store(tmp_path):
    opened = db.open_store(str(tmp_path / "store.sqlite"))
    yield opened
    opened.conn.close()


def submit(store, key: str, **extra):
    job, created = jobs.submit(store, "preprocess", key, [f"{key}/data.bam"], {"cache_dir": "/c", "n": 1},
                               files={"job.txt": "hello"}, work_dirs=[key], **extra)
    assert created
    return job


def test_the_states_are_the_documented_ones():
    assert [status.value for status in JobStatus] == list(STATUS_WORDS)
    assert [status.value for status in ACTIVE] == ["queued", "running"]
    assert [status.value for status in FINISHED] == ["completed", "failed", "cancelled"]
    assert [status.value for status in TERMINAL] == ["completed", "failed", "cancelled", "expired"]


def test_the_record_has_a_field_for_every_column_of_the_jobs_table(store):
    columns = {row[1] for row in store.execute("PRAGMA table_info(jobs)").fetchall()}
    assert {field.name for field in fields(Job)} == columns


def test_a_submitted_job_comes_back_typed(store):
    job = submit(store, "/c/a", source_id="a", private=True)
    assert isinstance(job, Job)
    assert job.status is JobStatus.QUEUED and job.active and not job.terminal
    assert job.targets == ["/c/a/data.bam"] and job.config == {"cache_dir": "/c", "n": 1}
    assert job.files == {"job.txt": "hello"} and job.work_dirs == ["/c/a"]
    assert job.private is True and job.cancel_requested is False and job.source_id == "a"
    assert job.stages_done == 0 and job.stages_total is None and job.attempts == 0
    assert job.message == "queued" and job.error is None and job.pid is None and job.owner is None
    assert job.started_at is None and job.finished_at is None and job.created_at.endswith("Z")
    assert jobs.get(store, job.id) == job
    # the store keeps the JSON columns as text and the flags as integers: the record decodes them
    raw = next(iter(store.query("SELECT targets, private, status FROM jobs WHERE id = ?", (job.id,))))
    assert raw == {"targets": '["/c/a/data.bam"]', "private": 1, "status": "queued"}


def test_row_style_reads_give_the_stored_values(store):
    job = submit(store, "/c/b")
    assert job["id"] == job.id and job["targets"] == job.targets
    assert job["status"] == "queued" and type(job["status"]) is str
    with pytest.raises(KeyError):
        job["progress"]  # a property of the record, not a column


def test_a_job_through_its_life(store):
    first = submit(store, "/c/one")
    second = submit(store, "/c/two")
    assert jobs.queue_position(store, first) == 1 and jobs.queue_position(store, second) == 2
    attached, created = jobs.submit(store, "preprocess", "/c/one", ["/c/one/data.bam"], {})
    assert not created and attached == first

    claimed = jobs.claim_next(store, max_running=1, owner="host:1:2")
    assert claimed.id == first.id and claimed.status is JobStatus.RUNNING
    assert claimed.owner == "host:1:2" and claimed.attempts == 1 and claimed.message == "starting"
    assert jobs.claim_next(store, max_running=1, owner="host:1:2") is None  # the bound holds
    assert jobs.queue_position(store, claimed) is None and jobs.queue_position(store, second) == 1
    assert [job.id for job in jobs.running(store)] == [first.id]
    assert [job.id for job in jobs.list_jobs(store, status=JobStatus.QUEUED, include_private=True)] == [second.id]

    jobs.set_progress(store, first.id, 3, 4, "stage 3")
    assert jobs.get(store, first.id).progress == 0.75
    error = {"rule": "sort", "reason": "rule sort failed", "log_tail": "x"}
    jobs.finish(store, first.id, JobStatus.FAILED, "rule sort failed", error)
    failed = jobs.get(store, first.id)
    assert failed.status is JobStatus.FAILED and failed.terminal and failed.error == error
    assert jobs.remembered_failure(store, "/c/one", since="") == failed

    cancelled = jobs.request_cancel(store, second.id)
    assert cancelled.status is JobStatus.CANCELLED and cancelled.cancel_requested
    assert cancelled.message == "cancelled before it started" and cancelled.finished_at is not None
    assert jobs.counts(store) == {"queued": 0, "running": 0, "completed": 0, "failed": 1, "cancelled": 1,
                                  "expired": 0}
    assert jobs.counts_by_kind(store) == {("preprocess", "failed"): 1, ("preprocess", "cancelled"): 1}


def test_a_running_job_goes_back_to_the_queue_and_completes(store):
    job = submit(store, "/c/r")
    jobs.claim_next(store, max_running=2, owner="o")
    jobs.requeue(store, job.id, "again")
    back = jobs.get(store, job.id)
    assert back.status is JobStatus.QUEUED and back.owner is None and back.message == "again"
    jobs.claim_next(store, max_running=2, owner="o")
    jobs.finish(store, job.id, JobStatus.COMPLETED, "completed")
    done = jobs.get(store, job.id)
    assert done.progress == 1.0 and jobs.latest_completed(store, "/c/r") == done
    assert jobs.latest_completed(store, "/c/elsewhere") is None
    assert jobs.active_for_key(store, "/c/r") is None


def test_the_public_view_keeps_the_documented_fields_as_json(store, tmp_path):
    view = jobs.public_view(store, submit(store, "/c/v"), str(tmp_path))
    # docs/api.md, GET /jobs/{job_id}, plus the conversion report and its warnings
    assert set(view) == {"job_id", "kind", "status", "stages_done", "stages_total", "progress", "message",
                         "artifacts", "error", "created_at", "started_at", "finished_at", "queue_position",
                         "conversion", "warnings"}
    assert type(view["status"]) is str
    assert json.loads(json.dumps(view))["status"] == "queued" and view["queue_position"] == 1


def test_the_store_allows_one_active_job_per_key(store):
    index = next(iter(store.query("SELECT sql FROM sqlite_master WHERE name = 'jobs_one_active_per_key'")))["sql"]
    assert index.endswith("WHERE status IN ('queued', 'running')")
    job = submit(store, "/c/k")
    columns = "id, kind, workflow_key, targets, config, status, created_at"
    with pytest.raises(sqlite3.IntegrityError):
        store.execute(f"INSERT INTO jobs ({columns}) VALUES ('x', 'preprocess', '/c/k', '[]', '{{}}', 'running', 't')")
    jobs.finish(store, job.id, JobStatus.COMPLETED, "completed")
    store.execute(f"INSERT INTO jobs ({columns}) VALUES ('y', 'preprocess', '/c/k', '[]', '{{}}', 'running', 't')")


def status_literals_in_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of every Python string in ``source`` that holds a job status as an SQL string literal."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING and SQL_STATUS_LITERAL.search(token.string):
            found.append((token.start[0], token.string))
    return found


def test_the_check_finds_a_status_typed_into_sql():
    source = ('rows = db.query("SELECT * FROM jobs WHERE status = \'running\' ORDER BY started_at")\n'
              'ok = db.query("SELECT * FROM jobs WHERE status = ?", (JobStatus.RUNNING.value,))\n'
              "# a comment about 'queued' jobs is no SQL\n"
              'other = db.query(f"SELECT 1 FROM jobs WHERE status IN (\'queued\', \'running\')")\n')
    assert [line for line, _text in status_literals_in_strings(source)] == [1, 4]


def test_no_status_is_typed_into_sql_in_webapp():
    found = []
    for path in sorted((REPO / "webapp").rglob("*.py")):
        found += [f"{path.relative_to(REPO)}:{line}: {text}"
                  for line, text in status_literals_in_strings(path.read_text(encoding="utf-8"))]
    assert found == [], "bind JobStatus values instead:\n" + "\n".join(found)
