"""Every error is JSON, including those answered before Flask: oversized URLs and headers (webapp/edge.py),
the requests waitress refuses itself (malformed, too large, unsupported), and gunicorn's limits raised above
the app's. Real `trackprep serve` / gunicorn on 127.0.0.1, raw sockets and `requests`."""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest
import requests
from conftest import REPO, Service, free_port

from webapp import edge

JSON = "application/json"


@pytest.fixture(scope="module")
def shared_service(tmp_path_factory):
    """One server for the read-only cases."""
    svc = Service(tmp_path_factory.mktemp("edge")).start()
    yield svc
    svc.stop()


def raw_request(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are and read the answer until the server closes: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):  # answered (and closed) before reading it all
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:  # the server closed with our surplus bytes unread, after its answer
            pass
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1."), answer[:300]
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", len(body)))
    return int(lines[0].split()[1]), headers, body[:length]


def assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: int) -> dict:
    """The contract's error shape: the status, application/json, exactly error + detail, a sentence."""
    assert status == expected, body[:300]
    assert headers["content-type"] == JSON, headers
    error = json.loads(body)
    assert set(error) == {"error", "detail"}, error
    assert re.fullmatch(r"[a-z_]+", error["error"]) and len(error["detail"]) > 10, error
    return error


def get(port: int, target: str, extra: str = "") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}\r\n".encode("latin-1")


PAD_300KB = {f"X-Pad-{i}": "y" * 10_000 for i in range(30)}


# ---- trackprep serve (waitress): the four cases of the contract

def test_a_300_kb_url_is_414_json(shared_service):
    port = shared_service.port
    assert_json_error(*raw_request(port, get(port, "/data/" + "a" * 300_000)), 414)
    response = requests.get(shared_service.url("/files/" + "b" * 300_000), timeout=60)
    error = assert_json_error(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                              response.content, 414)
    assert "URL" in error["detail"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"  # like every other answer of the app
    # a HEAD gets the same status and headers and no body (read raw: a client would not read one anyway)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(get(port, "/data/" + "c" * 300_000).replace(b"GET", b"HEAD", 1))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414 ") and b"Content-Type: application/json" in head and body == b""


def test_300_kb_of_headers_is_431_json(shared_service):
    port = shared_service.port
    pad = "".join(f"{name}: {value}\r\n" for name, value in PAD_300KB.items())
    assert_json_error(*raw_request(port, get(port, "/health", pad)), 431)
    response = requests.get(shared_service.url("/health"), headers=PAD_300KB, timeout=60)
    assert_json_error(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                      response.content, 431)
    assert requests.get(shared_service.url("/health"), timeout=60).status_code == 200  # still serving


def test_an_unknown_route_is_404_json(shared_service):
    port = shared_service.port
    assert_json_error(*raw_request(port, get(port, "/no/such/route")), 404)
    response = requests.get(shared_service.url("/no/such/route"), timeout=60)
    assert response.status_code == 404 and response.headers["Content-Type"] == JSON
    assert set(response.json()) == {"error", "detail"}


def test_a_bad_method_is_405_json_with_allow(shared_service):
    port = shared_service.port
    brew = b"BREW /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    status, headers, body = raw_request(port, brew)
    assert_json_error(status, headers, body, 405)
    assert "GET" in headers["allow"]
    response = requests.put(shared_service.url("/files"), timeout=60)
    assert response.status_code == 405 and response.headers["Content-Type"] == JSON
    assert "POST" in response.headers["Allow"]


# ---- what waitress answers without calling the app

WAITRESS_REFUSES = [
    ("malformed header line", b"GET /health HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n", 400),
    ("not a request line", b"hello there\r\n\r\n", 400),
    ("bad Content-Length", b"POST /files HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", 400),
    ("bad chunk", b"POST /files HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"zz\r\nxx\r\n0\r\n\r\n", 400),
    ("unsupported transfer coding", b"POST /files HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
     501),
    ("body over TRACKPREP_MAX_UPLOAD_BYTES", b"POST /files HTTP/1.1\r\nHost: x\r\nContent-Length: "
     + str(3 << 30).encode() + b"\r\n\r\n", 413),
    ("request line + headers over waitress' own limit",
     b"GET /health HTTP/1.1\r\nHost: x\r\n"
     + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"y" * 10_000) for i in range(120)) + b"\r\n", 431),
]


@pytest.mark.parametrize("name, data, status", WAITRESS_REFUSES, ids=[case[0] for case in WAITRESS_REFUSES])
def test_what_waitress_refuses_itself_is_json_too(shared_service, name, data, status):
    headers, body = raw_request(shared_service.port, data)[1:]
    assert_json_error(status, headers, body, status)
    assert b"generated by" not in body  # waitress' own plain-text page signs itself


