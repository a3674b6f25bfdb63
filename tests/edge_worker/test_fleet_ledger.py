"""Conversions, exposures and cohort exposures once per visit across the fleet (issue #22, point 3;
docs/deployment.md, "Replays across a fleet"; docs/security.md, "Measurement integrity"), with real
parts: two `strata serve` replicas configured as the fleet ledger, another `strata serve` and two edge
workers in real workerd, all claiming their conversions, exposure keys and cohort exposures at the
replica that owns the visit (edge_server/fleet_ledger.py, worker/fleet_ledger.js). Generated classes:
a pre-conversion cookie replayed to every process (random processes, orders, goals, with and without
values) converts each goal once fleet-wide; a pre-exposure cookie replayed to every process (random
slots, User-Agents, orders) counts each exposure and cohort once fleet-wide; honest visits moving
between processes count exactly; hostile claim bodies (unsigned, forged, stale, future,
oversized, malformed) are refused with a 4xx by the replica and change nothing; an owner that never
answers leaves the conversion to the local ledger (counted in strata_fleet_ledger_fallbacks_total),
and no response waits for it."""

from __future__ import annotations

import json
import random
import socket
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from compiler.harness.fixtures import MODEL_COUNTING
from edge_server.counter_batches import sign
from edge_server.fleet_ledger import FORMAT, MAX_AGE, MAX_BODY, MAX_CLAIMS, MAX_KEY, PATH, owner_of
from edge_server.harness.ports import free_port, wait_for
from edge_server.harness.server import RunningServer, without_instance
from edge_server.session import CookieCodec
from tests.edge_worker.test_replay_counts import COOKIE, COOKIE_KEYS, KEY, TOKEN, UAS, counts, minus, within
from tests.edge_worker.workerd import RunningWorkerd, StaticOrigin, require_node, serve_args, signed_bundle, worker_env

SECRET = "fleet-ledger-secret-0123456789"
GOALS = ["purchase", "add_to_cart"]
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """name -> URL: ledger replicas "a" and "b", another server "c", workers "w1" and "w2", all with
    the fleet ledger [a, b]; "c" and the workers only claim."""
    require_node()
    d = tmp_path_factory.mktemp("fleet-ledger")
    signed_bundle(d, MODEL_COUNTING)
    origin = StaticOrigin(d / "bundles")
    ports = {"a": free_port(), "b": free_port()}
    ledger = [f"http://127.0.0.1:{ports['a']}", f"http://127.0.0.1:{ports['b']}"]
    env = {"STRATA_COOKIE_KEYS": COOKIE_KEYS, "STRATA_COUNTERS_SECRET": SECRET}
    procs: list[RunningServer | RunningWorkerd] = []
    try:
        urls = {}
        for name in ("a", "b", "c"):
            p = RunningServer(serve_args(d, TOKEN) + ["--fleet-ledger", *ledger], env=env, log=d / f"{name}.log", port=ports.get(name))
            procs.append(p)
            urls[name] = p.url
        for name in ("w1", "w2"):
            w = RunningWorkerd(d / name, worker_env(d, origin, COOKIE_KEYS, TOKEN) | {"STRATA_FLEET_LEDGER": " ".join(ledger),
                                                                                       "STRATA_COUNTERS_SECRET": SECRET})
            procs.append(w)
            urls[name] = w.url
        assert [urls["a"], urls["b"]] == ledger
        yield urls
    finally:
        for p in procs:
            p.stop()
        origin.stop()


# ------------------------------------------------------------------ helpers
def convert(url: str, cookie: str, goal: str, value: float | None) -> str | None:
    r = httpx.post(url + "/v1/events", json={"goal": goal} | ({} if value is None else {"value": value}), timeout=10,
                   headers={"Cookie": f"{COOKIE}={cookie}"})
    assert r.status_code == 202, r.text
    return r.cookies.get(COOKIE)


