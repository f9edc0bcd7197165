"""Shared fixtures: paths to the real test data, manifests, and real `snakemake` runs of the engine."""
from __future__ import annotations

import csv
import hashlib
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
MANIFEST_HEADER = ["id", "access_url", "md5", "format", "index_url", "access"]

sys.path.insert(0, str(REPO))
from webapp import layout  # noqa: E402


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

    @classmethod
    def local(cls, path: str | os.PathLike, id: str | None = None, **fields) -> "Source":
        """A row for a local file, md5 computed from its bytes unless given."""
        path = Path(path)
        fields.setdefault("md5", md5sum(path))
        return cls(id=id or path.name, access_url=str(path), **fields)

    def artifacts(self, cache: Path, version: int = 1) -> dict[str, Path]:
        """Where the engine puts this source's artifact (data + index)."""
        fmt = self.format or layout.infer_format(self.access_url)
        paths = layout.artifact_paths(str(cache), self.md5, fmt, self.access, version, self.access_url)
        return {role: Path(path) for role, path in paths.items()}


def write_manifest(path: Path, sources: list[Source]) -> Path:
    """Write a manifest TSV with the documented header."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(MANIFEST_HEADER)
        for s in sources:
            writer.writerow([s.id, s.access_url, s.md5, s.format, s.index_url, s.access])
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
                    "source_roots": [str(r) for r in (roots if roots is not None else [SHARED_DATA, self.workdir])]}
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


def track_sources() -> list[Source]:
    """A manifest row for every valid file in shared/data/tracks (the invalid GFF is left out)."""
    return [Source.local(path) for path in sorted(TRACKS.iterdir()) if "invalid" not in path.name]


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
