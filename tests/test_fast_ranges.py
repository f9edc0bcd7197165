"""The range fast path answers exactly like the Flask view, and hands every other request to Flask.

Artifacts are built by a real server's jobs; then two apps on the same store are compared in process: one with
the fast path, one without. A sentinel behind a bare fast path shows which requests it answered itself, so
the comparison cannot pass by both sides going through Flask.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import TOKEN, TRACKS, Service
from werkzeug.test import Client

from webapp import settings as settings_module
from webapp.app import CORS_HEADERS, create_app
from webapp.edge import JsonEdge
from webapp.fast_ranges import MAX_FAST_BYTES, RangeFastPath
from webapp.metrics import RequestMetrics

VOLATILE = {"Date", "Server"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Settings of a store holding a built BAM ('b'), VCF ('v'), a restricted BAM ('secret'), a passthrough
    bigWig ('bw') and a registered but unbuilt VCF ('cold')."""
    svc = Service(tmp_path_factory.mktemp("fast")).start()
    try:
        svc.register("b", TRACKS / "pybedtools_x.namesorted.bam")
        svc.register("v", TRACKS / "htslib_index.vcf")
        svc.register("secret", TRACKS / "pybedtools_x.bam", access="restricted")
        svc.register("bw", TRACKS / "pybigwig_test.bw")
        svc.register("cold", TRACKS / "pybedtools_issue319.vcf.gz")
        for path, headers in (("/data/b", {}), ("/data/v", {}), ("/data/secret", svc.auth())):
            assert svc.fetch(path, headers=headers).status_code == 200
    finally:
        svc.stop()
    return settings_module.load({k: v for k, v in svc.env.items() if k.startswith("TRACKPREP_")})


@pytest.fixture(scope="module")
def clients(store):
    """(fast, flask): the full app with and without the fast path."""
    fast = create_app({"TRACKPREP_SETTINGS": store})
    slow = create_app({"TRACKPREP_SETTINGS": store, "TRACKPREP_FAST_RANGES": False})
    # the request counter (webapp/metrics.py) wraps both; the JSON edge (webapp/edge.py) is right inside it, and
    # the fast path right inside the edge
    assert isinstance(fast.wsgi_app, RequestMetrics) and isinstance(slow.wsgi_app, RequestMetrics)
    fast_edge, slow_edge = fast.wsgi_app.app, slow.wsgi_app.app
    assert isinstance(fast_edge, JsonEdge) and isinstance(slow_edge, JsonEdge)
    assert isinstance(fast_edge.app, RangeFastPath) and not isinstance(slow_edge.app, RangeFastPath)
    return Client(fast), Client(slow)


class Probe:
    """A fast path with a sentinel app behind it that counts the requests handed on."""

    def __init__(self, store):
        self.handed_on = 0

        def sentinel(environ, start_response):
            self.handed_on += 1
            start_response("599 SENTINEL", [])
            return [b""]

        self.client = Client(RangeFastPath(sentinel, store, CORS_HEADERS))

    def answers(self, path: str, headers: dict, method: str = "GET") -> bool:
        """True when the fast path answered the request itself."""
        before = self.handed_on
        self.client.open(path, method=method, headers=headers).close()
        return self.handed_on == before


def answered_by_fast_path(store, path: str, headers: dict, method: str = "GET") -> bool:
    return Probe(store).answers(path, headers, method)


FAST = [
    ("/data/b", {"Range": "bytes=0-65535"}),
    ("/data/v", {"Range": "bytes=1000-"}),
    ("/data/b", {"Range": "bytes=-5000"}),
    ("/data/v", {"Range": "bytes=100-99999999"}),
    ("/index/b", {"Range": "bytes=0-99"}),
    ("/data/b/data.bam", {"Range": "bytes=0-65535"}),
    ("/data/b/data.bam.bai", {"Range": "bytes=16-31"}),
    ("/data/v", {"Range": "bytes=10-99"}),
    ("/data/v/data.vcf.gz.tbi", {"Range": "bytes=0-9"}),
    ("/data/v", {"Range": "bytes=0-0", "Origin": "https://gosling.example"}),
]

