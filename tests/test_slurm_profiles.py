"""The SLURM profiles, checked without a cluster (default suite): every key is commented, every rule they name
exists, the single-node profile departs from the site profile only where it says so, and Snakemake accepts the
site profile (a dry run builds the DAG with its resources, threads and groups)."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, track_sources, write_manifest

PROFILES = REPO / "config" / "profiles"
SITE = PROFILES / "slurm" / "config.yaml"
NODE = PROFILES / "slurm-single-node" / "config.yaml"
# keys the single-node profile changes, each marked NODE in its comment
NODE_KEYS = {"jobs", "latency-wait", "retries", "default-resources", "set-threads", "slurm-status-command",
             "slurm-init-seconds-before-status-checks"}


def rules_of_workflow() -> set[str]:
    return {m.group(1) for path in (REPO / "rules").glob("*.smk")
            for m in re.finditer(r"^(?:rule|checkpoint) (\w+):", path.read_text(), re.MULTILINE)}


@pytest.mark.parametrize("path", [SITE, NODE], ids=["site", "single-node"])
def test_every_key_is_commented(path):
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if re.match(r"^\s*[\w-]+:", line):
            assert "#" in line, f"{path}:{number}: a key without a comment: {line!r}"


@pytest.mark.parametrize("path", [SITE, NODE], ids=["site", "single-node"])
def test_the_rules_a_profile_names_exist(path):
    profile = yaml.safe_load(path.read_text())
    named = set(profile["set-threads"]) | set(profile["set-resources"])
    assert named <= rules_of_workflow(), named - rules_of_workflow()


def test_the_site_profile_marks_what_a_site_changes():
    site_lines = [line for line in SITE.read_text().splitlines() if "SITE" in line.split("#", 1)[-1]]
    assert {line.split(":")[0].strip() for line in site_lines if not line.lstrip().startswith("#")} \
        == {"slurm_partition", "slurm_account"}
    profile = yaml.safe_load(SITE.read_text())
    assert profile["executor"] == "slurm" and profile["rerun-incomplete"] is True


def test_the_single_node_profile_departs_from_the_site_only_where_marked():
    site, node = yaml.safe_load(SITE.read_text()), yaml.safe_load(NODE.read_text())
    assert site.keys() - {"software-deployment-method"} == node.keys()
    differing = {key for key in node if node[key] != site[key]}
    assert differing == NODE_KEYS
    marked = {line.split(":")[0] for line in NODE.read_text().splitlines()
              if re.match(r"^[a-z][\w-]*:", line) and "NODE" in line.split("#", 1)[-1]}
    assert marked == NODE_KEYS
    # no accounting on such a node: no account to pass, and squeue (not sacct) answers status queries
    assert "slurm_account" not in node["default-resources"] and node["slurm-status-command"] == "squeue"
    # the plugin falls back to sacct when MinJobAge < 3 x the init seconds; the default MinJobAge is 300 s
    assert 3 * node["slurm-init-seconds-before-status-checks"] <= 300


@pytest.mark.parametrize("path", [SITE, NODE], ids=["site", "single-node"])
def test_snakemake_accepts_the_profile_in_a_dry_run(path, tmp_path):
    manifest = write_manifest(tmp_path / "sources.tsv", track_sources())
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--profile", str(path.parent),
         "-n", "--nolock", "--config", f"cache_dir={tmp_path / 'cache'}", f"manifest={manifest}",
         f"source_roots=['{REPO.parent / 'shared'}']"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "This was a dry-run" in result.stdout + result.stderr
