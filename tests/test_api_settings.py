"""Settings: every TRACKPREP_* variable the code reads is documented in README with the default the code uses,
and docs/api.md's settings table says the same."""
from __future__ import annotations

import re

from conftest import REPO

from webapp import settings

ENV_READ = re.compile(r'(?:environ\.get\(|environ\[|env\.get\(|\(env, )"(TRACKPREP_[A-Z_]+)"')
README_ROW = re.compile(r"^\| `(TRACKPREP_[A-Z_]+)` \| (.+?) \| (.+?) \|$", re.M)


def readme_settings() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## The service"):]
    return {name: default.strip() for name, _meaning, default in README_ROW.findall(section)}


def test_readme_documents_every_setting_with_its_default():
    documented = readme_settings()
    assert set(documented) == set(settings.SETTINGS)
    for name, default in settings.SETTINGS.items():
        assert documented[name].replace("`", "") == default.replace("`", ""), name


def test_every_variable_the_code_reads_is_a_documented_setting():
    readme = (REPO / "README.md").read_text()
    used = {name for path in (REPO / "webapp").rglob("*.py") for name in ENV_READ.findall(path.read_text())}
    undocumented = sorted(name for name in used if f"`{name}`" not in readme)
    assert not undocumented
    assert set(settings.SETTINGS) <= used  # and no documented setting is dead


def test_api_md_documents_every_setting_with_its_default():
    api = (REPO / "docs" / "api.md").read_text()
    documented = {name: default.strip() for name, _meaning, default in README_ROW.findall(api)}
    assert set(documented) == set(settings.SETTINGS)
    for name, default in settings.SETTINGS.items():
        assert documented[name].replace("`", "") == default.replace("`", ""), name


def test_the_documented_defaults_are_the_ones_loaded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loaded = settings.load({})
    assert loaded.data_dir == str(tmp_path / "trackprep-data")
    assert loaded.cache_dir == str(tmp_path / "trackprep-data" / "cache")
    assert loaded.workflow_dir == str(REPO)
    assert loaded.source_roots == () and loaded.allowed_hosts == ()
    assert loaded.max_concurrent_jobs == 2 and loaded.job_timeout == 3600 and loaded.snakemake_cores == 2
    assert loaded.snakemake_profile is None and loaded.api_token is None
    assert loaded.max_upload_bytes == 2 * 1024**3
    assert loaded.drs_scheme == "https" and loaded.cancel_grace == 10 and loaded.poll_interval == 0.5
    assert loaded.samples_dir == str(REPO / "webapp" / "samples")  # the samples shipped in the package
    assert settings.load({"TRACKPREP_SAMPLES": "none"}).samples_dir is None


def test_lists_are_split_as_documented():
    loaded = settings.load({"TRACKPREP_SOURCE_ROOTS": "/a:/b",
                            "TRACKPREP_ALLOWED_HOSTS": "x.org, Y.org:8080"})
    assert loaded.source_roots == ("/a", "/b")
    assert loaded.allowed_hosts == ("x.org", "y.org:8080")
