"""DecideEndpoint._checked, the decide body's fields and client signals remembered per bundle by the
body's bytes (edge_server/decide.py): over generated bodies — accepted ones, each refusal class of the
body (not JSON, not an object, unknown field, every field's wrong type and size, unknown slot, client
signals unknown, server-side or mistyped), repeated and interleaved — every answer is what parsing and
checking the body afresh gives, refusal for refusal; the remembered results are never written by the
decisions made with them; the memory is bounded, skips large bodies and starts afresh per bundle."""

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
from edge_server.decide import DecideEndpoint, check_slots, decide_fields
from edge_server.errors import ApiError
from edge_server.server import DecideRequest, Server
from edge_server.signals import ClientSignalError, client_signals
from runtime import Runtime
from tests.conftest import CREATED, TRAILBLAZER
from tests.edge_server.remembered_bodies import assert_remembered_as_afresh

KEYS = {"k1": b"\x07" * 32}
CART = {"cart.items": [{"sku": "TB-1", "category": "tents", "price": 249.0, "quantity": 1}], "cart.value": 249.0}


def _body(rng: random.Random, slot_ids: list[str]) -> bytes:
    """One generated body: mostly accepted, else one refusal class."""
    body: dict[str, Any] = {"page": {"url": rng.choice(["/", "/tents.html", "/cart.html?x=1", "https://shop.example/p"])}}
    if rng.random() < 0.5:
        body["slots"] = rng.sample(slot_ids, rng.randint(0, len(slot_ids)))
    if rng.random() < 0.3:
        body["page"]["category"] = rng.choice(["", "tents", "x" * 70])
    if rng.random() < 0.3:
        body["signals"] = dict(rng.sample(sorted(CART.items()), rng.randint(0, 2)))
    if rng.random() < 0.2:
        body[rng.choice(["html", "page_view"])] = rng.choice([True, False, 1, "yes"])
    kind = rng.randrange(14)
    if kind == 0:
        return rng.choice([b"", b"  ", b"{", b"[1,2]", b'"x"', b"\xff", b'{"page":{"url":"/"},}'])
    if kind == 1:
        body["nope"] = 1
    elif kind == 2:
        body["slots"] = rng.choice(["hero", [1], ["nowhere"], ["hero", "nowhere"], ["x" * 200]])
    elif kind == 3:
        body["page"] = rng.choice([[], {"url": 5}, {"url": "x" * 5000}, {"url": "/", "referrer": 3}, {"url": "javascript:x"}])
    elif kind == 4:
        body["signals"] = rng.choice([[], {"nope": 1}, {"cart.value": "a lot"}, {"page.path": "/"}, {"cart.items": [{"sku": 5}]}])
    text = json.dumps(body, separators=rng.choice([(",", ":"), (", ", ": ")]))
    return text.encode()


def _afresh(raw: bytes, prepared: Any, limit: int) -> tuple[Any, ...]:
    """What parsing and checking ``raw`` afresh gives: the fields and client signals, or the refusal."""
    try:
        f = decide_fields(parse_json(raw))
        check_slots(f.slots, prepared)
        try:
            client = client_signals(f.signals, prepared, limit)
        except ClientSignalError as e:
            raise e.api_error() from None
        return ("ok", f, client)
    except ApiError as e:
        return ("refused", e.status, e.code, str(e))


def _remembered(ep: DecideEndpoint, raw: bytes, prepared: Any) -> tuple[Any, ...]:
    try:
        return ("ok", *ep._checked(raw, prepared))
    except ApiError as e:
        return ("refused", e.status, e.code, str(e))


def test_remembered_bodies_answer_as_checked_afresh(signing_key: Ed25519PrivateKey, trailblazer_bundle: bytes) -> None:
    srv = Server(Config(ruleset=str(TRAILBLAZER), cookie_keys=KEYS))
    ep = DecideEndpoint(srv)
    prepared = Runtime([signing_key.public_key()]).load(trailblazer_bundle, now=CREATED)
    rng = random.Random(2612)
    pool = [_body(rng, list(prepared.slot_ids)) for _ in range(300)]
    assert_remembered_as_afresh(rng, pool, lambda raw: _remembered(ep, raw, prepared),
                                lambda raw: _afresh(raw, prepared, srv.config.max_client_signals), ep._bodies)


def test_decisions_never_write_the_remembered_results(signing_key: Ed25519PrivateKey, trailblazer_bundle: bytes) -> None:
    srv = Server(Config(ruleset=str(TRAILBLAZER), cookie_keys=KEYS))
    ep = DecideEndpoint(srv)
    prepared = Runtime([signing_key.public_key()]).load(trailblazer_bundle, now=CREATED)
    rng = random.Random(5)
    bodies = [json.dumps({"page": {"url": u, "category": c}, "signals": s}).encode()
              for u in ("/", "/cart.html") for c in ("", "tents") for s in ({}, CART)]
    for raw in bodies:
        ep._checked(raw, prepared)
    snapshot = copy.deepcopy(ep._bodies.memo)
    cookies: dict[str, str] = {}
    for i in range(200):
        f, client = ep._checked(rng.choice(bodies), prepared)
        outcome, session, consent = srv.decide({}, cookies, prepared, DecideRequest(f.url, f.referrer, f.category, f.slots, client, f.page_view,
                                                                                  explain=i % 9 == 0))
        cookie = srv.set_cookie({}, cookies, session, consent)
        assert cookie is not None
        cookies["strata"] = cookie.split(";")[0].partition("=")[2]
    assert ep._bodies.memo == snapshot


def test_the_memory_is_bounded_skips_large_bodies_and_starts_afresh_per_bundle(signing_key: Ed25519PrivateKey,
                                                                              trailblazer_bundle: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    srv = Server(Config(ruleset=str(TRAILBLAZER), cookie_keys=KEYS))
    ep = DecideEndpoint(srv)
    monkeypatch.setattr(AcceptedBodies, "MAX_BODIES", 4)
    prepared = Runtime([signing_key.public_key()]).load(trailblazer_bundle, now=CREATED)
    for i in range(20):
        ep._checked(json.dumps({"page": {"url": f"/p{i}"}}).encode(), prepared)
        assert 1 <= len(ep._bodies.memo) <= 4
    large = json.dumps({"page": {"url": "/" + "x" * AcceptedBodies.MAX_BODY}}).encode()
    assert ep._checked(large, prepared)[0].url.startswith("/x")
    assert large not in ep._bodies.memo
    other = Runtime([signing_key.public_key()]).load(trailblazer_bundle, now=CREATED)
    ep._checked(b'{"page":{"url":"/"}}', other)
    assert ep._bodies.prepared is other and ep._bodies.memo == {b'{"page":{"url":"/"}}': ep._checked(b'{"page":{"url":"/"}}', other)}