def decide_shown(url: str, cookie: str | None, ua: str, slots: list[str] | None) -> tuple[str | None, set[str], set[str]]:
    """A decide (random slots given as ``slots``): (the cookie set, the exposure keys "slot|arm|layer" the
    response showed, the "experiment=variant" pairs it exposed)."""
    r = httpx.post(url + "/v1/decide", json={"page": {"url": "/"}} | ({"slots": slots} if slots else {}), timeout=10,
                   headers={"User-Agent": ua} | ({"Cookie": f"{COOKIE}={cookie}"} if cookie else {}))
    assert r.status_code == 200, r.text
    keys, pairs = set(), set()
    for slot, d in r.json()["slots"].items():
        arm = f"{d['experiment']}/{d['variant']}" if d.get("variant") else (d.get("rule") or "default")
        keys.add(f"{slot}|{arm}|{d.get('layer') or ''}")
        if d.get("variant"):
            pairs.add(f"{d['experiment']}={d['variant']}")
    return r.cookies.get(COOKIE), keys, pairs


def new_to(cookie: str | None, keys: set[str], pairs: set[str]) -> int:
    """How many of ``keys`` and ``pairs`` a process claims for a request with ``cookie`` (those the
    cookie's visit was not shown yet), its own ledger aside."""
    s = CookieCodec({"r1": KEY}, COOKIE).decode(cookie) if cookie else None
    if s is None:
        return len(keys) + len(pairs)
    old = {f"{e}={x.variant}" for e, x in s.exposures.items() if x.visit == s.visit_count}
    return len(keys - set(s.shown)) + len(pairs - old)


def exposure_rows(delta: Counter[tuple[str, ...]]) -> Counter[str]:
    """The exposure rows of a count delta as "slot|arm|layer" (every population)."""
    out: Counter[str] = Counter()
    for k, n in delta.items():
        if k[0] == "exposure":
            out["|".join(k[1:4])] += n
    return +out


