"""The edge server as benchmarked: the production app (bundle file + public key from the
environment) with ``strata serve``'s logging (``BENCH_LOG_LEVEL``, default info: one access line
per request, as in production), plus one bare Starlette route returning a constant JSON body,
mounted on the same router behind the same middleware, so both go through the same server
configuration."""

from __future__ import annotations

import base64
import os

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from edge_server.app import create_app
from edge_server.cli import configure_logging
from edge_server.config import Config


async def constant(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True, "bundle": {"name": "constant", "version": 1}})


configure_logging(os.environ.get("BENCH_LOG_LEVEL", "info"))
config = Config(
    bundle=os.environ["BENCH_BUNDLE"],
    public_keys=[os.environ["BENCH_PUB"]],
    cookie_keys={"bench": base64.b64decode(os.environ["BENCH_COOKIE_KEY"])},
    cookie_secure=False,
)
app = create_app(config)
# first on the router: the bare route is matched first, /v1/decide second (the conservative order)
app.app.router.routes.insert(0, Route("/bench/constant", constant, methods=["GET", "POST"]))  # type: ignore[attr-defined]
