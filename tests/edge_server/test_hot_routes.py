"""The hot routes (edge_server/hot_routes.py): ``POST /v1/decide``, the OFREP bulk evaluation and the
OFREP single-flag evaluation (a trailing ``{key:path}``) are called from the observability middleware
without Starlette's stack. For a generated mix of requests — good and bad bodies, other methods,
near-miss paths, odd flag keys (empty, slashes, newlines, percent signs, non-ASCII), a mounted
``root_path``, with and without consent — the app answers
exactly as the same app does through Starlette (status, headers, body, the request metric), an
exception without a handler is answered 500 and raised again for the server to log, and a handled
exception after the response started is a RuntimeError, as Starlette's middleware does."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_server.app import create_app
from edge_server.config import Config
from edge_server.errors import ApiError
from edge_server.observe import Observe
from tests.conftest import TRAILBLAZER

KEYS = {"k1": b"\x07" * 32}
BODIES = [b'{"page":{"url":"/"},"slots":["hero","banner"]}', b'{"page":{"url":"/tents.html","category":"tents"}}', b"", b"{", b"[]",
          b'{"nope":1}', b'{"slots":["nope"]}', b'{"slots":"hero"}', b'{"page":{"url":5}}', b'{"signals":{"cart.value":"x"}}',
          b'{"html":1}', b"\xff", b'{"page":{"url":"/"}}' + b" " * 70_000, b'{"context":{}}', b'{"context":{"targetingKey":"x"}}']


class App:
    """The app as served (hot routes on) and the same app with every request through Starlette."""

    def __init__(self) -> None:
        self.hot = create_app(Config(ruleset=str(TRAILBLAZER), cookie_keys=KEYS, debug=True))
        self.plain = Observe(self.hot.app, self.hot.srv, self.hot.labels)  # type: ignore[attr-defined]
        assert set(self.hot.hot.routes) == {"/v1/decide", "/ofrep/v1/evaluate/flags"}  # type: ignore[attr-defined]
        assert [p[:3] for p in self.hot.hot.prefixed] == [("/ofrep/v1/evaluate/flags/", "POST", "key")]  # type: ignore[attr-defined]

    async def start(self) -> None:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await q.put({"type": "lifespan.startup"})
        started = asyncio.Event()

        async def send(m: Any) -> None:
            if m["type"] == "lifespan.startup.complete":
                started.set()

        self.lifespan = asyncio.ensure_future(self.hot({"type": "lifespan", "asgi": {"version": "3.0"}}, q.get, send))
        await started.wait()


def scope_of(method: str, path: str, headers: list[tuple[bytes, bytes]], root_path: str = "") -> dict[str, Any]:
    """An HTTP request's ASGI scope (Host and ``headers``)."""
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http", "path": root_path + path,
            "raw_path": (root_path + path).encode(), "query_string": b"", "root_path": root_path, "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000), "headers": [(b"host", b"127.0.0.1:8000"), *headers]}


async def exchange(app: Any, scope: dict[str, Any], body: bytes, out: dict[str, Any]) -> None:
    """Run ``app`` on one request whose body is ``body``; ``out`` gets the answer's status, headers and
    body as they are sent (so an answer sent before an exception is there too)."""
    sent = False
    out["body"] = b""

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(m: dict[str, Any]) -> None:
        if m["type"] == "http.response.start":
            out["status"], out["headers"] = m["status"], m["headers"]
        else:
            out["body"] += m.get("body", b"")

    await app(scope, receive, send)


async def call(app: Any, method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]], root_path: str = "") -> tuple[int, list[Any], bytes]:
    out: dict[str, Any] = {}
    await exchange(app, scope_of(method, path, [(b"content-length", str(len(body)).encode()), *headers], root_path), body, out)
    return out["status"], out["headers"], out["body"]


def comparable(status: int, headers: list[Any], body: bytes, consent: bool) -> Any:
    names = sorted(k for k, _ in headers)
    if status == 200 and consent:  # a new visitor's random session: the same answer's shape
        return status, names, sorted(json.loads(body))
    return status, sorted((k, v) for k, v in headers if k != b"set-cookie"), body


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["POST", "GET", "PUT"]), st.sampled_from(["/v1/decide", "/v1/decide/", "/ofrep/v1/evaluate/flags",
                                                                                   "/v1/decidex", "/V1/decide"]),
                          st.sampled_from(BODIES) | st.binary(max_size=40), st.booleans()), min_size=1, max_size=6))
def test_hot_routes_answer_as_starlette_does(requests: list[tuple[str, str, bytes, bool]]) -> None:
    async def run() -> None:
        a = App()
        await a.start()
        m = a.hot.srv.metrics  # type: ignore[attr-defined]
        for method, path, body, consent in requests:
            headers = [(b"content-type", b"application/json")] + ([] if consent else [(b"sec-gpc", b"1")])
            before = dict(m.requests.values)
            got = await call(a.hot, method, path, body, headers)
            counted = {k: v - before.get(k, 0) for k, v in m.requests.values.items() if v != before.get(k, 0)}
            before = dict(m.requests.values)
            want = await call(a.plain, method, path, body, headers)
            assert counted == {k: v - before.get(k, 0) for k, v in m.requests.values.items() if v != before.get(k, 0)}
            assert comparable(*got, consent) == comparable(*want, consent), (method, path, body)

    asyncio.run(run())


