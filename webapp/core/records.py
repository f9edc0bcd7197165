"""The one schema of a source record, validated in the service and in the engine alike.

:class:`SourceFields` is what ``POST /files`` accepts, what ``trackprep register`` reads from a manifest and
what ``rules/common.smk`` checks every manifest row against; its OpenAPI component (``SourceFields`` in
``/openapi.json``) is generated from it. Each field's check raises :class:`~webapp.core.errors.Invalid` with
the sentence a client sees, in field order, so the first error reported is the first field that is wrong.

What depends on the deployment is passed in the validation context, not hard-wired: the service passes its URL
policy (source roots, allowed hosts: ``check_url``) and mints an id for a request without one (``new_id``);
the engine passes neither (its fetch stage applies the policy when it fetches).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, \
    model_validator

from .errors import Invalid
from .source import ACCESS_CLASSES, FORMATS, MANIFEST_COLUMNS, MD5_INPUT_PATTERN, MD5_RE, REFERENCE_FORMATS, \
    REFERENCE_SOURCE_FORMATS, SIDECAR_FORMATS, SOURCE_ID_PATTERN, SOURCE_ID_RE, SOURCE_ID_RULE, infer_format, \
    is_local, sidecar_extension

UrlCheck = Callable[[str, str], str]  # (field name, value) -> the value to store; raises Invalid
REFERENCE_HELP = (
    f"id of the registered source (format {'/'.join(REFERENCE_SOURCE_FORMATS)}) this source is decoded "
    f"against; only for format {'/'.join(REFERENCE_FORMATS)} (422 otherwise, and for an unknown or non-fasta "
    "id). Its md5 is part of the artifact's cache key.")
PINNED_HELP = ("never evict this source's artifact and verified copy (TRACKPREP_CACHE_MAX_BYTES); the same "
               "record posted again with another value pins or unpins it")
MISSING = {"access_url": "access_url must be a non-empty string",
           "md5": "md5 is required: 32 hexadecimal digits"}


def _context(info: ValidationInfo, name: str) -> Any:
    return (info.context or {}).get(name)


class SourceFields(BaseModel):
    """A source record: the columns of a manifest row, the body of POST /files. Validation normalises it
    (md5 in lower case, the format inferred from the name when not given, access public by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field("", validate_default=True, json_schema_extra={"pattern": SOURCE_ID_PATTERN},
                    description=f"source id: {SOURCE_ID_RULE}; generated when not given (POST /files)")
    access_url: str = Field(description="https://, http://, drs:// URL on an allowed host, file:// URL, or a "
                                        "local path inside a source root")
    md5: str = Field(json_schema_extra={"pattern": MD5_INPUT_PATTERN},
                     description="the md5 of the source's bytes, checked before any stage uses them")
    format: str = Field("", validate_default=True, json_schema_extra={"enum": list(FORMATS)},
                        description="the source's format; inferred from the name when not given")
    index_url: str = Field("", description="optional upstream index (sidecar) of the unprocessed source")
    access: str = Field("public", validate_default=True, json_schema_extra={"enum": list(ACCESS_CLASSES)})
    reference: str = Field("", json_schema_extra={"pattern": f"^$|{SOURCE_ID_PATTERN}"},
                           description=REFERENCE_HELP)

    @model_validator(mode="before")
    @classmethod
    def _fields(cls, fields: Any) -> dict[str, Any]:
        if not isinstance(fields, dict):
            raise Invalid(f"the body must be a JSON object with {', '.join(MANIFEST_COLUMNS)}")
        unknown = sorted(set(fields) - set(cls.model_fields), key=str)
        if unknown:
            raise Invalid(f"unknown field(s): {', '.join(map(str, unknown))}; allowed: "
                          f"{', '.join(cls.model_fields)}")
        for name in MANIFEST_COLUMNS:
            if fields.get(name) is not None and not isinstance(fields[name], str):
                raise Invalid(f"{name} must be a string")
        return {name: value for name, value in fields.items() if value is not None}

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: str, info: ValidationInfo) -> str:
        new_id = _context(info, "new_id")
        value = value or (new_id() if new_id else "")
        if not SOURCE_ID_RE.match(value):
            raise Invalid(f"id must be {SOURCE_ID_RULE}")
        return value

    @field_validator("access_url", mode="before")
    @classmethod
    def _access_url(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            raise Invalid(MISSING["access_url"])
        check_url = _context(info, "check_url")
        return check_url("access_url", value) if check_url else value

    @field_validator("md5", mode="before")
    @classmethod
    def _md5(cls, value: str) -> str:
        if not MD5_RE.match(value.lower()):
            raise Invalid(MISSING["md5"])
        return value.lower()

    @field_validator("format", mode="before")
    @classmethod
    def _format(cls, value: str, info: ValidationInfo) -> str:
        access_url = info.data.get("access_url", "")
        fmt = value.lower() or infer_format(access_url)
        if fmt is None:
            raise Invalid(f"format not given and not inferable from {access_url!r}; use one of: "
                          f"{', '.join(FORMATS)}")
        if fmt not in FORMATS:
            raise Invalid(f"format {fmt!r} is not one of: {', '.join(FORMATS)}")
        return fmt

    @field_validator("access", mode="before")
    @classmethod
    def _access(cls, value: str) -> str:
        value = value or "public"
        if value not in ACCESS_CLASSES:
            raise Invalid(f"access must be one of: {', '.join(ACCESS_CLASSES)}")
        return value

    @field_validator("index_url", mode="before")
    @classmethod
    def _index_url(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            return ""
        check_url = _context(info, "check_url")
        value = check_url("index_url", value) if check_url else value
        fmt = info.data.get("format")
        if fmt not in SIDECAR_FORMATS:
            raise Invalid(f"format {fmt} has no index: index_url is allowed for {', '.join(SIDECAR_FORMATS)}")
        if sidecar_extension(value) is None:
            raise Invalid("index_url must name a .bai, .tbi or .csi file")
        if is_local(value) != is_local(info.data.get("access_url", "")):
            raise Invalid("index_url and access_url must both be local or both be remote")
        return value

    @field_validator("reference", mode="before")
    @classmethod
    def _reference(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            return ""
        fmt = info.data.get("format")
        if fmt not in REFERENCE_FORMATS:
            raise Invalid(f"format {fmt} takes no reference: reference is allowed for "
                          f"{', '.join(REFERENCE_FORMATS)}")
        if not SOURCE_ID_RE.match(value) or value == info.data.get("id"):
            raise Invalid("reference must be the id of another registered source (a "
                          f"{'/'.join(REFERENCE_SOURCE_FORMATS)} source)")
        return value


def _boolean_schema(schema: dict[str, Any]) -> None:
    """OpenAPI 3.0 has no null type: an absent ``pinned`` is what None means."""
    schema.pop("anyOf", None)
    schema["type"] = "boolean"


class SourceRequest(SourceFields):
    """The body of POST /files: a source record, and whether to pin it (a service setting, not a manifest
    column)."""

    pinned: bool | None = Field(None, json_schema_extra=_boolean_schema, description=PINNED_HELP)

    @field_validator("pinned", mode="before")
    @classmethod
    def _pinned(cls, value: Any) -> bool | None:
        if value is not None and not isinstance(value, bool):
            raise Invalid("pinned must be true or false")
        return value


def validate_record(fields: Any, *, check_url: UrlCheck | None = None, new_id: Callable[[], str] | None = None,
                    model: type[SourceFields] = SourceFields) -> dict[str, Any]:
    """A complete, normalised source record (every :data:`MANIFEST_COLUMNS` key, and ``pinned`` with
    :class:`SourceRequest`) from request fields or a manifest row; raises :class:`Invalid` with the first
    field's reason. ``check_url``: the deployment's URL policy, applied to ``access_url`` and ``index_url``;
    ``new_id``: mints the id of a record without one (else an id is required)."""
    try:
        record = model.model_validate(fields, context={"check_url": check_url, "new_id": new_id})
    except ValidationError as err:
        raise Invalid(_reason(err.errors()[0])) from None
    return record.model_dump()


def _reason(error: dict[str, Any]) -> str:
    """The sentence of one pydantic error: the Invalid a validator raised, or what pydantic itself found."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, Invalid):
        return cause.detail
    name = ".".join(map(str, error.get("loc") or ())) or "the record"
    if error.get("type") == "missing":
        return MISSING.get(name, f"{name} is required")
    return f"{name}: {error.get('msg')}"
