"""The production front (`config/nginx/trackprep.conf`): real nginx caching real gunicorn web workers, with
one `trackprep worker`. Cached public artifacts answer every row of API.md's ranges table exactly as the app
does; misses, probes and restricted sources are never answered from nginx's cache."""
from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
import time

import pytest
import requests

from conftest import REPO, TRACKS, free_port
from webapp.nginx_conf import render

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def wait_up(url: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, f"{what} did not come up"
        time.sleep(0.2)


@pytest.fixture
def front(service_factory, tmp_path):
    """(service helper pointed at nginx, gunicorn's base URL)."""
    svc = service_factory()
    app_port, nginx_port = free_port(), free_port()
    procs = []
    web = subprocess.Popen([shutil.which("gunicorn"), "--workers", "2", "--threads", "4", "--worker-class",
                            "gthread", "--bind", f"127.0.0.1:{app_port}", "webapp:create_app()"], env=svc.env,
                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(web)
    nginx_dir = tmp_path / "nginx"
    nginx_dir.mkdir()
    # as root, nginx's workers would drop to nobody, who cannot enter pytest's private temp folders
    user = "user root;" if os.geteuid() == 0 else ""
    (nginx_dir / "nginx.conf").write_text(textwrap.dedent(f"""\
        {user}
        worker_processes 1;
        pid {nginx_dir}/nginx.pid;
        error_log {nginx_dir}/error.log;
        daemon off;
        events {{ worker_connections 256; }}
        http {{
            access_log off;
            client_body_temp_path {nginx_dir}/body;
            proxy_temp_path {nginx_dir}/proxy;
            fastcgi_temp_path {nginx_dir}/fastcgi;
            uwsgi_temp_path {nginx_dir}/uwsgi;
            scgi_temp_path {nginx_dir}/scgi;
        """) + render(f"127.0.0.1:{app_port}", f"127.0.0.1:{nginx_port}", str(nginx_dir / "cache")) + "\n}\n")
    proxy = subprocess.Popen([NGINX, "-c", str(nginx_dir / "nginx.conf"), "-p", str(nginx_dir)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(proxy)
    try:
        wait_up(f"http://127.0.0.1:{app_port}/openapi.json", web, "gunicorn")  # no worker yet
        svc.port = nginx_port
        wait_up(svc.url("/openapi.json"), proxy, "nginx")
        svc.start("worker")
        yield svc, f"http://127.0.0.1:{app_port}"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)


def expected_for(range_header: str | None, whole: bytes) -> tuple[int, bytes | None]:
    """API.md's ranges table, computed from the file's bytes alone."""
    size = len(whole)
    table = {
        None: (200, whole),
        "bytes=10-99": (206, whole[10:100]),
        f"bytes={size - 10}-{size + 500}": (206, whole[size - 10:]),
        f"bytes={size - 7}-": (206, whole[size - 7:]),
        "bytes=-25": (206, whole[-25:]),
        f"bytes=-{size + 100}": (206, whole),
        f"bytes={size}-": (416, None),
        "bytes=-0": (416, None),
        "bytes=abc": (416, None),
        "items=0-5": (200, whole),
        "bytes=0-1,5-9": (200, whole),
    }
    return table[range_header]


def test_cached_artifacts_answer_the_ranges_table_like_the_app(front):
    svc, app = front
    assert svc.register("vcf", TRACKS / "htslib_index.vcf").status_code == 201
    miss = svc.get("/data/vcf")
    assert miss.status_code == 202 and miss.headers.get("X-Cache-Status") != "HIT"
    assert svc.wait_job(miss.json()["job_id"])["status"] == "completed"
    first = svc.get("/data/vcf")
    again = svc.get("/data/vcf")
    assert first.status_code == again.status_code == 200
    assert again.headers["X-Cache-Status"] == "HIT"
    artifact = next(svc.cache.rglob("data.vcf.gz")).read_bytes()
    assert again.content == artifact
    size = len(artifact)
    for header in [None, "bytes=10-99", f"bytes={size - 10}-{size + 500}", f"bytes={size - 7}-", "bytes=-25",
                   f"bytes=-{size + 100}", f"bytes={size}-", "bytes=-0", "bytes=abc", "items=0-5",
                   "bytes=0-1,5-9"]:
        headers = {"Range": header} if header else {}
        via_nginx = svc.get("/data/vcf", headers=headers)
        direct = requests.get(f"{app}/data/vcf", headers=headers, timeout=30)
        status, body = expected_for(header, artifact)
        assert via_nginx.status_code == direct.status_code == status, header
        if body is not None:
            assert via_nginx.content == body, header
        if status == 206:
            assert via_nginx.headers["Content-Range"] == direct.headers["Content-Range"], header
        if status == 416:
            assert via_nginx.headers["Content-Range"] == f"bytes */{size}", header
            assert via_nginx.json()["error"] == "range_not_satisfiable", header
        assert via_nginx.headers["Access-Control-Allow-Origin"] == "*", header
        if status != 416:
            assert via_nginx.headers["Cache-Control"] == direct.headers["Cache-Control"], header
        if status == 200:  # API.md asks Accept-Ranges of the 200 row; nginx leaves it off its 206 answers
            assert via_nginx.headers["Accept-Ranges"] == "bytes", header
        assert "Content-Encoding" not in via_nginx.headers
    etag = again.headers["ETag"]
    assert svc.get("/data/vcf", headers={"If-None-Match": etag}).status_code == 304
    stale = svc.get("/data/vcf", headers={"Range": "bytes=0-9", "If-Range": '"another"'})
    assert stale.status_code == 200 and stale.content == artifact


def test_probes_never_start_work_and_misses_are_not_cached(front):
    svc, _ = front
    svc.register("bed", TRACKS / "htslib_bed_file.bed")
    for _ in range(2):
        assert svc.http.head(svc.url("/data/bed"), timeout=30).status_code == 404
    assert svc.jobs() == []
    assert svc.get("/data/bed").status_code == 202
    assert svc.get("/data/bed").status_code == 202, "a 202 must not be replayed from nginx's cache"


def test_restricted_artifacts_never_enter_the_cache(front):
    svc, _ = front
    svc.register("secret", TRACKS / "htslib_bed_file.bed", access="restricted")
    built = svc.fetch("/data/secret", headers=svc.auth())
    assert built.status_code == 200 and built.headers["Cache-Control"] == "private"
    for _ in range(2):
        anonymous = svc.get("/data/secret")
        assert anonymous.status_code == 404 and anonymous.headers.get("X-Cache-Status") != "HIT"
    assert svc.get("/data/secret", headers=svc.auth()).content == built.content
    assert not [p for p in (svc.base.parent / "nginx" / "cache").rglob("*") if p.is_file()]
