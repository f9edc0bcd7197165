"""Shared fixtures: paths to the real test data, manifests, and real `snakemake` runs of the engine."""
from __future__ import annotations

import csv
import hashlib
import re
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
TRACKS = SHARED_DATA / "tracks"
CROSSROAD = SHARED_DATA / "crossroad"
MANIFEST_HEADER = ["id", "access_url", "md5", "format", "index_url", "access", "reference"]

sys.path.insert(0, str(REPO))
from webapp import layout  # noqa: E402
from webapp.plan import pipeline_version  # noqa: E402

PIPELINE_VERSION = pipeline_version(str(REPO))  # the engine's default (config/config.yaml)


def md5sum(path: str | os.PathLike) -> str:
    """The md5 of a file's bytes."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Source:
    """One manifest row."""

    id: str
    access_url: str
    md5: str
    format: str = ""
    index_url: str = ""
    access: str = "public"
    reference: str = ""  # the id of the fasta row a CRAM is decoded against
    reference_md5: str = ""  # that row's md5 (not a manifest column: it goes into the artifact key)

    @classmethod
    def local(cls, path: str | os.PathLike, id: str | None = None, **fields) -> "Source":
        """A row for a local file, md5 computed from its bytes unless given."""
        path = Path(path)
        fields.setdefault("md5", md5sum(path))
        return cls(id=id or path.name, access_url=str(path), **fields)

    def artifacts(self, cache: Path, version: int = PIPELINE_VERSION) -> dict[str, Path]:
        """Where the engine puts this source's artifact (data + index)."""
        fmt = self.format or layout.infer_format(self.access_url)
        key = layout.artifact_key(self.md5, self.reference_md5)
        paths = layout.artifact_paths(str(cache), key, fmt, self.access, version, self.access_url)
        if "index" in paths:  # the index the artifact got (BAI/TBI, or CSI past 2^29), once it is complete
            paths.pop("csi", None)  # (a bigWig has none: its index is inside the data file)
            paths["index"] = layout.built_index(paths["record"]) or paths["index"]
        return {role: Path(path) for role, path in paths.items()}


