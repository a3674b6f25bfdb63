"""The real server over HTTP: journeys carrying the cookie, consent, forged cookies, errors,
HTML rewriting, goals, metrics and logs. The server runs as ``strata serve`` under uvicorn on a
free 127.0.0.1 port, loading a signed bundle from a file."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.harness.fixtures import trailblazer_without_holdout
from compiler.keys import keygen, load_private_key
from compiler.pipeline import Options, run
from edge_server.harness.server import RunningServer

COOKIE_KEYS = "k1:" + base64.b64encode(b"\x01" * 32).decode()
MOBILE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
TENT = {"sku": "TB-SUMMIT2", "category": "tents", "price": 249.0, "quantity": 1}

PAGE = """<!DOCTYPE html>
<html lang="en" data-strata-category="{cat}"><head><title>TrailBlazer</title></head>
<body><header data-strata-slot="banner">Free returns</header>
<main><section data-strata-slot="hero"><h2>Generic hero</h2></section>
<aside data-strata-slot="offer"></aside><p>Static text &amp; more</p></main></body></html>
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp("site")
    priv, pub, _ = keygen(d / "keys" / "site")
    rs = d / "trailblazer.yaml"
    rs.write_text(trailblazer_without_holdout())
    bundle = d / "trailblazer.bundle"
    bundle.write_bytes(run(rs, Options(key=load_private_key(priv), version=10)).bundle)
    pages = d / "pages"
    pages.mkdir()
    (pages / "index.html").write_text(PAGE.format(cat=""))
    (pages / "tents.html").write_text(PAGE.format(cat="tents"))
    (pages / "style.css").write_text("body{}")
    (pages / "big.html").write_text(PAGE.format(cat="") + "<!--" + "x" * (2 * 1024 * 1024) + "-->")  # over the 2 MiB limit
    return {"dir": d, "priv": priv, "pub": pub, "ruleset": rs, "bundle": bundle, "pages": pages}


@pytest.fixture(scope="module")
def server(site):
    s = RunningServer(
        ["--bundle", str(site["bundle"]), "--pub", str(site["pub"]), "--pages", str(site["pages"]), "--insecure-cookie",
         "--poll-interval", "0.2", "--debug"],
        env={"STRATA_COOKIE_KEYS": COOKIE_KEYS, "STRATA_VISIT_TIMEOUT": "2", "STRATA_POLL_JITTER": "0"},
        log=site["dir"] / "server.log",
    )
    yield s
    s.stop()


