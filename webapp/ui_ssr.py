"""Blueprint: the web UI's SSR pages: the submission form (``/ui/ssr/new``) and an analysis' live progress and
results (``/ui/ssr/{job_id}``).

The form posts to the API's own ``POST /analyze_ssr/`` from the browser (``static/ssr_form.js``); its parameters,
defaults, bounds and meanings come from :data:`webapp.ssr_layout.PARAMS` and
:data:`webapp.ssr_layout.PARAM_MEANINGS`, its limits from the settings. The result page follows the job with the
long poll every page uses, then draws the plots from the ``plot_data`` Arrow endpoints (``static/ssr_result.js``);
which plot keys exist for an analysis is decided here by :func:`webapp.ssr_tables.source_table`, as the API
decides it.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, url_for

from . import jobs, metrics, ssr_layout, ssr_tables
from .db import get_db
from .job_record import TERMINAL
from .ssr_results import LABELS

bp = Blueprint("ui_ssr", __name__)

# The plots of a result page, in page order: (id, title, plot key, what it shows). Each draws from its plot key's
# Arrow table; a plot whose table the analysis did not produce is left out (and says why on the page).
PLOTS: tuple[tuple[str, str, str, str], ...] = (
    ("motif", "Motif distribution", "motif_distribution", "SSRs per motif (the 20 most frequent)"),
    ("repeat", "Repeat distribution", "repeat_distribution", "SSRs per number of repeat units, by motif size"),
    ("gc", "GC distribution", "ssr_gc", "SSRs per motif GC content"),
    ("conservation", "Conservation across genomes", "ssr_conservation",
     "distinct SSRs (motif and repeat count) by the number of genomes carrying them"),
    ("upset", "Overlap between categories", "upset",
     "distinct SSRs by the exact set of categories they occur in (largest sets first)"),
    ("sankey", "Category flow", "category_sankey", "SSRs from category to the dynamic column (e.g. country)"),
    ("genes", "SSR–gene intersections", "ssr_gene_intersect",
     "SSR–gene rows by where the SSR sits: inside the gene, or crossing its start or stop"),
    ("hotspot", "Mutational hotspots", "hotspot",
     "one bar per hotspot (gene and motif): distinct repeat counts and genomes"),
    ("hssr", "Hotspot SSRs (hSSR)", "gene_motif_dot_plot", "hotspot SSR rows per gene and motif"),
)
# The tables of a result page: (id, title, plot key). Paged in the browser from the same Arrow streams.
TABLES: tuple[tuple[str, str, str], ...] = (
    ("hotspot", "Mutational hotspots", "hotspot"),
    ("hssr", "Hotspot SSRs", "hssr_data"),
    ("genes", "SSRs in genes", "ssr_gene_intersect"),
    ("ssrs", "SSRs", "plot_source"),
    ("patterns", "Flank pattern summary", "pattern_summary"),
)


def _settings():
    return current_app.config["TRACKPREP_SETTINGS"]


def _not_found(message: str) -> tuple[str, int]:
    return render_template("not_found.html", message=message), 404


@bp.get("/ui/ssr/new")
def new():
    """The SSR submission form: inputs, every parameter with its default, bounds and meaning, the limits."""
    settings = _settings()
    params = [{"name": name, "default": default, "min": low, "max": high,
               "meaning": ssr_layout.PARAM_MEANINGS[name]}
              for name, (default, low, high) in ssr_layout.PARAMS.items()]
    limits = {"max_upload_bytes": settings.max_upload_bytes,
              "max_upload": metrics.human_bytes(settings.max_upload_bytes),
              "upload_quota": metrics.human_bytes(settings.upload_quota_bytes),
              "max_queued_jobs": settings.max_queued_jobs}
    return render_template("ssr_new.html", params=params, limits=limits)


def available(ssr: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """For an analysis' config: {plot key: source table} of the keys it can serve, and {plot key: why not} of
    the others (the API's own decision, :func:`webapp.ssr_tables.source_table`)."""
    served, missing = {}, {}
    keys = {key for _id, _title, key, _text in PLOTS} | {key for _id, _title, key in TABLES}
    for key in sorted(keys):
        try:
            served[key] = ssr_tables.source_table(key, bool(ssr.get("categories")), bool(ssr.get("gene_bed")),
                                                  bool(ssr.get("flanks")))
        except ssr_tables.TableNotProduced as error:
            missing[key] = str(error)
    return served, missing


@bp.get("/ui/ssr/<job_id>")
def result(job_id: str):
    """An SSR analysis: live progress (queue position, stage n of m, current rule), then its plots, paged
    tables and downloads without a reload; a failed one shows its failing stage and log tail."""
    job = jobs.get(get_db(), job_id) if len(job_id) <= 64 else None
    if job is None or job.kind != "ssr":
        return _not_found(f"no SSR analysis job with id {job_id!r}")
    view = jobs.public_view(get_db(), job, _settings().cache_dir)
    ssr = job.config["ssr"]
    served, missing = available(ssr)
    plots = [{"id": pid, "title": title, "key": key, "text": text, "table": served.get(key),
              "missing": missing.get(key)} for pid, title, key, text in PLOTS]
    tables = [{"id": tid, "title": title, "key": key, "table": served[key], "label": LABELS.get(served[key], "")}
              for tid, title, key in TABLES if key in served]
    inputs = {"categories": bool(ssr.get("categories")), "gene_bed": bool(ssr.get("gene_bed")),
              "flanks": bool(ssr.get("flanks")), "reference_id": ssr.get("reference_id") or None}
    return render_template("ssr_result.html", job=view, plots=plots, tables=tables, inputs=inputs,
                           params=ssr.get("perf_params", {}), terminal=TERMINAL,
                           api={"status": url_for("jobs.get_job", job_id=job_id),
                                "base": f"/api/job/{job_id}/"})


def _html(description: str) -> dict:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _openapi_paths() -> dict[str, Any]:
    """The SSR pages in the OpenAPI document (pages, not API, but every route is described)."""
    job = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/ui/ssr/new": {"get": {"summary": "Web UI: the SSR analysis submission form", "tags": ["ui"],
                                "responses": {"200": _html("the page")}}},
        "/ui/ssr/{job_id}": {"get": {
            "summary": "Web UI: an SSR analysis' live progress, then its plots, tables and downloads",
            "tags": ["ui"], "parameters": [job],
            "responses": {"200": _html("the page"), "404": _html("no such SSR analysis")}}},
    }


def init_app(app) -> None:
    """Register the SSR pages' blueprint and their OpenAPI paths (called by the app factory)."""
    app.register_blueprint(bp)
    app.extensions.setdefault("trackprep.openapi_paths", {}).update(_openapi_paths())
