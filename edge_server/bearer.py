"""Bearer tokens: ``Authorization: Bearer <token>``, compared in constant time. The server has two,
each configured on the server and sent by trusted callers only: the stats token (``GET /v1/stats``
and the business families of ``GET /metrics``) and the OFREP token (a server-side OpenFeature caller
whose ``targetingKey`` is honoured; docs/openfeature.md)."""

from __future__ import annotations

import hmac


def bearer_of(h: dict[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer`` header (lower-case header names), else None."""
    auth = h.get("authorization", "")
    return auth[7:].strip() if auth.startswith("Bearer ") else None  # the scheme as the worker compares it


def bearer_ok(h: dict[str, str], token: str | None) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (False when no token is set)."""
    if not token:
        return False
    given = bearer_of(h)
    return given is not None and hmac.compare_digest(given.encode(), token.encode())