def write_manifest(path: Path, sources: list[Source]) -> Path:
    """Write a manifest TSV with the documented header."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(MANIFEST_HEADER)
        for s in sources:
            writer.writerow([s.id, s.access_url, s.md5, s.format, s.index_url, s.access, s.reference])
    return path


@dataclass
class Engine:
    """Runs the real workflow with `snakemake` in a subprocess, in its own working directory."""

    workdir: Path
    cache: Path

    def run(self, sources: list[Source], targets: list[str | Path] = (), *, config: dict | None = None,
            extra_args: list[str] = (), roots: list[str | Path] | None = None) -> subprocess.CompletedProcess:
        manifest = write_manifest(self.workdir / "sources.tsv", sources)
        settings = {"cache_dir": str(self.cache), "manifest": str(manifest),
                    "source_roots": [str(r) for r in
                                     (roots if roots is not None else [SHARED_DATA, self.workdir])]}
        settings.update(config or {})
        # targets and flags first: everything after --config is read as KEY=VALUE
        cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *[str(t) for t in targets],
               "--cores", "2", "--nolock", *extra_args,
               "--config", *[f"{key}={value!r}" if isinstance(value, list) else f"{key}={value}"
                             for key, value in settings.items()]]
        return subprocess.run(cmd, cwd=self.workdir, capture_output=True, text=True, timeout=600)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    """An engine with an empty cache of its own."""
    (tmp_path / "work").mkdir()
    return Engine(workdir=tmp_path / "work", cache=tmp_path / "cache")


# shared tracks that are not valid input: a GFF with bad coordinates, and a VCF whose one record has one
# genotype column where its #CHROM line names 73 samples (bcftools and pysam refuse the record)
INVALID_TRACKS = ("pybedtools_dm3-chr2L-5M-invalid.gff.gz", "pybedtools_issue319.vcf.gz")


def track_sources() -> list[Source]:
    """A manifest row for every valid file in shared/data/tracks (INVALID_TRACKS are left out)."""
    return [Source.local(path) for path in sorted(TRACKS.iterdir()) if path.name not in INVALID_TRACKS]


@pytest.fixture(scope="session")
def built_tracks(tmp_path_factory) -> tuple[Engine, list[Source]]:
    """Every shared track file built once through the default target; shared by the format tests."""
    base = tmp_path_factory.mktemp("tracks")
    (base / "work").mkdir()
    engine = Engine(workdir=base / "work", cache=base / "cache")
    sources = track_sources()
    result = engine.run(sources)
    assert result.returncode == 0, result.stderr[-4000:]
    return engine, sources


# ---- the service (trackprep serve) on 127.0.0.1, for the service, dispatcher and client tests
import json  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

TOKEN = "test-token"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """A real `trackprep serve` subprocess with its own data dir; `requests`-style helpers around it."""

    def __init__(self, base: Path, env: dict[str, str] | None = None):
        import requests

        self.http = requests.Session()
        self.base = base
        self.data_dir = base / "data"
        self.env = {**os.environ, "TRACKPREP_DATA_DIR": str(self.data_dir), "TRACKPREP_SAMPLES": "none",
                    "TRACKPREP_SOURCE_ROOTS": f"{TRACKS}:{base / 'sources'}", "TRACKPREP_API_TOKEN": TOKEN,
                    "TRACKPREP_CANCEL_GRACE": "3", "TRACKPREP_POLL_INTERVAL": "0.2",
                    "TRACKPREP_SNAKEMAKE_CORES": "1",
                    # the server runs this checkout, whatever `pip install -e` points at
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
                    **(env or {})}
        (base / "sources").mkdir(exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.port = free_port()

    @property
    def cache(self) -> Path:
        return Path(self.env.get("TRACKPREP_CACHE_DIR") or self.data_dir / "cache")

    def start(self, command: str = "serve") -> "Service":
        log = open(self.base / f"{command}.log", "ab")
        args = ["serve", "--port", str(self.port)] if command == "serve" else [command]
        self.proc = subprocess.Popen([sys.executable, "-m", "webapp.cli", *args], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, cwd=self.base)
        if command == "serve":
            deadline = time.monotonic() + 60
            while True:
                try:
                    if self.http.get(self.url("/health"), timeout=2).ok:
                        break
                except Exception:
                    pass
                assert self.proc.poll() is None, (self.base / "serve.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "trackprep serve did not come up"
                time.sleep(0.2)
        return self

    def wait_answering(self, proc: subprocess.Popen, path: str = "/openapi.json", log: Path | None = None,
                       timeout: float = 60) -> None:
        """Wait until a server process started on this service's port (gunicorn, say) answers ``path``."""
        import requests

        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(self.url(path), timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            detail = log.read_text()[-3000:] if log is not None and log.exists() else "the server did not come up"
            assert time.monotonic() < deadline and proc.poll() is None, detail
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=90)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, **kwargs):
        return self.http.get(self.url(path), timeout=60, **kwargs)

    def register(self, source_id: str, path: str | os.PathLike | None = None, **fields):
        """POST /files with the token; a local path gets its md5 computed."""
        body = {"id": source_id, **fields}
        if path is not None:
            body.setdefault("access_url", str(path))
            body.setdefault("md5", md5sum(path))
        return self.http.post(self.url("/files"), json=body, headers=self.auth(), timeout=60)

    @staticmethod
    def auth() -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def wait_job(self, job_id: str, timeout: float = 300, headers: dict | None = None) -> dict:
        """Poll /jobs/{id} until the job has ended; its final record."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"/jobs/{job_id}", headers=headers or {}).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']}: {job}"
            time.sleep(0.2)

    def fetch(self, path: str, headers: dict | None = None):
        """GET until the answer is not 202 (following the job it names); the final response."""
        response = self.get(path, headers=headers or {})
        while response.status_code == 202:
            job = self.wait_job(response.json()["job_id"], headers=headers)
            assert job["status"] == "completed", job
            response = self.get(path, headers=headers or {})
        return response

    def jobs(self, **params) -> list[dict]:
        return self.get("/jobs", params=params, headers=self.auth()).json()["jobs"]


def leftovers(svc: Service) -> list[str]:
    """Temp names or partial files anywhere in the cache."""
    return [str(p) for p in svc.cache.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]


@pytest.fixture
def service(tmp_path: Path):
    """A fresh `trackprep serve` (samples off, TRACKS as a source root, token `test-token`)."""
    svc = Service(tmp_path).start()
    yield svc
    svc.stop()


@pytest.fixture
def service_factory(tmp_path: Path):
    """Services with custom environment variables: `service_factory(TRACKPREP_X="...")` (not started)."""
    made: list[Service] = []

    def make(name: str = "svc", **env) -> Service:
        base = tmp_path / name
        base.mkdir(exist_ok=True)
        svc = Service(base, env)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.stop(signal.SIGKILL)


class Answer:
    """A Flask test-client response with the `requests` surface the tests use (``.json()``, ``.text``)."""

    def __init__(self, response):
        self.status_code = response.status_code
        self.headers = response.headers
        self.content = response.get_data()
        self.text = response.get_data(as_text=True)
        self._json = response.get_json(silent=True)

    def json(self):
        assert self._json is not None, f"not JSON: {self.text[:300]}"
        return self._json


class InProcessApi:
    """The whole app (every blueprint, the JSON edge, the range fast path) in this process, through Flask's test
    client, on a fresh data dir with the real SQLite store, and no dispatcher: jobs are queued but never run.

    For validation and error-shape cases, where a server process is not the point; whatever crosses a process
    (the dispatcher, range streaming over sockets, real HTTP clients) keeps the real `Service`.
    """

    def __init__(self, base: Path, env: dict[str, str] | None = None):
        from webapp import settings as settings_module
        from webapp.app import create_app

        self.base = base
        self.data_dir = base / "data"
        (base / "sources").mkdir(exist_ok=True)
        self.env = {"TRACKPREP_DATA_DIR": str(self.data_dir), "TRACKPREP_SAMPLES": "none",
                    "TRACKPREP_SOURCE_ROOTS": f"{TRACKS}:{base / 'sources'}", "TRACKPREP_API_TOKEN": TOKEN,
                    **(env or {})}
        self.app = create_app({"TRACKPREP_SETTINGS": settings_module.load(self.env), "TESTING": True})
        self.client = self.app.test_client()

    def request(self, method: str, path: str, *, headers: dict | None = None, **kwargs) -> Answer:
        return Answer(self.client.open(path, method=method, headers=headers or {}, **kwargs))

    def get(self, path: str, **kwargs) -> Answer:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Answer:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs) -> Answer:
        return self.request("DELETE", path, **kwargs)

    def register(self, source_id: str, path: str | os.PathLike | None = None, **fields) -> Answer:
        """POST /files with the token; a local path gets its md5 computed."""
        body = {"id": source_id, **fields}
        if path is not None:
            body.setdefault("access_url", str(path))
            body.setdefault("md5", md5sum(path))
        return self.post("/files", json=body, headers=self.auth())

    auth = staticmethod(Service.auth)

    def jobs(self, **params) -> list[dict]:
        return self.get("/jobs", query_string=params, headers=self.auth()).json()["jobs"]


@pytest.fixture
def api(tmp_path: Path, monkeypatch):
    """An in-process app (see `InProcessApi`) on a fresh data dir; `api.app`, `api.client` are Flask's own."""
    # the app points prometheus_client at its data dir through the environment: keep that inside this test
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    return InProcessApi(tmp_path)


