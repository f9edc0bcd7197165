"""The fetch stage against real servers on 127.0.0.1: a plain HTTP file server (with redirects) and a small
GA4GH DRS v1 server. Only allowed hosts are contacted, every redirect hop is checked, and the md5 gates
everything."""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import TRACKS, Source, md5sum


class _Handler(BaseHTTPRequestHandler):
    server: "FileAndDrsServer"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _json(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.server.requests.append((self.path, dict(self.headers)))
        parts = urlsplit(self.path)
        if parts.path.startswith("/files/"):
            path = TRACKS / parts.path.removeprefix("/files/")
            if not path.is_file():
                return self._json({"msg": "not found"}, 404)
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(parts.query)["to"][0])
            self.end_headers()
        elif match := re.fullmatch(r"/ga4gh/drs/v1/objects/([^/]+)(?:/access/([^/]+))?", parts.path):
            obj = self.server.drs_objects.get(match.group(1))
            if obj is None:
                return self._json({"msg": "no such object", "status_code": 404}, 404)
            if match.group(2):
                return self._json({"url": obj["url"], "headers": ["Authorization: Bearer drs-secret"]})
            method = {"type": "https" if obj["url"].startswith("https") else "http"}
            if obj.get("via_access_id"):
                method["access_id"] = "primary"
            else:
                method["access_url"] = {"url": obj["url"]}
            self._json({"id": match.group(1), "self_uri": f"drs://{self.headers['Host']}/{match.group(1)}",
                        "size": 1, "created_time": "2024-01-01T00:00:00Z",
                        "checksums": [{"type": "md5", "checksum": obj["md5"]}],
                        "access_methods": [{"type": "s3", "access_id": "ignored"}, method]})
        else:
            self._json({"msg": "not found"}, 404)


class FileAndDrsServer(ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, dict]] = []
        self.drs_objects: dict[str, dict] = {}

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server():
    srv = FileAndDrsServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def run_remote(engine, server, sources, hosts=None):
    return engine.run(sources, config={"allowed_hosts": hosts if hosts is not None else [server.hostport],
                                       "drs_scheme": "http"}, roots=[])


def fetch_log(engine) -> str:
    return "\n".join(p.read_text() for p in engine.cache.rglob("fetch_source*.log"))


def test_http_source_builds_the_same_artifact_as_the_local_file(engine, server, built_tracks):
    local_engine, local_sources = built_tracks
    local = next(s for s in local_sources if s.id == "htslib_index.vcf")
    remote = Source(id="remote-vcf", access_url=f"http://{server.hostport}/files/htslib_index.vcf",
                    md5=local.md5)
    result = run_remote(engine, server, [remote])
    assert result.returncode == 0, result.stderr[-3000:]
    for role in ("data", "index"):
        assert (remote.artifacts(engine.cache)[role].read_bytes()
                == local.artifacts(local_engine.cache)[role].read_bytes())


@pytest.mark.parametrize("via_access_id", [False, True])
def test_drs_source_is_resolved_fetched_and_built(engine, server, via_access_id):
    path = TRACKS / "pybedtools_x.namesorted.bam"
    server.drs_objects["obj-1"] = {"url": f"http://{server.hostport}/files/{path.name}", "md5": md5sum(path),
                                   "via_access_id": via_access_id}
    source = Source(id="drs-bam", access_url=f"drs://{server.hostport}/obj-1", md5=md5sum(path), format="bam")
    result = run_remote(engine, server, [source])
    assert result.returncode == 0, result.stderr[-3000:]
    assert all(p.exists() for p in source.artifacts(engine.cache).values())
    fetched = [headers for p, headers in server.requests if p.startswith("/files/")]
    if via_access_id:
        assert fetched[0].get("Authorization") == "Bearer drs-secret", \
            "the access headers DRS returns are sent"


def test_drs_md5_disagreeing_with_the_manifest_fails_before_download(engine, server):
    path = TRACKS / "htslib_bed_file.bed"
    server.drs_objects["obj-2"] = {"url": f"http://{server.hostport}/files/{path.name}",
                                   "md5": "f" * 31 + "e"}
    source = Source(id="drs-bed", access_url=f"drs://{server.hostport}/obj-2", md5=md5sum(path), format="bed")
    assert run_remote(engine, server, [source]).returncode != 0
    assert "the DRS server declares md5" in fetch_log(engine)
    assert not [p for p, _ in server.requests if p.startswith("/files/")]
    assert not (engine.cache / "src").exists() or not any((engine.cache / "src").rglob("source.*"))


def test_hosts_not_allowed_are_never_contacted(engine, server):
    source = Source(id="x", access_url=f"http://{server.hostport}/files/htslib_bed_file.bed",
                    md5=md5sum(TRACKS / "htslib_bed_file.bed"))
    assert run_remote(engine, server, [source], hosts=["example.org"]).returncode != 0
    assert "host not in allowed_hosts" in fetch_log(engine)
    assert server.requests == []


def test_a_redirect_to_a_host_not_allowed_is_refused(engine, server):
    target = f"http://127.0.0.2:{server.server_address[1]}/files/htslib_bed_file.bed"
    source = Source(id="x", access_url=f"http://{server.hostport}/redirect?to={target}",
                    md5=md5sum(TRACKS / "htslib_bed_file.bed"), format="bed")
    assert run_remote(engine, server, [source]).returncode != 0
    assert "redirect to" in fetch_log(engine) and "refused" in fetch_log(engine)
    assert not any(p.startswith("/files/") for p, _ in server.requests)


def test_a_missing_remote_file_fails_with_the_status(engine, server):
    source = Source(id="gone", access_url=f"http://{server.hostport}/files/nope.bed",
                    md5=md5sum(TRACKS / "htslib_bed_file.bed"))
    assert run_remote(engine, server, [source]).returncode != 0
    assert "HTTP 404" in fetch_log(engine)
    assert not any(p.is_file() and not p.name.endswith(".log") for p in engine.cache.rglob("*"))