def decide(c: httpx.Client, url: str = "/", slots=None, signals=None, **headers):  # type: ignore[no-untyped-def]
    body = {"page": {"url": url}, "html": True}
    if slots is not None:
        body["slots"] = slots
    if signals is not None:
        body["signals"] = signals
    r = c.post("/v1/decide", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r


def slot(r: httpx.Response, name: str) -> dict:
    return r.json()["slots"][name]


# ---------------------------------------------------------------------------- journeys
def test_http_first_visit_generic_then_welcome_offer_once(server):
    with httpx.Client(base_url=server.url) as c:
        r1 = decide(c)
        assert slot(r1, "hero")["reason"] == "default" and slot(r1, "offer")["reason"] == "default"
        assert "strata_session" in c.cookies
        decide(c)
        r3 = decide(c)
        assert slot(r3, "offer")["rule"] == "welcome-offer"
        assert "TRAIL15" in slot(r3, "offer")["html"]
        r4 = decide(c)
        assert slot(r4, "offer")["reason"] == "capped"


def test_http_returning_visit_after_inactivity(server):
    with httpx.Client(base_url=server.url) as c:
        for _ in range(2):
            decide(c)
        time.sleep(3.2)  # the server runs with a 2 s visit timeout (whole-second timestamps)
        r = decide(c, "/", ["offer"])
        # a second visit: the first-visit welcome offer no longer applies
        assert slot(r, "offer")["reason"] == "default"


def test_http_newsletter_arrival_gets_camping_content(server):
    with httpx.Client(base_url=server.url) as c:
        r = decide(c, "/?utm_source=newsletter&utm_medium=email")
        assert slot(r, "hero")["rule"] == "camping-welcome"


def test_http_tent_browser_then_cart_abandoner_sticky_variant(server):
    with httpx.Client(base_url=server.url, headers={"User-Agent": MOBILE_UA}) as c:
        assert slot(decide(c), "hero")["rule"] == "mobile-hero"
        c.get("/tents.html")  # page mode: the page's category is remembered in the cookie
        assert slot(decide(c), "hero")["rule"] == "tent-hero"
        r = decide(c, signals={"cart.items": [TENT], "cart.value": 249.0})
        hero = slot(r, "hero")
        assert hero["experiment"] == "starter-kit" and hero["variant"] in ("bundle-discount", "free-shipping")
        for _ in range(3):
            again = slot(decide(c, signals={"cart.items": [TENT]}), "hero")
            assert again["variant"] == hero["variant"]
        # a "browser restart" keeps the cookie: a new client with the same cookie gets the same arm
        saved = dict(c.cookies)
    with httpx.Client(base_url=server.url, cookies=saved) as c2:
        assert slot(decide(c2, signals={"cart.items": [TENT]}), "hero")["variant"] == hero["variant"]


def test_http_purchase_goal_ends_the_cart_offer(server):
    with httpx.Client(base_url=server.url) as c:
        c.get("/tents.html")
        assert slot(decide(c, signals={"cart.items": [TENT]}), "hero")["experiment"] == "starter-kit"
        r = c.post("/v1/events", json={"goal": "purchase", "value": 249.0})
        assert r.status_code == 202 and r.json()["population"] == "personalized"
        assert slot(decide(c, signals={"cart.items": [TENT]}), "hero")["rule"] == "tent-hero"


# ---------------------------------------------------------------------------- consent
@pytest.mark.parametrize("header", [{"Sec-GPC": "1"}, {"DNT": "1"}])
def test_http_no_consent_no_cookie_generic_experience(server, header):
    with httpx.Client(base_url=server.url, headers=header) as c:
        r = decide(c, "/?utm_source=newsletter", signals={"cart.items": [TENT]})
        assert "set-cookie" not in r.headers
        assert {s["reason"] for s in r.json()["slots"].values()} == {"no_consent"}
        assert r.json()["consent"] is False


def test_http_consent_cookie_no_expires_existing_session(server):
    with httpx.Client(base_url=server.url) as c:
        decide(c)
        assert "strata_session" in c.cookies
        c.cookies.set("strata_consent", "no")
        r = c.post("/v1/decide", json={"page": {"url": "/"}})
        assert "Max-Age=0" in r.headers["set-cookie"]
        assert {s["reason"] for s in r.json()["slots"].values()} == {"no_consent"}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["decide", "page", "events"]),
       st.sampled_from([{"Sec-GPC": "1"}, {"DNT": "1"}, {"strata_consent": "no"}, {"strata_consent": "0"},
                        {"strata_consent": "False"}, {"strata_consent": "deny"}, {"strata_consent": " REJECTED"}]),
       st.sampled_from(["valid", "garbage"]))
def test_http_every_route_without_consent_expires_an_existing_cookie(server, valid_cookie, route, refusal, existing):
    """Decide, page mode and events: a refusal (GPC, DNT, consent cookie) with a session cookie
    present expires it, and nothing behavioral is counted (events: the no-consent population)."""
    cookies = {"strata_session": valid_cookie if existing == "valid" else "s1.k1.garbage"}
    headers = {k: v for k, v in refusal.items() if not k.startswith("strata_")}
    cookies.update({k: v for k, v in refusal.items() if k.startswith("strata_")})
    headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if route == "decide":
        r = httpx.post(server.url + "/v1/decide", json={"page": {"url": "/"}}, headers=headers)
        assert {s["reason"] for s in r.json()["slots"].values()} == {"no_consent"}
    elif route == "page":
        r = httpx.get(server.url + "/tents.html", headers=headers)
        assert 'data-strata-reason="no_consent"' in r.text
    else:
        r = httpx.post(server.url + "/v1/events", json={"goal": "purchase", "value": 10}, headers=headers)
        assert r.status_code == 202 and r.json()["population"] == "no_consent"
    sc = r.headers.get_list("set-cookie")
    assert sc == ["strata_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"], (route, refusal, sc)


