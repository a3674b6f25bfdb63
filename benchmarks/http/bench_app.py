"""The edge server as benchmarked: the production app (bundle file + public key from the
environment) with ``strata serve``'s logging (``BENCH_LOG_LEVEL``, default info: one access line
per request, as in production), plus one bare Starlette route returning a constant JSON body,
mounted on the same router behind the same middleware, so both go through the same server
configuration; and a control route (``http_bench.py --control``) that does the I/O of a decide
request and none of its work: it reads the JSON body and answers with /v1/decide's headers, a
session-cookie-sized Set-Cookie and a decide-sized constant body."""

from __future__ import annotations

import base64
import os

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from edge_server.app import create_app
from edge_server.body import read_json
from edge_server.config import Config
from edge_server.decide import RESPONSE_HEADERS
from edge_server.logs import configure_logging
from edge_server.server import headers_of


async def constant(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True, "bundle": {"name": "constant", "version": 1}})


#: A decide response's shape in the bench mix: ~950-byte body, ~400-byte session cookie.
_SHAPE_BODY = b'{"bundle":{"name":"constant","version":1},"pad":"' + b"x" * 898 + b'"}'
_SHAPE_HEADERS = [*RESPONSE_HEADERS, (b"content-length", str(len(_SHAPE_BODY)).encode()),
                  (b"set-cookie", b"strata_session=s1.bench." + b"A" * 380 + b"; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax")]


class Shape:
    """The control route: a decide request's I/O (body read, response headers and size), no work."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await read_json(headers_of(scope), receive, config.max_body_bytes)  # the limit decide reads under
        await send({"type": "http.response.start", "status": 200, "headers": list(_SHAPE_HEADERS)})
        await send({"type": "http.response.body", "body": _SHAPE_BODY})


configure_logging(os.environ.get("BENCH_LOG_LEVEL", "info"))
config = Config(
    bundle=os.environ["BENCH_BUNDLE"],
    public_keys=[os.environ["BENCH_PUB"]],
    cookie_keys={"bench": base64.b64decode(os.environ["BENCH_COOKIE_KEY"])},
    cookie_secure=False,
    ofrep_token="bench-ofrep",  # benchmarks/http/ofrep.lua's keyed evaluations are a server-side caller's
)
app = create_app(config)
# first on the router: the bare route is matched first, /v1/decide second (the conservative order)
app.app.router.routes.insert(0, Route("/bench/constant", constant, methods=["GET", "POST"]))  # type: ignore[attr-defined]
# the control route after /v1/decide, so decide is still matched second
app.app.router.routes.insert(2, Route("/bench/shape", Shape(), methods=["POST"]))  # type: ignore[attr-defined]
