"""The service's settings: ``TRACKPREP_*`` environment variables, each with its documented default.

:data:`SETTINGS` is the single list of variables; README.md documents each one (``tests/test_api_settings.py``
fails when code and README disagree). :func:`load` reads them once into an immutable :class:`Settings`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

from .core.errors import Invalid
from .core.policy import parse_bool
from .workflow_files import default_workflow_dir

# the small licensed sample set shipped inside the package (webapp/samples/, see its LICENSES.md)
SAMPLES_DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "samples")

# variable -> the default as README states it
SETTINGS: dict[str, str] = {
    "TRACKPREP_DATA_DIR": "./trackprep-data",
    "TRACKPREP_CACHE_DIR": "$TRACKPREP_DATA_DIR/cache",
    "TRACKPREP_WORKFLOW_DIR": "the checkout, or the installed copy (`<prefix>/share/trackprep`)",
    "TRACKPREP_SOURCE_ROOTS": "none (local paths refused)",
    "TRACKPREP_ALLOWED_HOSTS": "none (remote sources refused)",
    "TRACKPREP_MAX_CONCURRENT_JOBS": "2",
    "TRACKPREP_JOB_TIMEOUT": "3600",
    "TRACKPREP_SNAKEMAKE_CORES": "2",
    "TRACKPREP_SNAKEMAKE_PROFILE": "none (local)",
    "TRACKPREP_MAX_UPLOAD_BYTES": "2 GiB",
    "TRACKPREP_API_TOKEN": "none (protected calls refused)",
    "TRACKPREP_SAMPLES": "the samples shipped in the package (`webapp/samples/`)",
    "TRACKPREP_DRS_SCHEME": "https",
    "TRACKPREP_CANCEL_GRACE": "10",
    "TRACKPREP_POLL_INTERVAL": "0.5",
    "TRACKPREP_HEARTBEAT_TIMEOUT": "30",
    "TRACKPREP_MAX_QUEUED_JOBS": "1000",
    "TRACKPREP_UPLOAD_QUOTA_BYTES": "20 GiB",
    "TRACKPREP_CACHE_MAX_BYTES": "none (no limit)",
    "TRACKPREP_CACHE_LOW_WATER": "0.9",
    "TRACKPREP_RESULT_TTL_DAYS": "none (kept)",
    "TRACKPREP_GC_INTERVAL": "300",
    "TRACKPREP_SERVED_FLUSH_INTERVAL": "10",
    "TRACKPREP_WARM_LAUNCHER": "1 (on)",
}


class SettingsError(ValueError):
    """A TRACKPREP_* variable holds a value that cannot be used."""


def _int(env: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise SettingsError(f"{name}={value} must be positive")
    return value


def _optional_int(env: dict[str, str], name: str) -> int | None:
    """An integer setting whose absence (or ``none``) means no limit."""
    raw = env.get(name, "").strip()
    return None if raw.lower() in ("", "none") else _int(env, name, 0)


def _optional_float(env: dict[str, str], name: str) -> float | None:
    """A positive number whose absence (or ``none``) means none."""
    raw = env.get(name, "").strip()
    return None if raw.lower() in ("", "none") else _float(env, name, 1.0)


def _fraction(env: dict[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    if value > 1:
        raise SettingsError(f"{name}={value} must be a fraction between 0 and 1")
    return value


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse_bool(raw, name)
    except Invalid:
        raise SettingsError(f"{name}={raw!r} must be 1 or 0") from None


def _list(env: dict[str, str], name: str, sep: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(sep) if item.strip())


@dataclass(frozen=True)
class Settings:
    """Every setting of one service process (web, worker or both)."""

    data_dir: str
    cache_dir: str
    workflow_dir: str
    source_roots: tuple[str, ...]
    allowed_hosts: tuple[str, ...]
    max_concurrent_jobs: int = 2
    job_timeout: int = 3600
    snakemake_cores: int = 2
    snakemake_profile: str | None = None
    max_upload_bytes: int = 2 << 30
    api_token: str | None = None
    samples_dir: str | None = None
    drs_scheme: str = "https"
    cancel_grace: float = 10.0
    poll_interval: float = 0.5
    heartbeat_timeout: float = 30.0
    max_queued_jobs: int = 1000
    upload_quota_bytes: int = 20 << 30
    cache_max_bytes: int | None = None  # None: no limit, nothing is evicted
    cache_low_water: float = 0.9  # eviction stops once the cache is at this fraction of the limit
    result_ttl_days: float | None = None  # None: finished job folders and SSR results are kept
    gc_interval: float = 300.0  # seconds between the dispatcher's periodic collections
    served_flush_interval: float = 10.0  # seconds a process keeps last-served times before writing them
    warm_launcher: bool = True

    @property
    def db_path(self) -> str:
        """The SQLite job store."""
        return os.path.join(self.data_dir, "trackprep.sqlite")

    @property
    def leases_dir(self) -> str:
        """Lock files of open range streams and of the cache collector (webapp/cache_usage.py)."""
        return os.path.join(self.data_dir, "leases")

    @property
    def jobs_dir(self) -> str:
        """Parent of every job's working directory."""
        return os.path.join(self.data_dir, "jobs")

    @cached_property
    def effective_source_roots(self) -> tuple[str, ...]:
        """Folders local sources may come from: the configured roots plus the sample folder, if any."""
        roots = self.source_roots + ((self.samples_dir,) if self.samples_dir else ())
        return tuple(dict.fromkeys(os.path.realpath(root) for root in roots))


