"""The edge server: ``create_app(config)`` returns a Starlette application.

Endpoints (docs/server.md): ``POST /v1/decide``, ``POST /v1/events``, ``GET /v1/client.js``,
``GET /healthz``, ``GET /readyz``, ``GET /metrics``, and page mode (``--pages`` or ``--origin``)
for every other GET. Bad input gets a 4xx with ``{"error": {"code", "message"}}``; nothing a
client sends can produce a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html as html_lib
import logging
import mimetypes
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime import bucketing
from runtime.decision import Outcome
from runtime.prepare import Prepared

from .body import read_json
from .config import Config
from .decide import VARY, DecideEndpoint
from .errors import ApiError, error_response
from .measure import ALL
from .metrics import Metrics
from .ofrep import FlagEndpoint, FlagsEndpoint
from .rewrite import MAX_PAGE_BYTES, Page
from .server import Server, cookies_of, headers_of
from .signals import ClientSignalError, client_signals

log = logging.getLogger("strata.server")
access = logging.getLogger("strata.access")

CLIENT_JS = (Path(__file__).parent / "client.js").read_bytes()


def create_app(config: Config) -> Starlette:
    srv = Server(config)

    async def events(request: Request) -> Response:
        prepared = srv.prepared()
        h = headers_of(request.scope)
        body = await read_json(h, request.receive, srv.config.max_body_bytes)
        if not isinstance(body, dict) or set(body) - {"goal", "value"}:
            raise ApiError(422, "invalid_request", "body must be {goal, value?}", "body")
        goal = body.get("goal")
        if not isinstance(goal, str) or goal not in prepared.goals:
            raise ApiError(422, "unknown_goal", f"goal must be one of {', '.join(prepared.goals) or '(none declared)'}", "goal")
        value = body.get("value", 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value < 1e12):
            raise ApiError(422, "invalid_request", "value must be a non-negative number", "value")
        cookies = cookies_of(h)
        consent = srv.consent(h, cookies)
        session = srv.codec.decode(cookies.get(srv.config.cookie_name)) if consent else None
        overall = (ALL, ALL, "")
        headers = {"cache-control": "no-store"}
        if not consent:
            population = "no_consent"
            srv.measure.conversion(goal, overall, population, float(value), True)
        elif session is None:
            population = "unattributed"  # consenting, but no session yet (an event before any decision)
            srv.measure.conversion(goal, overall, population, float(value), True)
        else:
            held = prepared.holdout_bp and bucketing.bucket(prepared.holdout_seed, session.sid) < prepared.holdout_bp
            population = "holdout" if held else "personalized"
            first = session.first_conversion(goal)
            for key in [*session.shown]:
                slot, arm, layer = key.split("|")
                srv.measure.conversion(goal, (slot, arm, layer), population, float(value), first)
            srv.measure.conversion(goal, overall, population, float(value), first)
            if goal == "purchase":
                session.purchased = True
            cookie = srv.set_cookie(h, cookies, session, consent)
            if cookie is not None:
                headers["set-cookie"] = cookie
        return JSONResponse({"accepted": True, "population": population}, status_code=202, headers=headers)

    async def stats(request: Request) -> Response:
        token = srv.config.stats_token
        if not token:
            raise ApiError(404, "stats_disabled", "statistics are disabled: set STRATA_STATS_TOKEN (or --stats-token) to enable GET /v1/stats")
        auth = headers_of(request.scope).get("authorization", "")
        if not (auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].strip().encode(), token.encode())):
            resp = error_response(401, "unauthorized", "GET /v1/stats needs 'Authorization: Bearer <STRATA_STATS_TOKEN>'")
            resp.headers["www-authenticate"] = 'Bearer realm="strata"'
            return resp
        measure = srv.measure.merged([o.get("measure", {}) for o in srv.metrics.siblings()])  # all workers of this server
        return Response(orjson.dumps(measure.snapshot(srv.bundles.current)), media_type="application/json",
                        headers={"cache-control": "no-store"})

    async def client_js(request: Request) -> Response:
        return Response(CLIENT_JS, media_type="application/javascript", headers={"Cache-Control": "public, max-age=300"})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        cur = srv.bundles.current
        st = srv.bundles.state
        body: dict[str, Any] = {"ready": cur is not None, "reload_failures": st.failures, "last_error": st.last_error}
        if cur is not None:
            body["bundle"] = {"name": cur.name, "version": cur.version, "key_id": cur.key_id, "loaded_at": st.loaded_at}
        return JSONResponse(body, status_code=200 if cur is not None else 503)

    async def metrics(request: Request) -> Response:
        return Response(srv.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def page(request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise ApiError(405, "method_not_allowed", "pages accept GET and HEAD")
        path = request.url.path
        if path in api_methods:  # e.g. GET /v1/decide: the API route's method mismatch, not a missing page
            raise ApiError(405, "method_not_allowed", f"{path} accepts {' and '.join(api_methods[path])}")
        if srv.pages_root is not None:
            html_text, static = _local_page(srv.pages_root, path)
            if static is not None:
                return FileResponse(static, headers={"Cache-Control": "public, max-age=300"})
            status = 200
        else:
            html_text, passthrough, status = await _origin_page(srv, request)
            if passthrough is not None:
                return passthrough
        prepared = srv.prepared()
        doc = Page(html_text)
        if doc.mode == "client":
            return Response(html_text, status_code=status, media_type="text/html; charset=utf-8", headers={"cache-control": "public, max-age=60"})
        url = path + ("?" + request.url.query if request.url.query else "")
        explain = srv.config.debug
        h = headers_of(request.scope)
        cookies = cookies_of(h)
        client = _cookie_signals(cookies, prepared, srv.config.max_client_signals)
        outcome, session, consent = srv.decide(h, cookies, prepared, url, h.get("referer"), doc.category, doc.slots, client, True, explain)
        overlay = _overlay(outcome) if srv.config.debug else None
        body = doc.fill(outcome.decisions, lambda c: srv.html(prepared, c), overlay)
        headers = {"cache-control": "private, no-store", "vary": VARY}
        cookie = srv.set_cookie(h, cookies, session, consent)
        if cookie is not None:
            headers["set-cookie"] = cookie
        return Response(body, status_code=status, media_type="text/html; charset=utf-8", headers=headers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await srv.bundles.check()
        tasks = [asyncio.create_task(srv.bundles.run())]
        if srv.metrics.share_dir is not None:
            tasks.append(asyncio.create_task(_publish_metrics(srv.metrics)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            srv.metrics.publish()
            await srv.bundles.aclose()
            if srv.origin is not None:
                await srv.origin.aclose()

    routes = [
        Route("/v1/decide", DecideEndpoint(srv), methods=["POST"]),
        Route("/v1/events", events, methods=["POST"]),
        Route("/v1/client.js", client_js, methods=["GET"]),
        Route("/v1/stats", stats, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/ofrep/v1/evaluate/flags", FlagsEndpoint(srv), methods=["POST"]),
        Route("/ofrep/v1/evaluate/flags/{key:path}", FlagEndpoint(srv), methods=["POST"]),
    ]
    api_methods = {r.path: sorted(r.methods or ()) for r in routes}
    if config.pages or config.origin:
        routes.append(Route("/{path:path}", page, methods=["GET", "HEAD"]))

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        srv.metrics.rejected.inc(exc.code)
        return error_response(exc.status, exc.code, exc.message, exc.field)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        srv.metrics.rejected.inc(code)
        return error_response(exc.status_code, code, str(exc.detail))

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s", request.url.path)
        return error_response(500, "internal", "internal error; it has been logged")

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: internal_error})
    app.state.server = srv
    return _Observe(app, srv)  # type: ignore[return-value]


#: Page mode has no request body: the site's own script may keep client signals (a cart) in this
#: first-party cookie, as URL-encoded JSON. It is validated like a decide body, and ignored when invalid.
SIGNALS_COOKIE = "strata_signals"


def _cookie_signals(cookies: dict[str, str], prepared: Prepared, limit: int) -> dict[str, Any]:
    raw = cookies.get(SIGNALS_COOKIE)
    if not raw or len(raw) > 4096:
        return {}
    try:
        return client_signals(orjson.loads(unquote(raw)), prepared, limit)
    except (orjson.JSONDecodeError, ClientSignalError):
        return {}


async def _publish_metrics(metrics: Metrics) -> None:
    """With several workers: share this worker's counters every second."""
    while True:
        await asyncio.sleep(1.0)
        try:
            metrics.publish()
        except OSError as e:
            log.warning("cannot share metrics with sibling workers: %s", e)


