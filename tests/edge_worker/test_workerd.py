"""End to end: the edge worker in real workerd (from npm) on 127.0.0.1, a signed gzip bundle and the
TrailBlazer pages served by local origins, driven over HTTP through the demo's seed journeys; and
a mixed fleet, where a visitor moves between `strata serve` (Python) and the worker and keeps one
session, one sticky arm and one set of caps."""

from __future__ import annotations

import base64
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from compiler.harness.fixtures import ROOT, trailblazer_without_holdout
from edge_server.harness.origin import StaticOrigin
from edge_server.harness.server import RunningServer
from edge_server.harness.workerd import MAX_WORKER_BYTES, RunningWorkerd, bundle_worker
from edge_server.session import CookieCodec, Session
from tests.edge_worker.workerd import require_node

SITE = ROOT / "rulesets" / "trailblazer" / "site"
COOKIE_KEYS = "k1:" + base64.b64encode(b"\x07" * 32).decode()
CART = quote(json.dumps({"cart.items": [{"sku": "TB-SUMMIT2", "category": "tents", "price": 249.0, "quantity": 1}], "cart.value": 249.0}))
FIRST = int(time.time()) // 60 * 60  # bundle versions: a new one is FIRST + 1


def gzip_bundle(key: Ed25519PrivateKey, version: int) -> bytes:
    from compiler.pipeline import Options, run

    ctx = run("trailblazer.yaml", Options(key=key, created=int(time.time()) - 60, version=version, codec="gzip"),
              text=trailblazer_without_holdout())  # fresh visitors get random session ids: no 5% holdout in tests
    assert ctx.bundle is not None
    return ctx.bundle


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    require_node()
    d = tmp_path_factory.mktemp("workerd")
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    (d / "site.pub").write_text(pub)
    bundles = d / "bundles"
    bundles.mkdir()
    (bundles / "trailblazer.bundle").write_bytes(gzip_bundle(key, FIRST))
    site, origin = StaticOrigin(SITE), StaticOrigin(bundles)
    worker = None
    try:
        worker = RunningWorkerd(d / "workerd", {
            "STRATA_BUNDLE": origin.url + "/trailblazer.bundle", "STRATA_PUB": pub, "STRATA_ORIGIN": site.url,
            "STRATA_COOKIE_KEYS": COOKIE_KEYS, "STRATA_COOKIE_SECURE": "0", "STRATA_DEBUG": "1", "STRATA_POLL_INTERVAL": "0.3",
            "STRATA_STATS_TOKEN": "stats-token"})
        yield {"worker": worker, "bundles": bundles, "key": key, "pub": d / "site.pub", "dir": d}
    finally:
        if worker is not None:
            worker.stop()
        site.stop()
        origin.stop()


def slots(html: str) -> dict[str, dict[str, str | None]]:
    tree = LexborHTMLParser(html)
    out = {}
    for n in tree.css("[data-strata-slot]"):
        a = n.attributes
        out[a["data-strata-slot"] or ""] = {"reason": a.get("data-strata-reason"), "rule": a.get("data-strata-rule"),
                                            "variant": a.get("data-strata-variant"), "text": n.text(separator=" ").strip()}
    return out