@pytest.mark.parametrize(("path", "body"), [("/v1/decide", b'{"page":{"url":"/"}}'), ("/ofrep/v1/evaluate/flags", b'{"context":{"targetingKey":"x"}}'),
                                           ("/ofrep/v1/evaluate/flags/hero", b'{"context":{"targetingKey":"x"}}')])
def test_hot_routes_unhandled_exception_is_500_and_raised_again(path: str, body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    async def run() -> None:
        a = App()
        await a.start()
        monkeypatch.setattr(a.hot.srv, "decide", boom)  # type: ignore[attr-defined]
        # the response is sent before the exception is raised again: the same 500 both ways
        out: list[Any] = []
        for app in (a.hot, a.plain):
            out.append(await capture(app, path, body))
        assert out[0] == out[1] and out[0][0] == 500 and json.loads(out[0][2])["error"]["code"] == "internal"

    asyncio.run(run())


def test_hot_routes_handled_exception_after_start_is_a_runtime_error() -> None:
    async def run() -> None:
        a = App()
        await a.start()
        hot = a.hot.hot  # type: ignore[attr-defined]

        async def late(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise ApiError(422, "late", "too late")

        started = [False]

        async def send(m: dict[str, Any]) -> None:
            started[0] = started[0] or m["type"] == "http.response.start"

        with pytest.raises(RuntimeError, match="response already started"):
            await hot.call(late, {"type": "http", "path": "/v1/decide", "method": "POST", "headers": []}, None, send, lambda: started[0])

    asyncio.run(run())


FLAG = "/ofrep/v1/evaluate/flags/"
#: Flag keys: the bundle's slots and fields, unknown ones, and keys Starlette's path convertor treats specially.
KEYS_ODD = ["hero", "banner", "hero.headline", "hero/headline", "", "/", "hero/", "nope", "hero\n", "hero\nx", "\n", "a%2Fb", "ä/ß",
            "hero ", " hero", "x" * 300, "hero?x=1", "hero#x", "..", "./hero"]
CONTEXTS = [b'{"context":{}}', b'{"context":{"targetingKey":"x"}}', b'{"context":{"page.url":"/tents.html","page.category":"tents"}}',
            b'{"context":{"cart.value":249}}', b'{"context":{"cart.value":"x"}}', b'{"context":[]}', b'{"nope":1}', b"", b"{", b"[]"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["POST", "POST", "GET", "PUT"]), st.sampled_from(KEYS_ODD) | st.text(max_size=12),
                          st.sampled_from(CONTEXTS) | st.binary(max_size=30), st.booleans(), st.sampled_from(["", "", "", "/app", FLAG[:-1]]),
                          st.booleans()), min_size=1, max_size=6))
def test_the_flag_route_answers_as_starlette_does(requests: list[tuple[str, str, bytes, bool, str, bool]]) -> None:
    async def run() -> None:
        a = App()
        await a.start()
        m = a.hot.srv.metrics  # type: ignore[attr-defined]
        for method, key, body, consent, root_path, bearer in requests:
            headers = [(b"content-type", b"application/json")] + ([] if consent else [(b"sec-gpc", b"1")])
            headers += [(b"authorization", b"Bearer nope")] if bearer else []
            before = dict(m.requests.values)
            got = await call(a.hot, method, FLAG + key, body, headers, root_path)
            counted = {k: v - before.get(k, 0) for k, v in m.requests.values.items() if v != before.get(k, 0)}
            before = dict(m.requests.values)
            want = await call(a.plain, method, FLAG + key, body, headers, root_path)
            assert counted == {k: v - before.get(k, 0) for k, v in m.requests.values.items() if v != before.get(k, 0)}
            assert comparable(*got, consent) == comparable(*want, consent), (method, key, body, root_path)

    asyncio.run(run())


@pytest.mark.parametrize("key", KEYS_ODD)
def test_the_flag_route_sets_path_params_as_starlette_does(key: str) -> None:
    """The hot route's ``path_params`` are the ones Starlette's first matching route gives, or the
    request goes through Starlette (no hot app) when that is not the flag route."""
    a = App()
    hot = a.hot.hot  # type: ignore[attr-defined]
    router = a.hot.app.router  # type: ignore[attr-defined]
    for method in ("POST", "GET"):
        scope: dict[str, Any] = {"type": "http", "method": method, "path": FLAG + key, "root_path": ""}
        app = hot.get(scope)
        full = [(r, child) for r in router.routes for match, child in [r.matches(dict(scope))] if match.name == "FULL"]
        if app is None:
            assert method != "POST" or "\n" in key
        else:
            assert full and full[0][0].app is app and scope["path_params"] == full[0][1]["path_params"]
    assert hot.get({"type": "http", "method": "POST", "path": FLAG + "hero", "root_path": ""}) is not None


def boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("boom")


async def capture(app: Any, path: str, body: bytes) -> tuple[int, list[Any], bytes]:
    """The answer sent before the exception was raised again."""
    got: dict[str, Any] = {}
    with pytest.raises(RuntimeError, match="boom"):
        await exchange(app, scope_of("POST", path, [(b"content-type", b"application/json")]), body, got)
    return got["status"], got["headers"], got["body"]

