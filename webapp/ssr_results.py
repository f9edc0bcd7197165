"""An SSR analysis' results on disk: its output files, their labels, and the two caches built from them once
(plot tables as Arrow IPC streams, the whole output as a zip), beside the analysis in the cache.

Flask-free: a missing result is :class:`ResultGone` (the views answer 404); an unknown plot key or a table the
analysis did not produce are :mod:`webapp.ssr_tables`' own errors.
"""

from __future__ import annotations

import json
import os
import uuid
import zipfile
from typing import Any

from . import ssr_tables
from .job_record import Job

ARROW_TYPE = "application/vnd.apache.arrow.stream"
PREVIEW_MAX_BYTES = 64 << 20  # tables larger than this are served as a preview of their first rows
PREVIEW_ROWS = 200_000
ZIP_NAME = "results.zip"
LABELS = {
    "main/mergedOut.tsv": "SSRs with categories and genome stats",
    "main/ssr_genecombo.tsv": "SSRs in genes",
    "main/mutational_hotspot.csv": "mutational hotspots",
    "main/hssr_data.csv": "hotspot SSRs",
    "main/ref_ssr_genecombo.csv": "SSR-gene rows against the reference",
    "main/flanks/flanked.tsv": "conserved SSRs with flanks",
    "main/flanks/pattern_summary.csv": "flank pattern summary",
    "intrim/genome_stats.tsv": "genome statistics",
    "intrim/reformatted.tsv": "SSRs (PERF calls, reformatted)",
    "intrim/locicons.txt": "conserved SSRs",
    "intrim/ssr_non_gene.tsv": "SSRs outside genes",
    "intrim/genes_non_ssr.tsv": "genes without SSRs",
    "intrim/all_variations.csv": "SSR variation per motif and gene",
}


class ResultGone(Exception):
    """A finished analysis' result is no longer in the cache (cleared under the job)."""


def analysis(job: Job) -> tuple[str, dict[str, Any]]:
    """(the analysis folder, its ssr config) of an SSR job: its workflow key is that folder."""
    return job.workflow_key, job.config["ssr"]


def output_root(job: Job) -> str:
    """The analysis' ``output/`` folder."""
    return os.path.join(job.workflow_key, "output")


def result_files(root: str) -> list[str]:
    """Every finished file under ``root``, relative to it, sorted (temp names left out)."""
    found = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            if not name.endswith(".tmp"):
                found.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)


def listing(job: Job) -> list[dict[str, Any]]:
    """The result files as ``GET /api/job/{id}/files`` lists them: path, size, label and download URL."""
    root = output_root(job)
    return [
        {
            "path": rel,
            "size": os.path.getsize(os.path.join(root, rel)),
            "label": LABELS.get(rel, os.path.basename(rel)),
            "url": f"/api/job/{job.id}/download/{rel}",
        }
        for rel in (result_files(root) if os.path.isdir(root) else [])
    ]


def result_file(job: Job, rel: str) -> str | None:
    """The real path of one result file, or None when it is not a finished file inside the output folder."""
    root = os.path.realpath(output_root(job))
    path = os.path.realpath(os.path.join(root, rel))
    if not path.startswith(root + os.sep) or not os.path.isfile(path) or path.endswith(".tmp"):
        return None
    return path


def plot_table(job: Job, plot_key: str) -> str:
    """The output table behind a plot key for this analysis' inputs (``UnknownPlotKey``, ``TableNotProduced``)."""
    _folder, ssr = analysis(job)
    return ssr_tables.source_table(
        plot_key, bool(ssr.get("categories")), bool(ssr.get("gene_bed")), bool(ssr.get("flanks"))
    )


def arrow_file(job: Job, table: str, max_bytes: int = PREVIEW_MAX_BYTES,
               preview_rows: int = PREVIEW_ROWS) -> tuple[str, dict[str, int]]:
    """The cached Arrow stream of a finished analysis' output table (built on first use) and its facts
    (``total_rows``, ``rows``, ``source_bytes``). A table over ``max_bytes`` is cut to its first
    ``preview_rows`` rows."""
    folder, _ssr = analysis(job)
    source = os.path.join(folder, "output", table)
    if not os.path.isfile(source):
        raise ResultGone(f"{table} of this analysis is no longer in the cache; submit the analysis again")
    limit = preview_rows if os.path.getsize(source) > max_bytes else None
    stem = os.path.join(folder, "arrow", f"{table.replace('/', '__')}.{limit or 'all'}")
    if not (os.path.isfile(stem + ".arrow") and os.path.isfile(stem + ".json")):
        built = ssr_tables.to_arrow(source, table, max_rows=limit)
        os.makedirs(os.path.dirname(stem), exist_ok=True)
        tmp = f"{stem}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(built.data)
        os.replace(tmp, stem + ".arrow")
        facts = {"total_rows": built.total_rows, "rows": built.rows, "source_bytes": built.source_bytes}
        with open(tmp, "w") as handle:
            json.dump(facts, handle)
        os.replace(tmp, stem + ".json")
    with open(stem + ".json") as handle:
        return stem + ".arrow", json.load(handle)


def results_zip(job: Job) -> str:
    """The cached zip of a finished analysis' ``output/`` folder (built on first use), its members under
    ``output/``."""
    root = output_root(job)
    target = os.path.join(os.path.dirname(root), ZIP_NAME)
    if not os.path.isfile(target):
        tmp = f"{target}.{uuid.uuid4().hex}.tmp"
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for rel in result_files(root):
                archive.write(os.path.join(root, rel), os.path.join("output", rel))
        os.replace(tmp, target)
    return target


def log_text(jobs_dir: str, job: Job) -> str:
    """The job's log: Snakemake's output, then each stage's own log, each under a ``==> name <==`` line."""
    folder, _ssr = analysis(job)
    logs = os.path.join(folder, "logs")
    candidates = [os.path.join(jobs_dir, job.id, "snakemake.log")] + sorted(
        os.path.join(logs, name) for name in (os.listdir(logs) if os.path.isdir(logs) else []) if name.endswith(".log")
    )
    parts = []
    for path in candidates:
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                parts.append(f"==> {os.path.basename(path)} <==\n{handle.read()}")
    return "\n".join(parts)
