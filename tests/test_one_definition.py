"""One definition per contract (issue 14): the core (webapp/core) holds each contract once, imports no Flask, and
no copy of a contract reappears elsewhere in the code; the engine and the service refuse the same record with the
same sentence, because they validate it against the same schema."""
from __future__ import annotations

import pkgutil
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, TRACKS, Source, md5sum

import webapp.core
from webapp.core.errors import Invalid
from webapp.core.policy import host_allowed, parse_bool
from webapp.core.ssr_params import PARAMS, parse_options

CORE = REPO / "webapp" / "core"
CORE_MODULES = sorted(f"webapp.core.{module.name}" for module in pkgutil.iter_modules(webapp.core.__path__))

# a copy of a contract, as its text would look; none may appear in code outside webapp/core
COPIES = {
    "the source id's character class": re.compile(r"A-Za-z0-9\._-"),
    "a host policy": re.compile(r"def host_allowed\b"),
    "a boolean parser's words": re.compile(r"""["'](?:true|yes|on)["']\s*,\s*["'](?:1|yes|on)["']"""),
    "the immutable Cache-Control value": re.compile(r"max-age=31536000"),
    "the manifest columns": re.compile(r"""["']id["'],\s*["']access_url["'],\s*["']md5["']"""),
    "the format list": re.compile(r"\bbam,\s*sam,\s*vcf\b|\"bam\",\s*\"sam\",\s*\"vcf\""),
}


def code_files() -> list:
    """The project's code and engine files (the tests, which spell out expected values, are not searched)."""
    found = [REPO / "Snakefile"]
    for folder, patterns in (("webapp", ("*.py", "*.html")), ("rules", ("*.smk", "*.py", "*.sh", "*.awk")),
                             ("config", ("*.yaml", "*.py")), ("bench", ("*.py",))):
        for pattern in patterns:
            found += [path for path in (REPO / folder).rglob(pattern) if "vendor" not in path.parts]
    return found


def test_the_core_imports_no_flask():
    # a fresh interpreter: this test process may have imported Flask for other tests
    code = ("import importlib, sys\n"
            f"for name in {CORE_MODULES!r}:\n"
            "    importlib.import_module(name)\n"
            "import webapp.layout, webapp.ssr_layout\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug')))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert len(CORE_MODULES) >= 6, CORE_MODULES
    assert result.stdout.strip() == "[]", result.stdout


def test_the_fetch_rule_imports_only_the_standard_library_part_of_the_core():
    code = ("import sys\nsys.argv = ['fetch_source.py', '--help']\n"
            "sys.path.insert(0, 'rules/scripts')\nimport fetch_source\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'flask')))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_no_copy_of_a_contract_outside_the_core():
    files = code_files()
    assert any(path.name == "common.smk" for path in files) and any(path.name == "ui.py" for path in files)
    copies = []
    for path in files:
        if CORE in path.parents:
            continue
        text = path.read_text(errors="replace")
        relative = str(path.relative_to(REPO))
        copies += [f"{relative}: {what}" for what, pattern in COPIES.items() if pattern.search(text)]
    assert not copies, "define these once, in webapp/core, and import them:\n" + "\n".join(copies)


def test_the_searched_patterns_find_the_core_definitions():
    """The patterns are not vacuous: each finds the core's own definition."""
    text = "\n".join(path.read_text() for path in CORE.glob("*.py"))
    missing = [what for what, pattern in COPIES.items() if what != "the format list" and not pattern.search(text)]
    assert not missing


@pytest.mark.parametrize("url, allowed, expected", [
    ("https://Data.Example.ORG/x.bam", ["data.example.org"], True),
    ("https://data.example.org/x.bam", ["DATA.Example.org"], True),
    ("https://data.example.org:8443/x.bam", ["Data.Example.Org:8443"], True),
    ("https://data.example.org:8443/x.bam", ["data.example.org:9000"], False),
    ("https://data.example.org:99999/x.bam", ["data.example.org"], False),  # unparsable port
    ("https://other.example.org/x.bam", ["data.example.org"], False),
    ("file:///x.bam", ["data.example.org"], False),
])
def test_host_names_compare_without_case(url, allowed, expected):
    assert host_allowed(url, allowed) is expected


def test_one_boolean_parser_for_every_flag():
    for word in ("true", "TRUE", "1", "yes", "on", " On "):
        assert parse_bool(word, "x") is True
    for word in (None, "", "false", "0", "no", "off", "OFF"):
        assert parse_bool(word, "x") is False
    with pytest.raises(Invalid, match="raw must be true or false"):
        parse_bool("maybe", "raw")


def test_the_ssr_form_options_are_read_with_the_core_parsers():
    options = parse_options({"perf_params": '{"mono": 5}', "flanks": "on", "reference_id": " genome_1 "})
    assert (options.reference_id, options.flanks) == ("genome_1", True)
    assert options.perf_params["mono"] == 5 and options.perf_params["di"] == 6  # docs/ssr.md: di defaults to 6
    assert parse_options({}).flanks is False and parse_options({}).reference_id is None
    with pytest.raises(Invalid, match="flanks must be true or false"):
        parse_options({"flanks": "sometimes"})
    with pytest.raises(Invalid, match="perf_params.mono = 1 is out of range"):
        parse_options({"perf_params": '{"mono": 1}'})


def test_the_ssr_config_schema_states_the_core_parameters():
    """config/ssr.schema.yaml documents perf_params for plain `snakemake`: its bounds and defaults are the
    core's (webapp/core/ssr_params.py)."""
    schema = yaml.safe_load((REPO / "config" / "ssr.schema.yaml").read_text())
    properties = schema["properties"]["perf_params"]["properties"]
    assert list(properties) == list(PARAMS)
    for name, (default, low, high) in PARAMS.items():
        assert (properties[name]["default"], properties[name]["minimum"], properties[name].get("maximum")) == \
            (default, low, high), name


@pytest.mark.parametrize("fields, reason", [
    ({"format": "sam", "reference": "ref"}, "format sam takes no reference"),
    ({"format": "csv", "index_url_of": "x.bam.bai"}, "format csv has no index"),
    ({"format": "vcf", "index_url_of": "x.bam.txt"}, "index_url must name a .bai, .tbi or .csi file"),
    ({"id": ".."}, "id must be 1 to 128"),
    ({"access": "secret"}, "access must be one of: public, restricted"),
    ({"md5": "not-an-md5"}, "md5 is required: 32 hexadecimal digits"),
])
def test_the_engine_and_the_service_refuse_a_record_with_the_same_sentence(service, engine, fields, reason):
    folder = service.base / "sources"  # a source root of the service
    path = folder / "x.bam"
    shutil.copy(TRACKS / "pybedtools_x.bam", path)
    for name in ("x.bam.bai", "x.bam.txt"):  # index_url names an existing file: its name is what is refused
        (folder / name).write_bytes(b"")
    row = {"id": "x", "access_url": str(path), "md5": md5sum(path), **fields}
    if "index_url_of" in row:
        row["index_url"] = str(folder / row.pop("index_url_of"))
    answered = service.http.post(service.url("/files"), json=row, headers=service.auth(), timeout=60)
    assert answered.status_code == 422, answered.text
    detail = answered.json()["detail"]
    assert reason in detail
    reference = Source.local(TRACKS / "pybedtools_x.bam", id="ref", format="bam")
    result = engine.run([Source(**row), reference], extra_args=["-n"])
    assert result.returncode != 0
    assert detail in result.stdout + result.stderr, (detail, result.stderr[-2000:])
