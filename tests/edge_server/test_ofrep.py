"""OFREP on the real server (edge_server/ofrep.py): the protocol's shapes and errors, ETag and 304,
consent and the session as on /v1/decide, the same answers and counters as /v1/decide along the
TrailBlazer journeys, the Python OFREP client (openfeature-provider-ofrep), and the in-process
provider answering as the server for the same signals and targeting key."""

from __future__ import annotations

import base64
import re
import time
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from compiler.harness.fixtures import TRAILBLAZER
from compiler.keys import keygen, load_private_key
from compiler.pipeline import Options, run
from edge_server.harness.server import RunningServer, without_instance
from runtime import Runtime
from runtime.flags import REASONS, session_id_for
from runtime.openfeature_provider import StrataProvider

COOKIE_KEYS = "k1:" + base64.b64encode(b"\x02" * 32).decode()
MOBILE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
TENT = {"sku": "TB-SUMMIT2", "category": "tents", "price": 249.0, "quantity": 1}
FLAG, FLAGS = "/ofrep/v1/evaluate/flags/", "/ofrep/v1/evaluate/flags"
#: The OFREP token: the tests that send a targetingKey play a server-side caller that has it.
TOKEN = "ofrep-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STATS = "stats-test-token"  # /metrics serves the exposure counters only with it


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp("ofrep")
    priv, pub, _ = keygen(d / "keys" / "site")
    bundle = d / "trailblazer.bundle"  # the demo as published: with its 5% holdout
    bundle.write_bytes(run(TRAILBLAZER, Options(key=load_private_key(priv), version=3)).bundle or b"")
    return {"dir": d, "pub": pub, "bundle": bundle}


@pytest.fixture(scope="module")
def server(site):
    s = RunningServer(["--bundle", str(site["bundle"]), "--pub", str(site["pub"]), "--insecure-cookie"],
                      env={"STRATA_COOKIE_KEYS": COOKIE_KEYS, "STRATA_OFREP_TOKEN": TOKEN, "STRATA_STATS_TOKEN": STATS}, log=site["dir"] / "server.log")
    yield s
    s.stop()


def flag(server: RunningServer, key: str, context: dict[str, Any] | None = None, anonymous: bool = False, **headers: str) -> httpx.Response:
    """One flag, as a server-side caller with the OFREP token (``anonymous``: as a browser)."""
    return httpx.post(server.url + FLAG + key, json={"context": context or {}}, headers=headers if anonymous else {**AUTH, **headers})


def outside_holdout(n: int) -> list[str]:
    """Targeting keys outside the demo's 5% holdout (so a test can expect personalized content)."""
    from runtime import bucketing

    seed = bucketing.holdout_seed("trailblazer-holdout-2026")
    return [k for k in (f"visitor-{i}" for i in range(200)) if bucketing.bucket(seed, session_id_for(k)) >= 500][:n]


KEY = outside_holdout(1)[0]


