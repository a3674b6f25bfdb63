"""Counts no visitor can steer (issue #22, point 3; docs/security.md, "Measurement integrity"), on
`strata serve` (uvicorn) and the edge worker in real workerd sharing one cookie key, each alone and
as a mixed fleet: replayed, altered and oversized cookies move a model level's net count, an arm's
exposures, a cohort and a goal's conversions by at most one honest visit per process they reach
(exactly one visit on one process), while an honest visit moving between the runtimes is counted
exactly once. Generated classes: replays of any earlier cookie of a visit with random User-Agents,
sources and slots, to decide and to events; oversized `utm_source` values of emoji and CJK that
force the cookie's size shrink; honest visits alternating runtimes at random."""

from __future__ import annotations

import base64
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from compiler.harness.fixtures import MODEL_COUNTING
from edge_server.contract import MAX_UTM, SCORE
from edge_server.harness.server import metric
from edge_server.session import LINEAGE_STATES, CookieCodec
from runtime.score import bucket_name, score_bucket
from tests.edge_worker.workerd import both_runtimes

KEY = b"\x0b" * 32
COOKIE_KEYS = "r1:" + base64.b64encode(KEY).decode()
TOKEN = "replay-token"
COOKIE = "strata_session"
UAS = {"mobile": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
       "desktop": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
       "tablet": "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1"}
SOURCES = ["", "google", "newsletter", "ads"]
SLOTS = [None, ["hero"], ["offer"]]
GOALS = ["purchase", "add_to_cart"]
# the intent model's log-odds: -1 (desktop, tablet), -0.5 (mobile); their counting buckets' names
BUCKET = {d: str(bucket_name(score_bucket(z))) for d, z in (("mobile", -0.5), ("desktop", -1.0), ("tablet", -1.0))}


@pytest.fixture(scope="module")
def runtimes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One `strata serve` and one workerd of the counting rule set, sharing the cookie key: name -> URL."""
    with both_runtimes(tmp_path_factory.mktemp("replay"), MODEL_COUNTING, COOKIE_KEYS, TOKEN) as (urls, _, _pub):
        yield urls


# ------------------------------------------------------------------ what the runtimes counted
def counts(urls: list[str]) -> Counter[tuple[str, ...]]:
    """Every counter of the runtimes' /v1/stats, summed: ("exposure", slot, arm, layer, population),
    ("conversion", goal, slot, arm, layer, population), ("cohort", experiment, variant, period, event, goal),
    ("model", model, arm, feature, level, event) (the spec and fit labels aside: one bundle)."""
    out: Counter[tuple[str, ...]] = Counter()
    for url in urls:
        snap = httpx.get(url + "/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
        for r in snap["exposures"]:
            out[("exposure", r["slot"], r["arm"], r["layer"], r["population"])] += r["count"]
        for r in snap["conversions"]:
            out[("conversion", r["goal"], r["slot"], r["arm"], r["layer"], r["population"])] += r["count"]
        for r in snap["cohorts"]:
            out[("cohort", r["experiment"], r["variant"], r["period"], r["event"], r["goal"])] += r["count"]
        for r in snap["models"]:
            for event in ("entered", "left", "converted"):
                out[("model", r["model"], r["arm"], r["feature"], r["level"], event)] += r[event]
    return out


def within(delta: Counter[tuple[str, ...]], processes: int) -> None:
    """The counts of one visit that reached ``processes`` processes are at most one honest visit per
    process: each exposure key, cohort and conversion row at most ``processes``; per model and feature,
    the levels' net visits add up to the visit row's, each between -(processes - 1) and ``processes``,
    the visit rows' sum over arms between 0 and ``processes``, each row's conversions at most ``processes``.
    With one process: exactly one honest visit (every level's net 0 or 1, one per feature)."""
    net: dict[tuple[str, str], dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))  # (model, arm) -> feature -> level -> net
    conv: dict[tuple[str, str], dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for k, n in delta.items():
        if k[0] in ("exposure", "conversion", "cohort"):
            assert 0 <= n <= processes, (k, n)
        elif k[-1] != "converted":
            model, arm, feature, level, event = k[1:]
            net[(model, arm)][feature][level] = net[(model, arm)][feature].get(level, 0) + (n if event == "entered" else -n)
        else:
            assert 0 <= n <= processes, (k, n)
            conv[k[1:3]][k[3]][k[4]] = n
    for model in {m for m, _ in net}:
        visits = sum(net[(m, a)]["*"].get("*", 0) for m, a in net if m == model)
        assert 0 <= visits <= processes, (model, visits)
    for (model, arm), features in net.items():
        visits = features["*"].get("*", 0)
        for feature, levels in features.items():
            assert sum(levels.values()) == visits, (model, arm, feature, levels)  # one level per feature and visit
            for level, n in levels.items():
                assert -(processes - 1) <= n <= processes, (model, arm, feature, level, n)
        converted = conv[(model, arm)]["*"].get("*", 0) if (model, arm) in conv else 0
        for feature, levels in conv.get((model, arm), {}).items():
            assert sum(levels.values()) == converted, (model, arm, feature, levels)


def minus(after: Counter[tuple[str, ...]], before: Counter[tuple[str, ...]]) -> Counter[tuple[str, ...]]:
    return Counter({k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)})