def _local_page(root: Path, path: str) -> tuple[str, Path | None]:
    """(html, None) for an HTML page; ("", file) for a static file. Refuses paths outside root."""
    rel = path.lstrip("/")
    candidates = [rel or "index.html"]
    if rel and not Path(rel).suffix:
        candidates += [rel + ".html", rel.rstrip("/") + "/index.html"]
    for c in candidates:
        try:
            f = (root / c).resolve()
        except (OSError, ValueError):
            continue
        if not f.is_relative_to(root) or not f.is_file():
            continue
        if f.suffix.lower() in (".html", ".htm"):
            if f.stat().st_size > MAX_PAGE_BYTES:
                return "", f  # too large to personalise: served untouched, as from an origin
            return f.read_text(encoding="utf-8", errors="replace"), None
        if mimetypes.guess_type(f.name)[0] is None:
            continue
        return "", f
    raise ApiError(404, "not_found", f"no page at {path[:200]}")


_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers", "transfer-encoding", "upgrade",
        "content-length", "content-encoding", "host"}


async def _origin_page(srv: Server, request: Request) -> tuple[str, Response | None, int]:
    assert srv.origin is not None and srv.config.origin is not None
    url = srv.config.origin.rstrip("/") + request.url.path + ("?" + request.url.query if request.url.query else "")
    headers = {k: v for k, v in request.headers.items() if k not in _HOP and k != "cookie"}
    cookies = "; ".join(f"{k}={v}" for k, v in request.cookies.items() if k not in (srv.config.cookie_name,))
    if cookies:
        headers["cookie"] = cookies
    try:
        r = await srv.origin.get(url, headers=headers)
    except httpx.HTTPError as e:
        raise ApiError(502, "origin_unreachable", f"origin did not answer: {type(e).__name__}") from None
    ctype = r.headers.get("content-type", "")
    if r.status_code != 200 or "text/html" not in ctype or len(r.content) > MAX_PAGE_BYTES:
        out_headers = {k: v for k, v in r.headers.items() if k.lower() not in _HOP}
        return "", Response(r.content, status_code=r.status_code, headers=out_headers), r.status_code
    return r.text, None, r.status_code


