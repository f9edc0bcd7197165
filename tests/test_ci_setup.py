"""`.ci/setup` leaves `trackprep` and `snakemake` runnable from the shell that ran it, or says what to run.

Run in a fresh non-login shell with an empty environment and a fresh venv (system site packages, so nothing is
downloaded but the build backend): the machine's own install is left alone.
"""
from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO


def test_setup_in_a_fresh_shell_leaves_trackprep_and_snakemake_runnable(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    path = f"{venv}/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
    script = f"export PATH={path}; bash .ci/setup && command -v trackprep && trackprep --help >/dev/null"
    shell = ["env", "-i", f"HOME={tmp_path}", "bash", "--noprofile", "--norc", "-c"]
    result = subprocess.run([*shell, script], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{venv}/bin/trackprep"
    # snakemake comes from the system site packages: on PATH already, or setup printed the export to run
    told = re.search(r"setup: 'snakemake' is installed in \S+, which is not on PATH; run: (export PATH=\S+)",
                     result.stderr)
    follow = (told.group(1) if told else f"export PATH={path}") + "; snakemake --version"
    version = subprocess.run([*shell, f"export PATH={path}; {follow}"], capture_output=True, text=True,
                             timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("9."), version.stderr