class FileServer:
    """A real HTTP server on 127.0.0.1 serving a folder, whose bodies can be held mid-way.

    While `gate` is clear, each response sends its first `head` bytes and then waits; `open_now` counts
    responses in flight and `max_open` the most at once (what a concurrency bound must keep low).
    """

    def __init__(self, root: Path, head: int = 1024):
        self.root, self.head = root, head
        self.gate = threading.Event()
        self.gate.set()
        self.lock = threading.Lock()
        self.open_now = self.max_open = self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = server.root / self.path.lstrip("/").split("?")[0]
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                with server.lock:
                    server.requests += 1
                    server.open_now += 1
                    server.max_open = max(server.max_open, server.open_now)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: server.head])
                    self.wfile.flush()
                    while not server.gate.wait(0.1):
                        pass
                    self.wfile.write(data[server.head:])
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server.lock:
                        server.open_now -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://{self.host}/{name}"

    def wait_open(self, count: int, timeout: float = 120) -> None:
        """Wait until `count` responses are held open at once."""
        deadline = time.monotonic() + timeout
        while self.open_now < count:
            assert time.monotonic() < deadline, f"only {self.open_now} of {count} downloads started"
            time.sleep(0.1)

    def close(self) -> None:
        self.gate.set()
        self.httpd.shutdown()


@pytest.fixture
def file_server(tmp_path: Path):
    """A FileServer over tmp_path/'remote' (create files there); its host is what to allow."""
    root = tmp_path / "remote"
    root.mkdir()
    server = FileServer(root)
    yield server
    server.close()