@pytest.fixture(scope="module")
def valid_cookie(server):
    return httpx.post(server.url + "/v1/decide", json={"page": {"url": "/"}}).cookies["strata_session"]


def test_http_page_too_large_to_personalise_is_served_untouched(server, site):
    r = httpx.get(server.url + "/big.html")
    assert r.status_code == 200 and r.text == (site["pages"] / "big.html").read_text()
    assert "data-strata-reason" not in r.text and "set-cookie" not in r.headers


def test_http_cookie_names_are_configurable(site):
    s = RunningServer(["--bundle", str(site["bundle"]), "--pub", str(site["pub"]), "--insecure-cookie", "--cookie-name", "sid",
                       "--consent-cookie", "cmp_ok"], env={"STRATA_COOKIE_KEYS": COOKIE_KEYS})
    try:
        with httpx.Client(base_url=s.url) as c:
            c.cookies.set("strata_consent", "no")  # not this site's consent cookie any more
            r = decide(c)
            assert r.headers["set-cookie"].startswith("sid=s1.") and r.json()["consent"] is True
            assert "sid" in c.cookies and "strata_session" not in c.cookies
            c.cookies.set("cmp_ok", "deny")
            r = decide(c)
            assert r.headers["set-cookie"].startswith("sid=;") and "Max-Age=0" in r.headers["set-cookie"]
            assert {x["reason"] for x in r.json()["slots"].values()} == {"no_consent"}
    finally:
        s.stop()


# ---------------------------------------------------------------------------- cookies
@pytest.mark.parametrize("value", ["garbage", "s1.k1.AAAA", "s1.k1." + "A" * 500, "s1.zz.abc", "s1.k1.!!!!", "x" * 5000])
def test_http_forged_cookie_starts_fresh_session(server, value):
    r = httpx.post(server.url + "/v1/decide", json={"page": {"url": "/"}}, cookies={"strata_session": value})
    assert r.status_code == 200
    assert slot(r, "hero")["reason"] == "default"
    assert r.headers["set-cookie"].startswith("strata_session=s1.k1.")


