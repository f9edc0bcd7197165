"""Policies shared by the service and the engine, each defined once. Standard library only: the fetch rule
(``rules/scripts/fetch_source.py``) imports this module and starts in milliseconds.

- :func:`host_allowed`: may a URL be fetched (registration, the fetch stage, every redirect hop)?
- :func:`parse_bool`: a boolean query or form value (``?raw=``, the SSR form's ``flanks``).
- :data:`IMMUTABLE`: the Cache-Control of content-addressed public files.
"""
from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from .errors import Invalid

# content-addressed public files (artifacts, SSR results): their bytes never change under their URL
IMMUTABLE = "public, max-age=31536000, immutable"

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off", "")  # empty: an unchecked form box, a bare ?raw=


def host_allowed(url: str, allowed: Iterable[str]) -> bool:
    """True when the URL's host, or ``host:port``, is on the allowed list. Host names compare without regard
    to case (DNS ignores it), on both sides; a URL with an unparsable port is never allowed."""
    parts = urlsplit(url)
    try:
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return False
    names = {name.strip().lower() for name in allowed}
    return bool(host) and (host in names or (port is not None and f"{host}:{port}" in names))


def parse_bool(text: str | None, name: str) -> bool:
    """A boolean query or form value: true/false, 1/0, yes/no, on/off in any case (absent or empty is false);
    anything else raises :class:`~webapp.core.errors.Invalid` naming the parameter."""
    value = (text or "").strip().lower()
    if value in FALSE_WORDS:
        return False
    if value in TRUE_WORDS:
        return True
    raise Invalid(f"{name} must be true or false, not {text!r}")
