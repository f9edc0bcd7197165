"""The SSR analysis API against real servers: gunicorn serving the app without a dispatcher (jobs stay queued,
so "not completed" is deterministic), then a real `trackprep worker` that runs the queued analysis with
snakemake."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pyarrow as pa
import pytest
import requests
import yaml

from conftest import CROSSROAD, Service
from test_ssr_detect import LEFT, RIGHT

SAMPLE = {
    "fasta_file": CROSSROAD / "1small.fa",
    "categories_file": CROSSROAD / "3.tsv",
    "gene_bed": CROSSROAD / "2.bed",
}
PARAMS = json.dumps(
    {
        "mono": 12,
        "di": 6,
        "tri": 4,
        "tetra": 3,
        "penta": 3,
        "hexa": 2,
        "minLen": 1000,
        "maxLen": 10000000,
        "unfair": 0,
        "thread": 2,
        "min_repeat_count": 1,
        "min_genome_count": 2,
    }
)


class WebOnly(Service):
    """The app under gunicorn with no dispatcher: submissions are validated and queued, never run."""

    def start_web(self) -> "WebOnly":
        log = open(self.base / "gunicorn.log", "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "webapp.app:create_app()",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.base,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.http.get(self.url("/openapi.json"), timeout=2).ok:
                    return self
            except Exception:
                pass
            assert self.proc.poll() is None, (self.base / "gunicorn.log").read_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.2)


def submit(svc: Service, files: dict, **form):
    handles = {name: open(path, "rb") for name, path in files.items()}
    try:
        return svc.http.post(svc.url("/analyze_ssr/"), files=handles, data=form, timeout=120)
    finally:
        for handle in handles.values():
            handle.close()


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """The shared sample with flanks: submitted while no worker runs, then analysed by a started worker."""
    base = tmp_path_factory.mktemp("ssr_api")
    web = WebOnly(base).start_web()
    first = submit(web, SAMPLE, perf_params=PARAMS, flanks="true")
    assert first.status_code == 202, first.text
    job_id = first.json()["job_id"]
    queued = {
        "first": first.json(),
        "again": submit(web, SAMPLE, perf_params=PARAMS, flanks="true").json(),
        "plot": web.get(f"/api/job/{job_id}/plot_data/plot_source"),
        "zip": web.get(f"/api/job/{job_id}/download_zip"),
        "status": web.get(f"/api/job/{job_id}/status").json(),
    }
    worker = Service(base, web.env)
    worker.start("worker")
    final = web.wait_job(job_id, timeout=600)
    yield web, job_id, final, queued
    worker.stop()
    web.stop()


def test_submission_is_queued_and_identical_ones_attach(analysed):
    _web, job_id, final, queued = analysed
    assert queued["first"]["status"] == "queued"
    assert queued["first"]["status_url"] == f"/api/job/{job_id}/status"
    assert queued["first"]["download_all_url"] == f"/api/job/{job_id}/download_zip"
    assert queued["again"]["job_id"] == job_id
    assert queued["status"]["status"] == "queued" and queued["status"]["reference_id"] is None
    assert queued["plot"].status_code == 409 and queued["plot"].json()["error"] == "not_completed"
    assert queued["zip"].status_code == 409
    assert final["status"] == "completed", final


def test_the_run_is_handed_the_digests_the_service_computed(analysed):
    # the service hashed each upload while receiving it; the run gets those digests in its config instead of
    # hashing the inputs again, and they must be the files' own SHA-256 (else the run's analysis key would
    # differ from the folder the service placed the inputs in, and the run would refuse it)
    web, job_id, final, _queued = analysed
    config = yaml.safe_load((web.data_dir / "jobs" / job_id / "job.yaml").read_text())
    roles = {"fasta": "fasta_file", "categories": "categories_file", "gene_bed": "gene_bed"}
    assert config["ssr"]["digests"] == {
        role: hashlib.sha256(SAMPLE[field].read_bytes()).hexdigest() for role, field in roles.items()}
    assert final["status"] == "completed"


def test_finished_analysis_is_reused_and_listed_with_other_jobs(analysed):
    web, job_id, _final, _queued = analysed
    again = submit(web, SAMPLE, perf_params=PARAMS, flanks="true").json()
    assert again["job_id"] == job_id and again["status"] == "completed"
    assert job_id in [job["job_id"] for job in web.jobs(kind="ssr")]  # the operator (token) sees it
    assert web.get(f"/api/job/{job_id}/status").json()["progress"] == 1.0


def test_analyses_are_listed_only_to_the_operator_and_reachable_by_their_id(analysed):
    web, job_id, _final, _queued = analysed
    for query in ("", "?kind=ssr", "?status=completed", "?kind=ssr&status=completed"):
        listed = requests.get(web.url(f"/jobs{query}"), timeout=60)  # no token
        assert listed.status_code == 200
        assert job_id not in [job["job_id"] for job in listed.json()["jobs"]], query
    assert requests.get(web.url(f"/jobs/{job_id}"), timeout=60).json()["status"] == "completed"
    assert requests.get(web.url(f"/api/job/{job_id}/status"), timeout=60).status_code == 200
    with_token = requests.get(web.url("/jobs?kind=ssr"), headers=web.auth(), timeout=60).json()["jobs"]
    assert job_id in [job["job_id"] for job in with_token]


def tsv_rows(text: str, sep: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text), delimiter=sep))
    return rows[0], rows[1:]


def as_text(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


# every plot key of API.md and the table it names there
MERGED, HSSR, COMBO = "main/mergedOut.tsv", "main/hssr_data.csv", "main/ssr_genecombo.tsv"
PLOT_KEYS = {
    "plot_source": MERGED, "hotspot": "main/mutational_hotspot.csv", "hssr_data": HSSR,
    "ssr_gene_intersect": COMBO, "category_sankey": MERGED, "ssr_gc": MERGED, "ssr_conservation": MERGED,
    "motif_conservation": MERGED, "relative_abundance": MERGED, "repeat_distribution": MERGED,
    "upset": MERGED, "motif_distribution": MERGED, "gene_country_sankey": HSSR,
    "temporal_faceted_scatter": HSSR, "gene_motif_dot_plot": HSSR, "reference_ssr_distribution": COMBO,
    "flanked_data": "main/flanks/flanked.tsv", "pattern_summary": "main/flanks/pattern_summary.csv",
}


@pytest.mark.parametrize("key, table", sorted(PLOT_KEYS.items()))
def test_plot_data_is_arrow_holding_the_tables_values(analysed, key, table):
    web, job_id, _final, _queued = analysed
    response = web.get(f"/api/job/{job_id}/plot_data/{key}")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/vnd.apache.arrow.stream"
    arrow = pa.ipc.open_stream(response.content).read_all()
    source = web.get(f"/api/job/{job_id}/download/{table}")
    header, rows = tsv_rows(source.text, "," if table.endswith(".csv") else "\t")
    assert arrow.column_names == header
    got = [[as_text(v) for v in arrow.column(name).to_pylist()] for name in header]
    assert got == [list(col) for col in zip(*rows)]
    assert web.get(f"/api/job/{job_id}/plot_data/{key}").content == response.content  # built once, cached


def test_unknown_keys_and_jobs_are_404(analysed):
    web, job_id, _final, _queued = analysed
    assert web.get(f"/api/job/{job_id}/plot_data/nope").status_code == 404
    assert web.get("/api/job/nope/plot_data/hotspot").status_code == 404
    assert web.get("/api/job/nope/status").status_code == 404


def test_zip_files_download_and_logs(analysed):
    web, job_id, _final, _queued = analysed
    whole = web.get(f"/api/job/{job_id}/download_zip")
    assert whole.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(whole.content)).namelist()
    assert "output/main/mergedOut.tsv" in names and "output/main/flanks/pattern_summary.csv" in names
    part = web.get(f"/api/job/{job_id}/download_zip", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == whole.content[:100]
    listed = web.get(f"/api/job/{job_id}/files").json()["files"]
    paths = {f["path"]: f for f in listed}
    assert paths["main/mutational_hotspot.csv"]["label"] == "mutational hotspots"
    one = web.get(paths["intrim/genome_stats.tsv"]["url"], headers={"Range": "bytes=0-7"})
    assert one.status_code == 206 and one.content == b"genomeID"
    for sneaky in (
        "..%2Finput%2Fgenomes.fa",
        "%2E%2E/%2E%2E/input/genomes.fa",
        "main/../../input/genomes.fa",
    ):
        assert web.get(f"/api/job/{job_id}/download/{sneaky}").status_code == 404
    text = web.get(f"/api/job/{job_id}/logs").text
    assert "ssr_detect" in text and "ssr_hotspots" in text


def tiny_fasta(path: Path, header_extra: str = "", repeat: str = "A" * 14) -> Path:
    path.write_text(f">g1{header_extra}\n{LEFT}{repeat}{RIGHT}\n>g2\n{LEFT}{repeat}{RIGHT}\n")
    return path


@pytest.mark.parametrize(
    "files, form, reason",
    [
        ({"fasta_file": "notfasta"}, {}, "not FASTA"),
        ({"fasta_file": "spaced"}, {}, "holds spaces"),
        ({"fasta_file": "dup"}, {}, "duplicate record id"),
        ({"fasta_file": "ok", "categories_file": "nocol"}, {}, "no 'genomeID' column"),
        ({"fasta_file": "ok", "gene_bed": "bed3"}, {}, "3 column(s)"),
        ({"fasta_file": "ok", "gene_bed": "badcoord"}, {}, "end 5 is before start 10"),
        ({"fasta_file": "ok"}, {"perf_params": '{"speed": 1}'}, "unknown perf_params key(s): speed"),
        ({"fasta_file": "ok"}, {"perf_params": '{"mono": 0}'}, "perf_params.mono = 0 is out of range"),
        ({"fasta_file": "ok"}, {"perf_params": "{not json"}, "not valid JSON"),
        ({"fasta_file": "ok"}, {"reference_id": "g9"}, "reference_id 'g9' is not a record id"),
        ({}, {}, "fasta_file is required"),
    ],
)
def test_bad_submissions_are_422_with_the_reason(analysed, tmp_path, files, form, reason):
    web = analysed[0]
    made = {
        "notfasta": "ACGT\n",
        "spaced": f">g1 desc\n{LEFT}\n",
        "dup": f">g1\n{LEFT}\n>g1\n{RIGHT}\n",
        "ok": f">g1\n{LEFT}\n",
        "nocol": "id\tcategory\ng1\tI\n",
        "bed3": "g1\t1\t10\n",
        "badcoord": "g1\t10\t5\tgeneA\n",
    }
    paths = {}
    for field, name in files.items():
        paths[field] = tmp_path / name
        paths[field].write_text(made[name])
    response = submit(web, paths, **form)
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]
    assert not list((web.cache / "ssr" / ".uploads").iterdir())


def test_missing_inputs_give_404_with_the_reason_and_empty_tables_204(tmp_path, service):
    plain = tiny_fasta(tmp_path / "plain.fa")
    job_id = submit(service, {"fasta_file": plain}, perf_params=json.dumps({"minLen": 10})).json()["job_id"]
    assert service.wait_job(job_id)["status"] == "completed"
    hotspot = service.get(f"/api/job/{job_id}/plot_data/hotspot")
    assert hotspot.status_code == 404 and "gene_bed" in hotspot.json()["detail"]
    flanked = service.get(f"/api/job/{job_id}/plot_data/flanked_data")
    assert flanked.status_code == 404 and "flanks" in flanked.json()["detail"]
    assert service.get(f"/api/job/{job_id}/plot_data/plot_source").status_code == 200  # reformatted.tsv
    empty = tiny_fasta(tmp_path / "empty.fa", repeat="")
    job_id = submit(service, {"fasta_file": empty}, perf_params=json.dumps({"minLen": 10})).json()["job_id"]
    assert service.wait_job(job_id)["status"] == "completed"
    assert service.get(f"/api/job/{job_id}/plot_data/plot_source").status_code == 204


def test_large_tables_come_as_a_preview(service_factory, tmp_path):
    svc = service_factory("preview")
    svc.start()
    # the app reads SSR_PREVIEW_* from its config and the served default is 64 MiB: check the headers on a
    # tiny threshold through the Flask app itself, backed by the same data dir and the finished job
    fasta = tiny_fasta(tmp_path / "two.fa", repeat="A" * 14 + LEFT + "AG" * 7)
    job_id = submit(svc, {"fasta_file": fasta}, perf_params=json.dumps({"minLen": 10})).json()["job_id"]
    assert svc.wait_job(job_id)["status"] == "completed"
    import webapp
    from webapp import settings as settings_module

    app = webapp.create_app(
        {
            "TRACKPREP_SETTINGS": settings_module.load(svc.env),
            "SSR_PREVIEW_MAX_BYTES": 10,
            "SSR_PREVIEW_ROWS": 1,
        }
    )
    response = app.test_client().get(f"/api/job/{job_id}/plot_data/plot_source")
    assert response.status_code == 200
    assert response.headers["X-Data-Truncated"] == "true"
    assert response.headers["X-Data-Total-Rows"] == "4" and response.headers["X-Data-Preview-Rows"] == "1"
    assert pa.ipc.open_stream(response.data).read_all().num_rows == 1


def test_over_the_size_limit_is_413_with_nothing_left(service_factory, tmp_path):
    svc = service_factory("small", TRACKPREP_MAX_UPLOAD_BYTES="100000")
    svc.start()
    response = submit(svc, {"fasta_file": CROSSROAD / "1small.fa"})
    assert response.status_code == 413
    assert response.json()["error"]
    leftovers = (
        [p for p in (svc.cache / "ssr").rglob("*") if p.is_file()] if (svc.cache / "ssr").exists() else []
    )
    assert leftovers == []
