"""`.ci/setup` leaves `trackprep` and `snakemake` runnable from the shell that ran it, or says what to run.

Run in a fresh non-login shell with an empty environment and a fresh venv (system site packages, so nothing is
downloaded but the build backend): the machine's own install is left alone.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys

from conftest import REPO


NETWORK_VARIABLES = ("NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "PIP_CERT",
                     "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy",
                     "https_proxy", "no_proxy")


def network_settings() -> list[str]:
    """The machine's certificate, index and proxy settings (not the user's shell): a fresh shell on this
    machine has them too. npm's per-user config moves with HOME, so it is named explicitly."""
    kept = [f"{name}={os.environ[name]}" for name in NETWORK_VARIABLES if name in os.environ]
    kept += [f"{name}={value}" for name, value in os.environ.items() if name.lower().startswith("npm_config_")]
    npmrc = os.path.expanduser("~/.npmrc")
    if os.path.isfile(npmrc) and not any(item.lower().startswith("npm_config_userconfig=") for item in kept):
        kept.append(f"NPM_CONFIG_USERCONFIG={npmrc}")
    return kept


def test_setup_in_a_fresh_shell_leaves_trackprep_and_snakemake_runnable(tmp_path):
    """Whether setup installs into the venv or finds the machine's install (as on a CI machine that ran setup
    before), each command runs in that shell as it is, or after the one `export` setup printed for it."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    path = f"{venv}/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
    shell = ["env", "-i", f"HOME={tmp_path}", *network_settings(), "bash", "--noprofile", "--norc", "-c"]
    result = subprocess.run([*shell, f"export PATH={path}; bash .ci/setup"], cwd=REPO, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    for command, check in (("trackprep", "trackprep --help >/dev/null && echo ok"),
                           ("snakemake", "snakemake --version")):
        told = re.search(rf"setup: '{command}' is installed in \S+, which is not on PATH; run: (export PATH=\S+)",
                         result.stderr)
        follow = (told.group(1) if told else f"export PATH={path}") + f"; {check}"
        ran = subprocess.run([*shell, f"export PATH={path}; {follow}"], capture_output=True, text=True,
                             timeout=120)
        assert ran.returncode == 0, (command, result.stderr, ran.stderr)
        assert ran.stdout.startswith("ok" if command == "trackprep" else "9."), (command, ran.stdout)


    # the pinned JavaScript readers are installed as tests/js/package-lock.json says (node and npm are on every
    # machine the suite runs on), and a second run installs nothing: no Debian package, no pip, no `npm ci`
    lock = hashlib.sha256((REPO / "tests" / "js" / "package-lock.json").read_bytes()).hexdigest()
    assert (REPO / "tests" / "js" / "node_modules" / ".trackprep-lock.sha256").read_text().strip() == lock
    again = subprocess.run([*shell, f"export PATH={path}; bash .ci/setup"], cwd=REPO, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "setup: installing" not in again.stderr, again.stderr