def dump(obj) -> str:
    """Pretty JSON for assertion messages."""
    return json.dumps(obj, indent=1)[:3000]


# ---- a guard over the whole suite: every artifact any test published opens in its format's standard reader
def unreadable_artifact(data: Path) -> str | None:
    """Why a published artifact (data file + its index beside it) does not open in its standard reader."""
    import pysam

    kind = next((spec for spec in layout.KINDS.values() if data.name == spec.data_name), None)
    if not kind.has_index:  # a bigWig: every interval of every chromosome read through its own R-tree
        import pyBigWig

        handle = pyBigWig.open(str(data))
        if handle is None or not handle.isBigWig():
            return "pyBigWig cannot open it as a bigWig"
        try:
            for chrom, size in handle.chroms().items():
                handle.intervals(chrom, 0, size)
        except RuntimeError as err:
            return f"RuntimeError: {err}"
        finally:
            handle.close()
        return None
    record = data.parent / layout.ARTIFACT_RECORD
    built = layout.built_index(str(record)) if record.exists() else None
    # A test may ask for the index target alone (no record); the index beside the data must then still open.
    candidates = [Path(built)] if built else [Path(f"{data}{suffix}") for suffix in kind.index_suffixes]
    index = next((path for path in candidates if path.exists()), None)
    if index is None and not record.exists():
        # not published (the record is written last): a build stopped, or still running, between its data and its
        # index. The data was renamed into place whole, so it must still read to its end.
        return unreadable_whole_file(data, kind.name)
    if index is None:
        return "published without an index beside it"
    try:
        if kind.name == "bam":  # check_sq=False: an unaligned BAM has no @SQ lines
            with pysam.AlignmentFile(str(data), index_filename=str(index), check_sq=False) as bam:
                for _ in bam.fetch(until_eof=True):
                    pass
        elif kind.name == "fasta":  # every sequence read whole through the .fai and .gzi beside the data
            if not Path(f"{data}.gzi").exists():
                return "no .gzi beside it"
            with pysam.FastaFile(str(data), filepath_index=str(index),
                                 filepath_index_compressed=f"{data}.gzi") as fasta:
                for name in fasta.references:
                    if len(fasta.fetch(name)) != fasta.get_reference_length(name):
                        return f"sequence {name} reads short"
        elif kind.name == "vcf":
            with pysam.VariantFile(str(data), index_filename=str(index)) as vcf:
                for _ in vcf.fetch():
                    pass
        else:
            with pysam.TabixFile(str(data), index=str(index)) as tabix:
                for contig in tabix.contigs:
                    for _ in tabix.fetch(contig):
                        pass
    except (OSError, ValueError) as err:
        return f"{type(err).__name__}: {err}"
    return None


BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def unreadable_whole_file(data: Path, kind: str) -> str | None:
    """Why a data file without its index (and without its record) is not whole, or None: it reads to its end in
    pysam (a BAM) or gzip (a BGZF file), and ends with the BGZF end-of-file block."""
    import gzip

    import pysam

    try:
        if kind == "bam":
            with pysam.AlignmentFile(str(data), check_sq=False) as bam:
                for _ in bam.fetch(until_eof=True):
                    pass
        else:
            with gzip.open(data, "rb") as handle:
                while handle.read(1 << 20):
                    pass
    except (OSError, ValueError, EOFError) as err:
        return f"unpublished and not whole: {type(err).__name__}: {err}"
    with open(data, "rb") as handle:
        handle.seek(-len(BGZF_EOF), os.SEEK_END)
        if handle.read() != BGZF_EOF:
            return "unpublished and not whole: no BGZF end-of-file block"
    return None


@pytest.fixture(scope="session", autouse=True)
def every_published_artifact_opens(tmp_path_factory):
    """After the session: every artifact at a final cache path (``v<N>/<format>/<md5>/data.*``) that any test
    left behind opens and reads to the end in pysam (htslib), with its own index; a data file whose build stopped
    before its index and record (a test ended or killed it) is still whole."""
    yield
    names = {spec.data_name for spec in layout.KINDS.values()}
    failures = []
    for data in tmp_path_factory.getbasetemp().rglob("data.*"):
        if data.name in names and data.parent.parent.name in layout.FORMATS \
                and re.fullmatch(r"v\d+", data.parent.parent.parent.name):
            reason = unreadable_artifact(data)
            if reason:
                failures.append(f"{data}: {reason}")
    assert not failures, "published artifacts that do not open:\n" + "\n".join(failures)
