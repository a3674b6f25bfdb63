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
import json
import logging
import mimetypes
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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

from . import render as render_mod
from .bundles import BundleManager
from .config import Config, ConfigError
from .measure import ALL, Measurement, arm_of
from .metrics import Metrics
from .rewrite import MAX_PAGE_BYTES, Page
from .session import CookieCodec, Session, ephemeral_keys
from .signals import ClientSignalError, client_signals, request_signals

log = logging.getLogger("strata.server")
access = logging.getLogger("strata.access")

CLIENT_JS = (Path(__file__).parent / "client.js").read_bytes()
NO = {"0", "no", "false", "deny", "denied", "reject", "rejected", "off"}
#: Request headers a personalised response depends on; shared caches must key on all of them.
VARY = "Cookie, Sec-GPC, DNT, Accept-Language, User-Agent, Sec-CH-UA-Mobile, Sec-CH-UA-Platform"
MAX_SLOTS = 64
MAX_URL = 2048


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status, headers={"Cache-Control": "no-store"})


class Server:
    """Per-app state: configuration, bundle manager, cookie codec, metrics."""

    def __init__(self, config: Config):
        config.validate()
        self.config = config
        try:
            self.tz = ZoneInfo(config.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {config.timezone!r} (use an IANA name such as Europe/Berlin)") from None
        self.measure = Measurement()
        self.metrics = Metrics(lambda: self.bundles.current, self.measure, config.metrics_dir)
        self.bundles = BundleManager(config, self.metrics)
        if not config.cookie_keys:
            log.warning("no cookie keys configured (STRATA_COOKIE_KEYS): using a random key; sessions reset on restart")
        self.codec = CookieCodec(config.cookie_keys or ephemeral_keys(), config.cookie_name)
        self.origin = httpx.AsyncClient(timeout=config.origin_timeout, follow_redirects=False) if config.origin else None
        self.pages_root = Path(config.pages).resolve() if config.pages else None
        self._html_for: Prepared | None = None
        self._html: dict[int, str] = {}

    def html(self, prepared: Prepared, content: Any) -> str:
        """Rendered HTML of a content block, cached for the lifetime of the bundle holding it
        (content blocks are immutable; the cache key is the object, alive as long as the bundle)."""
        if self._html_for is not prepared:
            self._html_for, self._html = prepared, {}
        key = id(content)
        out = self._html.get(key)
        if out is None:
            out = self._html[key] = render_mod.render(content)
        return out

    # ------------------------------------------------------------------ helpers
    def prepared(self) -> Prepared:
        p = self.bundles.current
        if p is None:
            raise ApiError(503, "not_ready", "no verified bundle is loaded yet; see /readyz and the server log")
        return p

    def consent(self, h: dict[str, str], cookies: dict[str, str]) -> bool:
        if self.config.honour_gpc and h.get("sec-gpc", "").strip() == "1":
            return False
        if self.config.honour_dnt and h.get("dnt", "").strip() == "1":
            return False
        v = cookies.get(self.config.consent_cookie)
        return not (v is not None and v.strip().lower() in NO)

    async def read_json(self, request: Request) -> Any:
        limit = self.config.max_body_bytes
        cl = request.headers.get("content-length")
        if cl is not None:
            if not cl.isdigit():
                raise ApiError(400, "bad_request", "Content-Length is not a number")
            if int(cl) > limit:
                raise ApiError(413, "too_large", f"request body over {limit} bytes")
        if cl is not None:
            raw = await request.body()  # the server enforces Content-Length framing
        else:
            raw = await self._read_stream(request, limit)
        if not raw.strip():
            return {}
        try:
            return orjson.loads(raw)  # rejects invalid UTF-8 and nesting deeper than 1024
        except orjson.JSONDecodeError as e:
            raise ApiError(400, "invalid_json", f"request body is not JSON (UTF-8): {e.msg} at character {e.pos}") from None

    @staticmethod
    async def _read_stream(request: Request, limit: int) -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "too_large", f"request body over {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def visit(self, cookies: dict[str, str], consent: bool, utm_source: str, category: str, page_view: bool, now: float) -> tuple[Session | None, int]:
        """The visitor's session (None without consent) updated for this request, and the previous
        last-seen time."""
        if not consent:
            return None, 0
        s = self.codec.decode(cookies.get(self.config.cookie_name)) or Session.fresh()
        previous = s.last_seen
        s.touch(int(now), self.config.visit_timeout, utm_source, category, page_view)
        return s, previous

    def decide(self, request: Request, prepared: Prepared, page_url: str, referrer: str | None, category: str,
               slots: list[str] | None, client: dict[str, Any], page_view: bool, explain: bool) -> tuple[Outcome, Session | None, bool]:
        now = time.time()
        # one dict of the headers: Starlette's Headers.get scans the raw list on every lookup
        h = headers_of(request)
        cookies = cookies_of(h)
        consent = self.consent(h, cookies)
        signals = request_signals(page_url, h, referrer=referrer, country_header=self.config.country_header, tz=self.tz, now=now)
        if category:
            signals["page.category"] = category
        session, previous = self.visit(cookies, consent, signals["utm.source"], category, page_view, now)
        if session is not None:
            signals.update(session.signals(previous))
        signals.update(client)
        # every value here is typed by construction (request and cookie) or validated (client)
        outcome = prepared.decide(signals, slots, session_id=session.sid if session else None, caps=session.caps if session else None,
                                  consent=consent, now=now, explain=explain, checked=True)
        m = self.metrics
        m.consent.inc("yes" if consent else "no")
        for slot, d in outcome.decisions.items():
            m.decisions.inc(slot, d.reason, d.layer or "")
        if outcome.errors:
            m.eval_errors.inc(by=outcome.errors)
        if session is not None:
            for exp, variant in session.record(outcome.cap_hits, outcome.exposures, int(now)):
                m.exposures.inc(exp, variant)
        held = any(d.reason == "holdout" for d in outcome.decisions.values())
        population = "no_consent" if not consent else ("holdout" if held else "personalized")
        for slot, d in outcome.decisions.items():
            arm, layer = arm_of(d)
            if session is None or session.first_exposure(f"{slot}|{arm}|{layer}"):
                self.measure.exposure(slot, arm, layer, population)
        return outcome, session, consent

    def cookie_headers(self, request: Request, session: Session | None, consent: bool) -> dict[str, str]:
        """The Set-Cookie header for this response (at most one), as a dict to merge."""
        name = self.config.cookie_name
        secure = "; Secure" if self.config.cookie_secure else ""
        if session is not None:
            value = self.codec.encode(session)
            return {"set-cookie": f"{name}={value}; Path=/; Max-Age={self.config.cookie_max_age}; HttpOnly; SameSite=Lax{secure}"}
        if not consent and name in cookies_of(headers_of(request)):
            return {"set-cookie": f"{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"}
        return {}


def headers_of(request: Request) -> dict[str, str]:
    """Request headers as a plain dict (lower-case names), built once: Starlette's Headers.get
    scans the raw list on every lookup."""
    h = request.scope.get("strata.headers")
    if h is None:
        h = request.scope["strata.headers"] = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"]}
    return h  # type: ignore[no-any-return]


def cookies_of(h: dict[str, str]) -> dict[str, str]:
    """Name -> value of the Cookie header (first occurrence wins; values unquoted as-is)."""
    out: dict[str, str] = {}
    for part in h.get("cookie", "").split(";"):
        name, sep, value = part.partition("=")
        name = name.strip()
        if sep and name and name not in out:
            out[name] = value.strip()
    return out


def _page_fields(body: Any) -> tuple[str, str | None, str, list[str] | None, Any, bool]:
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_request", "body must be a JSON object", "body")
    unknown = set(body) - {"page", "slots", "signals", "page_view", "html"}
    if unknown:
        f = sorted(unknown)[0]
        raise ApiError(422, "invalid_request", f"unknown field {f!r} (fields: page, slots, signals, page_view, html)", f)
    if not isinstance(body.get("html", False), bool):
        raise ApiError(422, "invalid_request", "html must be true or false", "html")
    page = body.get("page", {})
    if not isinstance(page, dict):
        raise ApiError(422, "invalid_request", "page must be an object {url, referrer?, category?}", "page")
    url = page.get("url", "/")
    if not isinstance(url, str) or len(url) > MAX_URL:
        raise ApiError(422, "invalid_request", f"page.url must be a string of at most {MAX_URL} characters", "page.url")
    ref = page.get("referrer")
    if ref is not None and (not isinstance(ref, str) or len(ref) > MAX_URL):
        raise ApiError(422, "invalid_request", "page.referrer must be a string", "page.referrer")
    cat = page.get("category", "")
    if not isinstance(cat, str) or len(cat) > 64:
        raise ApiError(422, "invalid_request", "page.category must be a string of at most 64 characters", "page.category")
    slots = body.get("slots")
    if slots is not None and (not isinstance(slots, list) or len(slots) > MAX_SLOTS or not all(isinstance(s, str) and len(s) <= 64 for s in slots)):
        raise ApiError(422, "invalid_request", f"slots must be a list of at most {MAX_SLOTS} slot names", "slots")
    pv = body.get("page_view", True)
    if not isinstance(pv, bool):
        raise ApiError(422, "invalid_request", "page_view must be true or false", "page_view")
    return url, ref, cat, slots, body.get("signals"), pv


def create_app(config: Config) -> Starlette:
    srv = Server(config)

    async def decide(request: Request) -> Response:
        prepared = srv.prepared()
        body = await srv.read_json(request)
        url, ref, cat, slots, raw_signals, page_view = _page_fields(body)
        try:
            client = client_signals(raw_signals, prepared, srv.config.max_client_signals)
        except ClientSignalError as e:
            raise ApiError(422, "invalid_signal", str(e), e.field) from None
        explain = srv.config.debug and request.query_params.get("explain") in ("1", "true")
        outcome, session, consent = srv.decide(request, prepared, url, ref, cat, slots, client, page_view, explain)
        out = outcome.to_dict()
        if body.get("html"):  # rendered, escaped HTML per slot (the client script asks for it)
            for slot, d in outcome.decisions.items():
                out["slots"][slot]["html"] = srv.html(prepared, d.content)
        out["consent"] = consent
        headers = {"cache-control": "private, no-store", "vary": VARY, **srv.cookie_headers(request, session, consent)}
        return Response(orjson.dumps(out), media_type="application/json", headers=headers)

    async def events(request: Request) -> Response:
        prepared = srv.prepared()
        body = await srv.read_json(request)
        if not isinstance(body, dict) or set(body) - {"goal", "value"}:
            raise ApiError(422, "invalid_request", "body must be {goal, value?}", "body")
        goal = body.get("goal")
        if not isinstance(goal, str) or goal not in prepared.goals:
            raise ApiError(422, "unknown_goal", f"goal must be one of {', '.join(prepared.goals) or '(none declared)'}", "goal")
        value = body.get("value", 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value < 1e12):
            raise ApiError(422, "invalid_request", "value must be a non-negative number", "value")
        h = headers_of(request)
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
            headers.update(srv.cookie_headers(request, session, consent))
        return JSONResponse({"accepted": True, "population": population}, status_code=202, headers=headers)

    async def stats(request: Request) -> Response:
        token = srv.config.stats_token
        if not token:
            raise ApiError(404, "stats_disabled", "statistics are disabled: set STRATA_STATS_TOKEN (or --stats-token) to enable GET /v1/stats")
        auth = headers_of(request).get("authorization", "")
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
        outcome, session, consent = srv.decide(request, prepared, url, request.headers.get("referer"), doc.category,
                                               doc.slots, _cookie_signals(request, prepared, srv.config.max_client_signals), True, explain)
        overlay = _overlay(outcome) if srv.config.debug else None
        body = doc.fill(outcome.decisions, lambda c: srv.html(prepared, c), overlay)
        headers = {"cache-control": "private, no-store", "vary": VARY, **srv.cookie_headers(request, session, consent)}
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
        Route("/v1/decide", decide, methods=["POST"]),
        Route("/v1/events", events, methods=["POST"]),
        Route("/v1/client.js", client_js, methods=["GET"]),
        Route("/v1/stats", stats, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
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


def _cookie_signals(request: Request, prepared: Prepared, limit: int) -> dict[str, Any]:
    from urllib.parse import unquote

    raw = cookies_of(headers_of(request)).get(SIGNALS_COOKIE)
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
                raise ApiError(413, "too_large", "page too large to personalise")
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
            await send(message)  # type: ignore[arg-type]

        try:
            await self.app(scope, receive, send_wrapper)  # type: ignore[arg-type]
        finally:
            path = scope.get("path", "")
            route = path if path in ("/v1/decide", "/v1/events", "/v1/client.js", "/v1/stats", "/healthz", "/readyz", "/metrics") else "page"
            dt = time.perf_counter() - t0
            m = self.srv.metrics
            m.latency.observe(route, dt)
            m.requests.inc(route, str(status["code"]))
            if self.srv.config.log_requests and route not in ("/healthz", "/metrics"):
                cur = self.srv.bundles.current
                access.info(json.dumps({"method": scope.get("method"), "route": route, "status": status["code"],
                                        "ms": round(dt * 1000, 2), "bundle": cur.version if cur else None}))
