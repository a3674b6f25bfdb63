"""Observability middleware: latency and status metrics per route, and one structured access line
per request with no IP, no cookie, no query string and no signal values."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .hot_routes import HotRoutes
from .server import Server

access = logging.getLogger("strata.access")


class RouteLabels:
    """The metric label of a request path, derived from the route table: the path of an exact
    route, the template of a parameterised one (one label for every flag key: bounded
    cardinality), and ``page`` for everything else."""

    def __init__(self, routes: list[Route]):
        self.exact = {r.path: r.path for r in routes if not r.param_convertors}
        self.templated = [r for r in routes if r.param_convertors and r.path != "/{path:path}"]

    def __call__(self, path: str) -> str:
        label = self.exact.get(path)
        if label is not None:
            return label
        for r in self.templated:
            if r.path_regex.match(path):
                return r.path.replace(":path}", "}")
        return "page"


class Observe:
    """ASGI middleware: latency and status metrics, and one structured log line per request with
    no IP, no cookie, no query string and no signal values."""

    def __init__(self, app: ASGIApp, srv: Server, labels: RouteLabels, hot: HotRoutes | None = None):
        self.app = app
        self.srv = srv
        self.labels = labels
        self.state = app.state  # type: ignore[attr-defined]
        self.hot = hot  # the hot routes, called without Starlette's stack (hot_routes.py)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status: list[Any] = [500, False]  # the response's status, and whether its start was sent

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0], status[1] = message["status"], True
            await send(message)

        try:
            routes = self.hot
            hot = routes.get(scope) if routes is not None else None
            if routes is not None and hot is not None:
                await routes.call(hot, scope, receive, send_wrapper, lambda: bool(status[1]))  # type: ignore[arg-type]
            else:
                await self.app(scope, receive, send_wrapper)  # type: ignore[arg-type]
        finally:
            path = scope.get("path", "")
            route = self.labels(path)
            dt = time.perf_counter() - t0
            m = self.srv.metrics
            m.latency.observe(route, dt)
            m.requests.inc(route, str(status[0]))
            if self.srv.config.log_requests and route not in ("/healthz", "/metrics") and access.isEnabledFor(logging.INFO):
                cur = self.srv.bundles.current
                access.info(orjson.dumps({"method": scope.get("method"), "route": route, "status": status[0],
                                          "ms": round(dt * 1000, 2), "bundle": cur.version if cur else None}).decode())
