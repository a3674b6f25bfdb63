"""The edge server: ``create_app(config)`` assembles a Starlette application from the endpoint
groups — decide (``decide.py``), events (``events.py``), OpenFeature (``ofrep.py``), operators
(``operations.py``), page mode (``pages.py``) — behind the observability middleware
(``observe.py``). Endpoints: docs/server.md. Bad input gets a 4xx with
``{"error": {"code", "message"}}``; nothing a client sends can produce a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import operations, pages
from .config import Config
from .counter_batches import CountersEndpoint, CounterStore
from .decide import DecideEndpoint
from .errors import ApiError, error_response
from .events import EventsEndpoint
from .fleet_ledger import PATH as FLEET_LEDGER_PATH
from .fleet_ledger import ClaimStore, FleetLedger, LedgerEndpoint, own_url
from .hot_routes import HotRoutes
from .observe import Observe, RouteLabels
from .ofrep import FlagEndpoint, FlagsEndpoint
from .server import Server

log = logging.getLogger("strata.server")


def create_app(config: Config) -> Starlette:
    srv = Server(config)
    if config.instance_id:
        srv.metrics.instance_id = config.instance_id
    if config.counters_secret and config.state_dir:  # aggregated mode: the fleet's pushed counters
        srv.metrics.pushed = CounterStore(Path(config.state_dir) / "counters", config.counters_window)
    claims = ClaimStore(config.visit_timeout + 2, on_evict=srv.metrics.ledger_evictions.inc)  # the fleet's claims this replica owns
    if config.fleet_ledger and config.counters_secret:  # conversions once per visit across the fleet (fleet_ledger.py)
        srv.fleet_ledger = FleetLedger(config.fleet_ledger, config.counters_secret, srv.measure, srv.metrics,
                                       own_url(config.fleet_ledger, config.host, config.port), claims)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await srv.bundles.check()  # never raises: a bad bundle at start leaves the server up and not ready
        tasks = [srv.bundles.start()]
        if srv.metrics.share_dir is not None:
            tasks.append(asyncio.create_task(operations.publish_metrics(srv.metrics)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if srv.fleet_ledger is not None:
                await srv.fleet_ledger.aclose()  # the claims still pending are answered (or counted locally) first
            srv.metrics.publish()
            await srv.bundles.aclose()
            if srv.origin is not None:
                await srv.origin.aclose()

    routes = [
        Route("/v1/decide", DecideEndpoint(srv), methods=["POST"]),
        Route("/v1/events", EventsEndpoint(srv).handle, methods=["POST"]),
        Route("/v1/client.js", pages.client_js, methods=["GET"]),
        Route("/v1/counters", CountersEndpoint(srv.metrics.pushed, config.counters_secret, srv.metrics).handle, methods=["POST"]),
        Route(FLEET_LEDGER_PATH, LedgerEndpoint(claims, config.counters_secret).handle, methods=["POST"]),
        *operations.routes(srv),
        Route("/ofrep/v1/evaluate/flags", FlagsEndpoint(srv), methods=["POST"]),
        Route("/ofrep/v1/evaluate/flags/{key:path}", FlagEndpoint(srv), methods=["POST"]),
    ]
    api_methods = {r.path: sorted(r.methods or ()) for r in routes}
    if config.pages or config.origin:
        page = Route("/{path:path}", pages.page_endpoint(srv, api_methods), methods=["GET", "HEAD"])
        # every path, a decoded newline (%0A) included: the page handler answers it, not a slash redirect
        page.path_regex = re.compile(r"^/(?P<path>.*)$", re.DOTALL)
        routes.append(page)

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        srv.metrics.rejected.inc(exc.code)
        return error_response(exc.status, exc.code, exc.message, exc.field)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        srv.metrics.rejected.inc(code)
        message = str(exc.detail)
        if exc.status_code == 405 and (config.pages or config.origin):  # the page route's methods, whatever the method (as the worker says)
            path = request.scope["path"]
            message = f"{path} accepts {' and '.join(api_methods[path])}" if path in api_methods else "pages accept GET and HEAD"
        return error_response(exc.status_code, code, message)

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s", str(request.scope.get("path", ""))[:200])
        return error_response(500, "internal", "internal error; it has been logged")

    handlers = {ApiError: api_error, HTTPException: http_error, Exception: internal_error}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.state.server = srv
    return Observe(app, srv, RouteLabels(routes), HotRoutes(routes, handlers))  # type: ignore[return-value]
