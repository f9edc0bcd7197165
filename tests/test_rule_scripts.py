"""The rule scripts that run as ``python3 -S`` (no site-packages, for a faster start) import with the standard
library and this repository only: a third-party import there would fail every run of its rule."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO

RULE = re.compile(r"(?m)^(?=(?:rule|checkpoint) )")


def site_free_scripts() -> list[str]:
    """The scripts a rule runs as ``python3 -S {params.NAME:q}``, found through the rule's own params."""
    found = set()
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in RULE.split(smk.read_text()):
            params = dict(re.findall(r'(\w+)=script\("([\w.]+)"\)', block))
            for name in re.findall(r"python3 -S \{params\.(\w+):q\}", block):
                found.add(params[name])
    return sorted(found)


def test_the_rules_run_site_free_scripts():
    scripts = site_free_scripts()
    assert {"fetch_source.py", "check_index.py", "ssr_hotspots.py"} <= set(scripts), scripts


@pytest.mark.parametrize("name", site_free_scripts())
def test_a_site_free_script_imports_without_site_packages(name):
    # as plain snakemake runs it from a checkout: no PYTHONPATH, the script finds this package itself
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    module = name.removesuffix(".py")
    code = f"import sys; sys.path.insert(0, {str(REPO / 'rules' / 'scripts')!r}); import {module}"
    result = subprocess.run([sys.executable, "-S", "-c", code], env=env, cwd="/", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # and the check has teeth: the same import of a third-party module fails without site-packages
    refused = subprocess.run([sys.executable, "-S", "-c", "import yaml"], env=env, capture_output=True)
    assert refused.returncode != 0
