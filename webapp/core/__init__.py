"""The Flask-free core: every contract the views, the CLI and the engine share, defined once.

- :mod:`webapp.core.source`: the source record's vocabulary (id pattern, formats with their kinds and file
  extensions, access values, manifest columns) and the manifest reader. Standard library only.
- :mod:`webapp.core.records`: the one schema a source record is validated against, by the service
  (``POST /files``, ``trackprep register``) and by the engine (``rules/common.smk``), and the one its
  OpenAPI component is generated from (pydantic).
- :mod:`webapp.core.policy`: host policy, boolean query values, the immutable Cache-Control value.
  Standard library only (the fetch rule imports it).
- :mod:`webapp.core.ssr_params`: the SSR analysis' parameters and their OpenAPI fragment.
- :mod:`webapp.core.errors`: domain errors. The core raises these and never an HTTP error; the service
  translates them to responses in one place (:mod:`webapp.errors`).
- :mod:`webapp.core.openapi_schema`: pydantic models as OpenAPI 3.0 component schemas.

Nothing here imports Flask (tests/test_one_definition.py checks it), so the engine's rules and scripts can
import the core with plain ``snakemake`` from a checkout.
"""