def _overlay(outcome: Outcome) -> str:
    """The --debug panel: per slot, what was chosen and why (every value escaped)."""
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
    return (
        '<aside id="strata-debug" style="position:fixed;right:12px;bottom:12px;z-index:99999;max-width:560px;'
        "background:#111827ee;color:#f9fafb;font:12px/1.4 system-ui,sans-serif;padding:10px 12px;border-radius:8px;"
        'box-shadow:0 4px 16px #0006"><b>Strata debug</b> — ' + e(outcome.bundle) + f" v{outcome.version}"
        '<table style="border-collapse:collapse;margin-top:6px"><tr><th align=left>slot</th><th align=left>chosen</th>'
        "<th align=left>layer</th><th align=left>reason</th><th align=left>candidates</th></tr>" + "".join(rows) +
        f"</table><div>segments: {segs or '—'}</div></aside>"
    )


class _Observe:
    """ASGI middleware: latency and status metrics, and one structured log line per request with
    no IP, no cookie, no query string and no signal values."""

    def __init__(self, app: ASGIApp, srv: Server):
        self.app = app
        self.srv = srv
        self.state = app.state  # type: ignore[attr-defined]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)  # type: ignore[arg-type]
        finally:
            path = scope.get("path", "")
            route = path if path in ("/v1/decide", "/v1/events", "/v1/client.js", "/v1/stats", "/healthz", "/readyz", "/metrics") else "page"
            if path.startswith("/ofrep/"):  # one label for every flag key (bounded cardinality)
                route = "/ofrep/v1/evaluate/flags" if path == "/ofrep/v1/evaluate/flags" else "/ofrep/v1/evaluate/flags/{key}"
            dt = time.perf_counter() - t0
            m = self.srv.metrics
            m.latency.observe(route, dt)
            m.requests.inc(route, str(status["code"]))
            if self.srv.config.log_requests and route not in ("/healthz", "/metrics") and access.isEnabledFor(logging.INFO):
                cur = self.srv.bundles.current
                access.info(orjson.dumps({"method": scope.get("method"), "route": route, "status": status["code"],
                                          "ms": round(dt * 1000, 2), "bundle": cur.version if cur else None}).decode())