def test_the_upload_limit_is_the_documented_setting_not_waitress_default(service_factory):
    svc = service_factory(TRACKPREP_MAX_UPLOAD_BYTES="1000").start()
    auth = {**svc.auth(), "Content-Type": "application/json"}
    at_limit = requests.post(svc.url("/files"), data=b" " * 1000, headers=auth, timeout=60)
    assert at_limit.status_code == 422  # read and judged by the app: not JSON it can use
    over = requests.post(svc.url("/files"), data=b" " * 1001, headers=auth, timeout=60)
    error = assert_json_error(over.status_code, {k.lower(): v for k, v in over.headers.items()}, over.content,
                              413)
    assert "TRACKPREP_MAX_UPLOAD_BYTES" in error["detail"] and "1000" in error["detail"]


def test_the_limits_are_documented_and_hold_at_their_boundaries(shared_service):
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## The service"):readme.index("## SSR analysis")]
    assert f"{edge.MAX_URL_BYTES:,} bytes" in section and "32 KiB" in section and "1 MiB" in section
    assert edge.MAX_HEADER_BYTES == 32 * 1024 and edge.SERVER_MAX_HEADER_BYTES == 1 << 20
    port = shared_service.port
    prefix = "/files/"
    at = prefix + "a" * (edge.MAX_URL_BYTES - len(prefix))
    status, headers, body = raw_request(port, get(port, at))
    assert status == 404 and json.loads(body)["error"] == "not_found"  # reached Flask: an unknown id
    assert_json_error(*raw_request(port, get(port, at + "a")), 414)
    # headers as the service counts them: name + ": " + value + CRLF; Host and Connection are sent as well
    sent = len("Host: 127.0.0.1\r\n") + len("Connection: close\r\n")
    filler = edge.MAX_HEADER_BYTES - sent - len("X-Pad: \r\n")
    assert raw_request(port, get(port, "/health", f"X-Pad: {'y' * filler}\r\n"))[0] == 200
    assert_json_error(*raw_request(port, get(port, "/health", f"X-Pad: {'y' * (filler + 1)}\r\n")), 431)


def test_a_layer_failing_in_front_of_flask_answers_500_json():
    """A WSGI app that raises before it answers, inside the JSON edge and bare, under the same waitress."""
    def broken(environ, start_response):
        raise RuntimeError("boom")

    for app, code in ((edge.JsonEdge(broken, {}), "internal_error"), (broken, "internal_error")):
        port = free_port()
        server = edge.waitress_server(app, {}, host="127.0.0.1", port=port, threads=1)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            response = requests.get(f"http://127.0.0.1:{port}/anything", timeout=30)
            headers = {k.lower(): v for k, v in response.headers.items()}
            error = assert_json_error(response.status_code, headers, response.content, 500)
            assert error["error"] == code and "boom" not in response.text
        finally:
            server.close()
            server.task_dispatcher.shutdown()


# ---- gunicorn (production): its limits raised above the app's by config/gunicorn.conf.py

def start_gunicorn(tmp_path, config: bool) -> tuple[subprocess.Popen, int]:
    port = free_port()
    svc = Service(tmp_path)  # its environment only: data dir, token, this checkout on PYTHONPATH
    args = [shutil.which("gunicorn"), *(["-c", str(REPO / "config" / "gunicorn.conf.py")] if config else []),
            "--workers", "1", "--threads", "2", "--bind", f"127.0.0.1:{port}", "webapp.app:create_app()"]
    proc = subprocess.Popen(args, env=svc.env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "gunicorn.log", "ab"))
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2).ok:  # no worker: /health is 503
                return proc, port
        except (requests.ConnectionError, requests.Timeout):  # a loaded machine: the worker is still importing
            pass
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
        time.sleep(0.2)


@pytest.mark.skipif(shutil.which("gunicorn") is None, reason="gunicorn is installed by .ci/setup")
def test_gunicorn_with_the_config_lets_the_app_answer_in_json(tmp_path):
    url_8100 = "/files/" + "a" * 8100  # over the app's limit, under gunicorn's raised one (8190)
    proc, port = start_gunicorn(tmp_path, config=True)
    try:
        assert_json_error(*raw_request(port, get(port, url_8100)), 414)
        one_40kb = "X-Big: " + "y" * 40_000 + "\r\n"  # one field over gunicorn's default 8190
        assert_json_error(*raw_request(port, get(port, "/health", one_40kb)), 431)
        response = requests.get(f"http://127.0.0.1:{port}/health", headers=PAD_300KB, timeout=60)
        assert_json_error(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                          response.content, 431)
        assert_json_error(*raw_request(port, get(port, "/no/such/route")), 404)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # without it gunicorn answers the same URL itself, in HTML: what the config is for
    bare, port = start_gunicorn(tmp_path, config=False)
    try:
        status, headers, _ = raw_request(port, get(port, url_8100))
        assert status == 414 and headers["content-type"].startswith("text/html")
    finally:
        bare.terminate()
        bare.wait(timeout=30)


def test_the_production_command_in_the_readme_uses_the_config():
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"^gunicorn .*$", readme, flags=re.M)
    assert commands and all("-c config/gunicorn.conf.py" in command for command in commands)
