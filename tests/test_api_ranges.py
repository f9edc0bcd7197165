"""Every row of API.md's byte-range table, plus ETag, Cache-Control and CORS, on a real server.

Two kinds of responses are checked: a processed, content-addressed artifact (a VCF built by a real job) and a
local passthrough source (a bigWig streamed as it is). Expected bodies are slices of the whole file.
"""
from __future__ import annotations

import pytest
import requests
from conftest import TRACKS, Service


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A server with a built VCF artifact ('v') and a passthrough bigWig ('bw'); the whole bytes of each."""
    svc = Service(tmp_path_factory.mktemp("ranges")).start()
    svc.register("v", TRACKS / "htslib_index.vcf")
    svc.register("bw", TRACKS / "pybigwig_test.bw")
    whole = {"/data/v": svc.fetch("/data/v").content, "/data/bw": (TRACKS / "pybigwig_test.bw").read_bytes()}
    yield svc, whole
    svc.stop()


PATHS = ["/data/v", "/data/bw"]


def get(svc: Service, path: str, **headers) -> requests.Response:
    return svc.get(path, headers=headers)


@pytest.mark.parametrize("path", PATHS)
def test_no_range_is_the_whole_file(warm, path):
    svc, whole = warm
    response = get(svc, path)
    assert response.status_code == 200
    assert response.content == whole[path]
    assert response.headers["Accept-Ranges"] == "bytes"
    assert int(response.headers["Content-Length"]) == len(whole[path])


@pytest.mark.parametrize("path", PATHS)
def test_inside_range_is_206_with_content_range(warm, path):
    svc, whole = warm
    size = len(whole[path])
    response = get(svc, path, Range="bytes=10-99")
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 10-99/{size}"
    assert response.content == whole[path][10:100]


@pytest.mark.parametrize("path", PATHS)
def test_range_past_the_end_is_cut_at_eof(warm, path):
    svc, whole = warm
    size = len(whole[path])
    response = get(svc, path, Range=f"bytes={size - 5}-{size + 1000}")
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {size - 5}-{size - 1}/{size}"
    assert response.content == whole[path][-5:]


@pytest.mark.parametrize("path", PATHS)
def test_open_ended_range_runs_to_eof(warm, path):
    svc, whole = warm
    response = get(svc, path, Range="bytes=7-")
    assert response.status_code == 206
    assert response.content == whole[path][7:]


@pytest.mark.parametrize("path", PATHS)
def test_suffix_range_is_the_last_n_bytes_or_the_whole_file(warm, path):
    svc, whole = warm
    size = len(whole[path])
    last = get(svc, path, Range="bytes=-20")
    assert last.status_code == 206 and last.content == whole[path][-20:]
    assert last.headers["Content-Range"] == f"bytes {size - 20}-{size - 1}/{size}"
    everything = get(svc, path, Range=f"bytes=-{size + 50}")
    assert everything.status_code == 206 and everything.content == whole[path]
    assert everything.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("value", ["start_at_size", "bytes=-0"])
def test_unsatisfiable_is_416_with_star_content_range(warm, path, value):
    svc, whole = warm
    size = len(whole[path])
    header = f"bytes={size}-" if value == "start_at_size" else value
    response = get(svc, path, Range=header)
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{size}"
    assert response.json()["error"] == "range_not_satisfiable"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("header", ["bytes=abc", "bytes=5-2", "bytes=-", "bytes=1-2-3", "bytes=",
                                    "bytes=--5"])
def test_malformed_bytes_value_is_416_with_a_json_reason(warm, path, header):
    svc, _ = warm
    response = get(svc, path, Range=header)
    assert response.status_code == 416
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["detail"]


@pytest.mark.parametrize("path", PATHS)
def test_other_units_are_ignored(warm, path):
    svc, whole = warm
    response = get(svc, path, Range="items=0-5")
    assert response.status_code == 200 and response.content == whole[path]


@pytest.mark.parametrize("path", PATHS)
def test_several_ranges_get_the_whole_file(warm, path):
    svc, whole = warm
    response = get(svc, path, Range="bytes=0-5,10-20")
    assert response.status_code == 200 and response.content == whole[path]


@pytest.mark.parametrize("path", PATHS)
def test_etag_if_none_match_and_if_range(warm, path):
    svc, whole = warm
    etag = get(svc, path).headers["ETag"]
    assert get(svc, path, **{"If-None-Match": etag}).status_code == 304
    assert get(svc, path, **{"If-None-Match": '"something-else"'}).status_code == 200
    honoured = get(svc, path, Range="bytes=0-9", **{"If-Range": etag})
    assert honoured.status_code == 206 and honoured.content == whole[path][:10]
    stale = get(svc, path, Range="bytes=0-9", **{"If-Range": '"an-old-etag"'})
    assert stale.status_code == 200 and stale.content == whole[path]


def test_cache_control_immutable_on_public_artifacts_and_revalidated_on_local_streams(warm):
    svc, _ = warm
    assert get(svc, "/data/v").headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "immutable" not in get(svc, "/data/bw").headers["Cache-Control"]


@pytest.mark.parametrize("path", [*PATHS, "/index/v", "/nope", "/jobs"])
def test_cors_on_every_response_and_no_content_encoding(warm, path):
    svc, _ = warm
    response = get(svc, path, **{"Accept-Encoding": "gzip"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Content-Length", "Content-Range", "Accept-Ranges", "ETag", "Last-Modified", "Location",
            "Retry-After", "X-Data-Truncated", "X-Data-Total-Rows", "X-Data-Preview-Rows",
            "X-Data-File-Size-Bytes"} <= exposed
    assert "Content-Encoding" not in response.headers


def test_options_preflight_is_204_allowing_methods_and_headers(warm):
    svc, _ = warm
    response = svc.http.options(svc.url("/data/v"), headers={"Origin": "https://example.org",
                                                             "Access-Control-Request-Method": "GET"})
    assert response.status_code == 204
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert methods == {"GET", "HEAD", "POST", "DELETE", "OPTIONS"}
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed == {"range", "if-range", "if-none-match", "authorization", "content-type"}


def test_head_on_a_hit_has_the_headers_of_get(warm):
    svc, whole = warm
    head = svc.http.head(svc.url("/data/v"), headers={"Range": "bytes=0-9"})
    assert head.status_code == 206 and head.content == b""
    assert head.headers["Content-Range"] == f"bytes 0-9/{len(whole['/data/v'])}"
    assert head.headers["Content-Length"] == "10"
    full = svc.http.head(svc.url("/data/v"))
    assert full.headers["Content-Length"] == str(len(whole["/data/v"]))
    assert full.headers["ETag"] == get(svc, "/data/v").headers["ETag"]


def test_a_client_hanging_up_mid_body_leaves_the_server_healthy(warm):
    import socket

    svc, whole = warm
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", svc.port)) as sock:
            sock.sendall(b"GET /data/bw HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.recv(100)
    assert get(svc, "/data/bw").content == whole["/data/bw"]
    assert "Traceback" not in (svc.base / "serve.log").read_text()
