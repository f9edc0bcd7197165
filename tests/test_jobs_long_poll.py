"""GET /jobs/{id}?wait=S long-polls against a real `trackprep serve`: it answers when the job changes, waits the
full S seconds when it does not, and follows conditional-GET rules with the ETag it hands out."""
from __future__ import annotations

import shutil
import time

from conftest import TRACKS, md5sum


def _held_job(service_factory, file_server):
    """A service whose one job is held in its fetch stage (the remote body is paused mid-way)."""
    bam = file_server.root / "reads.bam"
    shutil.copy(TRACKS / "pybedtools_x.bam", bam)
    svc = service_factory(TRACKPREP_ALLOWED_HOSTS=file_server.host).start()
    assert svc.register("r", md5=md5sum(bam), access_url=file_server.url("reads.bam")).status_code == 201
    file_server.gate.clear()
    miss = svc.get("/data/r")
    assert miss.status_code == 202
    job_id = miss.json()["job_id"]
    file_server.wait_open(1)
    return svc, job_id


def test_long_poll_waits_while_nothing_changes_and_answers_when_the_job_moves(service_factory, file_server):
    svc, job_id = _held_job(service_factory, file_server)
    # the fetch is held: once the job shows its fetch stage running, nothing about it changes until the gate
    # opens (before that, the dispatcher may still be catching up with Snakemake's events)
    deadline = time.monotonic() + 60
    while "running fetch_source" not in (first := svc.get(f"/jobs/{job_id}")).json()["message"]:
        assert time.monotonic() < deadline, first.json()
        time.sleep(0.1)
    tag = first.headers["ETag"]
    assert tag.startswith('"') and first.headers["Cache-Control"] == "no-cache"

    started = time.monotonic()
    same = svc.get(f"/jobs/{job_id}?wait=1.5")
    assert time.monotonic() - started >= 1.5  # it held the request for the whole wait
    assert same.status_code == 200 and same.headers["ETag"] == tag and same.json() == first.json()

    # conditional: the caller's tag still matches after the wait -> 304 with no body, as for any conditional GET
    held = svc.get(f"/jobs/{job_id}?wait=1", headers={"If-None-Match": tag})
    assert held.status_code == 304 and held.content == b""
    assert svc.get(f"/jobs/{job_id}", headers={"If-None-Match": tag}).status_code == 304

    file_server.gate.set()
    started = time.monotonic()
    moved = svc.get(f"/jobs/{job_id}?wait=30", headers={"If-None-Match": tag})
    assert moved.status_code == 200
    assert time.monotonic() - started < 30  # it answered on the change, not at the end of the wait
    assert moved.headers["ETag"] != tag
    before, after = first.json(), moved.json()
    assert (after["status"], after["stages_done"]) != (before["status"], before["stages_done"])

    # following the tags from poll to poll reaches the end without missing the final state
    view, tag = after, moved.headers["ETag"]
    while view["status"] not in ("completed", "failed", "cancelled"):
        answer = svc.get(f"/jobs/{job_id}?wait=30", headers={"If-None-Match": tag})
        if answer.status_code == 200:
            view, tag = answer.json(), answer.headers["ETag"]
    assert view["status"] == "completed", view
    assert view["stages_done"] == view["stages_total"]


def test_a_finished_job_answers_at_once_and_a_stale_tag_gets_the_current_view(service):
    assert service.register("x", TRACKS / "pybedtools_x.bam").status_code == 201
    job_id = service.get("/data/x").json()["job_id"]
    done = service.wait_job(job_id)
    started = time.monotonic()
    answer = service.get(f"/jobs/{job_id}?wait=30")
    assert time.monotonic() - started < 30
    assert answer.status_code == 200 and answer.json() == done
    stale = service.get(f"/jobs/{job_id}?wait=30", headers={"If-None-Match": '"not-the-current-tag"'})
    assert stale.status_code == 200 and stale.json() == done


def test_bad_wait_values_are_refused_with_a_json_reason(api):
    service = api  # the job stays queued: no dispatcher runs in process
    assert service.register("x", TRACKS / "pybedtools_x.bam").status_code == 201
    job_id = service.get("/data/x").json()["job_id"]
    for bad in ("abc", "-1", "31", "nan"):
        answer = service.get(f"/jobs/{job_id}?wait={bad}")
        assert answer.status_code == 422, bad  # as every invalid parameter (/jobs?limit=...)
        assert answer.json()["error"] == "invalid" and "wait" in answer.json()["detail"], answer.json()
    assert service.get("/jobs/nope?wait=1").status_code == 404
