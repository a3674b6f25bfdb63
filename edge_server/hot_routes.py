"""The hot routes: ``POST /v1/decide`` and the other exact-path endpoints that are plain ASGI apps,
called straight from the observability middleware instead of through Starlette's middleware stack
and router (docs/server.md, "Where a request's CPU goes").

Starlette would reach the same endpoint through five more ASGI layers (the error middleware, the
exception middleware, the router matching the routes in order, the route's method check), two of
them wrapping ``send`` again: ~6 µs of a decide request's CPU. The behaviour is Starlette's, the
same code paths of ``app.py``'s handlers:

- a route is hot only when no route before it in the table matches its path (Starlette takes the
  first match), its path has no parameters, and the request's method is the route's only method:
  anything else (another method: 405; a mounted ``root_path``) goes through Starlette as before;
- an exception with a handler (``ApiError``, ``HTTPException``) is answered by that handler, as
  Starlette's exception middleware does (a ``RuntimeError`` when the response had started);
- any other exception is answered by the 500 handler when the response had not started, and raised
  again for the server to log, as Starlette's error middleware does.

The tests of every endpoint's errors, headers and metrics run through this path
(tests/edge_server/test_http.py); tests/edge_server/test_hot_routes.py compares its answers with
Starlette's for the same requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send


class HotRoutes:
    """Path -> (method, ASGI app) of the hot routes, and the application's exception handlers."""

    def __init__(self, routes: Sequence[BaseRoute], handlers: Mapping[Any, Callable[..., Any]]):
        self.routes: dict[str, tuple[str, ASGIApp]] = {}
        for i, r in enumerate(routes):
            if not isinstance(r, Route) or r.param_convertors or len(r.methods or ()) != 1 or callable_endpoint(r):
                continue
            if any(isinstance(o, Route) and o.path_regex.match(r.path) for o in routes[:i]):
                continue  # an earlier route would take the path: Starlette decides
            self.routes[r.path] = (next(iter(r.methods or ())), r.app)
        self.handlers = {k: v for k, v in handlers.items() if k is not Exception and k != 500}
        self.error = handlers.get(Exception) or handlers.get(500)

    def get(self, scope: Scope) -> ASGIApp | None:
        """The hot route's app for this request, or None (Starlette's router then answers it)."""
        route = self.routes.get(scope["path"])
        if route is None or scope["method"] != route[0] or scope.get("root_path"):
            return None
        return route[1]

    async def call(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, started: Callable[[], bool]) -> None:
        """Run ``app``; its exceptions answered as Starlette answers them. ``started``: whether the
        response's start has been sent (the caller's ``send`` knows)."""
        try:
            await app(scope, receive, send)
        except Exception as exc:
            handler = self.handler(exc)
            if handler is not None:
                if started():
                    raise RuntimeError("Caught handled exception, but response already started.") from exc
                response = await handler(Request(scope, receive), exc)
                if response is not None:
                    await response(scope, receive, send)
                exc.__traceback__ = None
                return
            if self.error is not None and not started():
                response = await self.error(Request(scope), exc)
                await response(scope, receive, send)
            raise

    def handler(self, exc: Exception) -> Callable[..., Any] | None:
        for cls in type(exc).__mro__:
            h = self.handlers.get(cls)
            if h is not None:
                return h
        return None


def callable_endpoint(r: Route) -> bool:
    """Whether Starlette wraps the route's endpoint (a function or method taking a Request) rather
    than calling it as an ASGI app: such routes stay with Starlette."""
    return r.app is not r.endpoint
