"""trackprep's control plane (Flask). Importing the package imports nothing heavy: the Snakefile uses
:mod:`webapp.layout` without Flask installed."""


def create_app(test_config=None):
    """Build the Flask application (see :func:`webapp.app.create_app`)."""
    from .app import create_app as _create_app

    return _create_app(test_config)
