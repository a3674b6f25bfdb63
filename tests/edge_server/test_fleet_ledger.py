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


# ------------------------------------------------------------------ exposures and cohorts (server.py, beacons.py)
_RULESET = """\
strata: 1
name: fleet-exposures
version: 1
holdout: {percent: 20, salt: fleet-holdout}
goals: [purchase]
segments:
  - {id: everyone, layer: broad, when: 'true'}
  - {id: mobile, layer: specific, when: 'device.type == "mobile"'}
slots:
  - id: hero
    default: {headline: Welcome}
    rules:
      - {id: hero-mobile, segment: mobile, content: {headline: On the go}}
  - id: offer
    default: {}
  - id: banner
    default: {text: Hello}
experiments:
  - id: offer-test
    slot: offer
    audience: everyone
    salt: offer-test-1
    variants:
      - {id: control, weight: 50, content: {headline: Free returns}}
      - {id: treatment, weight: 50, content: {headline: 10% off today}}
"""
_OWNER = "http://owner.invalid"
_UAS = ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36"]


@pytest.fixture(scope="module")
def fleet_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str, object]:
    import time as _time

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from compiler.pipeline import Options, run

    key = Ed25519PrivateKey.generate()
    path = tmp_path_factory.mktemp("fleet-exposures") / "fleet.yaml"
    path.write_text(_RULESET)
    ctx = run(path, Options(key=key, created=int(_time.time()), version=1))
    assert ctx.bundle is not None
    return ctx.bundle, str(path), key


def _processes(fleet_bundle: tuple[bytes, str, object], n: int, fleet: bool) -> list[tuple[object, object]]:
    """``n`` servers (processes) sharing cookie keys and, with ``fleet``, one owner's ClaimStore (each
    answers its claims from that store without HTTP, as the owner replica does): [(Server, Prepared)]."""
    from edge_server.config import Config
    from edge_server.server import Server
    from runtime import Runtime

    bundle, path, key = fleet_bundle
    store = ClaimStore(ttl=1800)
    out = []
    for _ in range(n):
        srv = Server(Config(ruleset=path, cookie_keys={"k1": b"\x07" * 32}))
        if fleet:
            srv.fleet_ledger = FleetLedger([_OWNER], "s" * 16, srv.measure, srv.metrics, own_url=_OWNER, store=store)
        out.append((srv, Runtime([key.public_key()]).load(bundle)))  # type: ignore[attr-defined]
    return out


def _decide(proc: tuple[object, object], cookie: str | None, rng: random.Random) -> tuple[str | None, set[tuple[str, ...]], set[tuple[str, str]]]:
    """One decide of random slots with a random User-Agent on ``proc``: (the cookie set, the exposure
    rows and the (experiment, variant) pairs the decision showed)."""
    from edge_server.measure import HOLDOUT, NO_CONSENT, PERSONALIZED, Arm
    from edge_server.server import DecideRequest

    srv, prepared = proc
    cookies = {"strata_session": cookie} if cookie else {}
    slots = rng.sample(["hero", "offer", "banner"], rng.randint(1, 3))
    outcome, session, consent = srv.decide({"user-agent": rng.choice(_UAS)}, cookies, prepared,  # type: ignore[attr-defined]
                                           DecideRequest(rng.choice(["/", "/tents.html"]), None, "", slots, {}))
    population = NO_CONSENT if not consent else (HOLDOUT if outcome.holdout else PERSONALIZED)
    rows = {Arm(d).exposure[population] for d in outcome.decisions.values()}
    header = srv.set_cookie({}, cookies, session, consent)  # type: ignore[attr-defined]
    return (header.split(";")[0].split("=", 1)[1] if header else None), rows, set(outcome.exposures)


def _fleet_counts(procs: list[tuple[object, object]]) -> tuple[Counter[tuple[str, ...]], Counter[tuple[str, ...]], Counter[tuple[str, ...]]]:
    """(exposure rows, strata_variant_exposures_total rows, cohort rows) summed over the processes."""
    exposures: Counter[tuple[str, ...]] = Counter()
    variants: Counter[tuple[str, ...]] = Counter()
    cohorts: Counter[tuple[str, ...]] = Counter()
    for srv, _ in procs:
        exposures.update(srv.measure.exposures)  # type: ignore[attr-defined]
        variants.update({k: int(v) for k, v in srv.metrics.exposures.values.items()})  # type: ignore[attr-defined]
        cohorts.update(srv.measure.cohorts)  # type: ignore[attr-defined]
    return +exposures, +variants, +cohorts


def _replayed(procs: list[tuple[object, object]], rng: random.Random, visits: int, honest: bool) -> tuple[Counter[tuple[str, ...]], Counter[tuple[str, ...]]]:
    """Generated visits on the processes: a first decide, then the visit's cookie sent to every process
    and to random ones again (``honest``: each request with the cookie the last response set; else the
    pre-exposure cookie of the first request every time). The exposure rows and (experiment, variant)
    pairs a visit showed, each once per visit: what the fleet must count."""
    rows: Counter[tuple[str, ...]] = Counter()
    pairs: Counter[tuple[str, ...]] = Counter()
    for _ in range(visits):
        start = rng.choice(procs)
        pre, shown, exposed = _decide(start, None, rng)
        cookie = pre
        for proc in rng.sample(procs, len(procs)) + [rng.choice(procs) for _ in range(rng.randint(0, 5))]:
            got, r, e = _decide(proc, cookie if honest else pre, rng)
            shown |= r
            exposed |= e
            if honest and got:
                cookie = got
        rows.update(shown)
        pairs.update(exposed)
    return rows, pairs