# ------------------------------------------------------------------ a client that keeps every cookie
def decide(url: str, cookie: str | None, ua: str, source: str, slots: list[str] | None) -> str | None:
    page = {"url": f"/?utm_source={quote(source)}" if source else "/"}
    r = httpx.post(url + "/v1/decide", json={"page": page} | ({"slots": slots} if slots else {}), timeout=10,
                   headers={"User-Agent": ua} | ({"Cookie": f"{COOKIE}={cookie}"} if cookie else {}))
    assert r.status_code == 200, r.text
    return r.cookies.get(COOKIE)


def event(url: str, cookie: str | None, goal: str) -> str | None:
    r = httpx.post(url + "/v1/events", json={"goal": goal, "value": 10}, timeout=10, headers={"Cookie": f"{COOKIE}={cookie}"} if cookie else {})
    assert r.status_code == 202, r.text
    return r.cookies.get(COOKIE)


def replay(rng: random.Random, urls: list[str], n: int) -> tuple[str, int]:
    """One visit started honestly, then ``n`` requests each sending any cookie the visit was given so far
    (the newest or any older one), with a random User-Agent, source and slots, to decide or events, on any
    of ``urls``: the visit's nonce, and how many cookies were seen."""
    ua = rng.choice(list(UAS.values()))
    cookies = [decide(rng.choice(urls), None, ua, rng.choice(SOURCES), None)]
    for _ in range(rng.randint(0, 2)):  # a few honest page views first
        cookies.append(decide(rng.choice(urls), cookies[-1], ua, rng.choice(SOURCES), rng.choice(SLOTS)))
    for _ in range(n):
        old = rng.choice(cookies)
        url = rng.choice(urls)
        if rng.random() < 0.25:
            new = event(url, old, rng.choice(GOALS))
        else:
            new = decide(url, old, rng.choice(list(UAS.values())), rng.choice(SOURCES), rng.choice(SLOTS))
        if new:
            cookies.append(new)
    nonces = {s.visit_nonce for c in cookies if (s := CookieCodec({"r1": KEY}, COOKIE).decode(c)) is not None}
    assert len(nonces) == 1, nonces  # one visit throughout: every change was counted against one nonce
    return nonces.pop(), len(cookies)


@pytest.mark.parametrize("fleet", [["py"], ["wk"], ["py", "wk"]], ids=["python", "worker", "mixed-fleet"])
def test_replay_counts_replays_of_any_cookie_move_a_visit_at_most_once_per_process(runtimes: dict[str, str], fleet: list[str]) -> None:
    """Generated visits replayed 5-40 times (pre-conversion and pre-exposure cookies included, User-Agent,
    source and slots drawn per request) on one runtime count exactly one honest visit there; replayed to
    both runtimes, at most one per runtime. Before the visit ledger, 50 replays moved a level by 49."""
    rng = random.Random(2200 + len(fleet) * 7 + len(fleet[0]))
    urls = [runtimes[f] for f in fleet]
    for _ in range(6):
        before = counts(urls)
        replay(rng, urls, rng.randint(5, 40))
        within(minus(counts(urls), before), len(urls))


def test_replay_counts_fifty_replays_with_another_user_agent_leave_one_visit_at_one_level(runtimes: dict[str, str]) -> None:
    """The issue's case on each runtime: a desktop visit's cookie replayed 50 times as mobile, then as
    desktop and mobile alternately: the visit stays counted once, at the device it was last counted at."""
    for url in runtimes.values():
        before = counts([url])
        first = decide(url, None, UAS["desktop"], "", None)
        for i in range(50):
            decide(url, first, UAS["mobile" if i % 2 == 0 else "desktop"], "", None)
        delta = minus(counts([url]), before)
        within(delta, 1)
        device = {k[4]: delta[k] - delta[k[:5] + ("left",)] for k in delta if k[:4] == ("model", "intent", "", "device") and k[5] == "entered"}
        assert {lv: n for lv, n in device.items() if n} == {"desktop": 1}, (url, device)  # the last replay was desktop