def load(env: dict[str, str] | None = None) -> Settings:
    """Read the settings from the environment (or a given mapping); raises SettingsError on bad values."""
    env = dict(os.environ if env is None else env)
    data_dir = os.path.abspath(env.get("TRACKPREP_DATA_DIR") or "trackprep-data")
    samples = env.get("TRACKPREP_SAMPLES", "").strip()
    if samples.lower() == "none":
        samples_dir = None
    else:
        samples_dir = os.path.abspath(samples) if samples else SAMPLES_DEFAULT
        if not os.path.isdir(samples_dir):
            samples_dir = None
    drs_scheme = env.get("TRACKPREP_DRS_SCHEME", "").strip() or "https"
    if drs_scheme not in ("https", "http"):
        raise SettingsError(f"TRACKPREP_DRS_SCHEME={drs_scheme!r} must be https or http")
    return Settings(
        data_dir=data_dir,
        cache_dir=os.path.abspath(env.get("TRACKPREP_CACHE_DIR") or os.path.join(data_dir, "cache")),
        workflow_dir=os.path.abspath(env.get("TRACKPREP_WORKFLOW_DIR") or default_workflow_dir()),
        source_roots=tuple(os.path.abspath(root) for root in _list(env, "TRACKPREP_SOURCE_ROOTS", ":")),
        allowed_hosts=tuple(host.lower() for host in _list(env, "TRACKPREP_ALLOWED_HOSTS", ",")),
        max_concurrent_jobs=_int(env, "TRACKPREP_MAX_CONCURRENT_JOBS", 2),
        job_timeout=_int(env, "TRACKPREP_JOB_TIMEOUT", 3600),
        snakemake_cores=_int(env, "TRACKPREP_SNAKEMAKE_CORES", 2),
        snakemake_profile=env.get("TRACKPREP_SNAKEMAKE_PROFILE", "").strip() or None,
        max_upload_bytes=_int(env, "TRACKPREP_MAX_UPLOAD_BYTES", 2 << 30),
        api_token=env.get("TRACKPREP_API_TOKEN") or None,
        samples_dir=samples_dir,
        drs_scheme=drs_scheme,
        cancel_grace=_float(env, "TRACKPREP_CANCEL_GRACE", 10.0),
        poll_interval=_float(env, "TRACKPREP_POLL_INTERVAL", 0.5),
        heartbeat_timeout=_float(env, "TRACKPREP_HEARTBEAT_TIMEOUT", 30.0),
        max_queued_jobs=_int(env, "TRACKPREP_MAX_QUEUED_JOBS", 1000),
        upload_quota_bytes=_int(env, "TRACKPREP_UPLOAD_QUOTA_BYTES", 20 << 30),
        cache_max_bytes=_optional_int(env, "TRACKPREP_CACHE_MAX_BYTES"),
        cache_low_water=_fraction(env, "TRACKPREP_CACHE_LOW_WATER", 0.9),
        result_ttl_days=_optional_float(env, "TRACKPREP_RESULT_TTL_DAYS"),
        gc_interval=_float(env, "TRACKPREP_GC_INTERVAL", 300.0),
        served_flush_interval=_float(env, "TRACKPREP_SERVED_FLUSH_INTERVAL", 10.0),
        warm_launcher=_flag(env, "TRACKPREP_WARM_LAUNCHER", True),
    )
