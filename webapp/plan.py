"""What serves a request for a source, and the Snakemake job that builds it when it is missing.

- processed formats: ``/data`` and ``/index`` serve the artifact and its own index; both are one job's targets
  (workflow key: the artifact directory).
- annotation formats: ``/features`` searches the feature name index beside the artifact; its job builds the
  artifact too (same workflow key: a /data request that attaches to it gets what it asked for).
- passthrough formats, and ``?raw=true`` for any format: a local source (and its local sidecar) streams as it
  is; a remote one is fetched, md5-verified, into ``{cache}/src/<md5>/`` together with its sidecar index, if
  any (workflow key: that directory).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

from . import layout, ssr_layout
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
    """Where the bytes for a request are (``path``) and, when they come from the cache, the job's ``targets``
    (all of them must exist) under its workflow ``key``. No targets: a local file served as it is."""

    path: str
    targets: list[str] | None = None
    key: str | None = None

    def ready(self) -> bool:
        """True when every file the request depends on is in place."""
        return all(os.path.isfile(path) for path in (self.targets or [self.path]))


MANIFEST_HEADER = ("id", "access_url", "md5", "format", "index_url", "access", "reference")


def manifest_text(source: dict[str, Any], reference: dict[str, Any] | None = None) -> str:
    """The engine manifest for a source: its row, and its reference's row when it names one."""
    rows = [source] + ([reference] if reference is not None else [])
    return "\t".join(MANIFEST_HEADER) + "\n" + "".join(
        "\t".join(str(row.get(name) or "") for name in MANIFEST_HEADER) + "\n" for row in rows)


def job_config(settings: Settings) -> dict[str, Any]:
    """The engine config keys every preprocess job passes (the manifest is a file in the job's directory)."""
    return {
        "cache_dir": settings.cache_dir,
        "manifest": MANIFEST_NAME,
        # the SSR analyses too: the sources derived from one (webapp.derived) are files of its folder. Only the
        # service registers sources there: registration still refuses every path outside the configured roots
        "source_roots": [*settings.effective_source_roots,
                         os.path.realpath(os.path.join(settings.cache_dir, ssr_layout.SSR_DIR))],
        "allowed_hosts": list(settings.allowed_hosts),
        "drs_scheme": settings.drs_scheme,
        "pipeline_version": pipeline_version(settings.workflow_dir),
    }


def make(settings: Settings, source: dict[str, Any], resolved: Resolved,
         reference: dict[str, Any] | None = None) -> Plan:
    """The job that builds what ``resolved`` needs from the cache (only called on a miss); ``reference``: the
    record of the source this one names as its reference (its artifact is built in the same run)."""
    key, targets = resolved.key, resolved.targets
    src_dir = os.path.dirname(layout.source_path(settings.cache_dir, source["md5"], source["format"],
                                                 source["access"], source["access_url"]))
    work_dirs = [src_dir]
    kind = layout.FORMATS[source["format"]][0]
    if kind is not None:  # conversions (GTF -> GFF3, bigBed -> BED) write beside their temp outputs here
        root = layout.namespace_root(settings.cache_dir, source["access"])
        work_dirs.append(os.path.join(root, "work", source["format"], layout.source_key(source)))
    return Plan(kind="preprocess", key=key, targets=targets, config=job_config(settings),
                files={MANIFEST_NAME: manifest_text(source, reference)}, work_dirs=work_dirs,
                private=source["access"] == "restricted")


def processed(settings: Settings, source: dict[str, Any]) -> tuple[dict[str, str], list[str], str]:
    """The artifact files (``data``, ``index``; ``index`` None for a bigWig) of a processed format, the job's
    targets, its key.

    The job asks for the data and the artifact's record, which the workflow writes last, once the index the
    data needs (BAI/TBI, or CSI past 2^29) is in place; the record names that index. Until then ``index`` is
    the BAI/TBI name, which a complete artifact may not have.
    """
    paths = layout.artifact_paths(settings.cache_dir, layout.source_key(source), source["format"],
                                  source["access"], pipeline_version(settings.workflow_dir),
                                  source["access_url"])
    built = layout.built_index(paths["record"])
    extra = {name: paths[name] for name in layout.extra_files(source["format"])}  # a FASTA's .gzi
    targets = [paths["data"], paths["record"]] + ([built] if built else []) + list(extra.values())
    # a bigWig has no index file: its data is its own index (``index`` None, so /index answers 404)
    index = (built or paths["index"]) if "index" in paths else None
    return ({"data": paths["data"], "index": index, **extra}, targets, os.path.dirname(paths["data"]))


def upstream(settings: Settings, source: dict[str, Any]) -> tuple[dict[str, str | None], list[str] | None,
                                                                  str | None]:
    """The unprocessed bytes (``data``) and the upstream sidecar (``index``, None without index_url), with the
    targets and key of the job that fetches them.

    Local sources are their own files (no job: targets and key are None); remote ones are fetched into the
    cache by one job.
    """
    if layout.is_local(source["access_url"]):
        index = layout.local_path(source["index_url"]) if source["index_url"] else None
        return {"data": layout.local_path(source["access_url"]), "index": index}, None, None
    args = (settings.cache_dir, source["md5"], source["format"], source["access"], source["access_url"])
    data = layout.source_path(*args)
    index = layout.sidecar_path(*args, source["index_url"]) if source["index_url"] else None
    return {"data": data, "index": index}, [data] + ([index] if index else []), os.path.dirname(data)


def resolve(settings: Settings, source: dict[str, Any], what: str, raw: bool) -> Resolved | None:
    """The file behind ``/data`` (what='data') or ``/index`` (what='index'), or a FASTA's ``gzi`` (its alias);
    None when there is none."""
    kind = layout.FORMATS[source["format"]][0]
    if raw or kind is None:
        if kind is None and what == "index":
            return None  # passthrough formats have no index
        paths, targets, key = upstream(settings, source)
    else:
        paths, targets, key = processed(settings, source)
    return None if paths.get(what) is None else Resolved(paths[what], targets, key)


def features(settings: Settings, source: dict[str, Any]) -> Resolved:
    """The feature name index of an annotation source (``layout.FEATURE_FORMATS``) and the job that builds
    it: the artifact's own targets plus the index, under the artifact's workflow key."""
    _paths, targets, key = processed(settings, source)
    path = layout.features_path(settings.cache_dir, source["md5"], source["format"], source["access"],
                                pipeline_version(settings.workflow_dir))
    return Resolved(path, targets + [path], key)