def visit(client: httpx.Client, path: str, **kw: object) -> dict[str, dict[str, str | None]]:
    r = client.get(path, **kw)  # type: ignore[arg-type]
    assert r.status_code == 200, (path, r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("text/html") and r.headers["cache-control"] == "private, no-store"
    return slots(r.text)


@pytest.fixture
def browser(fleet: dict[str, object]) -> Iterator[httpx.Client]:
    worker = fleet["worker"]
    assert isinstance(worker, RunningWorkerd)
    with httpx.Client(base_url=worker.url, timeout=10) as c:
        yield c


def test_workerd_deployable_worker_is_under_one_megabyte(tmp_path: Path) -> None:
    require_node()
    size = bundle_worker(tmp_path / "worker.js").stat().st_size
    assert 0 < size <= MAX_WORKER_BYTES, size


def test_workerd_first_visit_sees_generic_hero_and_gets_a_session_cookie(browser: httpx.Client) -> None:
    r = browser.get("/")
    hero = slots(r.text)["hero"]
    assert hero["reason"] == "default" and "Gear up for your next adventure" in (hero["text"] or "")
    assert r.headers["set-cookie"].startswith("strata_session=s1.k1.") and "HttpOnly" in r.headers["set-cookie"]
    assert "strata-debug" in r.text  # STRATA_DEBUG: the overlay, as the Python server's --debug


def test_workerd_newsletter_link_gets_camping_content_on_first_page(browser: httpx.Client) -> None:
    hero = visit(browser, "/newsletter.html?utm_source=newsletter&utm_medium=email&utm_campaign=camping-spring")["hero"]
    assert hero["rule"] == "camping-welcome" and "Your camping season starts here" in (hero["text"] or "")


def test_workerd_viewing_tents_switches_hero_to_tent_layer(browser: httpx.Client) -> None:
    assert visit(browser, "/")["hero"]["rule"] is None
    visit(browser, "/tents.html")
    hero = visit(browser, "/")["hero"]
    assert hero["rule"] == "tent-hero" and "Find the tent that fits your trip" in (hero["text"] or "")


def test_workerd_welcome_offer_on_third_view_then_never_again(browser: httpx.Client) -> None:
    visit(browser, "/")
    assert visit(browser, "/newsletter.html")["offer"]["reason"] == "default"
    offer = visit(browser, "/")["offer"]
    assert offer["rule"] == "welcome-offer" and "TRAIL15" in (offer["text"] or "")
    again = visit(browser, "/newsletter.html")["offer"]
    assert again["reason"] == "capped" and again["text"] == ""


def test_workerd_tent_in_cart_sticky_experiment_across_pages_and_browser_restart(fleet: dict[str, object], browser: httpx.Client) -> None:
    browser.cookies.set("strata_signals", CART)
    hero = visit(browser, "/")["hero"]
    assert hero["rule"] == "starter-kit" and hero["variant"] in ("bundle-discount", "free-shipping")
    assert visit(browser, "/tents.html")["hero"]["variant"] == hero["variant"]
    worker = fleet["worker"]
    assert isinstance(worker, RunningWorkerd)
    with httpx.Client(base_url=worker.url, cookies=dict(browser.cookies)) as restarted:  # the same cookies, a new client
        assert visit(restarted, "/")["hero"]["variant"] == hero["variant"]


def test_workerd_global_privacy_control_generic_and_no_cookie(browser: httpx.Client) -> None:
    for path in ("/newsletter.html?utm_source=newsletter", "/tents.html", "/", "/product.html"):
        r = browser.get(path, headers={"Sec-GPC": "1"})
        reasons = {s["reason"] for name, s in slots(r.text).items() if name in ("hero", "banner", "recs")}
        assert reasons == {"no_consent"}, (path, reasons)
        assert "set-cookie" not in r.headers
    assert "strata_session" not in browser.cookies


def test_workerd_decide_speaks_the_python_servers_json(browser: httpx.Client) -> None:
    r = browser.post("/v1/decide", json={"page": {"url": "/tents.html?utm_source=newsletter&utm_medium=email"}, "slots": ["hero"], "html": True})
    assert r.status_code == 200 and r.headers["vary"].startswith("Cookie, Sec-GPC")
    body = r.json()
    assert list(body) == ["bundle", "slots", "consent"] and body["consent"] is True
    hero = body["slots"]["hero"]
    assert set(hero) == {"rule", "variant", "experiment", "layer", "segment", "reason", "content", "html"}
    assert hero["rule"] == "camping-welcome" and "Your camping season starts here" in hero["html"]
    bad = browser.post("/v1/decide", json={"page": {"url": 5}})
    assert bad.status_code == 422 and bad.json()["error"] == {"code": "invalid_request", "field": "page.url",
                                                              "message": "page.url must be a string of at most 2048 characters"}
    assert browser.post("/v1/decide", content=b"{nope").json()["error"]["code"] == "invalid_json"
    server_side = browser.post("/v1/decide", json={"signals": {"session.visit_count": 3}})
    assert server_side.status_code == 422 and server_side.json()["error"]["code"] == "invalid_signal"


def test_workerd_counts_exposures_and_conversions_for_strata_report(browser: httpx.Client, tmp_path: Path) -> None:
    visit(browser, "/")
    r = browser.post("/v1/events", json={"goal": "purchase", "value": 49.5})
    assert r.status_code == 202 and r.json() == {"accepted": True, "population": "personalized"}
    stats = browser.get("/v1/stats", headers={"authorization": "Bearer stats-token"})
    assert stats.status_code == 200, stats.text
    snap = stats.json()
    assert snap["format"] == "strata-stats/1" and snap["experiments"]["starter-kit"]["variants"] == [["bundle-discount", 5000], ["free-shipping", 5000]]
    assert any(e["slot"] == "hero" and e["population"] == "personalized" and e["count"] >= 1 for e in snap["exposures"])
    assert any(c["goal"] == "purchase" and c["arm"] == "*" and c["value"] >= 49.5 for c in snap["conversions"])
    assert browser.get("/v1/stats").status_code == 401
    from edge_server.reporting import counters

    f = tmp_path / "snap.json"
    f.write_text(json.dumps(snap))
    assert counters.load([str(f)]).exposures  # strata report reads the worker's snapshot


def test_workerd_tampered_bundle_refused_while_last_good_keeps_serving(fleet: dict[str, object], browser: httpx.Client) -> None:
    bundles, key = fleet["bundles"], fleet["key"]
    assert isinstance(bundles, Path) and isinstance(key, Ed25519PrivateKey)
    good = (bundles / "trailblazer.bundle").read_bytes()
    assert browser.get("/readyz").json()["bundle"]["version"] == FIRST  # the good one is loaded first
    tampered = bytearray(gzip_bundle(key, FIRST + 1))
    tampered[-40] ^= 0x01  # one bit inside the signed payload
    (bundles / "trailblazer.bundle").write_bytes(bytes(tampered))
    try:
        deadline = time.monotonic() + 20
        ready = browser.get("/readyz").json()
        while ready["reload_failures"] == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
            ready = browser.get("/readyz").json()
        assert ready["reload_failures"] >= 1 and "bad_signature" in ready["last_error"], ready
        assert ready["bundle"]["version"] == FIRST  # the last good bundle keeps serving
        hero = visit(browser, "/newsletter.html?utm_source=newsletter&utm_medium=email")["hero"]
        assert hero["rule"] == "camping-welcome"
        assert browser.post("/v1/decide", json={}).json()["bundle"]["version"] == FIRST
        # a new, correctly signed version is picked up by the background refresh
        (bundles / "trailblazer.bundle").write_bytes(gzip_bundle(key, FIRST + 2))
        deadline = time.monotonic() + 20
        while browser.get("/readyz").json()["bundle"]["version"] != FIRST + 2:
            assert time.monotonic() < deadline, "the new bundle was not picked up"
            time.sleep(0.2)
    finally:
        (bundles / "trailblazer.bundle").write_bytes(good)


def test_workerd_mixed_fleet_one_session_one_sticky_arm_one_cap(fleet: dict[str, object], browser: httpx.Client, tmp_path: Path) -> None:
    """A visitor alternating between a Python replica and a worker keeps one session."""
    bundles, pub = fleet["bundles"], fleet["pub"]
    assert isinstance(bundles, Path) and isinstance(pub, Path)
    shutil.copy(bundles / "trailblazer.bundle", tmp_path / "trailblazer.bundle")
    python = RunningServer(["--bundle", str(tmp_path / "trailblazer.bundle"), "--pub", str(pub), "--pages", str(SITE), "--insecure-cookie"],
                           env={"STRATA_COOKIE_KEYS": COOKIE_KEYS}, log=tmp_path / "server.log")
    try:
        with httpx.Client(timeout=10) as c:  # one cookie jar: both listen on 127.0.0.1
            py, wk = python.url, browser.base_url
            visit(c, f"{py}/")  # page view 1 on Python
            assert visit(c, f"{wk}/newsletter.html")["offer"]["reason"] == "default"  # 2 on the worker
            offer = visit(c, f"{py}/")["offer"]  # 3 on Python: the welcome offer
            assert offer["rule"] == "welcome-offer"
            assert visit(c, f"{wk}/")["offer"]["reason"] == "capped"  # the worker counts the Python server's cap
            c.cookies.set("strata_signals", CART)
            arm = visit(c, f"{wk}/")["hero"]["variant"]
            assert arm in ("bundle-discount", "free-shipping")
            for base in (py, wk, py):
                assert visit(c, f"{base}/tents.html")["hero"]["variant"] == arm  # one sticky arm across both
    finally:
        python.stop()


def _session(client: httpx.Client) -> Session:
    s = CookieCodec({"k1": b"\x07" * 32}, "strata_session").decode(client.cookies.get("strata_session"))
    assert s is not None
    return s


def _purchases(url: str, token: str | None) -> int:
    """Consenting purchase conversions (overall row) in a server's or worker's /v1/stats."""
    snap = httpx.get(f"{url}/v1/stats", headers={"authorization": f"Bearer {token}"} if token else {}, timeout=10).json()
    return sum(c["count"] for c in snap["conversions"] if c["goal"] == "purchase" and c["arm"] == "*" and c["population"] in ("personalized", "holdout"))


def test_workerd_mixed_fleet_one_visit_nonce_and_conversions_once_per_visit(fleet: dict[str, object], tmp_path: Path) -> None:
    """The visit nonce travels in the one cookie: Python and the worker keep it within a visit; a
    goal converted on one is not counted again on the other (the cookie knows it), and a replayed
    older cookie converts once on the worker (its ledger)."""
    bundles, pub, worker = fleet["bundles"], fleet["pub"], fleet["worker"]
    assert isinstance(bundles, Path) and isinstance(pub, Path) and isinstance(worker, RunningWorkerd)
    shutil.copy(bundles / "trailblazer.bundle", tmp_path / "trailblazer.bundle")
    python = RunningServer(["--bundle", str(tmp_path / "trailblazer.bundle"), "--pub", str(pub), "--pages", str(SITE), "--insecure-cookie",
                            "--stats-token", "py-token"], env={"STRATA_COOKIE_KEYS": COOKIE_KEYS}, log=tmp_path / "server.log")
    try:
        with httpx.Client(timeout=10) as c:
            py, wk = python.url, worker.url
            visit(c, f"{py}/")
            nonce = _session(c).visit_nonce
            assert len(nonce) == 16
            visit(c, f"{wk}/tents.html")
            assert _session(c).visit_nonce == nonce  # the worker keeps the visit's nonce
            before_py, before_wk = _purchases(py, "py-token"), _purchases(wk, "stats-token")
            old = c.cookies.get("strata_session")
            assert c.post(f"{py}/v1/events", json={"goal": "purchase", "value": 5}).status_code == 202
            assert _purchases(py, "py-token") == before_py + 1
            assert c.post(f"{wk}/v1/events", json={"goal": "purchase", "value": 5}).status_code == 202  # the newer cookie knows
            assert _purchases(wk, "stats-token") == before_wk
            for _ in range(3):  # the older cookie, replayed against the worker: once, then its ledger remembers the nonce
                r = httpx.post(f"{wk}/v1/events", json={"goal": "purchase", "value": 5}, cookies={"strata_session": old}, timeout=10)
                assert r.status_code == 202
            assert _purchases(wk, "stats-token") == before_wk + 1
            assert _session(c).visit_nonce == nonce
    finally:
        python.stop()


def test_workerd_hardened_responses_as_the_python_server(fleet: dict[str, object]) -> None:
    worker = fleet["worker"]
    assert isinstance(worker, RunningWorkerd)
    url = worker.url
    cases = [
        (httpx.post(f"{url}/v1/events", content=b'{"goal":"purchase"}', headers={"content-type": "text/plain"}), 415, "unsupported_media_type"),
        (httpx.post(f"{url}/v1/events", json={"goal": "purchase"}, headers={"origin": "https://evil.example"}), 403, "forbidden_origin"),
        (httpx.post(f"{url}/v1/events", json={"goal": "purchase", "value": 2e6}), 422, "value_too_large"),
        (httpx.post(f"{url}/v1/events", json={"goal": "purchase", "value": -1}), 422, "invalid_request"),
        (httpx.get(f"{url}/metrics"), 401, "unauthorized"),
        (httpx.post(f"{url}/v1/decide", json={"slots": ["hero", "nope"]}), 422, "unknown_slot"),
        (httpx.post(f"{url}/v1/decide", json={"page": {"url": "https://[zz]/"}}), 422, "invalid_url"),
        (httpx.get(f"{url}/a%00b.html"), 400, "invalid_path"),
        (httpx.get(f"{url}/" + "a" * 2100), 400, "invalid_path"),
    ]
    for r, status, code in cases:
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    host = url.split("//")[1]
    assert httpx.post(f"{url}/v1/events", json={"goal": "purchase"}, headers={"origin": f"http://{host}"}).status_code == 202  # its own site
    metrics = httpx.get(f"{url}/metrics", headers={"authorization": "Bearer stats-token"})
    assert metrics.status_code == 200
    # the evaluation counters as the Python server names them (docs/server.md), without labels
    for family in ("strata_evaluation_errors_total", "strata_eval_budget_exceeded_total"):
        assert re.search(rf"^{family} \d+$", metrics.text, re.M), family


_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)
_PATHS = st.sampled_from(["/", "/tents.html", "/product.html", "/static/style.css", "/v1/decide", "/v1/events", "/v1/stats",
                          "/v1/client.js", "/readyz", "/nothing.html", "//double", "/caf%C3%A9.html", "/%ZZ", "/a/../index.html"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE"]), path=_PATHS, query=_TEXT,
       cookie=st.one_of(_TEXT, _TEXT.map(lambda s: "strata_signals=" + s), _TEXT.map(lambda s: "strata_session=s1.k1." + s),
                        st.sampled_from(["strata_signals=%7B%22cart.items%22%3A5%7D", "strata_signals=" + CART, "strata_consent=no"])),
       agent=_TEXT, language=_TEXT, referer=_TEXT, gpc=st.sampled_from(["", "1", "0"]),
       body=st.one_of(st.binary(max_size=200), _TEXT.map(str.encode), st.just(b'{"page": {"url": "http://[x/"}}')))
def test_workerd_generated_requests_never_get_a_5xx(fleet: dict[str, object], method: str, path: str, query: str, cookie: str,
                                                  agent: str, language: str, referer: str, gpc: str, body: bytes) -> None:
    worker = fleet["worker"]
    assert isinstance(worker, RunningWorkerd)
    headers = {k: v.strip() for k, v in {"cookie": cookie, "user-agent": agent, "accept-language": language, "referer": referer,
                                          "sec-gpc": gpc}.items()}  # HTTP has no leading or trailing blanks in header values
    r = httpx.request(method, worker.url + path, params={"q": query} if query else None, headers=headers,
                      content=body if method in ("POST", "PUT") else None, timeout=10)
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code >= 400 and r.headers.get("content-type") == "application/json":
        assert set(r.json()["error"]) <= {"code", "message", "field"}



def _snapshots(servers: dict[str, tuple[str, str]], directory: Path) -> list[str]:
    """The servers' /v1/stats snapshots (name -> (url, stats token)) saved as files: what `strata report`
    and `strata train` read."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (url, token) in servers.items():
        r = httpx.get(f"{url}/v1/stats", headers={"authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200
        path = directory / f"{name}.json"
        path.write_text(r.text)
        paths.append(str(path))
    return paths

def _model_rows(path: str) -> dict[tuple[str, str], list[int]]:
    """(feature, level) -> [entered, left, converted] of the demo's purchase_intent (arm "") in a snapshot file."""
    return {(r["feature"], r["level"]): [r["entered"], r["left"], r["converted"]]
            for r in json.loads(Path(path).read_text())["models"] if r["model"] == "purchase_intent" and r["arm"] == ""}


def _minus(a: dict[tuple[str, str], list[int]], b: dict[tuple[str, str], list[int]]) -> dict[tuple[str, str], list[int]]:
    return {k: d for k, v in a.items() if any(d := [x - y for x, y in zip(v, b.get(k, [0, 0, 0]))])}


def test_workerd_mixed_fleet_model_counters_count_a_visit_once(fleet: dict[str, object], tmp_path: Path) -> None:
    """A visit's model entry travels in the one cookie: a visit entering on the worker and converting
    on `strata serve` (and the reverse) is counted once by the fleet — entered once, each level
    change once, converted once, the score buckets of both runtimes agreeing —, a visitor without
    consent is counted on neither, and `strata train`'s loader reads the worker's snapshot as a server's."""
    from edge_server.reporting.models import model_counts

    bundles, pub, worker = fleet["bundles"], fleet["pub"], fleet["worker"]
    assert isinstance(bundles, Path) and isinstance(pub, Path) and isinstance(worker, RunningWorkerd)
    shutil.copy(bundles / "trailblazer.bundle", tmp_path / "trailblazer.bundle")
    python = RunningServer(["--bundle", str(tmp_path / "trailblazer.bundle"), "--pub", str(pub), "--pages", str(SITE), "--insecure-cookie",
                            "--stats-token", "py-token"], env={"STRATA_COOKIE_KEYS": COOKIE_KEYS}, log=tmp_path / "server.log")
    try:
        py, wk = python.url, worker.url
        servers = {"py": (py, "py-token"), "wk": (wk, "stats-token")}
        before = [_model_rows(p) for p in _snapshots(servers, tmp_path / "before")]  # the worker's counters of earlier tests
        for first, second in ((wk, py), (py, wk)):  # a visit starting on each
            with httpx.Client(timeout=10) as c:
                visit(c, f"{first}/")  # page view 1: depth <2, tents no
                visit(c, f"{second}/tents.html")  # 2: depth [2,4), tents yes
                visit(c, f"{first}/")  # 3
                visit(c, f"{second}/")  # 4: depth [4,8)
                entry = _session(c).models["purchase_intent"]  # levels: depth, visits, tents, source, device
                assert (entry.levels[0], entry.levels[1], entry.levels[2], entry.frozen, entry.arm) == (2, 0, 1, False, ""), entry
                assert c.post(f"{second}/v1/events", json={"goal": "purchase", "value": 5}).status_code == 202
                assert c.post(f"{first}/v1/events", json={"goal": "purchase", "value": 5}).status_code == 202  # the cookie knows
                assert _session(c).models["purchase_intent"].frozen is True
                visit(c, f"{first}/")  # nothing more is counted in this visit
        with httpx.Client(timeout=10, headers={"sec-gpc": "1"}) as c:  # without consent: no cookie, nothing counted
            for base in (wk, py, wk, py):
                visit(c, f"{base}/tents.html")
                assert c.post(f"{base}/v1/events", json={"goal": "purchase", "value": 5}).status_code == 202
            assert "strata_session" not in c.cookies
        paths = _snapshots(servers, tmp_path / "after")
        for path, was in zip(paths, before):  # each server entered one visit (at its first page view) and converted the other
            assert _minus(_model_rows(path), was)[("*", "*")] == [1, 0, 1], path
        counts = model_counts(paths)["purchase_intent"]
        assert counts["features"]["depth"] == ["<2", "[2,4)", "[4,8)", ">=8", "(absent)"]
        total = {(r["feature"], r["level"]): [r["entered"], r["left"], r["converted"]] for r in counts["rows"]
                 if r["arm"] == "" and r["spec"] in (counts["spec"], counts["fit"])}
        rows = _minus(total, {k: [sum(x) for x in zip(*(b.get(k, [0, 0, 0]) for b in before))] for k in set().union(*before)})
        assert rows[("*", "*")] == [2, 0, 2]  # two visits, each entered and converted once
        assert rows[("depth", "<2")] == [2, 2, 0]
        assert rows[("depth", "[2,4)")] == [2, 2, 0]
        assert rows[("depth", "[4,8)")] == [2, 0, 2]
        assert rows[("tents", "no")] == [2, 2, 0]
        assert rows[("tents", "yes")] == [2, 0, 2]
        assert rows[("visits", "<2")] == [2, 0, 2]
        for feature in ("depth", "visits", "tents", "source", "device", "@logit"):  # one server enters a level, the other leaves it
            assert sum(e - lf for (f, _), (e, lf, _) in rows.items() if f == feature) == 2, feature
            assert sum(cv for (f, _), (_, _, cv) in rows.items() if f == feature) == 2, feature
    finally:
        python.stop()


def test_workerd_mixed_fleet_cohorts_count_an_assignment_once(fleet: dict[str, object], tmp_path: Path) -> None:
    """A session assigned on the worker keeps its arm and cohort on `strata serve` and back: assigned
    once, exposed once per visit, converted once, whichever server sees each step; `strata report`'s
    loader adds the worker's cohorts to the server's."""
    from edge_server.reporting.counters import load

    bundles, pub, worker = fleet["bundles"], fleet["pub"], fleet["worker"]
    assert isinstance(bundles, Path) and isinstance(pub, Path) and isinstance(worker, RunningWorkerd)
    shutil.copy(bundles / "trailblazer.bundle", tmp_path / "trailblazer.bundle")
    python = RunningServer(["--bundle", str(tmp_path / "trailblazer.bundle"), "--pub", str(pub), "--pages", str(SITE), "--insecure-cookie",
                            "--stats-token", "py-token"], env={"STRATA_COOKIE_KEYS": COOKIE_KEYS}, log=tmp_path / "server.log")
    try:
        py, wk = python.url, worker.url
        servers = {"py": (py, "py-token"), "wk": (wk, "stats-token")}
        before = load(_snapshots(servers, tmp_path / "before")).cohorts
        with httpx.Client(timeout=10) as c:
            c.cookies.set("strata_signals", CART)
            arm = visit(c, f"{wk}/tents.html")["hero"]["variant"]  # assigned and exposed on the worker
            assert arm in ("bundle-discount", "free-shipping")
            assert visit(c, f"{py}/tents.html")["hero"]["variant"] == arm  # the same visit: not exposed again
            assert _session(c).exposures["starter-kit"] == (arm, 1, "5000/5000")  # variant, visit, period
            assert c.post(f"{py}/v1/events", json={"goal": "add_to_cart", "value": 7}).status_code == 202
            assert c.post(f"{wk}/v1/events", json={"goal": "add_to_cart", "value": 7}).status_code == 202  # once per visit
            s = _session(c)
            s.last_seen -= 3600  # the next request starts a new visit
            c.cookies.set("strata_session", CookieCodec({"k1": b"\x07" * 32}, "strata_session").encode(s))
            assert visit(c, f"{py}/tents.html")["hero"]["variant"] == arm  # exposed again in the second visit, still one assignment
        d = load(_snapshots(servers, tmp_path / "after"))
        cohort = {k: n - before.get(k, 0) for k, n in d.cohorts.items() if k[0] == "starter-kit" and n != before.get(k, 0)}
        assert cohort == {("starter-kit", arm, "5000/5000", "assigned", ""): 1, ("starter-kit", arm, "5000/5000", "exposed", ""): 2,
                          ("starter-kit", arm, "5000/5000", "converted", "add_to_cart"): 1}
    finally:
        python.stop()