def cohort_rows(delta: Counter[tuple[str, ...]], event: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for k, n in delta.items():
        if k[0] == "cohort" and k[4] == event:
            out[f"{k[1]}={k[2]}"] += n
    return +out


def ledger_samples(url: str) -> Counter[str]:
    """The process's strata_fleet_ledger_* samples ("claims_total{result=...}", "fallbacks_total{reason=...}" without instance_id) -> value."""
    out: Counter[str] = Counter()
    text = without_instance(httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text)
    for line in text.splitlines():
        if line.startswith("strata_fleet_ledger_"):
            name, value = line.rsplit(" ", 1)
            out[name.removeprefix("strata_fleet_ledger_")] += int(float(value))
    return out


def claims_answered(urls: list[str]) -> int:
    """Claims the processes have had answered (first or repeat) or counted locally (fallbacks), summed."""
    return sum(n for u in urls for n in ledger_samples(u).values())


def settle(urls: list[str], claims: int) -> None:
    """Until every claim sent so far is answered: the counts are then final."""
    wait_for(lambda: claims_answered(urls) >= claims, timeout=30)
    assert claims_answered(urls) == claims


def fallbacks(urls: list[str]) -> int:
    return sum(n for u in urls for k, n in ledger_samples(u).items() if k.startswith("fallbacks_total{"))


def conversions(delta: Counter[tuple[str, ...]], goal: str) -> int:
    """A goal's conversions on the overall row, both consenting populations."""
    return sum(delta[("conversion", goal, "*", "*", "", p)] for p in ("personalized", "holdout"))


def values(urls: list[str]) -> Counter[str]:
    """The overall row's conversion value per goal, summed over ``urls``."""
    out: Counter[str] = Counter()
    for url in urls:
        for r in httpx.get(url + "/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()["conversions"]:
            if r["slot"] == "*" and r["arm"] == "*":
                out[r["goal"]] += r["value"]
    return out


# ------------------------------------------------------------------ the guarantee
def test_fleet_ledger_a_pre_conversion_cookie_replayed_to_every_process_converts_each_goal_once(fleet: dict[str, str]) -> None:
    """Generated visits started on a random process, whose pre-conversion cookie is then sent to every
    process of the mixed fleet and to random ones again, in random order, each request a random goal of
    the visit's, with a random value or none: each goal converts once fleet-wide (its value one of those
    sent), the model's converted row once for a purchase, and nothing else moves by more than one
    honest visit. Without the fleet ledger, the same replays convert once per process (five)."""
    rng = random.Random(2210)
    names = list(fleet)
    urls = list(fleet.values())
    sent = claims_answered(urls)
    for _ in range(8):
        before, before_values = counts(urls), values(urls)
        start = rng.choice(names)
        pre, keys, pairs = decide_shown(fleet[start], None, rng.choice(list(UAS.values())), None)
        assert pre is not None
        sent += len(keys) + len(pairs)  # the first decide's exposures and cohort, claimed
        nonce = CookieCodec({"r1": KEY}, COOKIE).decode(pre).visit_nonce  # type: ignore[union-attr]
        goals = rng.sample(GOALS, rng.randint(1, 2))
        targets = rng.sample(names, len(names)) + [rng.choice(names) for _ in range(rng.randint(0, 6))]
        rng.shuffle(targets)
        by_goal: dict[str, set[float]] = {g: set() for g in goals}
        claimed: set[tuple[str, str]] = set()
        for name in targets:
            goal = rng.choice(goals)
            value = rng.choice([None, round(rng.uniform(0, 500), 2)])
            convert(fleet[name], pre, goal, value)
            by_goal[goal].add(0.0 if value is None else value)
            claimed.add((name, goal))  # a process claims a (visit, goal) its own ledger has not seen
        sent += len(claimed)
        settle(urls, sent)
        delta, got_values = minus(counts(urls), before), values(urls)
        for goal, vals in by_goal.items():
            assert conversions(delta, goal) == (1 if vals else 0), (nonce, owner_of(nonce, [fleet["a"], fleet["b"]]), targets, goal, delta)
            if vals:
                assert round(got_values[goal] - before_values[goal], 2) in {round(v, 2) for v in vals}, (goal, vals)
        assert delta[("model", "intent", "", "*", "*", "converted")] == (1 if by_goal.get("purchase") else 0), delta
        within(delta, 1)
    assert fallbacks(urls) == 0


def test_fleet_ledger_a_pre_exposure_cookie_replayed_to_every_process_counts_each_exposure_and_cohort_once(fleet: dict[str, str]) -> None:
    """Generated visits started on a random process (random slots: the cookie may predate the
    experiment's exposure), whose first cookie is then sent to every process of the mixed fleet and to
    random ones again, in random order, each request with random slots and a random User-Agent: each
    exposure key the visit was shown and each cohort it was exposed to counts once fleet-wide (the
    processes claim exactly what is new to the cookie and to their own ledger, all answered by the
    owner). Without the fleet ledger, the same replays count once per process (test_replay_counts.py)."""
    rng = random.Random(2215)
    names = list(fleet)
    urls = list(fleet.values())
    sent = claims_answered(urls)
    for _ in range(8):
        before = counts(urls)
        pre, keys, pairs = decide_shown(fleet[rng.choice(names)], None, rng.choice(list(UAS.values())), rng.choice([["hero"], ["offer"], None]))
        assert pre is not None
        sent += len(keys) + len(pairs)
        seen: dict[str, tuple[set[str], set[str]]] = {name: (set(), set()) for name in names}
        targets = rng.sample(names, len(names)) + [rng.choice(names) for _ in range(rng.randint(0, 6))]
        rng.shuffle(targets)
        for name in targets:
            _, k, p = decide_shown(fleet[name], pre, rng.choice(list(UAS.values())), rng.choice([["hero"], ["offer"], None]))
            seen[name][0].update(k)
            seen[name][1].update(p)
            keys |= k
            pairs |= p
        sent += sum(new_to(pre, k, p) for k, p in seen.values())
        settle(urls, sent)
        delta = minus(counts(urls), before)
        assert exposure_rows(delta) == Counter(keys), (targets, delta)
        assert cohort_rows(delta, "exposed") == Counter(pairs), (targets, delta)
        assert set(cohort_rows(delta, "assigned")) <= pairs and max(cohort_rows(delta, "assigned").values(), default=0) <= 1, delta
        assert len({k[4] for k in delta if k[0] == "exposure"}) <= 1  # one population, the visit's
    assert fallbacks(urls) == 0


def test_fleet_ledger_honest_visits_moving_between_processes_are_counted_exactly(fleet: dict[str, str]) -> None:
    """Honest visits (each request with the cookie the last response set) browsing and converting on
    random processes of the mixed fleet, converting a goal again later (already in the cookie): each
    visit's goals count exactly once, in the fleet's totals."""
    rng = random.Random(2211)
    names = list(fleet)
    urls = list(fleet.values())
    before = counts(urls)
    sent = claims_answered(urls)
    expected: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    cohorts: Counter[str] = Counter()
    for _ in range(12):
        ua = rng.choice(list(UAS.values()))
        cookie, keys, pairs = decide_shown(fleet[rng.choice(names)], None, ua, rng.choice([None, ["hero"], ["offer"]]))
        done: set[str] = set()
        for _ in range(rng.randint(1, 6)):
            url = fleet[rng.choice(names)]
            if rng.random() < 0.5:
                got, k, p = decide_shown(url, cookie, ua, rng.choice([None, ["hero"], ["offer"]]))
                keys |= k
                pairs |= p
                cookie = got or cookie
            else:
                goal = rng.choice(GOALS)
                assert cookie is not None
                cookie = convert(url, cookie, goal, rng.choice([None, 10.0])) or cookie
                if goal not in done:
                    done.add(goal)
                    sent += 1
        expected.update(done)
        rows.update(keys)
        cohorts.update(pairs)
        sent += len(keys) + len(pairs)  # each claimed once: the cookie remembers it from then on
    settle(urls, sent)
    delta = minus(counts(urls), before)
    assert {g: conversions(delta, g) for g in GOALS} == {g: expected[g] for g in GOALS}
    assert exposure_rows(delta) == rows
    assert cohort_rows(delta, "exposed") == cohorts
    assert fallbacks(urls) == 0


def test_fleet_ledger_a_browsers_conversion_reported_to_every_process_converts_once(fleet: dict[str, str]) -> None:
    """The browser runtime's reports (beacons.py): generated visit nonces whose exposure and then
    conversion (random goals, with and without values) reach every process in random order, some
    twice: each goal and the exposure count once fleet-wide, and every process attributes the conversion
to the exposure (its ledger remembers the key, wherever it was counted)."""
    rng = random.Random(2214)
    names = list(fleet)
    urls = list(fleet.values())
    sent = claims_answered(urls)
    before = counts(urls)
    expected: Counter[str] = Counter()
    for _ in range(4):
        nonce = "".join(rng.choice(_B64) for _ in range(16))
        goals = rng.sample(GOALS, rng.randint(1, 2))
        claimed: set[tuple[str, str]] = set()
        sent += len(names)  # each process claims the exposure once (its ledger remembers it)
        for name in rng.sample(names, len(names)) + rng.sample(names, 2):
            r = httpx.post(fleet[name] + "/v1/events", json={"visit": nonce, "exposures": [["hero", "default", "", "personalized"]]}, timeout=10)
            assert r.status_code == 202, r.text
            goal = rng.choice(goals)
            value = rng.choice([None, 12.5])
            r = httpx.post(fleet[name] + "/v1/events", json={"goal": goal, "visit": nonce} | ({} if value is None else {"value": value}), timeout=10)
            assert r.status_code == 202 and r.json()["population"] == "personalized", r.text
            claimed.add((name, goal))
        sent += len(claimed)
        expected.update({g for _, g in claimed})
    settle(urls, sent)
    delta = minus(counts(urls), before)
    assert {g: delta[("conversion", g, "*", "*", "", "personalized")] for g in GOALS} == {g: expected[g] for g in GOALS}, delta
    assert delta[("exposure", "hero", "default", "", "personalized")] == 4, delta  # once per visit, fleet-wide
    assert fallbacks(urls) == 0


# ------------------------------------------------------------------ what the replica refuses
def _body(created_ms: int, claims: object, **extra: object) -> bytes:
    return json.dumps({"format": FORMAT, "created": created_ms, "claims": claims} | extra).encode()


def hostile_bodies(rng: random.Random, nonce: str) -> Iterator[tuple[str, bytes, dict[str, str]]]:
    """(class, body, headers) of claim bodies a replica must refuse, each naming ``nonce``."""
    now = int(time.time() * 1000)
    good = [[nonce, "goal:purchase"]]
    signed = lambda b: {"x-strata-signature": sign(SECRET, b)}  # noqa: E731
    body = _body(now, good)
    yield "unsigned", body, {}
    yield "forged", body, {"x-strata-signature": sign("another-secret-0123456789", body)}
    yield "forged", body, {"x-strata-signature": sign(SECRET, body + b" ")}
    yield "forged", body, {"x-strata-signature": "v1=" + "".join(rng.choice("0123456789abcdef") for _ in range(64))}
    for _ in range(3):
        b = _body(now - int((MAX_AGE + rng.uniform(1, 10**6)) * 1000), good)
        yield "stale", b, signed(b)
        b = _body(now + int(rng.uniform(301, 10**6) * 1000), good)
        yield "future", b, signed(b)
    b = _body(now, good + [[nonce, "goal:" + "x" * (MAX_KEY - 5)]] * (MAX_BODY // MAX_KEY + 1))
    yield "oversized", b, signed(b)
    b = b" " * (MAX_BODY + 1)
    yield "oversized", b, signed(b)
    malformed: list[bytes] = [
        b"not json", b"[1, 2]", b'{"format": "strata-ledger/0", "created": 1, "claims": []}', b"{" * 2000,
        json.dumps({"format": FORMAT, "created": now}).encode(),
        _body(now, good, extra="x"), _body(now, []), _body(now, "goal:purchase"), _body(now, [[nonce, "goal:purchase"]] * (MAX_CLAIMS + 1)),
        json.dumps({"format": FORMAT, "created": now / 1000.5, "claims": good}).encode(),
        json.dumps({"format": FORMAT, "created": str(now), "claims": good}).encode(),
        json.dumps({"format": FORMAT, "created": -5, "claims": good}).encode(),
    ]
    for _ in range(12):
        bad_nonce = rng.choice([nonce[:-1], nonce + "A", nonce[:-1] + rng.choice("!/+= é"), 12345, None, ""])
        bad_key = rng.choice(["purchase", "goal:", "exposure:", "cohort:", "visit:hero", "Goal:purchase", "goal:" + "y" * MAX_KEY, 7, None, ["goal:purchase"]])
        entry = rng.choice([[bad_nonce, "goal:purchase"], [nonce, bad_key], [nonce], [nonce, "goal:purchase", "x"], nonce, {"n": nonce}])
        claims = good + [entry] if rng.random() < 0.5 else [entry] + good  # a good claim beside the bad one: nothing taken
        malformed.append(_body(now, claims))
    for b in malformed:
        yield "malformed", b, signed(b)


def test_fleet_ledger_a_replica_refuses_hostile_claims_and_changes_nothing(fleet: dict[str, str]) -> None:
    """Generated hostile claim bodies sent to a ledger replica: each refused with a 4xx (401 unsigned or
    forged, 422 stale, future or malformed, 413 oversized, 400 not JSON); afterwards each visit they
    named is still unclaimed (a signed, fresh claim of it is the first), and no count moved."""
    rng = random.Random(2212)
    url = fleet["a"]
    before = counts(list(fleet.values()))
    nonces = ["".join(rng.choice(_B64) for _ in range(16)) for _ in range(4)]
    seen: Counter[tuple[str, int]] = Counter()
    for nonce in nonces:
        for cls, body, headers in hostile_bodies(rng, nonce):
            r = httpx.post(url + PATH, content=body, headers={"content-type": "application/json"} | headers, timeout=10)
            expected = {"unsigned": {401}, "forged": {401}, "stale": {422}, "future": {422}, "oversized": {413}, "malformed": {400, 422}}[cls]
            assert r.status_code in expected, (cls, body[:200], r.status_code, r.text)
            assert r.json()["error"]["code"], r.text
            seen[(cls, r.status_code)] += 1
    assert {c for c, _ in seen} == {"unsigned", "forged", "stale", "future", "oversized", "malformed"}, seen
    for nonce in nonces:
        body = _body(int(time.time() * 1000), [[nonce, "goal:purchase"], [nonce, "goal:purchase"], [nonce, "goal:add_to_cart"]])
        r = httpx.post(url + PATH, content=body, headers={"x-strata-signature": sign(SECRET, body)}, timeout=10)
        assert r.status_code == 200 and r.json() == {"first": [True, False, True]}, r.text
    assert minus(counts(list(fleet.values())), before) == Counter()


# ------------------------------------------------------------------ an owner that never answers
@pytest.fixture(scope="module")
def blackholed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A `strata serve` and a workerd whose fleet ledger is a socket that accepts connections and never
    answers: name -> URL."""
    require_node()
    d = tmp_path_factory.mktemp("fleet-ledger-down")
    signed_bundle(d, MODEL_COUNTING)
    origin = StaticOrigin(d / "bundles")
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    ledger = f"http://127.0.0.1:{hole.getsockname()[1]}"
    procs: list[RunningServer | RunningWorkerd] = []
    try:
        procs.append(RunningServer(serve_args(d, TOKEN) + ["--fleet-ledger", ledger], env={"STRATA_COOKIE_KEYS": COOKIE_KEYS,
                                                                                          "STRATA_COUNTERS_SECRET": SECRET}, log=d / "py.log"))
        procs.append(RunningWorkerd(d / "wk", worker_env(d, origin, COOKIE_KEYS, TOKEN) | {"STRATA_FLEET_LEDGER": ledger,
                                                                                         "STRATA_COUNTERS_SECRET": SECRET}))
        yield {"py": procs[0].url, "wk": procs[1].url}
    finally:
        for p in procs:
            p.stop()
        origin.stop()
        hole.close()


def test_fleet_ledger_an_owner_that_never_answers_falls_back_to_the_local_ledger(blackholed: dict[str, str]) -> None:
    """On both runtimes, generated visits and conversions whose owner accepts the connection and never
    answers: each response comes before its claims are settled (the exposures and the conversion are
    not counted yet, no fallback yet: the response did not wait for the owner), then, after the bounded
    attempts, each exposure, cohort and conversion counts once from the local ledger and
    strata_fleet_ledger_fallbacks_total{reason="unreachable"} counts it; a replay of the same cookie to
    the same process adds nothing."""
    rng = random.Random(2213)
    urls = list(blackholed.values())
    before = {url: counts([url]) for url in urls}
    was = {url: ledger_samples(url)['fallbacks_total{reason="unreachable"}'] for url in urls}
    n = {url: rng.randint(2, 4) for url in urls}
    shown = {url: Counter[str]() for url in urls}
    claims = dict.fromkeys(urls, 0)
    for url in urls:
        for _ in range(n[url]):
            pre, keys, pairs = decide_shown(url, None, rng.choice(list(UAS.values())), None)
            assert pre is not None
            assert not exposure_rows(minus(counts([url]), before[url])), url  # the exposures wait for the owner too
            visit = set(keys)
            claims[url] += len(keys) + len(pairs) + 1  # the exposures, the cohort, the conversion
            convert(url, pre, "purchase", rng.choice([None, 25.0]))
            assert conversions(minus(counts([url]), before[url]), "purchase") == 0, url  # not before the owner answers or the attempts end
            convert(url, pre, "purchase", None)  # replayed to the same process: its ledger remembers
            _, keys, pairs = decide_shown(url, pre, rng.choice(list(UAS.values())), None)  # its ledger remembers the exposures too:
            claims[url] += new_to(pre, keys, pairs)  # only what the pre-conversion cookie had not been shown (another User-Agent's rule)
            shown[url].update(visit | keys)
        assert ledger_samples(url)['fallbacks_total{reason="unreachable"}'] == was[url], url
    for url in urls:
        wait_for(lambda: ledger_samples(url)['fallbacks_total{reason="unreachable"}'] == was[url] + claims[url], timeout=40)  # noqa: B023
        delta = minus(counts([url]), before[url])
        assert conversions(delta, "purchase") == n[url], (url, delta)
        assert exposure_rows(delta) == shown[url], (url, delta)
        within(delta, n[url])


def test_fleet_ledger_is_in_the_metric_contract_of_both_runtimes(fleet: dict[str, str]) -> None:
    """Both runtimes export strata_fleet_ledger_fallbacks_total and strata_fleet_ledger_claims_total
    (the edge contract's metric families)."""
    for url in fleet.values():
        text = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text
        for family in ("strata_fleet_ledger_fallbacks_total", "strata_fleet_ledger_claims_total"):
            assert f"# TYPE {family.removesuffix('_total')} counter" in text or f"# TYPE {family} counter" in text, (url, family)

