"""Page mode: serve HTML pages (``--pages DIR``) or fetch them from an origin (``--origin URL``),
decide every slot a page marks with ``data-strata-slot`` and rewrite it, so pages arrive
personalised with no flicker (docs/server.md); and ``GET /v1/client.js`` for pages that fill
their slots in the browser instead."""

from __future__ import annotations

import html as html_lib
import logging
import mimetypes
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from runtime.decide import Prepared
from runtime.decision import Outcome

from .contract import HOP_HEADERS, MAX_PATH, OVERLAY_CSS, SIGNALS_COOKIE, VARY, error
from .csp import allow_inline_style
from .errors import ApiError
from .origin_headers import hop_by_hop, page_headers
from .rewrite import MAX_PAGE_BYTES, Page
from .server import DecideRequest, Server, cookies_of, headers_of
from .signals import ClientSignalError, client_signals

log = logging.getLogger("strata.server")

CLIENT_JS = (Path(__file__).parent / "client.js").read_bytes()


async def client_js(request: Request) -> Response:
    return Response(CLIENT_JS, media_type="application/javascript", headers={"Cache-Control": "public, max-age=300"})


def page_endpoint(srv: Server, api_methods: dict[str, list[str]]) -> Callable[[Request], Awaitable[Response]]:
    """The page handler of one server; ``api_methods`` (path -> methods of the API routes) turns a
    wrong method on an API path into 405 instead of a missing page."""

    async def page(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise ApiError(405, "method_not_allowed", "pages accept GET and HEAD")
        # the scope's own path and query: nothing here re-parses a URL built from client input
        path: str = request.scope["path"]
        query = request.scope.get("query_string", b"").decode("latin-1")
        if path in api_methods:  # e.g. GET /v1/decide: the API route's method mismatch, not a missing page
            raise ApiError(405, "method_not_allowed", f"{path} accepts {' and '.join(api_methods[path])}")
        _check_page_path(path)
        fetched: OriginPage | None = None
        if srv.pages_root is not None:
            html_text, static = _local_page(srv.pages_root, path)
            if static is not None:
                return FileResponse(static, headers={"Cache-Control": "public, max-age=300"})
            status = 200
        else:
            got = await _origin_page(srv, request)
            if isinstance(got, Response):
                return got
            fetched = got
            html_text, status = fetched.html, fetched.status
        prepared = srv.prepared()
        doc = Page(html_text)
        if doc.mode == "client":  # the page fills its own slots: the origin's bytes, as it sent them
            if fetched is None:
                return Response(html_text, status_code=status, media_type="text/html; charset=utf-8", headers={"cache-control": "public, max-age=60"})
            return _passthrough(fetched.response, fetched.credentialed)
        url = path + ("?" + query if query else "")
        explain = srv.config.debug
        h = headers_of(request.scope)
        cookies = cookies_of(h)
        client = _cookie_signals(cookies, prepared, srv.config.max_client_signals)
        slots = _known_slots(doc.slots, prepared, path)
        req = DecideRequest(url, h.get("referer"), doc.category, slots, client, page_view=True, explain=explain)
        outcome, session, consent = srv.decide(h, cookies, prepared, req)
        cookie = srv.set_cookie(h, cookies, session, consent)
        if fetched is None:
            headers = [("cache-control", "private, no-store"), ("vary", VARY), ("content-type", "text/html; charset=utf-8")]
            if cookie is not None:
                headers.append(("set-cookie", cookie))
        else:
            headers = page_headers(_origin_headers(fetched.response), personalised=True, credentialed=fetched.credentialed,
                                   body_changed=True, content_type="text/html; charset=utf-8", set_cookie=cookie)
        overlay = None
        if srv.config.debug:
            allowed, nonce, headers = allow_inline_style(headers, OVERLAY_CSS)
            overlay = (overlay_style(nonce) if allowed else "") + _overlay(outcome)
        body = doc.fill(outcome.decisions, lambda c: srv.html(prepared, c), overlay)
        response = Response(body, status_code=status)
        for k, v in headers:
            response.headers.append(k, v)
        return response

    return page


#: Page mode has no request body: the site's own script may keep client signals (a cart) in this
#: first-party cookie, as URL-encoded JSON. It is validated like a decide body, and ignored when invalid.


def _cookie_signals(cookies: dict[str, str], prepared: Prepared, limit: int) -> dict[str, Any]:
    raw = cookies.get(SIGNALS_COOKIE)
    if not raw or len(raw) > 4096:
        return {}
    try:
        return client_signals(orjson.loads(unquote(raw)), prepared, limit)
    except (orjson.JSONDecodeError, ClientSignalError):
        return {}


#: File systems refuse longer names (ENAMETOOLONG), so a longer path component cannot name a page.
MAX_NAME_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_page_path(path: str) -> None:
    """400 ``invalid_path`` for a path no page can have: over MAX_PATH characters, or with a control
    character (a decoded ``%00``, ``%0a``...), which no file system or origin should be handed."""
    if len(path) > MAX_PATH:
        raise error("path_too_long", length=len(path), max_path=MAX_PATH)
    if _CONTROL.search(path):
        raise error("path_control")


#: (bundle, slot name) pairs already warned about: a slot a page marks but its bundle lacks (bounded).
_MAX_WARNED = 1024
_warned_slots: dict[tuple[int, str], None] = {}


def _known_slots(slots: list[str], prepared: Prepared, path: str) -> list[str]:
    """The page's marked slots the bundle has. A page may be deployed ahead of its bundle, so a slot
    the bundle lacks keeps the page's own markup rather than failing the page; it is logged (once
    per bundle and slot name) so the mismatch is not silent."""
    known = [s for s in slots if s in prepared.slots]
    if len(known) < len(slots):
        for s in slots:
            if s not in prepared.slots and (id(prepared), s) not in _warned_slots:
                if len(_warned_slots) > _MAX_WARNED:
                    _warned_slots.clear()
                _warned_slots[(id(prepared), s)] = None
                log.warning("page %s marks slot %r, which bundle %r v%s does not have (it has: %s); its markup is served unchanged",
                            path[:200], s[:64], prepared.name, prepared.version, ", ".join(prepared.slot_ids))
    return known


def _local_page(root: Path, path: str) -> tuple[str, Path | None]:
    """(html, None) for an HTML page; ("", file) for a static file. Refuses paths outside root; a
    path the file system cannot look up (a name over 255 bytes, a NUL) is no page: 404."""
    rel = path.lstrip("/")
    candidates = [rel or "index.html"]
    if rel and not Path(rel).suffix:
        candidates += [rel + ".html", rel.rstrip("/") + "/index.html"]
    for c in candidates:
        if any(len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for part in c.split("/")):
            continue
        try:
            f = (root / c).resolve()
            if not f.is_relative_to(root) or not f.is_file():
                continue
            if f.suffix.lower() in (".html", ".htm"):
                if f.stat().st_size > MAX_PAGE_BYTES:
                    return "", f  # too large to personalise: served untouched, as from an origin
                return f.read_text(encoding="utf-8", errors="replace"), None
        except (OSError, ValueError):  # ENAMETOOLONG, ELOOP, EACCES, an embedded NUL: not a page we can serve
            continue
        if mimetypes.guess_type(f.name)[0] is None:
            continue
        return "", f
    raise ApiError(404, "not_found", f"no page at {path[:200]}")


#: Request headers not forwarded to the origin: hop-by-hop ones, and Host (the origin's own).
_NOT_FORWARDED = HOP_HEADERS | {"host"}


@dataclass
class OriginPage:
    """An origin's HTML page, to personalise: its text, status and response, and whether the
    request for it carried the visitor's ``Cookie`` or ``Authorization``."""

    html: str
    status: int
    response: httpx.Response
    credentialed: bool


def _origin_headers(r: httpx.Response) -> list[tuple[str, str]]:
    """The origin's response headers, each repeat its own pair, but its ``Date``: uvicorn sends the
    server's own, and a response has one."""
    return [(k, v) for k, v in r.headers.multi_items() if k.lower() != "date"]


def _passthrough(r: httpx.Response, credentialed: bool) -> Response:
    """The origin's response as it sent it: its body (decoded from its Content-Encoding) and its
    end-to-end headers, the cache directive at least ``private`` when ``credentialed``."""
    out = Response(r.content, status_code=r.status_code)  # with its own Content-Length
    for k, v in page_headers(_origin_headers(r), personalised=False, credentialed=credentialed, body_changed=False):
        out.headers.append(k, v)
    return out


async def _origin_page(srv: Server, request: Request) -> OriginPage | Response:
    """The origin's page to personalise, or its response to pass through (not a 200 HTML page, or
    over MAX_PAGE_BYTES)."""
    assert srv.origin is not None and srv.config.origin is not None
    # the path as the client sent it (still percent-encoded: %2F stays %2F), so the origin sees the same URL
    raw = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    query = request.scope.get("query_string", b"")
    url = srv.config.origin.rstrip("/") + raw.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    drop = _NOT_FORWARDED | hop_by_hop(request.headers.items())
    headers = {k: v for k, v in request.headers.items() if k not in drop and k != "cookie"}
    cookies = "; ".join(f"{k}={v}" for k, v in request.cookies.items() if k not in (srv.config.cookie_name,))
    if cookies:
        headers["cookie"] = cookies
    credentialed = "cookie" in headers or "authorization" in headers
    try:
        r = await srv.origin.get(url, headers=headers)
    except httpx.InvalidURL:
        raise ApiError(400, "invalid_path", "the path cannot be forwarded to the origin as a URL") from None
    except httpx.HTTPError as e:
        raise ApiError(502, "origin_unreachable", f"origin did not answer: {type(e).__name__}") from None
    ctype = r.headers.get("content-type", "")
    if r.status_code != 200 or "text/html" not in ctype or len(r.content) > MAX_PAGE_BYTES:
        return _passthrough(r, credentialed)
    return OriginPage(r.text, r.status_code, r, credentialed)


def overlay_style(nonce: str | None) -> str:
    """The panel's <style> element, with the origin's CSP nonce when it needs one."""
    attr = f' nonce="{html_lib.escape(nonce, quote=True)}"' if nonce else ""
    return f"<style{attr}>{OVERLAY_CSS}</style>"


def _overlay(outcome: Outcome) -> str:
    """The --debug panel: per slot, what was chosen and why (every value escaped); styled by OVERLAY_CSS."""
    e = html_lib.escape
    rows = []
    for slot, d in outcome.decisions.items():
        chosen = f"{d.experiment}/{d.variant}" if d.variant else (d.rule or "default")
        trace = "".join(
            f"<li>{e(t['candidate'])} <small>({e(t['layer'])})</small>: {e(t['result'])}{(' — ' + e(t['message'])) if t.get('message') else ''}</li>"
            for t in (d.trace or ())
        )
        rows.append(f"<tr><td>{e(slot)}</td><td><b>{e(chosen)}</b></td><td>{e(d.layer or '')}</td><td>{e(d.reason)}</td>"
                    f"<td><ul>{trace}</ul></td></tr>")
    segs = ", ".join(f"{e(k)}={'error' if isinstance(v, dict) else str(v).lower()}" for k, v in (outcome.segments or {}).items())
    scores = ", ".join(f"{e(k)}={v:.3f}" for k, v in (outcome.scores or {}).items())
    return (
        '<aside id="strata-debug"><b>Strata debug</b> — ' + e(outcome.bundle) + f" v{outcome.version}"
        "<table><tr><th align=left>slot</th><th align=left>chosen</th>"
        "<th align=left>layer</th><th align=left>reason</th><th align=left>candidates</th></tr>" + "".join(rows) +
        f"</table><div>segments: {segs or '—'}</div><div>scores: {scores or '—'}</div></aside>"
    )


