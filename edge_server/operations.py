"""Endpoints for operators: ``GET /healthz``, ``GET /readyz``, ``GET /metrics`` (Prometheus text)
and ``GET /v1/stats`` (the measurement snapshot ``strata report`` reads). The stats token, when
set, protects both ``/v1/stats`` and ``/metrics``: they carry the same per-arm counters. Without
one, ``/v1/stats`` is off and ``/metrics`` serves the operational families only (metrics.BUSINESS)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .bearer import bearer_ok
from .errors import ApiError, error_response
from .metrics import Metrics
from .server import Server, headers_of

log = logging.getLogger("strata.server")


def routes(srv: Server) -> list[Route]:
    """The operators' routes of one server."""

    async def stats(request: Request) -> Response:
        token = srv.config.stats_token
        if not token:
            raise ApiError(404, "stats_disabled", "statistics are disabled: set STRATA_STATS_TOKEN (or --stats-token) to enable GET /v1/stats")
        if not bearer_ok(headers_of(request.scope), token):
            return unauthorized(srv, "GET /v1/stats")
        measure = srv.measure.merged([o.get("measure", {}) for o in srv.metrics.siblings()])  # all workers of this server
        return Response(orjson.dumps(measure.snapshot(srv.bundles.current)), media_type="application/json",
                        headers={"cache-control": "no-store"})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        cur = srv.bundles.current
        st = srv.bundles.state
        polling = srv.bundles.polling
        ready = cur is not None and polling is not False  # a polling task that died would serve a stale bundle forever
        body: dict[str, Any] = {"ready": ready, "reload_failures": st.failures, "last_error": st.last_error,
                                "polling": polling is not False, "unexpected_errors": st.unexpected}
        if cur is not None:
            body["bundle"] = {"name": cur.name, "version": cur.version, "key_id": cur.key_id, "loaded_at": st.loaded_at}
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        # the business families only with the stats token; without one configured, the operational ones
        token = srv.config.stats_token
        if token and not bearer_ok(headers_of(request.scope), token):
            return unauthorized(srv, "GET /metrics")
        return Response(srv.metrics.render(business=bool(token)), media_type="text/plain; version=0.0.4; charset=utf-8")

    return [
        Route("/v1/stats", stats, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


def unauthorized(srv: Server, what: str) -> Response:
    """401 with a Bearer challenge (a response rather than an ApiError: it carries WWW-Authenticate)."""
    srv.metrics.rejected.inc("unauthorized")
    resp = error_response(401, "unauthorized", f"{what} needs 'Authorization: Bearer <STRATA_STATS_TOKEN>'")
    resp.headers["www-authenticate"] = 'Bearer realm="strata"'
    return resp


async def publish_metrics(metrics: Metrics) -> None:
    """With several workers: share this worker's counters every second."""
    while True:
        await asyncio.sleep(1.0)
        try:
            metrics.publish()
        except OSError as e:
            log.warning("cannot share metrics with sibling workers: %s", e)


