"""Where the workflow lives: the ``Snakefile``, ``rules/``, ``envs/`` and ``config/`` the service runs.

In a checkout (a clone, or an editable install) they sit beside the ``webapp`` package. A regular install
(``pip install .``) copies them, as the package's data files, to ``<prefix>/share/trackprep`` (setup.cfg,
``[options.data_files]``), where ``<prefix>`` is the environment the package was installed into.
``TRACKPREP_WORKFLOW_DIR`` overrides both (webapp.settings).
"""
from __future__ import annotations

import os
import sys
import sysconfig

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(PACKAGE_DIR)
INSTALLED_SUBDIR = os.path.join("share", "trackprep")


def installed_dirs() -> list[str]:
    """The folders a regular install may have put the workflow in, most likely first."""
    prefixes = [sysconfig.get_path("data"), sys.prefix, sys.base_prefix]
    # the prefix the package itself was installed under: <prefix>/lib/pythonX.Y/site-packages/webapp
    prefixes.append(os.path.abspath(os.path.join(PACKAGE_DIR, *[os.pardir] * 4)))
    return [os.path.join(prefix, INSTALLED_SUBDIR) for prefix in dict.fromkeys(prefixes)]


def default_workflow_dir() -> str:
    """The checkout's workflow when this package sits in one, else the installed copy (the checkout's path
    when neither is there, so that the error names the place a user would look first)."""
    for candidate in [CHECKOUT, *installed_dirs()]:
        if os.path.isfile(os.path.join(candidate, "Snakefile")):
            return candidate
    return CHECKOUT


def workflow_file(*parts: str) -> str:
    """A file of the default workflow, e.g. ``workflow_file("config", "nginx", "trackprep.conf")``."""
    return os.path.join(default_workflow_dir(), *parts)
