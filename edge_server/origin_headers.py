"""The headers of a page Strata serves from an origin (``--origin``): every end-to-end header the
origin sent, except the few Strata must own, and a cache directive never less restrictive than the
origin's (docs/server.md, "Origin headers"; docs/security.md, "Page mode keeps the origin's
protections"). The worker's port is edge_worker/worker/origin_headers.js (same names, camelCase).

- Hop-by-hop headers (RFC 9110 7.6.1: ``Connection`` and the headers it names, ``Keep-Alive``,
  ``Proxy-*``, ``TE``, ``Trailer``, ``Transfer-Encoding``, ``Upgrade``) are never forwarded;
  ``Content-Length`` and ``Content-Encoding`` describe the origin's bytes on the wire, not Strata's.
- A body Strata changed (a personalised page, or one re-encoded as UTF-8) gets Strata's
  ``Content-Type``; a strong ``ETag`` of the origin's bytes becomes weak; a personalised page
  drops the origin's validators and digests (they identify the origin's representation).
- ``Set-Cookie``: every one of the origin's is kept; Strata's session cookie is added beside them.
- ``Cache-Control``: a personalised page is ``private, no-store`` with ``Vary: Cookie, ...`` added to
  the origin's ``Vary``; a page fetched with the visitor's ``Cookie`` or ``Authorization`` is at
  least ``private``; otherwise the origin's directive is kept as it is (Strata adds no ``public``).
"""

from __future__ import annotations

from collections.abc import Iterable

from .contract import HOP_HEADERS, SHARED_CACHE_DIRECTIVES, VALIDATORS, VARY

#: Never forwarded by a proxy, identifying the origin's exact bytes, letting a shared cache store a
#: response: the edge contract's tables (edge_contract.json), read by the worker's port too.
HOP_BY_HOP = HOP_HEADERS
_SHARED = SHARED_CACHE_DIRECTIVES


def hop_by_hop(headers: Iterable[tuple[str, str]]) -> frozenset[str]:
    """The names never forwarded: HOP_BY_HOP and every name the ``Connection`` header lists."""
    named = {t.strip().lower() for k, v in headers if k.lower() == "connection" for t in v.split(",") if t.strip()}
    return HOP_BY_HOP | named


def directives(value: str) -> dict[str, str | None]:
    """``Cache-Control`` as name -> argument (``None`` without one), names lower case; the first of a repeated name wins."""
    out: dict[str, str | None] = {}
    for part in value.split(","):
        name, eq, arg = part.strip().partition("=")
        name = name.strip().lower()
        if name and name not in out:
            out[name] = arg.strip().strip('"') if eq else None
    return out


def restrictive_cache_control(origin: str | None, *, personalised: bool, credentialed: bool) -> str | None:
    """The ``Cache-Control`` Strata sends: never less restrictive than ``origin`` (the origin's,
    ``None`` when it sent none). ``personalised``: ``private, no-store``. ``credentialed`` (the
    origin request carried the visitor's cookies or ``Authorization``): at least ``private``, the
    directives that allow a shared cache removed. Otherwise the origin's, unchanged."""
    if personalised:
        return "private, no-store"
    if not credentialed:
        return origin
    d = directives(origin or "")
    if "no-store" in d:
        return "private, no-store"
    kept = [p.strip() for p in (origin or "").split(",") if p.strip() and directives(p).keys().isdisjoint(_SHARED | {"private"})]
    return ", ".join(["private", *kept])


def merge_vary(origin: list[str], extra: str) -> str:
    """The origin's ``Vary`` values and ``extra``, each name once (``*`` stays ``*``)."""
    names: dict[str, str] = {}
    for value in [*origin, extra]:
        for t in value.split(","):
            t = t.strip()
            if t:
                names.setdefault(t.lower(), t)
    return "*" if "*" in names else ", ".join(names.values())


def weak(etag: str) -> str:
    """A strong ETag made weak (``"x"`` -> ``W/"x"``); a weak one unchanged."""
    e = etag.strip()
    return e if e.startswith("W/") else "W/" + e


def page_headers(origin: list[tuple[str, str]], *, personalised: bool, credentialed: bool, body_changed: bool,
                 content_type: str | None = None, set_cookie: str | None = None) -> list[tuple[str, str]]:
    """The response headers for a page built from the origin's response ``origin`` (every header,
    repeated ones as repeated pairs), as the module docstring states. ``content_type``: Strata's,
    when it re-encoded the body; ``set_cookie``: Strata's session cookie, appended."""
    drop = hop_by_hop(origin) | {"cache-control", "vary"}
    if content_type is not None:
        drop |= {"content-type"}
    if personalised:
        drop |= VALIDATORS
    out: list[tuple[str, str]] = []
    for k, v in origin:
        name = k.lower()
        if name in drop:
            continue
        if name == "etag" and (body_changed or any(n.lower() == "content-encoding" for n, _ in origin)):
            v = weak(v)
        out.append((name, v))
    if content_type is not None:
        out.append(("content-type", content_type))
    cc = [v for k, v in origin if k.lower() == "cache-control"]
    cache = restrictive_cache_control(", ".join(cc) if cc else None, personalised=personalised, credentialed=credentialed)
    if cache is not None:
        out.append(("cache-control", cache))
    vary = [v for k, v in origin if k.lower() == "vary"]
    if personalised:
        out.append(("vary", merge_vary(vary, VARY)))
    elif vary:
        out.append(("vary", merge_vary(vary, "")))
    if set_cookie is not None:
        out.append(("set-cookie", set_cookie))
    return out