DELEGATED = [
    ("/data/b", {}),                                               # whole file
    ("/data/b", {"Range": "bytes=0-9,20-29"}),                     # several ranges: whole file
    ("/data/b", {"Range": "items=0-9"}),                           # other unit
    ("/data/b", {"Range": "bytes=-0"}),                            # 416
    ("/data/b", {"Range": "bytes=99999999-"}),                     # 416
    ("/data/b", {"Range": "bytes=9-2"}),                           # malformed: 416 with a reason
    ("/data/b", {"Range": f"bytes=0-{MAX_FAST_BYTES}"}),           # larger than the fast path reads at once
    ("/data/b", {"Range": "bytes=0-9", "If-Range": '"x"'}),
    ("/data/b", {"Range": "bytes=0-9", "If-None-Match": '"x"'}),
    ("/data/b", {"Range": "bytes=0-9", "Authorization": f"Bearer {TOKEN}"}),
    ("/data/b?raw=true", {"Range": "bytes=0-9"}),
    ("/data/b/data.bai", {"Range": "bytes=0-9"}),                  # wrong alias name: 404 from Flask
    ("/index/b/data.bam.bai", {"Range": "bytes=0-9"}),             # no such route
    ("/data/secret", {"Range": "bytes=0-9"}),                      # restricted: Flask says 404
    ("/data/bw", {"Range": "bytes=0-9"}),                          # passthrough local file
    ("/data/cold", {"Range": "bytes=0-9"}),                        # not built: Flask starts the job
    ("/data/nobody", {"Range": "bytes=0-9"}),
    ("/data/../etc/passwd", {"Range": "bytes=0-9"}),
]


@pytest.mark.parametrize("path,headers", FAST)
def test_fast_answers_equal_flask_answers(store, clients, path, headers):
    assert answered_by_fast_path(store, path, headers)
    fast, slow = clients
    got, want = fast.get(path, headers=headers), slow.get(path, headers=headers)
    assert got.status_code == want.status_code == 206
    assert got.get_data() == want.get_data()
    assert {k: v for k, v in got.headers.items() if k not in VOLATILE} == \
        {k: v for k, v in want.headers.items() if k not in VOLATILE}


@pytest.mark.parametrize("path,headers", DELEGATED)
def test_everything_else_goes_to_flask(store, path, headers):
    assert not answered_by_fast_path(store, path, headers)


@pytest.mark.parametrize("method", ["HEAD", "POST", "OPTIONS", "DELETE"])
def test_only_get_is_answered(store, method):
    assert not answered_by_fast_path(store, "/data/b", {"Range": "bytes=0-9"}, method=method)


def test_fast_bytes_are_the_artifact_bytes(store, clients):
    """Independent of either code path: the slice of the file on disk."""
    fast, _ = clients
    artifact = next(p for p in Path(store.cache_dir).rglob("data.bam") if "restricted" not in p.parts)
    whole = artifact.read_bytes()
    for start, end in ((0, 0), (1, 65536), (len(whole) - 100, len(whole) - 1)):
        response = fast.get("/data/b", headers={"Range": f"bytes={start}-{end}"})
        assert response.get_data() == whole[start:end + 1]
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(whole)}"


def test_a_removed_artifact_is_not_served_from_memory(store, tmp_path):
    """The fast path keeps source records, never artifacts: with the index gone the request goes to Flask
    (which starts a rebuild), not to a stale answer."""
    index = next(p for p in Path(store.cache_dir).rglob("data.vcf.gz.tbi") if "restricted" not in p.parts)
    probe = Probe(store)
    assert probe.answers("/data/v", {"Range": "bytes=0-9"})
    shutil.move(index, tmp_path / "saved.tbi")
    try:
        assert not probe.answers("/data/v", {"Range": "bytes=0-9"})
    finally:
        shutil.move(tmp_path / "saved.tbi", index)
