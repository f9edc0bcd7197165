"""Domain errors: what the core (and the service's own modules) refuse, in one sentence each.

They say what is wrong, never how to answer it: no HTTP status, no header. :mod:`webapp.errors` is the one
place that translates them into responses (``{"error": <code>, "detail": <sentence>}``); the engine turns them
into Snakemake's ``WorkflowError``; the CLI prints them.
"""
from __future__ import annotations


class DomainError(Exception):
    """Base class: a refusal with a human sentence (``detail``) and optional extra facts (``fields``)."""

    def __init__(self, detail: str, fields: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.fields = fields or {}


class Invalid(DomainError, ValueError):
    """A field, parameter or manifest row is not acceptable. A ValueError too, so that a pydantic validator
    that raises it reports it as that field's error (:mod:`webapp.core.records`)."""


class NotFound(DomainError):
    """Unknown (or not visible to this caller)."""


class Conflict(DomainError):
    """The request contradicts what is stored (an id registered with other fields, a job already ended)."""