# ---------------------------------------------------------------------------- shapes
def test_ofrep_single_flag_is_the_slot_content_with_reason_variant_metadata(server):
    r = flag(server, "hero", {"targetingKey": KEY, "page.url": "/?utm_source=newsletter"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json" and r.headers["cache-control"] == "private, no-store"
    body = r.json()
    assert body["key"] == "hero" and body["value"]["headline"] == "Your camping season starts here"
    assert (body["reason"], body["variant"]) == ("TARGETING_MATCH", "camping-welcome")
    assert body["metadata"] == {"rule": "camping-welcome", "layer": "mid", "segment": "camping_acquisition", "strataReason": "rule",
                                "bundle": "trailblazer", "bundleVersion": 3}
    field = flag(server, "hero.cta.text", {"targetingKey": KEY, "page.url": "/?utm_source=newsletter"}).json()
    assert field["value"] == body["value"]["cta"]["text"] and field["variant"] == "camping-welcome"
    lacking = flag(server, "offer.code", {"targetingKey": KEY}).json()  # the offer's default content is {}
    assert "value" not in lacking and lacking["reason"] == "DEFAULT"  # OFREP: no value = use the code default


def test_ofrep_experiment_is_a_split_sticky_per_targeting_key(server):
    ctx = {"targetingKey": KEY, "cart.items": [TENT]}
    first = flag(server, "hero", ctx).json()
    assert first["reason"] == "SPLIT" and first["metadata"]["experiment"] == "starter-kit"
    assert first["variant"] in ("bundle-discount", "free-shipping")
    for _ in range(3):
        assert flag(server, "hero", ctx).json()["variant"] == first["variant"]
    variants = {flag(server, "hero", {"targetingKey": k, "cart.items": [TENT]}).json()["variant"] for k in outside_holdout(20)}
    assert variants == {"bundle-discount", "free-shipping"}


@pytest.mark.parametrize("key,context,status,code,words", [
    ("nope", {"targetingKey": "v"}, 404, "FLAG_NOT_FOUND", "not a slot"),
    ("hero..x", {"targetingKey": "v"}, 404, "FLAG_NOT_FOUND", "not a slot"),
    ("hero", {"email": "a@b.example"}, 400, "INVALID_CONTEXT", "unknown signal 'email'"),
    ("hero", {"device.type": "mobile"}, 400, "INVALID_CONTEXT", "derived by the server"),
    ("hero", {"cart.items": [{"sku": 1}]}, 400, "INVALID_CONTEXT", "cart.items"),
    ("hero", {"targetingKey": 42}, 400, "INVALID_CONTEXT", "targetingKey"),
    ("hero", {"targetingKey": "x" * 257}, 400, "INVALID_CONTEXT", "targetingKey"),
    ("hero", {"page.url": 5}, 400, "INVALID_CONTEXT", "page.url"),
    ("hero", {}, 400, "TARGETING_KEY_MISSING", "targetingKey"),
])
def test_ofrep_errors_have_ofrep_shapes(server, key, context, status, code, words):
    r = flag(server, key, context)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["key"] == key and body["errorCode"] == code and words in body["errorDetails"]
    assert "set-cookie" not in r.headers


@pytest.mark.parametrize("raw,status,code", [(b"{nope", 400, "PARSE_ERROR"), (b"[1]", 400, "INVALID_CONTEXT"),
                                             (b'{"context": 3}', 400, "INVALID_CONTEXT"), (b'{"ctx": {}}', 400, "INVALID_CONTEXT"),
                                             (b"{" + b'"context": {"a": "' + b"x" * 20000 + b'"}}', 413, "GENERAL")])
def test_ofrep_bad_bodies(server, raw, status, code):
    for path, has_key in ((FLAG + "hero", True), (FLAGS, False)):
        r = httpx.post(server.url + path, content=raw, headers={"content-type": "application/json"})
        assert r.status_code == status and r.json()["errorCode"] == code and r.json()["errorDetails"]
        assert ("key" in r.json()) == has_key


def test_ofrep_refusals_are_counted(server):
    from edge_server.harness.server import metric

    before = metric(server.url, 'strata_rejected_requests_total{code="flag_not_found"}', STATS)
    flag(server, "nope", {"targetingKey": "v"})
    assert metric(server.url, 'strata_rejected_requests_total{code="flag_not_found"}', STATS) == before + 1
    assert metric(server.url, 'strata_requests_total{route="/ofrep/v1/evaluate/flags/{key}",status="404"}', STATS) >= 1


# ---------------------------------------------------------------------------- bulk
def test_ofrep_bulk_lists_every_slot_with_an_etag_and_304(server):
    ctx = {"context": {"targetingKey": KEY, "page.url": "/?utm_source=newsletter"}}
    r = httpx.post(server.url + FLAGS, json=ctx, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [f["key"] for f in body["flags"]] == ["hero", "banner", "offer", "recs"]
    assert body["metadata"] == {"bundle": "trailblazer", "version": 3}
    assert {f["key"]: f["variant"] for f in body["flags"]}["recs"] == "camping-recs"
    etag = r.headers["etag"]
    for inm in (etag, "W/" + etag, f'"other", {etag}', "*"):
        again = httpx.post(server.url + FLAGS, json=ctx, headers={"If-None-Match": inm, **AUTH})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = httpx.post(server.url + FLAGS, json={"context": {"targetingKey": KEY}}, headers={"If-None-Match": etag, **AUTH})
    assert other.status_code == 200 and other.headers["etag"] != etag


def test_ofrep_bulk_without_a_session_marks_the_flags_that_need_one(server):
    before = _counters(server.url)
    body = httpx.post(server.url + FLAGS, json={"context": {}}).json()
    assert {f["key"]: f.get("errorCode") for f in body["flags"]} == dict.fromkeys(["hero", "banner", "offer", "recs"], "TARGETING_KEY_MISSING")
    assert _counters(server.url) == before  # nothing was decided, so nothing is counted


# ---------------------------------------------------------------------------- consent and session
@pytest.mark.parametrize("headers", [{"Sec-GPC": "1"}, {"DNT": "1"}, {"Cookie": "strata_consent=no"}])
def test_ofrep_no_consent_is_disabled_without_cookie_or_key(server, headers):
    r = httpx.post(server.url + FLAGS, json={"context": {"page.url": "/?utm_source=newsletter", "cart.items": [TENT]}}, headers=headers)
    assert r.status_code == 200 and "set-cookie" not in r.headers
    assert {(f["reason"], f["variant"]) for f in r.json()["flags"]} == {("DISABLED", "no_consent")}


def test_ofrep_session_cookie_is_read_and_written_as_on_decide(server):
    with httpx.Client(base_url=server.url) as c:
        assert c.post("/v1/decide", json={"page": {"url": "/", "category": "tents"}}).status_code == 200
        assert "strata_session" in c.cookies
        r = c.post(FLAG + "hero", json={"context": {}})  # no key: the cookie's session (a tent viewer now)
        assert r.status_code == 200 and r.json()["variant"] in ("tent-hero", "holdout")
        assert r.headers["set-cookie"].startswith("strata_session=s1.k1.")


def test_ofrep_targeting_key_replaces_a_cookie_of_another_session(server):
    with httpx.Client(base_url=server.url, headers=AUTH) as c:
        c.post("/v1/decide", json={"page": {"url": "/", "category": "tents"}})
        mine = c.cookies["strata_session"]
        r = c.post(FLAG + "hero", json={"context": {"targetingKey": KEY}})
        # a new session for this key: no tent history (the cookie belonged to someone else's session)
        assert r.json()["variant"] == "default"
        r = c.post(FLAG + "hero", json={"context": {"targetingKey": KEY, "page.category": "tents"}})
        assert r.json()["variant"] == "tent-hero"  # this evaluation's own page category
        # the key's session is never written into the cookie: the browser's session is unchanged
        assert "set-cookie" not in r.headers and c.cookies["strata_session"] == mine


# ---------------------------------------------------------------------------- who names the session
def _decoded(value: str) -> Any:
    from edge_server.session import CookieCodec

    return CookieCodec({"k1": base64.b64decode(COOKIE_KEYS[3:])}, "strata_session").decode(value)


def _session_of(response: httpx.Response) -> Any:
    cookie = response.headers.get("set-cookie")
    return None if cookie is None else _decoded(cookie.split(";")[0].split("=", 1)[1])


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=1, max_size=64), st.sampled_from(["hero", "banner", "offer", "recs"]), st.booleans())
def test_ofrep_an_anonymous_targeting_key_never_names_the_session(server, key, slot, bulk):
    """A browser (no OFREP token) sending any targetingKey: its key is ignored. Without a cookie it
    gets a new random session, never the key's; with a cookie, the cookie's session and the answer
    it would get without the key; and the Set-Cookie never carries the key's session."""
    path = FLAGS if bulk else FLAG + slot
    context = {"targetingKey": key, "cart.items": [TENT]}
    fresh = httpx.post(server.url + path, json={"context": context})
    assert fresh.status_code == 200, fresh.text
    s = _session_of(fresh)
    assert s is not None and s.sid != session_id_for(key)
    cookie = {"strata_session": fresh.headers["set-cookie"].split(";")[0].split("=", 1)[1]}
    keyed = httpx.post(server.url + path, json={"context": context}, cookies=cookie)
    keyless = httpx.post(server.url + path, json={"context": {"cart.items": [TENT]}}, cookies=cookie)
    assert _session_of(keyed).sid == _session_of(keyless).sid == s.sid
    assert keyed.json() == keyless.json()


def test_ofrep_trying_keys_cannot_pick_the_arm_or_the_holdout(server):
    """The attack of issue #20: a cart abandoner tries targeting keys until the discount arm comes.
    Anonymously, every key gives the cookie's arm; only a trusted caller's key moves it (and its
    session is not written into the cookie /v1/decide reads)."""
    with httpx.Client(base_url=server.url) as c:
        c.post("/v1/decide", json={"page": {"url": "/"}, "signals": {"cart.items": [TENT]}})
        mine = c.cookies["strata_session"]
        anon = {c.post(FLAG + "hero", json={"context": {"targetingKey": f"try-{i}", "cart.items": [TENT]}}).json()["variant"] for i in range(40)}
        trusted = [c.post(FLAG + "hero", json={"context": {"targetingKey": f"try-{i}", "cart.items": [TENT]}}, headers=AUTH) for i in range(40)]
        assert len(anon) == 1, anon  # the visitor's own arm (or holdout), whatever the key
        assert len({r.json()["variant"] for r in trusted}) > 1 and not any("set-cookie" in r.headers for r in trusted)
        assert _decoded(c.cookies["strata_session"]).sid == _decoded(mine).sid  # still the visitor's own session
        decided = c.post("/v1/decide", json={"page": {"url": "/"}, "signals": {"cart.items": [TENT]}, "page_view": False}).json()["slots"]["hero"]
        assert (decided["variant"] or decided["rule"] or decided["reason"]) in anon


@pytest.mark.parametrize("auth", ["Bearer wrong", "Bearer " + TOKEN + "x", "Bearer " + TOKEN[:-1], "Bearer  x y"])
def test_ofrep_a_bearer_token_that_is_not_the_ofrep_token_is_refused(server, auth):
    for path in (FLAG + "hero", FLAGS):
        r = httpx.post(server.url + path, json={"context": {"targetingKey": KEY}}, headers={"Authorization": auth})
        assert r.status_code == 401 and r.json()["errorCode"] == "GENERAL" and "STRATA_OFREP_TOKEN" in r.json()["errorDetails"]
        assert "set-cookie" not in r.headers


def test_ofrep_the_server_says_at_start_whose_targeting_keys_it_honours(server):
    assert "targetingKey is honoured only with 'Authorization: Bearer <STRATA_OFREP_TOKEN>'" in server.logs()


# ---------------------------------------------------------------------------- like /v1/decide
def _counters(url: str) -> dict[str, float]:
    out = {}
    for line in without_instance(httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {STATS}"}).text).splitlines():
        if line.startswith(("strata_decisions_total{", "strata_slot_exposures_total{", "strata_variant_exposures_total{")):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


JOURNEYS: list[tuple[str, list[tuple[dict[str, Any], dict[str, Any], dict[str, str]]]]] = [
    # (name, steps of (decide page object, client signals, headers)); the cookie carries over
    ("first visit", [({"url": "/"}, {}, {}), ({"url": "/"}, {}, {})]),
    ("newsletter arrival", [({"url": "/?utm_source=newsletter&utm_medium=email"}, {}, {})]),
    ("camping blog", [({"url": "/", "referrer": "https://thecampingblog.example/best-tents"}, {}, {})]),
    ("mobile tent browser turns cart abandoner", [({"url": "/"}, {}, {"User-Agent": MOBILE_UA}),
                                                  ({"url": "/tents.html", "category": "tents"}, {}, {"User-Agent": MOBILE_UA}),
                                                  ({"url": "/cart.html"}, {"cart.items": [TENT], "cart.value": 249.0}, {"User-Agent": MOBILE_UA})]),
    ("US visitor", [({"url": "/"}, {}, {"CF-IPCountry": "US"})]),
    ("no consent", [({"url": "/?utm_source=newsletter"}, {"cart.items": [TENT]}, {"Sec-GPC": "1"})]),
]


@pytest.mark.parametrize("name,steps", JOURNEYS, ids=[j[0] for j in JOURNEYS])
def test_ofrep_answers_and_counts_as_decide_along_the_journeys(server, name, steps):
    """At each step, from the same cookie: /v1/decide and OFREP's bulk evaluation give the same
    decision per slot and move the decision counters alike; whichever comes first counts the
    exposures new to the visit, the second (the same visit's cookie again) none — an exposure counts
    once per visit and process (docs/security.md). The journey's steps alternate which comes first.
    (A visitor without a cookie or a targeting key has no session on OFREP, so the journey starts with one.)"""
    start = httpx.post(server.url + "/v1/decide", json={"page": {"url": "/"}, "slots": [], "page_view": False})
    cookies = {"strata_session": start.cookies["strata_session"]}
    for i, (page, signals, headers) in enumerate(steps):
        context = {f"page.{k}": v for k, v in page.items()} | signals
        decide = {"page": page, "signals": signals, "page_view": False}
        calls = [lambda decide=decide, headers=headers, cookies=cookies: httpx.post(server.url + "/v1/decide", json=decide, headers=headers, cookies=cookies),
                 lambda context=context, headers=headers, cookies=cookies: httpx.post(server.url + FLAGS, json={"context": context}, headers=headers,
                                                                                       cookies=cookies)]
        before = _counters(server.url)
        first = calls[i % 2]()
        mid = _counters(server.url)
        second = calls[1 - i % 2]()
        after = _counters(server.url)
        d, o = (first, second) if i % 2 == 0 else (second, first)
        assert d.status_code == o.status_code == 200, (d.text, o.text)
        decided = d.json()["slots"]
        flags = {f["key"]: f for f in o.json()["flags"]}
        assert set(flags) == set(decided)
        for slot, dd in decided.items():
            f = flags[slot]
            assert f["value"] == dd["content"] and f["reason"] == REASONS[dd["reason"]], (name, slot)
            assert f["variant"] == (dd["variant"] or dd["rule"] or dd["reason"])
        delta_1 = {k: v - before.get(k, 0) for k, v in mid.items() if v != before.get(k, 0)}
        delta_2 = {k: v - mid.get(k, 0) for k, v in after.items() if v != mid.get(k, 0)}
        decisions = {k: v for k, v in delta_1.items() if k.startswith("strata_decisions_total")}
        if "Sec-GPC" in headers:  # without consent there is no visit: every page view counts its exposures
            assert delta_1 == delta_2 and delta_1 != decisions, name
        else:
            assert decisions and delta_2 == decisions, name
        assert ("set-cookie" in d.headers) == ("set-cookie" in o.headers)
        if "set-cookie" in d.headers:  # continue from decide's cookie (both wrote the same session state)
            cookies = {"strata_session": d.headers["set-cookie"].split(";")[0].split("=", 1)[1]}


# ---------------------------------------------------------------------------- real clients
@pytest.fixture()
def ofrep_client(server):
    domain = f"ofrep-{uuid.uuid4().hex}"
    api.set_provider(OFREPProvider(server.url, headers_factory=lambda: AUTH), domain)
    yield api.get_client(domain)
    api.clear_providers()


def test_ofrep_python_client_resolves_slots_fields_and_errors(ofrep_client):
    # first, before the client holds a session cookie (it keeps cookies, as a browser does)
    d = ofrep_client.get_object_details("hero", {"fallback": True}, EvaluationContext(None, {}))
    assert (d.value, d.error_code) == ({"fallback": True}, ErrorCode.TARGETING_KEY_MISSING)
    ctx = EvaluationContext(KEY, {"page.url": "/?utm_source=newsletter", "cart.value": 20.0})
    hero = ofrep_client.get_object_details("hero", {}, ctx)
    assert (hero.value["headline"], hero.reason, hero.variant) == ("Your camping season starts here", Reason.TARGETING_MATCH, "camping-welcome")
    assert hero.flag_metadata["segment"] == "camping_acquisition"
    assert ofrep_client.get_string_value("hero.headline", "x", ctx) == "Your camping season starts here"
    assert ofrep_client.get_string_value("offer.code", "NONE", ctx) == "NONE"  # a field the content lacks: the code default
    for key, call, default, code in (("nope", "get_object_details", {}, ErrorCode.FLAG_NOT_FOUND),
                                     ("hero", "get_string_details", "x", ErrorCode.TYPE_MISMATCH)):
        d = getattr(ofrep_client, call)(key, default, ctx)
        assert (d.value, d.error_code) == (default, code)
    d = ofrep_client.get_object_details("hero", {"fallback": True}, EvaluationContext(KEY, {"email": "a@b.example"}))
    assert (d.value, d.error_code) == ({"fallback": True}, ErrorCode.INVALID_CONTEXT)


def test_ofrep_python_client_keeps_each_key_its_own_session(ofrep_client):
    """The OFREP client keeps cookies (requests.Session): a cookie from one targeting key must not
    become the next key's session."""
    tent = ofrep_client.get_object_details("hero", {}, EvaluationContext(KEY, {"page.category": "tents"}))
    assert tent.variant == "tent-hero"
    other = outside_holdout(2)[1]
    assert ofrep_client.get_object_details("hero", {}, EvaluationContext(other, {})).variant == "default"


URLS = ["/", "/?utm_source=newsletter", "/?utm_campaign=camping-spring", "/tents.html?utm_source=ads"]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(URLS), st.sampled_from(["", "tents"]), st.booleans(), st.booleans(), st.booleans(),
       st.text(min_size=1, max_size=16), st.sampled_from(["hero", "banner", "offer", "recs"]))
def test_ofrep_in_process_provider_answers_as_the_server(server, site, url, category, mobile, us, cart, key, slot):
    """Same signals, same targeting key: the server's OFREP answer equals the provider's. The
    provider is given what the server derives (device, country, UTM, the new session's counters)."""
    context: dict[str, Any] = {"targetingKey": key, "page.url": url, "page.category": category}
    headers = {"User-Agent": MOBILE_UA if mobile else "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", **AUTH}
    if us:
        headers["CF-IPCountry"] = "US"
    if cart:
        context["cart.items"] = [TENT]
    r = httpx.post(server.url + FLAG + slot, json={"context": context}, headers=headers)
    assert r.status_code == 200, r.text
    signals: dict[str, Any] = {
        "device.type": "mobile" if mobile else "desktop", "geo.country": "US" if us else "",
        "utm.source": "newsletter" if "newsletter" in url else ("ads" if "ads" in url else ""),
        "utm.campaign": "camping-spring" if "camping" in url else "", "page.category": category,
        "session.visit_count": 1, "session.page_views": 0, "session.recent_categories": [category] if category else [],
    }
    if cart:
        signals["cart.items"] = [TENT]
    provider = _provider(site)
    got = provider.resolve_object_details(slot, {}, EvaluationContext(key, signals))
    body = r.json()
    assert (body["value"], body["reason"], body["variant"], body["metadata"]) == (got.value, got.reason, got.variant, dict(got.flag_metadata))


_PROVIDERS: dict[str, StrataProvider] = {}


def _provider(site: dict[str, Any]) -> StrataProvider:
    p = _PROVIDERS.get(str(site["bundle"]))
    if p is None:
        p = _PROVIDERS[str(site["bundle"])] = StrataProvider(Runtime([site["pub"]]))
        p.load(site["bundle"].read_bytes(), now=time.time())
    return p


def test_ofrep_docs_list_every_error_code_it_answers():
    """docs/openfeature.md's error table equals the (status, errorCode) pairs edge_server/ofrep.py answers."""
    from compiler.harness.fixtures import ROOT

    src = (ROOT / "edge_server" / "ofrep.py").read_text(encoding="utf-8")
    used = set(re.findall(r'OfrepError\((\d{3}), "([A-Z_]+)"', src))
    used |= {("400", code) for code in re.findall(r'"[a-z_]+": "([A-Z_]+)"', src)}  # the body reader's codes (all 400)
    used |= {("413", "GENERAL"), ("503", "GENERAL")}  # ApiError's too_large and not_ready, answered as GENERAL
    doc = (ROOT / "docs" / "openfeature.md").read_text(encoding="utf-8").split("### Errors", 1)[1]
    documented = set(re.findall(r"^\| (\d{3}) \| `([A-Z_]+)` \|", doc, re.M))
    assert len(used) >= 6 and used == documented


def test_ofrep_not_ready_is_a_general_error(site):
    s = RunningServer(["--bundle", str(site["dir"] / "not-yet.bundle"), "--pub", str(site["pub"])], ready=False)
    try:
        for path in (FLAG + "hero", FLAGS):
            r = httpx.post(s.url + path, json={"context": {"targetingKey": "v"}})
            assert r.status_code == 503 and r.json()["errorCode"] == "GENERAL" and "no verified bundle" in r.json()["errorDetails"]
    finally:
        s.stop()


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
context_keys = st.sampled_from(["targetingKey", "page.url", "page.referrer", "page.category", "cart.items", "cart.value", "search.query",
                                "device.type", "email"]) | st.text(max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(context_keys, json_values, max_size=5), st.sampled_from(["hero", "hero.headline", "offer.code", "x", "recs.items"]))
def test_ofrep_any_context_is_answered_or_refused_never_a_500(server, context, key):
    for path in (FLAG + key, FLAGS):
        r = httpx.post(server.url + path, json={"context": context})
        assert r.status_code in (200, 400, 404), r.text
        body = r.json()
        assert ("errorCode" in body) == (r.status_code != 200) and (r.status_code == 200 or body["errorDetails"])
