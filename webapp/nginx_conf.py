"""Render ``config/nginx/trackprep.conf`` (the production nginx front) for a given upstream, port and
cache folder.

The shipped file holds concrete defaults an operator can read and edit; this module substitutes the three
values that differ per deployment, for the README's production example, the benchmark and the tests.
"""
from __future__ import annotations

import re
from pathlib import Path

from .workflow_files import workflow_file

TEMPLATE = Path(workflow_file("config", "nginx", "trackprep.conf"))


def render(upstream: str = "127.0.0.1:8000", listen: str = "8080",
           cache_dir: str = "/var/cache/nginx/trackprep", template: Path = TEMPLATE) -> str:
    """The nginx ``http {}``-level config text with gunicorn's address, nginx's listen address and cache
    folder."""
    text = template.read_text()
    replacements = [
        (r"server 127\.0\.0\.1:8000;", f"server {upstream};"),
        (r"listen 8080;", f"listen {listen};"),
        (r"/var/cache/nginx/trackprep", cache_dir),
    ]
    for pattern, value in replacements:
        text, count = re.subn(pattern, lambda _m, v=value: v, text)
        if count != 1:
            raise ValueError(f"{template}: expected one {pattern!r}, found {count}")
    return text
