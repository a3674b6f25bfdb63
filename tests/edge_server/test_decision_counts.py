"""strata_decisions counted once per combination of decisions (Server._count, measure.Arms) and added
to each decision's labels when read (metrics._Family.folded): over a generated visitor mix — cookies
carried, consent refused by some, slot subsets, explained requests, scrapes and worker-state snapshots
at random points, the combination cache overflowing — every exposition and every shared state says
exactly what one count per decision says. The exposures and the rest of the exposition are unchanged
by the same traffic counted the old way (one increment per decision)."""

from __future__ import annotations

import os
import random
from collections import Counter
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client.parser import text_string_to_metric_families

from edge_server.config import Config
from edge_server.measure import arm_of
from edge_server.server import DecideRequest, Server
from runtime import Runtime
from tests.conftest import CREATED, TRAILBLAZER
from tests.edge_server.test_slots_json import HEADERS, URLS

KEYS = {"k1": b"\x07" * 32}


def _decisions(text: bytes) -> Counter[tuple[str, str, str]]:
    out: Counter[tuple[str, str, str]] = Counter()
    for fam in text_string_to_metric_families(text.decode()):
        if fam.name == "strata_decisions":
            for s in fam.samples:
                if s.name == "strata_decisions_total":
                    out[(s.labels["slot"], s.labels["reason"], s.labels["layer"])] += int(s.value)
    return out


def _state_decisions(srv: Server) -> Counter[tuple[str, str, str]]:
    rows = srv.metrics.state()["families"]["strata_decisions"]
    return Counter({tuple(k): int(v) for k, v in rows})


def _traffic(srv: Server, prepared: Any, rng: random.Random, n: int, on_request: Any) -> None:
    slot_ids = list(prepared.slot_ids)
    visitors: list[dict[str, str]] = [{} for _ in range(12)]
    for i in range(n):
        cookies = rng.choice(visitors)
        slots = rng.sample(slot_ids, rng.randint(0, len(slot_ids))) if i % 3 else None
        h = dict(rng.choice(HEADERS))
        req = DecideRequest(rng.choice(URLS), None, rng.choice(["", "tents"]), slots, {}, explain=i % 11 == 0)
        outcome, session, consent = srv.decide(h, cookies, prepared, req)
        cookie = srv.set_cookie(h, cookies, session, consent)
        if cookie is not None and rng.random() < 0.8:
            name, _, rest = cookie.partition("=")
            cookies[name] = rest.split(";")[0]
        on_request(outcome)


def test_decisions_counted_per_combination_read_exactly_at_every_scrape(signing_key: Ed25519PrivateKey, trailblazer_bundle: bytes) -> None:
    srv = Server(Config(ruleset=str(TRAILBLAZER), cookie_keys=KEYS))
    srv.MAX_COMBINATIONS = 5  # overflows over and over: the forgotten combinations' counts must survive
    prepared = Runtime([signing_key.public_key()]).load(trailblazer_bundle, now=CREATED)
    rng = random.Random(2026)
    want: Counter[tuple[str, str, str]] = Counter()
    scrapes = [0]

    def check(outcome: Any) -> None:
        for d in outcome.decisions.values():
            want[(d.slot, d.reason, arm_of(d)[1])] += 1
        assert len(srv.metrics.decisions.combined) <= srv.MAX_COMBINATIONS  # folded when the cache starts afresh: bounded
        r = rng.random()
        if r < 0.05:
            assert _decisions(srv.metrics.render()) == want
            scrapes[0] += 1
        elif r < 0.08:
            assert _state_decisions(srv) == want

    _traffic(srv, prepared, rng, 1500, check)
    assert scrapes[0] > 20
    assert sum(want.values()) > 2000 and len(want) > 5
    assert _decisions(srv.metrics.render()) == want
    assert _decisions(srv.metrics.render()) == want  # reading twice counts nothing twice
    assert not srv.metrics.decisions.combined  # folded by the read


def test_the_exposition_is_what_one_increment_per_decision_writes(signing_key: Ed25519PrivateKey, trailblazer_bundle: bytes,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The same traffic through the per-combination counting and through the old per-decision loop
    (the combination cache disabled: every request then counts each decision's labels directly)
    writes the same exposition, byte for byte but for the instance identity. The session ids are
    seeded alike in both (os.urandom replaced: random_source.py calls it per value), so both see
    the same holdout and the same decisions."""
    texts = []
    for cached in (True, False):
        monkeypatch.setattr(os, "urandom", random.Random(99).randbytes)
        srv = Server(Config(ruleset=str(TRAILBLAZER), cookie_keys=KEYS))
        srv.metrics.instance_id = srv.measure.instance = "fixed"
        if not cached:
            srv.MAX_COMBINATIONS = 0  # every combination forgotten at once: counted per decision, as before
        prepared = Runtime([signing_key.public_key()]).load(trailblazer_bundle, now=CREATED)
        _traffic(srv, prepared, random.Random(7), 600, lambda outcome: None)
        if cached:
            assert len(srv._combinations) > 3
        texts.append(b"\n".join(line for line in srv.metrics.render().splitlines() if b"_created" not in line))
    assert texts[0] == texts[1]
