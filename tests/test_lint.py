"""Every Python file of the project passes the one linter configuration (pyproject.toml, [tool.ruff])."""
from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_every_python_file_passes_ruff():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "All checks passed" in result.stdout, result.stdout
