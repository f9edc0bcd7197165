"""What serves a request for a source, and the Snakemake job that builds it when it is missing.

- processed formats: ``/data`` and ``/index`` serve the artifact and its own index; both are one job's targets
  (workflow key: the artifact directory).
- passthrough formats, and ``?raw=true`` for any format: a local source (and its local sidecar) streams as it is;
  a remote one is fetched, md5-verified, into ``{cache}/src/<md5>/`` together with its sidecar index, if any
  (workflow key: that directory).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

from . import layout
from .settings import Settings

MANIFEST_NAME = "manifest.tsv"


@lru_cache(maxsize=8)
def pipeline_version(workflow_dir: str) -> int:
    """The engine's default ``pipeline_version`` (config/config.yaml): the v<N> in every artifact path."""
    with open(os.path.join(workflow_dir, "config", "config.yaml"), encoding="utf-8") as handle:
        return int(yaml.safe_load(handle)["pipeline_version"])


@dataclass
class Plan:
    """A job that produces ``targets`` (all of them) under ``key``."""

    kind: str
    key: str
    targets: list[str]
    config: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)
    work_dirs: list[str] = field(default_factory=list)
    private: bool = False


@dataclass
class Resolved:
    """Where the bytes for a request are (``path``) and, if they may be missing, the job that makes them."""

    path: str
    plan: Plan | None  # None: a local file served as it is
    content_addressed: bool

    def ready(self) -> bool:
        """True when every file the request depends on is in place."""
        if self.plan is None:
            return os.path.isfile(self.path)
        return all(os.path.isfile(target) for target in self.plan.targets)


def manifest_text(source: dict[str, Any]) -> str:
    """A one-row engine manifest for a source."""
    header = ("id", "access_url", "md5", "format", "index_url", "access")
    return "\t".join(header) + "\n" + "\t".join(str(source[name] or "") for name in header) + "\n"


def job_config(settings: Settings) -> dict[str, Any]:
    """The engine config keys every preprocess job passes (the manifest is a file in the job's directory)."""
    return {
        "cache_dir": settings.cache_dir,
        "manifest": MANIFEST_NAME,
        "source_roots": list(settings.effective_source_roots),
        "allowed_hosts": list(settings.allowed_hosts),
        "drs_scheme": settings.drs_scheme,
        "pipeline_version": pipeline_version(settings.workflow_dir),
    }


def _plan(settings: Settings, source: dict[str, Any], key: str, targets: list[str]) -> Plan:
    src_dir = os.path.dirname(layout.source_path(settings.cache_dir, source["md5"], source["format"],
                                                 source["access"], source["access_url"]))
    work_dirs = [src_dir]
    kind = layout.FORMATS[source["format"]][0]
    if kind is not None:  # conversions (GTF -> GFF3, bigBed -> BED) write beside their temp outputs here
        root = layout.namespace_root(settings.cache_dir, source["access"])
        work_dirs.append(os.path.join(root, "work", kind, source["md5"]))
    return Plan(kind="preprocess", key=key, targets=targets, config=job_config(settings),
                files={MANIFEST_NAME: manifest_text(source)}, work_dirs=work_dirs,
                private=source["access"] == "restricted")


def processed(settings: Settings, source: dict[str, Any]) -> tuple[dict[str, str], Plan]:
    """The artifact files (``data``, ``index``) of a processed format and the job that builds both."""
    paths = layout.artifact_paths(settings.cache_dir, source["md5"], source["format"], source["access"],
                                  pipeline_version(settings.workflow_dir), source["access_url"])
    key = os.path.dirname(paths["data"])
    return paths, _plan(settings, source, key, [paths["data"], paths["index"]])


def upstream(settings: Settings, source: dict[str, Any]) -> tuple[dict[str, str | None], Plan | None]:
    """The unprocessed bytes (``data``) and the upstream sidecar (``index``, None without index_url).

    Local sources are their own files (no job); remote ones are fetched into the cache by one job.
    """
    if layout.is_local(source["access_url"]):
        index = layout.local_path(source["index_url"]) if source["index_url"] else None
        return {"data": layout.local_path(source["access_url"]), "index": index}, None
    args = (settings.cache_dir, source["md5"], source["format"], source["access"], source["access_url"])
    data = layout.source_path(*args)
    index = layout.sidecar_path(*args, source["index_url"]) if source["index_url"] else None
    targets = [data] + ([index] if index else [])
    return {"data": data, "index": index}, _plan(settings, source, os.path.dirname(data), targets)


def resolve(settings: Settings, source: dict[str, Any], what: str, raw: bool) -> Resolved | None:
    """The file behind ``/data`` (what='data') or ``/index`` (what='index'); None when there is none."""
    kind = layout.FORMATS[source["format"]][0]
    if raw or kind is None:
        if kind is None and what == "index":
            return None  # passthrough formats have no index
        paths, plan = upstream(settings, source)
        if paths[what] is None:
            return None
        return Resolved(paths[what], plan, content_addressed=plan is not None)
    paths, plan = processed(settings, source)
    return Resolved(paths[what], plan, content_addressed=True)