def test_http_cookie_flags_and_size(server):
    with httpx.Client(base_url=server.url) as c:
        for i in range(15):
            c.get("/tents.html" if i % 2 else "/")
        r = decide(c)
        sc = r.headers["set-cookie"]
        assert "HttpOnly" in sc and "SameSite=Lax" in sc and "Path=/" in sc
        value = sc.split(";")[0].split("=", 1)[1]
        assert len(value) <= 1024


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "body,status,code,field",
    [
        (b"{not json", 400, "invalid_json", None),
        (b"\xff\xfe", 400, "invalid_json", None),
        (b"[1, 2]", 422, "invalid_request", "body"),
        (json.dumps({"page": {"url": 5}}).encode(), 422, "invalid_request", "page.url"),
        (json.dumps({"slots": "hero"}).encode(), 422, "invalid_request", "slots"),
        (json.dumps({"bogus": 1}).encode(), 422, "invalid_request", "bogus"),
        (json.dumps({"signals": {"loyalty": 1}}).encode(), 422, "invalid_signal", "loyalty"),
        (json.dumps({"signals": {"cart.value": "lots"}}).encode(), 422, "invalid_signal", "cart.value"),
        (json.dumps({"signals": {"cart.items": [{"sku": 1}]}}).encode(), 422, "invalid_signal", "cart.items"),
        (json.dumps({"signals": {"device.type": "desktop"}}).encode(), 422, "invalid_signal", "device.type"),
        (json.dumps({"signals": {"cart.items": [TENT] * 51}}).encode(), 422, "invalid_signal", "cart.items"),
        (b"[" * 100_000 + b"]" * 100_000, 413, "too_large", None),
        (b'{"a":' * 2000 + b"1" + b"}" * 2000, 400, "invalid_json", None),
    ],
)
def test_http_bad_decide_bodies_get_json_4xx(server, body, status, code, field):
    r = httpx.post(server.url + "/v1/decide", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"]
    if field:
        assert err["field"] == field


def test_http_integral_json_number_accepted_for_double(server):
    # JavaScript's JSON.stringify(249.0) is "249": a double signal must accept it
    item = dict(TENT, price=249)
    r = httpx.post(server.url + "/v1/decide", json={"page": {"url": "/"}, "signals": {"cart.items": [item], "cart.value": 249}})
    assert r.status_code == 200, r.text


def test_http_unknown_route_and_method_are_json(server):
    r = httpx.get(server.url + "/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    for method, path in (("GET", "/v1/decide"), ("HEAD", "/v1/events"), ("POST", "/healthz"), ("POST", "/tents.html")):
        r = httpx.request(method, server.url + path)  # page mode: the catch-all page route must not turn these into 404s
        assert r.status_code == 405, (method, path, r.status_code)
        assert method == "HEAD" or r.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in httpx.get(server.url + "/v1/decide").json()["error"]["message"]
    r = httpx.get(server.url + "/../../etc/passwd")
    assert r.status_code == 404


def test_http_unknown_goal_is_422(server):
    r = httpx.post(server.url + "/v1/events", json={"goal": "world_domination"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "goal"


# ---------------------------------------------------------------------------- page mode
def test_http_page_mode_rewrites_slots_and_sets_cache_headers(server):
    r = httpx.get(server.url + "/tents.html", headers={"User-Agent": MOBILE_UA})
    assert r.status_code == 200
    assert 'data-strata-rule="tent-hero"' in r.text and "Find the tent that fits your trip" in r.text
    assert "Static text &amp; more" in r.text and r.text.startswith("<!DOCTYPE html>")
    assert r.headers["cache-control"] == "private, no-store"
    assert "Cookie" in r.headers["vary"] and "Sec-GPC" in r.headers["vary"]
    assert 'id="strata-debug"' in r.text  # --debug overlay


def test_http_page_mode_static_files_pass_through(server):
    r = httpx.get(server.url + "/style.css")
    assert r.status_code == 200 and r.text == "body{}" and "set-cookie" not in r.headers


def test_http_client_js_served(server):
    r = httpx.get(server.url + "/v1/client.js")
    assert r.status_code == 200 and "application/javascript" in r.headers["content-type"]
    assert "/v1/decide" in r.text and "300" in r.text


def test_http_html_only_when_asked(server):
    r = httpx.post(server.url + "/v1/decide", json={"page": {"url": "/"}, "slots": ["hero"]})
    assert "html" not in slot(r, "hero") and slot(r, "hero")["content"]["headline"]
    r = httpx.post(server.url + "/v1/decide", json={"page": {"url": "/"}, "slots": ["hero"], "html": "yes"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "html"


def test_http_explain_trace_with_debug(server):
    r = httpx.post(server.url + "/v1/decide?explain=1", json={"page": {"url": "/"}, "slots": ["hero"]})
    assert [t["candidate"] for t in slot(r, "hero")["trace"]][:1] == ["starter-kit"]
    body = r.json()
    assert list(body) == ["bundle", "slots", "segments", "scores", "consent"] and isinstance(body["segments"], dict) and body["segments"]
    assert isinstance(body["scores"], dict)  # model id -> score for each score a condition read


# ---------------------------------------------------------------------------- observability
def test_http_metrics_and_readyz(server):
    httpx.post(server.url + "/v1/decide", json={"page": {"url": "/"}})
    text = httpx.get(server.url + "/metrics").text
    assert 'strata_decisions_total{layer="",reason="default",slot="hero"}' in text
    assert "strata_request_duration_seconds_bucket" in text
    assert 'strata_bundle_info{key_id=' in text and "strata_bundle_loaded 1.0" in text
    rz = httpx.get(server.url + "/readyz").json()
    assert rz["ready"] is True and rz["bundle"]["name"] == "trailblazer"


def test_http_logs_carry_no_ip_cookie_or_signal_values(server):
    secret = "zz-unique-query-4711"
    with httpx.Client(base_url=server.url) as c:
        decide(c, f"/?utm_source={secret}", signals={"search.query": secret})
        cookie = c.cookies["strata_session"]
    time.sleep(0.3)
    logs = server.logs()
    assert secret not in logs and cookie not in logs
    access = [line for line in logs.splitlines() if "strata.access" in line]
    assert access and not any("127.0.0.1" in line for line in access)  # the client address (loopback here)
    fields = [json.loads(line.split("strata.access: ", 1)[1]) for line in access]
    assert {"method": "POST", "route": "/v1/decide", "status": 200} in [{k: f[k] for k in ("method", "route", "status")} for f in fields]
    assert all(set(f) == {"method", "route", "status", "ms", "bundle"} for f in fields)
    assert not any('"GET /' in line or '"POST /' in line for line in logs.splitlines())  # no uvicorn access log


def test_http_content_injecting_script_is_escaped(tmp_path):
    from compiler.keys import keygen, load_private_key

    priv, pub, _ = keygen(tmp_path / "k")
    evil = BAD_RULESET
    bundle = tmp_path / "evil.bundle"
    bundle.write_bytes(run("evil.yaml", Options(key=load_private_key(priv)), text=evil).bundle)
    pages = tmp_path / "p"
    pages.mkdir()
    (pages / "index.html").write_text(PAGE.format(cat=""))
    s = RunningServer(["--bundle", str(bundle), "--pub", str(pub), "--pages", str(pages), "--insecure-cookie"], env={"STRATA_COOKIE_KEYS": COOKIE_KEYS})
    try:
        page = httpx.get(s.url + "/").text
        api = httpx.post(s.url + "/v1/decide", json={"page": {"url": "/"}, "html": True}).json()["slots"]["hero"]["html"]
        for out in (page, api):
            assert "<script>alert(1)</script>" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
            assert "javascript:" not in out and "<img src=x onerror" not in out
    finally:
        s.stop()


BAD_RULESET = """\
strata: 1
name: evil
slots:
  - id: hero
    default:
      headline: "<script>alert(1)</script>"
      body: "</p><img src=x onerror=alert(2)>"
      cta: {text: Click, href: "javascript:alert(3)"}
  - id: banner
    default: {template: "<em>{msg}</em>", msg: "<script>alert(4)</script>"}
"""


def test_http_page_mode_reads_cart_from_signals_cookie(server):
    from urllib.parse import quote

    cart = quote(json.dumps({"cart.items": [TENT], "cart.value": 249.0}))
    with httpx.Client(base_url=server.url) as c:
        c.cookies.set("strata_signals", cart)
        r = c.get("/")
        assert 'data-strata-rule="starter-kit"' in r.text and 'data-strata-variant="' in r.text
        c.cookies.set("strata_signals", quote('{"cart.items": "not a list"}'))
        assert 'data-strata-rule="starter-kit"' not in c.get("/").text  # invalid: ignored, not an error


def test_http_demo_site_pages_render(tmp_path):
    from compiler.harness.fixtures import ROOT

    site = ROOT / "rulesets" / "trailblazer" / "site"
    rs = tmp_path / "trailblazer.yaml"
    rs.write_text(trailblazer_without_holdout())
    s = RunningServer([str(rs), "--pages", str(site)], env={"STRATA_COOKIE_KEYS": COOKIE_KEYS})
    try:
        for path in ("/", "/tents.html", "/product.html", "/cart.html", "/newsletter.html?utm_source=newsletter", "/static/style.css",
                     "/static/shop.js", "/static/img/hero-tents.svg"):
            assert httpx.get(s.url + path).status_code == 200, path
        assert "Your camping season starts here" in httpx.get(s.url + "/newsletter.html?utm_source=newsletter").text
    finally:
        s.stop()
