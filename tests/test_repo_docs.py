"""The repository stands alone: docs/ describes the routes the app serves, every link in README and docs/
resolves inside the repository, nothing but the test suite's larger data set refers to ../shared, and the
packaged samples are what their manifest and licence file say."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys

import pysam
import pytest

from conftest import REPO

from webapp import layout

DOCS = ("README.md", "docs/architecture.md", "docs/api.md", "docs/ssr.md", "docs/scaling.md")
SAMPLES = REPO / "webapp" / "samples"


def test_every_route_the_app_serves_is_in_docs_api_md(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKPREP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRACKPREP_SAMPLES", "none")
    from webapp.app import create_app
    app = create_app()
    api = (REPO / "docs" / "api.md").read_text()
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", "{}", rule.rule)
        documented = {re.sub(r"\{[a-z_]+\}", "{}", p) for p in re.findall(r"`(?:[A-Z|]+ )?(/[^`? ]*)", api)}
        if path not in documented and path.rstrip("/") not in documented:
            missing.append(rule.rule)
    assert not missing, f"routes not documented in docs/api.md: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_relative_links_resolve_inside_the_repository(doc):
    path = REPO / doc
    for target in re.findall(r"\]\(([^)#]+)\)", path.read_text()):
        if "://" in target:
            continue
        resolved = (path.parent / target).resolve()
        assert resolved.exists(), f"{doc} links to missing {target}"
        assert REPO.resolve() in resolved.parents, f"{doc} links outside the repository: {target}"


def test_nothing_but_the_test_data_refers_to_the_shared_folder():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    offenders = []
    for name in tracked.split():
        if name in ("tests/conftest.py", "tests/test_repo_docs.py") or name.startswith("webapp/samples/"):
            continue
        try:
            text = (REPO / name).read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for pattern in ("../shared", "shared/API.md", "shared/ARCHITECTURE.md", "shared/SSR.md"):
            if pattern in text:
                offenders.append(f"{name}: {pattern}")
    assert offenders == []


def test_the_ssr_example_config_analyses_the_packaged_sample_as_listed():
    import yaml

    section = yaml.safe_load((REPO / "config" / "ssr.yaml").read_text())["ssr"]
    listed = {row["file"]: row for row in json.loads((SAMPLES / "MANIFEST.json").read_text())["ssr"]}
    for role in ("fasta", "categories", "gene_bed"):
        path = REPO / section[role]
        assert SAMPLES in path.parents, (role, section[role])
        row = listed[str(path.relative_to(SAMPLES))]
        data = path.read_bytes()
        assert hashlib.md5(data).hexdigest() == row["md5"] and len(data) == row["bytes"]
        assert f"| {row['file']} |" in (SAMPLES / "LICENSES.md").read_text() and row["license"] == "MIT"


def test_the_sample_manifest_lists_exactly_the_shipped_files_with_their_md5_size_and_licence():
    manifest = json.loads((SAMPLES / "MANIFEST.json").read_text())["samples"]
    shipped = {p.name for p in SAMPLES.iterdir() if layout.infer_format(p.name)}
    assert {row["id"] for row in manifest} == shipped
    licences = (SAMPLES / "LICENSES.md").read_text()
    total = 0
    for row in manifest:
        data = (SAMPLES / row["id"]).read_bytes()
        assert hashlib.md5(data).hexdigest() == row["md5"] and len(data) == row["bytes"]
        assert layout.infer_format(row["id"]) == row["format"]
        assert f"| {row['id']} |" in licences and row["license"] == "MIT"
        total += len(data)
    assert total < 5 * 1024**2


# record counts the origins state: htslib's ce#1000.sam holds 1000 reads, the data set's README gives 45,593
# reads for pybedtools' x.bam and 621 records for htslib's index.vcf
@pytest.mark.parametrize("name,records", [("htslib_ce1000.sam", 1000), ("pybedtools_x.bam", 45593),
                                          ("htslib_index.vcf", 621)])
def test_each_alignment_and_variant_sample_reads_whole_in_pysam(name, records):
    path = str(SAMPLES / name)
    if name.endswith(".vcf"):
        with pysam.VariantFile(path) as vcf:
            assert sum(1 for _ in vcf) == records
    else:
        with pysam.AlignmentFile(path, check_sq=False) as aln:
            assert sum(1 for _ in aln.fetch(until_eof=True)) == records


def test_python_m_webapp_is_the_cli():
    out = subprocess.run([sys.executable, "-m", "webapp", "--help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and "serve" in out.stdout
