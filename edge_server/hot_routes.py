"""The hot routes: ``POST /v1/decide``, the other exact-path endpoints that are plain ASGI apps and
the OFREP single-flag evaluation (a trailing ``{key:path}``), called straight from the observability middleware instead of through Starlette's middleware stack
and router (docs/server.md, "Where a request's CPU goes").

Starlette would reach the same endpoint through five more ASGI layers (the error middleware, the
exception middleware, the router matching the routes in order, the route's method check), two of
them wrapping ``send`` again: ~6 µs of a decide request's CPU. The behaviour is Starlette's, the
same code paths of ``app.py``'s handlers:

- a route is hot only when no route before it in the table matches its path (Starlette takes the
  first match), its path has no parameters or only a trailing ``{name:path}`` after a fixed prefix
  (the OFREP single-flag route), and the request's method is the route's only method: anything else
  (another method: 405; a mounted ``root_path``) goes through Starlette as before;
- a prefixed route's parameter is the path after the prefix, set into ``scope["path_params"]`` as
  Starlette's router sets it (the path convertor's ``.*`` takes the decoded path as it is); a path
  with a newline goes through Starlette (its ``.`` stops at one, its ``$`` matches before a last one);
- an exception with a handler (``ApiError``, ``HTTPException``) is answered by that handler, as
  Starlette's exception middleware does (a ``RuntimeError`` when the response had started);
- any other exception is answered by the 500 handler when the response had not started, and raised
  again for the server to log, as Starlette's error middleware does.

The tests of every endpoint's errors, headers and metrics run through this path
(tests/edge_server/test_http.py); tests/edge_server/test_hot_routes.py compares its answers with
Starlette's for the same requests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send


class HotRoutes:
    """Path -> (method, ASGI app) of the hot routes, prefix -> (method, parameter, ASGI app) of the
    hot prefixed routes, and the application's exception handlers."""

    def __init__(self, routes: Sequence[BaseRoute], handlers: Mapping[Any, Callable[..., Any]]):
        self.routes: dict[str, tuple[str, ASGIApp]] = {}
        self.prefixed: list[tuple[str, str, str, ASGIApp]] = []
        for i, r in enumerate(routes):
            if not isinstance(r, Route) or len(r.methods or ()) != 1 or callable_endpoint(r):
                continue
            method = next(iter(r.methods or ()))
            if not r.param_convertors:
                if any(isinstance(o, Route) and o.path_regex.match(r.path) for o in routes[:i]):
                    continue  # an earlier route would take the path: Starlette decides
                self.routes[r.path] = (method, r.app)
                continue
            split = trailing_path_param(r)
            if split is None or any(may_overlap(o, split[0]) for o in routes[:i]):
                continue  # another shape of parameters, or an earlier route may take some of its paths
            self.prefixed.append((split[0], method, split[1], r.app))
        self.handlers = {k: v for k, v in handlers.items() if k is not Exception and k != 500}
        self.error = handlers.get(Exception) or handlers.get(500)

    def get(self, scope: Scope) -> ASGIApp | None:
        """The hot route's app for this request, or None (Starlette's router then answers it)."""
        path = scope["path"]
        route = self.routes.get(path)
        if route is None:
            for prefix, method, name, app in self.prefixed:
                if path.startswith(prefix):
                    value = path[len(prefix):]
                    if "\n" in value or scope["method"] != method or scope.get("root_path"):
                        return None
                    params = dict(scope.get("path_params", {}))
                    params[name] = value
                    scope["path_params"] = params
                    return app
            return None
        if scope["method"] != route[0] or scope.get("root_path"):
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


def trailing_path_param(r: Route) -> tuple[str, str] | None:
    """(prefix, name) of a route whose only parameter is a trailing ``{name:path}``, else None."""
    name = next(iter(r.param_convertors)) if len(r.param_convertors) == 1 else None
    if name is None or not r.path.endswith("{" + name + ":path}"):
        return None
    prefix = r.path[: -len(name) - 7]
    return (prefix, name) if "{" not in prefix and r.path_regex.pattern == "^" + re.escape(prefix) + "(?P<" + name + ">.*)$" else None


def may_overlap(o: BaseRoute, prefix: str) -> bool:
    """Whether route ``o`` may match a path starting with ``prefix``: any route but a Route may; a
    Route may when its fixed part before any parameter and ``prefix`` start alike (one is a prefix of
    the other), or when its exact path starts with ``prefix``."""
    if not isinstance(o, Route):
        return True
    fixed = o.path.split("{", 1)[0]
    if not o.param_convertors:
        return fixed.startswith(prefix)
    return fixed.startswith(prefix) or prefix.startswith(fixed)


def callable_endpoint(r: Route) -> bool:
    """Whether Starlette wraps the route's endpoint (a function or method taking a Request) rather
    than calling it as an ASGI app: such routes stay with Starlette."""
    return r.app is not r.endpoint