def big_source(rng: random.Random) -> str:
    """A utm_source of emoji, CJK (Extension B) or both, 4 UTF-8 bytes each, near the longest a source
    keeps (MAX_UTM, 128 code points): the cookie's size shrink then drops model entries."""
    emoji = [chr(c) for c in range(0x1F600, 0x1F64F)]
    cjk = [chr(c) for c in range(0x20000, 0x20000 + 2000)]
    pool = rng.choice([emoji, cjk, emoji + cjk])
    return "".join(rng.choice(pool) for _ in range(rng.randint(124, MAX_UTM)))


@pytest.mark.parametrize("fleet", [["py"], ["wk"], ["py", "wk"]], ids=["python", "worker", "mixed-fleet"])
def test_replay_counts_an_oversized_source_never_enters_a_model_twice(runtimes: dict[str, str], fleet: list[str]) -> None:
    """An honest visit with a generated oversized utm_source browsing 3-8 pages (on either runtime in
    the fleet): the cookie drops model entries to stay under 1 KB, yet every model is entered once, and
    every level's net count is that of one visit. Before, a 128-emoji source counted one visit four times."""
    rng = random.Random(2201 + len(fleet))
    urls = [runtimes[f] for f in fleet]
    shrunk = 0
    for _ in range(5):
        before = counts(urls)
        ua, source = rng.choice(list(UAS.values())), big_source(rng)
        cookie = decide(rng.choice(urls), None, ua, source, None)
        for _ in range(rng.randint(2, 7)):
            cookie = decide(rng.choice(urls), cookie, ua, source, None)
            s = CookieCodec({"r1": KEY}, COOKIE).decode(cookie)
            assert s is not None and s.entered  # which models the visit entered: never dropped
            shrunk += len(s.models) < bin(s.entered).count("1")
        delta = minus(counts(urls), before)
        within(delta, 1)  # an honest visit: exactly one, whichever runtime served each page
        entered = {k[1:3]: n for k, n in delta.items() if k[0] == "model" and k[3] == "*" and k[5] == "entered"}
        assert entered and set(entered.values()) == {1}, entered
    assert shrunk, "no generated source made the cookie drop a model entry: the class tests nothing"


def test_replay_counts_honest_visits_alternating_runtimes_are_counted_exactly(runtimes: dict[str, str]) -> None:
    """Honest visits (each request with the cookie the last response set) served by either runtime at
    random (never more than LINEAGE_STATES - 1 pages in a row by one), their depth and source levels
    moving with the pages: the fleet counts each visit once, at its last levels, converted once — what
    the model rows hold is exactly the visits' (the lineage lets a process count from a newer cookie
    than its own state)."""
    rng = random.Random(2202)
    urls = list(runtimes.values())
    assert len(urls) == 2
    before = counts(urls)
    expected: Counter[tuple[str, str, str]] = Counter()
    converted: Counter[tuple[str, str, str]] = Counter()
    for _ in range(24):
        device, source = rng.choice(list(UAS)), rng.choice(SOURCES)
        pages = rng.randint(1, 9)
        buy = rng.choice([None, rng.randint(1, pages)])
        cookie = None
        levels: dict[str, str] = {}
        served: list[str] = []
        for p in range(1, pages + 1):
            # utm.source: the page's own, often the previous page's (a page that changes nothing here
            # while the other runtime counted changes: it must still recognise the visit's later state)
            src = source if p == 1 or rng.random() < 0.6 else rng.choice(SOURCES)
            source = src
            url = rng.choice(urls)
            if served[-(LINEAGE_STATES - 1):] == [url] * (LINEAGE_STATES - 1):
                url = urls[1 - urls.index(url)]  # the other runtime's state is at most 3 changes behind
            served.append(url)
            cookie = decide(url, cookie, UAS[device], src, None)
            if buy is None or p <= buy:
                levels = {"*": "*", "device": device, "source": src if src in ("google", "newsletter") else "(other)",
                          "depth": "<2" if p < 2 else "[2,4)" if p < 4 else ">=4", SCORE: BUCKET[device]}
            if p == buy:
                cookie = event(rng.choice(urls), cookie, "purchase")
                converted.update(("intent", f, lv) for f, lv in levels.items())
        expected.update(("intent", f, lv) for f, lv in levels.items())
    for first in (0, 1):  # strictly alternating, the levels changing only on the other runtime's pages: four changes
        cookie, sources = None, ["google", "newsletter", "newsletter", "ads", "ads", "google", "google", "newsletter", "newsletter"]
        for p, src in enumerate(sources, 1):  # since the first runtime last counted, which must still recognise the visit's state
            cookie = decide(urls[(first + p - 1) % 2], cookie, UAS["desktop"], src, None)
        cookie = event(urls[first], cookie, "purchase")
        last = {"*": "*", "device": "desktop", "source": "newsletter", "depth": ">=4", SCORE: BUCKET["desktop"]}
        expected.update(("intent", f, lv) for f, lv in last.items())
        converted.update(("intent", f, lv) for f, lv in last.items())
    delta = minus(counts(urls), before)
    got_net = {k[1:2] + k[3:5]: delta[k] - delta[k[:5] + ("left",)] for k in delta if k[0] == "model" and k[1] == "intent" and k[5] == "entered"}
    got_conv = {k[1:2] + k[3:5]: delta[k] for k in delta if k[0] == "model" and k[1] == "intent" and k[5] == "converted"}
    assert {k: n for k, n in got_net.items() if n} == dict(expected)
    assert {k: n for k, n in got_conv.items() if n} == dict(converted)


