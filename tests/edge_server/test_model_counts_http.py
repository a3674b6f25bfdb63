"""Model training counters through real servers (``strata serve`` under uvicorn, HTTP): visits with
known signals on two replicas sharing cookie keys give exactly the expected rows in both servers'
/v1/stats and /metrics, summed by edge_server/reporting/models.py; without consent nothing is
counted on any route."""

from __future__ import annotations

import base64
import json
import random
import re
from collections import Counter
from pathlib import Path

import httpx
import pytest

from compiler.harness.fixtures import MODEL_COUNTING
from edge_server.contract import SCORE, UPLIFT
from edge_server.harness.ports import wait_for
from edge_server.harness.server import RunningServer
from edge_server.reporting.models import model_counts

TOKEN = "model-token"
KEYS = "m1:" + base64.b64encode(b"\x05" * 32).decode()
MOBILE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
PAGE = '<!DOCTYPE html><html lang="en"><body><section data-strata-slot="hero"><h2>Hi</h2></section></body></html>'
# log-odds -1 (desktop), -0.5 (mobile): the score depends on the device only; its bucket is named by its lower bound
BUCKET = {"mobile": "-0.500", "desktop": "-1.000"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    d = tmp_path_factory.mktemp("counting")
    rs = d / "counting.yaml"
    rs.write_text(MODEL_COUNTING)
    (d / "pages").mkdir()
    (d / "pages" / "index.html").write_text(PAGE)
    env = {"STRATA_COOKIE_KEYS": KEYS, "STRATA_STATS_TOKEN": TOKEN}
    servers = [RunningServer([str(rs), "--insecure-cookie", "--pages", str(d / "pages")], env=env) for _ in range(2)]
    yield servers
    for s in servers:
        s.stop()


def stats(s: RunningServer) -> dict:
    return httpx.get(s.url + "/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}).json()


def snapshot_files(fleet: list[RunningServer], where: Path, tag: str) -> tuple[list[str], list[str]]:
    """Each server's /v1/stats and /metrics, written to files (as an operator collects them)."""
    js, prom = [], []
    for i, s in enumerate(fleet):
        (where / f"{tag}-{i}.json").write_text(json.dumps(stats(s)))
        (where / f"{tag}-{i}.txt").write_text(httpx.get(s.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text)
        js.append(str(where / f"{tag}-{i}.json"))
        prom.append(str(where / f"{tag}-{i}.txt"))
    return js, prom


def net(rows: list[dict]) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(spec label kind, feature, level) -> (net visits, converted), zeros left out."""
    out = {}
    for r in rows:
        if r["entered"] - r["left"] or r["converted"]:
            out[(r["arm"], r["feature"], r["level"])] = (r["entered"] - r["left"], r["converted"])
    return out


def depth(page_views: int) -> str:
    return "<2" if page_views < 2 else "[2,4)" if page_views < 4 else ">=4"


def test_model_counts_exact_rows_from_two_replicas(fleet, tmp_path):
    """Visitors with known devices and UTM sources browse 1-5 pages over both replicas and some
    buy (on either replica); the summed counters are exactly the visits' last counted levels."""
    rng = random.Random(16)
    intent: Counter[tuple[str, str]] = Counter()
    intent_conv: Counter[tuple[str, str]] = Counter()
    carts: Counter[tuple[str, str]] = Counter()
    before = model_counts(snapshot_files(fleet, tmp_path, "before")[0])
    for _ in range(60):
        device = rng.choice(["mobile", "desktop"])
        ua = MOBILE if device == "mobile" else DESKTOP
        pages = rng.randint(1, 5)
        buy_after = rng.choice([None, rng.randint(1, pages)])
        with httpx.Client(headers={"User-Agent": ua}) as c:
            levels: dict[str, str] = {}
            for p in range(1, pages + 1):
                source = rng.choice(["", "google", "newsletter", "ads"])
                r = c.post(rng.choice(fleet).url + "/v1/decide", json={"page": {"url": f"/?utm_source={source}" if source else "/"}})
                assert r.status_code == 200
                if buy_after is None or p <= buy_after:
                    levels = {"device": device, "source": source if source in ("google", "newsletter") else "(other)", "depth": depth(p),
                              SCORE: BUCKET[device]}
                if p == buy_after:
                    assert c.post(rng.choice(fleet).url + "/v1/events", json={"goal": "purchase", "value": 10}).status_code == 202
                    for f, level in {**levels, "*": "*"}.items():
                        intent_conv[(f, level)] += 1
            for f, level in {**levels, "*": "*"}.items():
                intent[(f, level)] += 1
            carts[("device", device)] += 1
            carts[("*", "*")] += 1
    js, prom = snapshot_files(fleet, tmp_path, "after")
    for got in (model_counts(js), model_counts(prom)):
        rows = net(got["intent"]["rows"])
        old = net(before.get("intent", {"rows": []})["rows"])
        delta = {k: (rows.get(k, (0, 0))[0] - old.get(k, (0, 0))[0], rows.get(k, (0, 0))[1] - old.get(k, (0, 0))[1]) for k in rows}
        assert {k: v for k, v in delta.items() if v != (0, 0)} == {("", f, level): (intent[(f, level)], intent_conv.get((f, level), 0))
                                                                   for f, level in intent}
        crows = net(got["carts"]["rows"])
        cold = net(before.get("carts", {"rows": []})["rows"])
        cnet = {k[1:]: crows[k][0] - cold.get(k, (0, 0))[0] for k in crows if k[1] != SCORE}
        assert {k: n for k, n in cnet.items() if n} == dict(carts)
    specs = model_counts(js)["intent"]
    assert specs["goal"] == "purchase" and specs["uplift"] is None and len(specs["spec"]) == 8 and len(specs["fit"]) == 8
    assert specs["features"]["depth"] == ["<2", "[2,4)", ">=4", "(absent)"]
    assert {r["spec"] for r in specs["rows"] if r["feature"] == SCORE} == {specs["fit"]}
    assert {r["spec"] for r in specs["rows"] if r["feature"] != SCORE} == {specs["spec"]}


def test_model_counts_uplift_arms_follow_what_each_visit_was_shown(fleet, tmp_path):
    """Experiment uplift: a visit counts in the arm of the variant it was shown; rule uplift: a
    personalised visit shown the rule is treatment, a holdout visit whose signals match it (mobile:
    score.intent 0.38 > 0.3) is control, other visits are in neither."""
    rng = random.Random(17)
    expected: dict[str, Counter[tuple[str, str]]] = {"discount": Counter(), "welcome": Counter()}
    converted: dict[str, Counter[tuple[str, str]]] = {"discount": Counter(), "welcome": Counter()}
    before = model_counts(snapshot_files(fleet, tmp_path, "before")[0])
    for _ in range(50):
        device = rng.choice(["mobile", "desktop"])
        with httpx.Client(headers={"User-Agent": MOBILE if device == "mobile" else DESKTOP}) as c:
            slots = c.post(rng.choice(fleet).url + "/v1/decide", json={"page": {"url": "/"}}).json()["slots"]
            arms = {}
            if slots["offer"]["variant"] is not None:  # the holdout shows defaults: no variant, not in the experiment's arms
                arms["discount"] = "treatment" if slots["offer"]["variant"] == "bundle-discount" else "control"
            if slots["hero"]["reason"] == "holdout":
                if device == "mobile":
                    arms["welcome"] = "control"
            elif slots["hero"]["rule"] == "keen":
                arms["welcome"] = "treatment"
            buy = rng.random() < 0.4
            if buy:
                assert c.post(rng.choice(fleet).url + "/v1/events", json={"goal": "purchase"}).status_code == 202
            for model, arm in arms.items():
                expected[model][(arm, "*")] += 1
                expected[model][(arm, device)] += 1
                if buy:
                    converted[model][(arm, "*")] += 1
                    converted[model][(arm, device)] += 1
    got = model_counts(snapshot_files(fleet, tmp_path, "after")[0])
    for model in ("discount", "welcome"):
        old = {(r["arm"], r["feature"], r["level"]): r for r in before.get(model, {"rows": []})["rows"]}
        visits: Counter[tuple[str, str]] = Counter()
        conv: Counter[tuple[str, str]] = Counter()
        lifts: Counter[tuple[str, str]] = Counter()
        for r in got[model]["rows"]:
            o = old.get((r["arm"], r["feature"], r["level"]), {"entered": 0, "left": 0, "converted": 0})
            if r["feature"] == UPLIFT:  # each visit in its uplift row too, in both arms
                lifts[(r["arm"], "*")] += (r["entered"] - r["left"]) - (o["entered"] - o["left"])
            if r["feature"] in (SCORE, UPLIFT):
                continue
            o = old.get((r["arm"], r["feature"], r["level"]), {"entered": 0, "left": 0, "converted": 0})
            key = (r["arm"], r["level"] if r["feature"] == "device" else "*")
            visits[key] += (r["entered"] - r["left"]) - (o["entered"] - o["left"])
            conv[key] += r["converted"] - o["converted"]
        assert +visits == expected[model] and +conv == converted[model], model
        assert +lifts == Counter({k: n for k, n in expected[model].items() if k[1] == "*"}), model
        assert {a for a, _ in expected[model]} == {"treatment", "control"}  # both arms were exercised
    assert got["discount"]["uplift"] == {"experiment": "offer-test", "treatment": "bundle-discount", "control": "free-shipping"}
    # each arm's own log-odds (1 in both: the model's two sets are equal), not their difference
    assert {(r["arm"], r["level"]) for r in got["discount"]["rows"] if r["feature"] == SCORE} == {("treatment", "1.000"), ("control", "1.000")}
    # and the visit's uplift score (0: the sets are equal) in its uplift row, in both arms
    assert {(r["arm"], r["level"]) for r in got["discount"]["rows"] if r["feature"] == UPLIFT} == {("treatment", "0.00"), ("control", "0.00")}


def test_model_counts_add_up_across_worker_processes(tmp_path):
    """strata serve --workers 2: visits spread over both processes; any worker's /v1/stats and
    /metrics count every visit once (each worker publishes its model rows for its siblings)."""
    rs = tmp_path / "counting.yaml"
    rs.write_text(MODEL_COUNTING)
    log = tmp_path / "serve.log"
    s = RunningServer([str(rs), "--insecure-cookie", "--workers", "2"], env={"STRATA_COOKIE_KEYS": KEYS, "STRATA_STATS_TOKEN": TOKEN}, log=log)
    try:
        n = 40
        for i in range(n):  # a new connection and a new visitor each time: the kernel spreads them over the workers
            ua = MOBILE if i % 2 else DESKTOP
            assert httpx.post(s.url + "/v1/decide", json={"page": {"url": "/"}}, headers={"User-Agent": ua, "Connection": "close"}).status_code == 200

        def visits() -> dict[str, int]:
            snap = httpx.get(s.url + "/v1/stats", headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"}).json()
            return {f"{r['feature']}={r['level']}": r["entered"] - r["left"] for r in snap["models"]
                    if r["model"] == "carts" and r["feature"] in ("*", "device")}

        wait_for(lambda: all(visits() == {"*=*": n, "device=mobile": n // 2, "device=desktop": n // 2} for _ in range(4)), timeout=10)
        share = Path(re.search(r"metrics shared in (\S+)\)", log.read_text()).group(1))
        # both processes counted visits (each publishes its rows within a second): the totals above are sums across them
        wait_for(lambda: len([f for f in share.glob("worker-*.json") if json.loads(f.read_text())["measure"]["models"]]) == 2, timeout=10)
        scrape = tmp_path / "metrics.txt"

        def scraped() -> int:  # the scrape may land on either worker: each sees its sibling's rows as last published
            scrape.write_text(httpx.get(s.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"}).text)
            rows = model_counts([str(scrape)])["carts"]["rows"]
            return sum(r["entered"] - r["left"] for r in rows if r["feature"] == "*")

        wait_for(lambda: all(scraped() == n for _ in range(4)), timeout=10)
        assert scraped() == n
    finally:
        s.stop()


REFUSALS = [{"Sec-GPC": "1"}, {"DNT": "1"}, {"strata_consent": "no"}, {"strata_consent": "deny"}]


@pytest.mark.parametrize("route", ["decide", "page", "events"])
@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda r: next(iter(r)))
def test_model_counts_nothing_without_consent_on_any_route(fleet, route, refusal):
    """A visitor who refuses (GPC, DNT or the consent cookie), with a session cookie that holds model
    entries of this visit: no route counts anything in the model rows, and the cookie is expired."""
    s = fleet[0]
    with httpx.Client(base_url=s.url, headers={"User-Agent": MOBILE}) as c:
        c.post("/v1/decide", json={"page": {"url": "/?utm_source=google"}})  # with consent: a cookie with model entries
        cookie = c.cookies["strata_session"]
    before = stats(s)["models"]
    headers = {"User-Agent": DESKTOP, **{k: v for k, v in refusal.items() if not k.startswith("strata_")}}
    cookies = {"strata_session": cookie, **{k: v for k, v in refusal.items() if k.startswith("strata_")}}
    headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if route == "decide":
        r = httpx.post(s.url + "/v1/decide", json={"page": {"url": "/?utm_source=newsletter"}}, headers=headers)
    elif route == "page":
        r = httpx.get(s.url + "/index.html?utm_source=newsletter", headers=headers)
    else:
        r = httpx.post(s.url + "/v1/events", json={"goal": "purchase", "value": 5}, headers=headers)
    assert r.status_code in (200, 202)
    assert r.headers.get_list("set-cookie") == ["strata_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"]
    assert stats(s)["models"] == before
    # the same request with consent does count (the test can fail)
    consenting = {k: v for k, v in headers.items() if k not in ("Sec-GPC", "DNT")}
    consenting["Cookie"] = f"strata_session={cookie}"
    if route == "events":
        httpx.post(s.url + "/v1/events", json={"goal": "purchase", "value": 5}, headers=consenting)
    elif route == "page":
        httpx.get(s.url + "/index.html?utm_source=newsletter", headers=consenting)
    else:
        httpx.post(s.url + "/v1/decide", json={"page": {"url": "/?utm_source=newsletter"}}, headers=consenting)
    assert stats(s)["models"] != before
