"""Docs stay in step with the code: the README's two commands, the rules it names, and the conda pins that
must match the tools the tests run with."""
from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from conftest import REPO

RUN_COMMAND = "bash .ci/setup && trackprep serve"
TEST_COMMAND = "bash .ci/setup && python3 -m pytest"


def readme() -> str:
    return (REPO / "README.md").read_text()


def test_readme_holds_the_run_and_test_commands_and_ci_calls_the_test_command():
    text = readme()
    assert f"\n{RUN_COMMAND}\n" in text
    assert f"\n{TEST_COMMAND}\n" in text
    ci = (REPO / ".ci" / "run").read_text()
    assert TEST_COMMAND in ci


def test_every_rule_is_named_in_the_readme():
    rules = {name for path in (REPO / "rules").glob("*.smk")
             for name in re.findall(r"^(?:rule|checkpoint) (\w+):", path.read_text(), flags=re.M)}
    assert {"fetch_source", "samtools_sort", "samtools_index", "sort_bgzip", "tabix_index"} <= rules
    missing = sorted(rule for rule in rules if f"`{rule}`" not in readme())
    assert not missing, f"rules not documented in README.md: {missing}"


def tool_version(cmd: list[str], pattern: str) -> str:
    output = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    match = re.search(pattern, output.stdout + output.stderr)
    assert match, f"cannot read the version of {cmd[0]}"
    return match.group(1)


TOOLS = {
    "samtools": (["samtools", "--version"], r"samtools (\d+\.\d+(?:\.\d+)?)"),
    "htslib": (["tabix", "--version"], r"tabix \(htslib\) (\d+\.\d+(?:\.\d+)?)"),
    "bcftools": (["bcftools", "--version"], r"bcftools (\d+\.\d+(?:\.\d+)?)"),
    "gffread": (["gffread", "--version"], r"(\d+\.\d+\.\d+)"),
    "bedtools": (["bedtools", "--version"], r"bedtools v(\d+\.\d+\.\d+)"),
}


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_conda_pins_match_the_tools_the_tests_run_with(tool):
    cmd, pattern = TOOLS[tool]
    installed = tool_version(cmd, pattern)
    pins = set()
    for env in (REPO / "envs").glob("*.yaml"):
        for dep in yaml.safe_load(env.read_text())["dependencies"]:
            if isinstance(dep, str) and re.match(rf"^{tool}\s*=", dep):
                pins.add(dep.split("=")[-1].strip())
    assert pins, f"no env pins {tool}"
    assert pins == {installed}, f"{tool}: envs pin {pins}, tests run with {installed}"


def test_every_rule_declares_threads_resources_log_and_conda():
    for path in (REPO / "rules").glob("*.smk"):
        blocks = re.split(r"^(?=(?:rule|checkpoint) \w+:)", path.read_text(), flags=re.M)
        for block in blocks:
            if not block.startswith(("rule ", "checkpoint ")):
                continue
            name = block.split(":")[0]
            for directive in ("threads:", "resources:", "log:", "conda:"):
                assert f"    {directive}" in block, f"{path.name} {name} lacks {directive}"