def test_replay_counts_a_conversion_on_the_worker_then_the_current_cookie_on_the_server_counts_once(runtimes: dict[str, str]) -> None:
    """The honest mixed-fleet case stays exact: a visit converting on one runtime and sending its current
    cookie to the other converts once in the fleet (the cookie lists the goal, both runtimes honour it);
    the pre-conversion cookie replayed converts once more per runtime it had not converted on, never more."""
    py, wk = runtimes["py"], runtimes["wk"]
    for first, second in ((wk, py), (py, wk)):
        before = counts([py, wk])
        pre = decide(first, None, UAS["mobile"], "google", None)
        post = event(first, pre, "purchase")
        event(second, post, "purchase")  # the current cookie: already converted
        decide(second, post, UAS["mobile"], "", None)
        delta = minus(counts([py, wk]), before)
        assert delta[("conversion", "purchase", "*", "*", "", "personalized")] + delta[("conversion", "purchase", "*", "*", "", "holdout")] == 1
        assert delta[("model", "intent", "", "*", "*", "converted")] == 1
        for _ in range(5):  # the pre-conversion cookie, replayed to both: once more on the runtime that did not convert it
            event(first, pre, "purchase")
            event(second, pre, "purchase")
        delta = minus(counts([py, wk]), before)
        assert delta[("conversion", "purchase", "*", "*", "", "personalized")] + delta[("conversion", "purchase", "*", "*", "", "holdout")] == 2
        assert delta[("model", "intent", "", "*", "*", "converted")] <= 2
        within(delta, 2)


def test_replay_counts_a_pre_exposure_cookie_exposes_once_per_runtime(runtimes: dict[str, str]) -> None:
    """A cookie from before the visit was shown the offer experiment, replayed 20 times for the offer
    slot: one exposure and one cohort exposure (and assignment) per runtime, however often."""
    for fleet in (["py"], ["wk"], ["py", "wk"]):
        urls = [runtimes[f] for f in fleet]
        before = counts(urls)
        pre = decide(urls[0], None, UAS["desktop"], "", ["hero"])
        for i in range(20):
            decide(urls[i % len(urls)], pre, UAS["desktop"], "", ["offer"])
        delta = minus(counts(urls), before)
        offer = sum(n for k, n in delta.items() if k[0] == "exposure" and k[1] == "offer")
        exposed = sum(n for k, n in delta.items() if k[0] == "cohort" and k[4] == "exposed")
        assigned = sum(n for k, n in delta.items() if k[0] == "cohort" and k[4] == "assigned")
        holdout = any(k[0] == "exposure" and k[4] == "holdout" for k in delta)  # the holdout shows no experiment
        assert offer == len(urls), (fleet, delta)
        assert (exposed, assigned) == ((0, 0) if holdout else (len(urls), len(urls))), (fleet, delta)
        within(delta, len(urls))


def test_replay_counts_decide_requests_by_consent_on_both_runtimes(runtimes: dict[str, str]) -> None:
    """strata_decide_requests_by_consent_total{consent} counts every decide by consent, on both runtimes
    alike, and both export strata_visit_ledger_evictions_total (0 while the ledger has room)."""
    rng = random.Random(2203)
    for url in runtimes.values():
        yes, no = rng.randint(1, 6), rng.randint(1, 6)
        was = {c: metric(url, f'strata_decide_requests_by_consent_total{{consent="{c}"}}', TOKEN) for c in ("yes", "no")}
        for _ in range(yes):
            decide(url, None, UAS["desktop"], "", None)
        for _ in range(no):
            assert httpx.post(url + "/v1/decide", json={"page": {"url": "/"}}, headers={"Sec-GPC": "1"}, timeout=10).status_code == 200
        now = {c: metric(url, f'strata_decide_requests_by_consent_total{{consent="{c}"}}', TOKEN) for c in ("yes", "no")}
        assert (now["yes"] - was["yes"], now["no"] - was["no"]) == (yes, no), url
        text = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).text
        assert any(line.startswith("strata_visit_ledger_evictions_total") and line.split()[-1] in ("0", "0.0") for line in text.splitlines()), url