@pytest.mark.parametrize("honest", [False, True])
def test_fleet_ledger_exposures_and_cohorts_count_once_per_visit_across_processes(fleet_bundle: tuple[bytes, str, object], honest: bool) -> None:
    """Generated visits on three Server processes sharing one owner's claim store: a pre-exposure cookie
    replayed to every process (random slots, User-Agents, orders), or honest visits moving between the
    processes, count each exposure row, each variant exposure and each cohort once per visit across
    the processes, exactly; the same replays without the fleet ledger count once per process (more)."""
    procs = _processes(fleet_bundle, 3, fleet=True)
    rows, pairs = _replayed(procs, random.Random(2220 + honest), 40, honest)
    exposures, variants, cohorts = _fleet_counts(procs)
    assert exposures == rows
    assert variants == pairs
    assert Counter({(e, v): n for (e, v, _, event, _), n in cohorts.items() if event == "exposed"}) == pairs
    assert sum(n for (_, _, _, event, _), n in cohorts.items() if event == "assigned") == sum(pairs.values())
    claims: Counter[str] = Counter()
    for srv, _ in procs:
        claims.update({k[0]: int(v) for k, v in srv.metrics.fleet_claims.values.items()})  # type: ignore[attr-defined]
    assert claims["first"] == sum(rows.values()) + sum(pairs.values())
    if not honest:
        alone = _processes(fleet_bundle, 3, fleet=False)
        rows, _ = _replayed(alone, random.Random(2220), 40, honest)
        assert sum(_fleet_counts(alone)[0].values()) > sum(rows.values())  # per process: the replay counts again


def test_fleet_ledger_a_conversion_is_attributed_where_the_exposure_was_not_counted(fleet_bundle: tuple[bytes, str, object]) -> None:
    """Generated browser reports (beacons.py) of a visit's exposures sent to two processes sharing one
    owner: each key counts once (on the first process; the second's claims are repeats), and the
    visit's conversion reported to the second process is attributed to every key it was shown there,
    though the exposures were counted elsewhere."""
    from edge_server.beacons import known_exposures
    from edge_server.events import EventsEndpoint

    procs = _processes(fleet_bundle, 2, fleet=True)
    endpoints = [EventsEndpoint(srv) for srv, _ in procs]  # type: ignore[arg-type]
    rng = random.Random(2222)
    keys = sorted(known_exposures(procs[0][1]))  # type: ignore[arg-type]
    for i in range(20):
        nonce = "".join(rng.choice(_B64) for _ in range(16))
        shown = rng.sample(keys, rng.randint(1, len(keys)))
        population = rng.choice(["personalized", "holdout"])
        before = _fleet_counts(procs)[0]
        for endpoint, (_, prepared) in zip(endpoints, procs):
            r = endpoint.exposures({}, {"visit": nonce, "exposures": [[*k, population] for k in shown]}, prepared, {})  # type: ignore[arg-type]
            assert r.status_code == 202
        assert _fleet_counts(procs)[0] - before == Counter((*k, population) for k in shown)
        srv = procs[1][0]
        was = Counter(srv.measure.conversions)  # type: ignore[attr-defined]
        assert endpoints[1].browser_conversion(nonce, "purchase", 5.0) == population
        got = Counter(srv.measure.conversions) - was  # type: ignore[attr-defined]
        assert got == Counter([("purchase", *k, population) for k in shown] + [("purchase", "*", "*", "", population)]), (i, got)


def test_fleet_ledger_beacon_exposures_are_claimed_not_counted() -> None:
    """count_exposures with a claim: each key new to the visit's ledger is handed to the claim (not
    counted), once per visit; without one, counted as before."""
    from edge_server.beacons import count_exposures
    from edge_server.visit_ledger import VisitLedger

    rng = random.Random(2223)
    claimed: list[str] = []

    def claim(key: str, row: tuple[str, str, str, str]) -> None:
        assert key == "|".join(row[:3])
        claimed.append(key)

    for _ in range(50):
        ledger = VisitLedger(60)
        entries = [(rng.choice(["hero", "offer"]), rng.choice(["default", "r1"]), rng.choice(["", "device"]), "personalized")
                   for _ in range(rng.randint(1, 8))]
        claimed.clear()
        exposures: Counter[tuple[str, str, str, str]] = Counter()
        visit = ledger.record("n" * 16, 0)
        n = count_exposures(visit, entries, exposures, claim)
        assert not exposures and n == len(claimed) == len(set(claimed)) == len({e[:3] for e in entries})
        assert count_exposures(visit, entries, exposures, claim) == 0  # a replayed beacon claims nothing more
        plain = ledger.record("m" * 16, 0)
        assert count_exposures(plain, entries, exposures) == n and sum(exposures.values()) == n
