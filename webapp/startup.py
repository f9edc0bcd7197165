"""Start-up checks: a setting that cannot work stops `serve`, `worker` and the gunicorn app before they start,
with one line naming the variable, its value and the problem, instead of a 500 on every request or a failure
in every job later.
"""
from __future__ import annotations

import os
import sys
import tempfile

from .settings import Settings, SettingsError, load


def profile_dir(settings: Settings) -> str | None:
    """The Snakemake profile folder the dispatcher passes to `--profile` (relative to the workflow folder)."""
    profile = settings.snakemake_profile
    if not profile:
        return None
    return profile if os.path.isabs(profile) else os.path.join(settings.workflow_dir, profile)


def _writable_dir(name: str, path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as err:
        raise SettingsError(f"{name}={path}: cannot create or write there ({err.strerror or err})") from None


def check(settings: Settings) -> None:
    """Raise SettingsError naming the first setting the service cannot work with."""
    snakefile = os.path.join(settings.workflow_dir, "Snakefile")
    if not os.path.isfile(snakefile):
        raise SettingsError(f"TRACKPREP_WORKFLOW_DIR={settings.workflow_dir}: no Snakefile there "
                            "(point it at the trackprep checkout or unset it)")
    profile = profile_dir(settings)
    if profile is not None and not os.path.isfile(os.path.join(profile, "config.yaml")):
        raise SettingsError(f"TRACKPREP_SNAKEMAKE_PROFILE={settings.snakemake_profile}: no config.yaml in {profile} "
                            f"(profiles shipped: {', '.join(_shipped_profiles(settings))})")
    _writable_dir("TRACKPREP_DATA_DIR", settings.data_dir)
    _writable_dir("TRACKPREP_CACHE_DIR", settings.cache_dir)
    for root in settings.source_roots:
        if not os.path.isdir(root):
            raise SettingsError(f"TRACKPREP_SOURCE_ROOTS: {root} is not a folder")


def _shipped_profiles(settings: Settings) -> list[str]:
    folder = os.path.join(settings.workflow_dir, "config", "profiles")
    try:
        return sorted(f"config/profiles/{name}" for name in os.listdir(folder))
    except OSError:
        return []


def exit_unless_usable() -> None:
    """Load the settings and :func:`check` them; on a problem, print the one line on stderr and exit with 2
    (gunicorn's start-up hook: its workers would otherwise fail to boot one after another, with tracebacks)."""
    try:
        check(load())
    except SettingsError as err:
        print(f"trackprep: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
