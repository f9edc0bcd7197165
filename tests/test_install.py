"""A regular (non-editable) install serves and builds: the workflow, the nginx template, the logger plugin and
the samples all come with the package, not from a checkout.

The project's files are copied to a folder outside the checkout and installed with pip into a fresh venv
(system site packages, so only trackprep itself is built); `trackprep serve` then runs from that venv, in yet
another folder, with no setting pointing anywhere, builds the sample BAM and serves it back.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pysam
import requests
from conftest import REPO, free_port

SKIP = shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", "dist", "node_modules", ".pytest_cache")


def test_a_regular_install_serves_the_samples_and_builds_them(tmp_path: Path):
    source = tmp_path / "project"
    shutil.copytree(REPO, source, ignore=SKIP)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("TRACKPREP_", "PYTHON", "VIRTUAL_ENV", "PYENV"))}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), "/usr/local/bin", "/usr/bin", "/bin"])
    installed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                                "--disable-pip-version-check", str(source)], env=env, capture_output=True,
                               text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]
    shutil.rmtree(source)  # nothing may still point at the copy it was installed from

    run = tmp_path / "run"
    run.mkdir()
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import webapp; print(webapp.__file__)"],
                           cwd=run, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(venv)), where  # the venv's copy, not the checkout's editable install

    port = free_port()
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([str(venv / "bin" / "trackprep"), "serve", "--port", str(port)], cwd=run, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "trackprep serve did not come up"
            time.sleep(0.2)

        # the web UI comes from package data: its templates, its scripts and the vendored libraries
        for path in ("/", "/ui/ssr/new", "/static/ssr_result.js", "/static/vendor/echarts/echarts.esm.min.js",
                     "/static/vendor/arrow/Arrow.es2015.min.js", "/static/vendor/igv/igv.esm.min.js"):
            assert requests.get(f"{base}{path}", timeout=10).status_code == 200, path
        sample = "pybedtools_x.bam"
        assert requests.get(f"{base}/files/{sample}", timeout=10).status_code == 200
        first = requests.get(f"{base}/data/{sample}", timeout=30)
        assert first.status_code == 202, first.text
        job_id = first.json()["job_id"]
        deadline = time.monotonic() + 300
        while (job := requests.get(f"{base}/jobs/{job_id}", timeout=10).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.3)
        assert job["status"] == "completed", (job, (tmp_path / "serve.log").read_text()[-3000:])

        got = tmp_path / "got.bam"
        got.write_bytes(requests.get(f"{base}/data/{sample}", timeout=30).content)
        (tmp_path / "got.bam.bai").write_bytes(requests.get(f"{base}/index/{sample}", timeout=30).content)
        with pysam.AlignmentFile(str(REPO / "webapp" / "samples" / sample)) as original:
            expected = sorted(r.query_name for r in original.fetch(until_eof=True))
        with pysam.AlignmentFile(str(got)) as served:
            assert served.header["HD"]["SO"] == "coordinate"
            assert sorted(r.query_name for r in served.fetch(until_eof=True)) == expected
            assert served.check_index()
        # the artifact landed in the run folder's default data dir, and the rules' logs name the installed rules
        assert list((run / "trackprep-data" / "cache").rglob("data.bam"))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
