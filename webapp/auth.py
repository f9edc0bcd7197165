"""The bearer token (``TRACKPREP_API_TOKEN``) that protects registering, cancelling and restricted reads."""
from __future__ import annotations

import hmac

from flask import current_app, request

from .errors import ApiError, Unauthorized


class TokenNotConfigured(ApiError):
    """The server has no token, so protected calls are refused."""

    status, code = 403, "forbidden"


def token_valid() -> bool:
    """True when the request carries ``Authorization: Bearer <the configured token>``."""
    token = current_app.config["TRACKPREP_SETTINGS"].api_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                                              token.encode())


def require_token() -> None:
    """Refuse the call unless it carries the valid token."""
    if not current_app.config["TRACKPREP_SETTINGS"].api_token:
        raise TokenNotConfigured("this server has no TRACKPREP_API_TOKEN configured: protected calls are "
                                 "refused")
    if not token_valid():
        raise Unauthorized("this call needs Authorization: Bearer <TRACKPREP_API_TOKEN>",
                           {"WWW-Authenticate": 'Bearer realm="trackprep"'})
