"""_Endpoint.context, the OFREP context remembered per bundle by the body's bytes (edge_server/ofrep.py),
as decide's bodies are: over generated bodies — accepted ones, each refusal class (not JSON, not an
object, a field besides ``context``, a context that is not an object, every targeting key and page
field's wrong type and size, client signals unknown, server-side or mistyped), repeated and interleaved
— every answer is what parsing and checking the body afresh gives, refusal for refusal; the remembered
contexts are never written by the evaluations made with them (both endpoints, keyed and anonymous); the
memory is bounded, skips large bodies and starts afresh per bundle."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_server.accepted_bodies import AcceptedBodies
from edge_server.body import parse_json
from edge_server.config import Config
from edge_server.errors import ApiError
from edge_server.ofrep import _CODES, Context, FlagEndpoint, FlagsEndpoint, OfrepError, _Endpoint
from edge_server.server import Server
from runtime import Runtime
from runtime.flags import MAX_TARGETING_KEY
from tests.conftest import CREATED, TRAILBLAZER
from tests.edge_server.remembered_bodies import assert_remembered_as_afresh

KEYS = {"k1": b"\x07" * 32}
TOKEN = "ofrep-contexts-token"
CART = {"cart.items": [{"sku": "TB-1", "category": "tents", "price": 249.0, "quantity": 1}], "cart.value": 249.0}


def _body(rng: random.Random) -> bytes:
    """One generated body: mostly accepted, else one refusal class."""
    ctx: dict[str, Any] = {}
    if rng.random() < 0.5:
        ctx["targetingKey"] = rng.choice(["user-1", "user-2", "", "k" * MAX_TARGETING_KEY])
    if rng.random() < 0.4:
        ctx["page.url"] = rng.choice(["/", "/tents.html", "/cart.html?x=1", "https://shop.example/p"])
    if rng.random() < 0.3:
        ctx["page.category"] = rng.choice(["", "tents", "x" * 70])
    if rng.random() < 0.2:
        ctx["page.referrer"] = rng.choice(["https://search.example/", None])
    if rng.random() < 0.3:
        ctx.update(dict(rng.sample(sorted(CART.items()), rng.randint(0, 2))))
    body: Any = {"context": ctx} if rng.random() < 0.9 else rng.choice([{}, {"context": None}])
    kind = rng.randrange(12)
    if kind == 0:
        return rng.choice([b"", b"  ", b"{", b"[1,2]", b'"x"', b"\xff", b'{"context":{},}', b"null"])
    if kind == 1:
        body = rng.choice([[], {"context": {}, "nope": 1}, {"context": []}, {"context": "x"}, {"context": 5}])
    elif kind == 2:
        ctx["targetingKey"] = rng.choice([5, ["x"], "k" * (MAX_TARGETING_KEY + 1)])
    elif kind == 3:
        ctx[rng.choice(["page.url", "page.referrer", "page.category"])] = rng.choice([5, "x" * 5000, "javascript:x", []])
    elif kind == 4:
        ctx.update(rng.choice([{"nope": 1}, {"cart.value": "a lot"}, {"page.path": "/"}, {"cart.items": [{"sku": 5}]}]))
    return json.dumps(body, separators=rng.choice([(",", ":"), (", ", ": ")])).encode()


def _fields(ctx: Context) -> tuple[Any, ...]:
    return (ctx.key, ctx.url, ctx.referrer, ctx.category, ctx.signals)


def _afresh(raw: bytes, prepared: Any, limit: int) -> tuple[Any, ...]:
    """What parsing and checking ``raw`` afresh gives (the endpoint's code before it remembered): the
    context's fields, or the refusal."""
    try:
        try:
            body = parse_json(raw)
        except ApiError as e:
            raise OfrepError(e.status, _CODES.get(e.code, "GENERAL"), e.message) from None
        return ("ok", *_fields(Context(body, prepared, limit)))
    except OfrepError as e:
        return ("refused", e.status, e.code, e.details)


def _remembered(ep: _Endpoint, raw: bytes, prepared: Any) -> tuple[Any, ...]:
    try:
        return ("ok", *_fields(ep.context(raw, prepared)))
    except OfrepError as e:
        return ("refused", e.status, e.code, e.details)


def _setup(signing_key: Ed25519PrivateKey, bundle: bytes) -> tuple[Server, Any]:
    srv = Server(Config(ruleset=str(TRAILBLAZER), cookie_keys=KEYS, ofrep_token=TOKEN))
    return srv, Runtime([signing_key.public_key()]).load(bundle, now=CREATED)


@pytest.mark.parametrize("endpoint", [FlagEndpoint, FlagsEndpoint])
def test_remembered_contexts_answer_as_checked_afresh(endpoint: type[_Endpoint], signing_key: Ed25519PrivateKey,
                                                      trailblazer_bundle: bytes) -> None:
    srv, prepared = _setup(signing_key, trailblazer_bundle)
    ep = endpoint(srv)
    rng = random.Random(2613)
    pool = [_body(rng) for _ in range(300)]
    assert_remembered_as_afresh(rng, pool, lambda raw: _remembered(ep, raw, prepared),
                                lambda raw: _afresh(raw, prepared, srv.config.max_client_signals), ep._contexts)


def test_evaluations_never_write_the_remembered_contexts(signing_key: Ed25519PrivateKey, trailblazer_bundle: bytes) -> None:
    srv, prepared = _setup(signing_key, trailblazer_bundle)
    flag, flags = FlagEndpoint(srv), FlagsEndpoint(srv)
    rng = random.Random(6)
    bodies = [json.dumps({"context": {**k, "page.url": u, "page.category": c, **s}}).encode()
              for k in ({}, {"targetingKey": "user-1"}) for u in ("/", "/cart.html") for c in ("", "tents") for s in ({}, CART)]
    for raw in bodies:
        flag.context(raw, prepared)
        flags.context(raw, prepared)
    snapshot = (copy.deepcopy(flag._contexts.memo), copy.deepcopy(flags._contexts.memo))
    slots = list(prepared.slot_ids)
    cookie: str | None = None
    for i in range(200):
        ep = rng.choice([flag, flags])
        ctx = ep.context(rng.choice(bodies), prepared)
        h = {"authorization": f"Bearer {TOKEN}"} if i % 3 == 0 else {}
        if cookie is not None and i % 2:
            h["cookie"] = f"{srv.config.cookie_name}={cookie}"
        outcome, set_cookie, _missing = ep.decide(prepared, h, ctx, slots if ep is flags else [rng.choice(slots)])
        assert outcome.decisions or _missing
        if set_cookie:
            cookie = set_cookie[0][1].decode().split(";")[0].partition("=")[2]
    assert cookie is not None
    assert {k: _fields(v) for k, v in flag._contexts.memo.items()} == {k: _fields(v) for k, v in snapshot[0].items()}
    assert {k: _fields(v) for k, v in flags._contexts.memo.items()} == {k: _fields(v) for k, v in snapshot[1].items()}


def test_the_memory_is_bounded_skips_large_bodies_and_starts_afresh_per_bundle(signing_key: Ed25519PrivateKey,
                                                                              trailblazer_bundle: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    srv, prepared = _setup(signing_key, trailblazer_bundle)
    ep = FlagEndpoint(srv)
    monkeypatch.setattr(AcceptedBodies, "MAX_BODIES", 4)
    for i in range(20):
        ep.context(json.dumps({"context": {"page.url": f"/p{i}"}}).encode(), prepared)
        assert 1 <= len(ep._contexts.memo) <= 4
    large = json.dumps({"context": {"page.url": "/" + "x" * AcceptedBodies.MAX_BODY}}).encode()
    assert ep.context(large, prepared).url.startswith("/x")
    assert large not in ep._contexts.memo
    other = Runtime([signing_key.public_key()]).load(trailblazer_bundle, now=CREATED)
    raw = b'{"context":{"page.url":"/"}}'
    ctx = ep.context(raw, other)
    assert ep._contexts.prepared is other and ep._contexts.memo == {raw: ctx} and ep.context(raw, other) is ctx
