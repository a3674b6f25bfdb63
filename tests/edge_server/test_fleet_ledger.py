"""The fleet ledger's pure parts (edge_server/fleet_ledger.py): the owner of a visit (rendezvous
hashing, pinned by tests/vectors/fleet_ledger.json for both languages), the replica list and the
settings it needs. The fleet itself, with real replicas and workerd: tests/edge_worker/test_fleet_ledger.py."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter

import pytest

from edge_server.config import Config, ConfigError
from edge_server.fleet_ledger import MAX_CLAIMS, MAX_PENDING, ClaimStore, DeferredCounts, FleetLedger, ledger_urls, own_url, owner_of
from edge_server.measure import Measurement
from tests.vectors import generate_fleet_ledger as gen

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_fleet_ledger_vectors_are_fresh_and_hold() -> None:
    assert gen.OUT.read_text(encoding="utf-8") == gen.text(), "tests/vectors/fleet_ledger.json is stale: run python tests/vectors/generate_fleet_ledger.py"
    for c in json.loads(gen.OUT.read_text(encoding="utf-8"))["cases"]:
        assert owner_of(c["nonce"], c["urls"]) == c["owner"]
        assert owner_of(c["nonce"], list(reversed(c["urls"]))) == c["owner"]  # the order of the list does not matter


@pytest.mark.parametrize("replicas", [2, 3, 5, 8])
def test_fleet_ledger_owners_share_the_visits_and_a_new_replica_moves_only_its_own(replicas: int) -> None:
    """Random nonces spread over the replicas within 20% of an even share; adding a replica moves only
    the nonces it now owns (every other keeps its owner)."""
    rng = random.Random(replicas)
    urls = [f"http://10.0.0.{i}:8080" for i in range(replicas)]
    nonces = ["".join(rng.choice(_B64) for _ in range(16)) for _ in range(4000)]
    owners = {n: owner_of(n, urls) for n in nonces}
    share = Counter(owners.values())
    assert set(share) == set(urls)
    assert all(abs(k / len(nonces) - 1 / replicas) < 0.2 / replicas for k in share.values()), share
    grown = urls + ["http://10.0.0.99:8080"]
    moved = [n for n in nonces if owner_of(n, grown) != owners[n]]
    assert moved and all(owner_of(n, grown) == grown[-1] for n in moved)


def test_fleet_ledger_urls_and_settings() -> None:
    assert ledger_urls("http://a:1/, https://b:2  http://a:1") == ("http://a:1", "https://b:2")
    for bad in ("a:1", "ftp://a", "http://", "http://u:p@a:1", "http://a/?x=1"):
        with pytest.raises(ValueError):
            ledger_urls(bad)
    assert own_url(("http://10.0.0.1:80", "http://localhost:8080"), "127.0.0.1", 8080) == "http://localhost:8080"
    assert own_url(("http://10.0.0.1:8080",), "127.0.0.1", 8080) is None
    base = dict(ruleset="rulesets/trailblazer.yaml", fleet_ledger=["http://127.0.0.1:8080 http://10.0.0.2:8080"])
    with pytest.raises(ConfigError, match="needs --counters-secret"):
        Config(**base).validate()
    with pytest.raises(ConfigError, match="--workers 1"):
        Config(**base, counters_secret="s" * 16, state_dir="/tmp/x", workers=2).validate()
    Config(**base | {"fleet_ledger": ["http://10.0.0.2:8080"]}, counters_secret="s" * 16, state_dir="/tmp/x", workers=2).validate()  # a claimant only
    with pytest.raises(ConfigError, match="not a replica's base URL"):
        Config(**base | {"fleet_ledger": ["ledger:8080"]}, counters_secret="s" * 16, state_dir="/tmp/x").validate()


def test_fleet_ledger_claim_store_is_a_bounded_visit_ledger() -> None:
    """First once per (nonce, key) within the visit timeout; bounded, evictions counted."""
    evicted = []
    store = ClaimStore(ttl=60, capacity=3, on_evict=lambda: evicted.append(1))
    assert store.first("n1", "goal:a", 0) and not store.first("n1", "goal:a", 1) and store.first("n1", "goal:b", 1)
    assert store.first("n1", "goal:a", 62)  # forgotten after the visit timeout
    for n in ("n2", "n3", "n4"):
        store.first(n, "goal:a", 63)
    assert len(evicted) == 1 and store.first("n1", "goal:a", 63)  # the least recently claimed went first


class _Metrics:
    """The two families FleetLedger counts into (metrics.py's _Family interface: inc(label))."""

    def __init__(self) -> None:
        self.fleet_fallbacks: Counter[str] = Counter()
        self.fleet_claims: Counter[str] = Counter()
        for c in (self.fleet_fallbacks, self.fleet_claims):
            c.inc = lambda label, c=c: c.update([label])  # type: ignore[attr-defined]


def _conversion(goal: str) -> DeferredCounts:
    counts = DeferredCounts()
    counts.attribute(goal, [], "personalized", 1.0)
    return counts


def test_fleet_ledger_refused_and_full_claims_count_from_the_local_ledger() -> None:
    """An owner that refuses the body (a real local HTTP endpoint answering 401) is not retried: the
    conversion counts locally as `refused`; beyond MAX_PENDING waiting claims, one counts at once as
    `full`; aclose() settles what is pending before the process ends."""
    async def run() -> tuple[Measurement, _Metrics, int]:
        hits = 0

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal hits
            hits += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)  # the whole body, so the refusal is read as one
            writer.write(b'HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}')
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        measure, metrics = Measurement(), _Metrics()
        ledger = FleetLedger([url], "s" * 16, measure, metrics)
        for i in range(MAX_PENDING):
            ledger.claim(f"nonce{i:011d}", "goal:purchase", _conversion("purchase"))
        assert sum(measure.conversions.values()) == 0  # nothing counts before an answer
        ledger.claim("one-more-nonce00", "goal:purchase", _conversion("purchase"))
        assert metrics.fleet_fallbacks == {"full": 1}
        await ledger.aclose()
        server.close()
        return measure, metrics, hits

    measure, metrics, hits = asyncio.run(run())
    assert metrics.fleet_fallbacks == {"full": 1, "refused": MAX_PENDING}
    assert hits == -(-MAX_PENDING // MAX_CLAIMS)  # one body per MAX_CLAIMS claims, none sent twice
    assert measure.conversions[("purchase", "*", "*", "", "personalized")] == MAX_PENDING + 1
