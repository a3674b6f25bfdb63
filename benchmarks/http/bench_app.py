"""The edge server as benchmarked: the production app (bundle file + public key from the
environment) with ``strata serve``'s logging (``BENCH_LOG_LEVEL``, default info: one access line
per request, as in production), plus one bare Starlette route returning a constant JSON body,
mounted on the same router behind the same middleware, so both go through the same server
configuration; and a control route (``http_bench.py --control``: ``/bench/shape`` through Starlette's
router, ``/bench/shape-hot`` through the hot-route dispatch /v1/decide takes) that does the I/O of a decide
request and none of Strata's work, as the edge worker bench's control (edge_worker/bench/control.js):
it reads the JSON body, parses the page URL, opens the session cookie (AES-GCM, the server's
``s1.<kid>.<base64url(nonce || ciphertext)>`` format and associated data, so it opens the real
cookies the bench mints) and seals it again with a fresh nonce (a first visit seals a session-sized
plaintext; a request with Sec-GPC: 1 has no consent and no cookie), and answers with /v1/decide's
headers, the Set-Cookie and a decide-sized constant body."""

from __future__ import annotations

import base64
import os
import re
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
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


#: A decide response's shape in the bench mix: ~950-byte body.
_SHAPE_BODY = b'{"bundle":{"name":"constant","version":1},"pad":"' + b"x" * 898 + b'"}'
_SHAPE_HEADERS = [*RESPONSE_HEADERS, (b"content-length", str(len(_SHAPE_BODY)).encode())]
_COOKIE = re.compile(r"(?:^|;\s*)strata_session=([^;]*)")


class Shape:
    """The control route: a decide request's I/O (body read, page URL parsed, the cookie opened
    and sealed, response headers and size), none of Strata's work."""

    def __init__(self, key: bytes, kid: str) -> None:
        self.aead = AESGCM(key)
        self.kid = kid
        self.aad = f"s1|strata_session|{kid}".encode()

    def cookie(self, h: dict[str, str]) -> bytes | None:
        if h.get("sec-gpc") == "1":
            return None
        m = _COOKIE.search(h.get("cookie", ""))
        plain = bytes(240)  # a first visit's session is about this size
        if m:
            body = m.group(1).split(".")[2]
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = self.aead.decrypt(blob[:12], blob[12:], self.aad)
        nonce = os.urandom(12)
        value = base64.urlsafe_b64encode(nonce + self.aead.encrypt(nonce, plain, self.aad)).rstrip(b"=")
        return b"strata_session=s1." + self.kid.encode() + b"." + value + b"; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        h = headers_of(scope)
        body = await read_json(h, receive, config.max_body_bytes)  # the limit decide reads under
        urlsplit((body.get("page") or {}).get("url", "/"))  # the page URL, parsed
        headers = list(_SHAPE_HEADERS)
        cookie = self.cookie(h)
        if cookie is not None:
            headers.append((b"set-cookie", cookie))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
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
shape = Shape(config.cookie_keys["bench"], "bench")
app.app.router.routes.insert(2, Route("/bench/shape", shape, methods=["POST"]))  # type: ignore[attr-defined]
# the same control dispatched as /v1/decide is (edge_server/hot_routes.py): without Starlette's middleware
# stack and router, so decide − this control is Strata's work after the dispatch both pay alike
app.app.router.routes.insert(3, Route("/bench/shape-hot", shape, methods=["POST"]))  # type: ignore[attr-defined]
app.hot.routes["/bench/shape-hot"] = ("POST", shape)  # type: ignore[attr-defined]
