"""A setting that cannot work stops `trackprep serve`, `trackprep worker` and the gunicorn app at start-up with
one line naming the variable, its value and the problem (exit status 2), instead of failing every request or
every job later."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, free_port


def _bad_settings(tmp_path: Path) -> dict[str, tuple[dict[str, str], str]]:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    return {
        "workflow": ({"TRACKPREP_WORKFLOW_DIR": str(tmp_path / "nowhere")}, "no Snakefile"),
        "profile": ({"TRACKPREP_SNAKEMAKE_PROFILE": "config/profiles/slrum"}, "no config.yaml"),
        "data dir": ({"TRACKPREP_DATA_DIR": str(a_file / "data")}, "cannot create or write"),
        "cache dir": ({"TRACKPREP_CACHE_DIR": str(a_file / "cache")}, "cannot create or write"),
        "source root": ({"TRACKPREP_SOURCE_ROOTS": str(tmp_path / "missing-root")}, "is not a folder"),
    }


def _env(tmp_path: Path, bad: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRACKPREP_")}
    env.update(TRACKPREP_DATA_DIR=str(tmp_path / "data"), TRACKPREP_SAMPLES="none",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    env.update(bad)
    return env


COMMANDS = {
    "serve": lambda port: [sys.executable, "-m", "webapp.cli", "serve", "--port", str(port)],
    "worker": lambda port: [sys.executable, "-m", "webapp.cli", "worker"],
    "gunicorn": lambda port: [sys.executable, "-m", "gunicorn", "-c", str(REPO / "config" / "gunicorn.conf.py"),
                              "--bind", f"127.0.0.1:{port}", "webapp.app:create_app()"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", ["workflow", "profile", "data dir", "cache dir", "source root"])
def test_an_unusable_setting_stops_start_up_with_one_line_naming_it(tmp_path, command, case):
    bad, problem = _bad_settings(tmp_path)[case]
    ((name, value),) = bad.items()
    result = subprocess.run(COMMANDS[command](free_port()), env=_env(tmp_path, bad), cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, (result.stdout[-2000:], result.stderr[-2000:])
    ours = [line for line in result.stderr.splitlines() if line.startswith("trackprep: ")]
    assert len(ours) == 1, result.stderr
    assert name in ours[0] and problem in ours[0], ours[0]
    assert value in ours[0] or case == "profile" and "slrum" in ours[0], ours[0]
    assert "Traceback" not in result.stderr


def test_good_settings_still_start(service):
    assert service.get("/health").status_code == 200
