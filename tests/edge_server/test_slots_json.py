"""Server.slots_json, the cached ``"slots"`` object of a decide response: for every combination of
the bundle's decisions a fuzzed visitor mix reaches, with and without HTML, it is the JSON of the
outcome's decisions in their order (the text json.dumps writes of the same dict); an explained
outcome is joined per request and never cached; the cache stays bounded and starts afresh for a
new bundle. (The HTTP bytes of the same path: tests/vectors, in test_vectors_http.py.)"""

from __future__ import annotations

import json
import random

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_server.config import Config
from edge_server.server import DecideRequest, Server
from runtime import Runtime
from tests.conftest import CREATED, TRAILBLAZER

KEYS = {"k1": b"\x07" * 32}
URLS = ["/", "/tents.html", "/newsletter.html?utm_source=newsletter&utm_medium=email", "/product.html", "/cart.html"]
HEADERS = [{"user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"},
           {"user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36", "accept-language": "de-CH"}, {"sec-gpc": "1"}]


def expected(outcome, srv: Server, prepared, html: bool) -> dict:  # type: ignore[no-untyped-def]
    out = {}
    for slot, d in outcome.decisions.items():
        body = d.to_dict()
        if html:
            body["html"] = srv.html(prepared, d.content)
        out[slot] = body
    return out


def test_slots_json_is_the_outcomes_decisions_for_every_combination_and_stays_bounded(signing_key: Ed25519PrivateKey,
                                                                                       trailblazer_bundle: bytes) -> None:
    srv = Server(Config(ruleset=str(TRAILBLAZER), cookie_keys=KEYS))
    prepared = Runtime([signing_key.public_key()]).load(trailblazer_bundle, now=CREATED)
    rng = random.Random(26)
    slot_ids = list(prepared.slot_ids)
    seen = set()
    for n in range(400):
        slots = rng.sample(slot_ids, rng.randint(1, len(slot_ids))) if n % 3 else None
        explain = n % 7 == 0
        outcome, _, _ = srv.decide(rng.choice(HEADERS), {}, prepared, DecideRequest(rng.choice(URLS), None, rng.choice(["", "tents"]), slots, {},
                                                                                  explain=explain))
        for html in (False, True):
            got = srv.slots_json(prepared, outcome.decisions, html)
            assert json.loads(got) == expected(outcome, srv, prepared, html)
            assert list(json.loads(got)) == list(outcome.decisions)  # the outcome's order
            assert got == srv.slots_json(prepared, outcome.decisions, html)
            key = (html, *outcome.decisions.values())
            assert (key in srv._slots_json) == (not explain)  # an explained outcome is never cached
            if not explain:
                seen.add(key)
    assert len(seen) > 10  # the mix reaches many combinations
    srv.MAX_SLOTS_JSON = 3
    srv._slots_json.clear()
    for key in list(seen)[:10]:
        srv.slots_json(prepared, dict(zip([d.slot for d in key[1:]], key[1:])), key[0])
        assert len(srv._slots_json) <= 3
    other = Runtime([signing_key.public_key()]).load(trailblazer_bundle, now=CREATED)
    srv.slots_json(other, {}, False)
    assert srv._slots_json == {(False,): b"{}"}  # a new bundle: the cache starts afresh
