"""``POST /v1/events`` against the real server: replayed cookies convert once per visit and goal,
only JSON from the site's own (or an allowed) origin is taken, goal values are bounded, and
/metrics needs the stats token that /v1/stats needs."""

from __future__ import annotations

import base64
import os
import time
from collections import Counter

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.harness.fixtures import TRAILBLAZER
from edge_server.events import same_host
from edge_server.harness.server import RunningServer
from edge_server.session import CookieCodec, Session

TOKEN = "events-token"
COOKIE_KEY = b"\x09" * 32
GOALS = ["add_to_cart", "purchase", "newsletter_signup"]
ALLOWED = "https://shop.example"
MAX_VALUE = 5000


@pytest.fixture(scope="module")
def server():
    site = TRAILBLAZER.parent / "trailblazer" / "site"
    s = RunningServer([str(TRAILBLAZER), "--pages", str(site), "--max-goal-value", str(MAX_VALUE), "--events-origin", ALLOWED + "/"],
                      env={"STRATA_COOKIE_KEYS": "k1:" + base64.b64encode(COOKIE_KEY).decode(), "STRATA_STATS_TOKEN": TOKEN})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    # no cookie jar: every request carries exactly the cookie the test gives it
    with httpx.Client(base_url=server.url, timeout=10, event_hooks={"response": [lambda r: c.cookies.clear()]}) as c:
        yield c


def session_cookie(r: httpx.Response) -> str:
    return r.headers["set-cookie"].split(";")[0].split("=", 1)[1]


def counters(c: httpx.Client) -> tuple[Counter, Counter]:
    """(conversions, values) by (goal, slot, arm, population), from /v1/stats."""
    snap = c.get("/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    n: Counter = Counter()
    v: Counter = Counter()
    for row in snap["conversions"]:
        k = (row["goal"], row["slot"], row["arm"], row["population"])
        n[k] += row["count"]
        v[k] += row["value"]
    return n, v


def stale_cookie() -> str:
    """A cookie (minted with the server's key) whose last request is older than the visit timeout."""
    now = int(time.time())
    s = Session(sid=base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode(), visit_count=1, page_views=1, total_page_views=1,
                first_seen=now - 90_000, last_seen=now - 86_400, shown=["hero|default|"], visit_nonce="stale-nonce-0000")
    return CookieCodec({"k1": COOKIE_KEY}, "strata_session").encode(s)


def post_event(c: httpx.Client, goal: str, value: int, cookie: str | None) -> httpx.Response:
    r = c.post("/v1/events", json={"goal": goal, "value": value}, headers={"Cookie": f"strata_session={cookie}"} if cookie else {})
    assert r.status_code == 202, r.text
    return r


# ---------------------------------------------------------------------------- replay (class 6)
@settings(max_examples=25, deadline=None)
@given(st.data())
def test_events_replayed_cookies_convert_once_per_visit_and_goal(client, data):
    """Generated visits (each a decide without cookie or with a stale cookie, sometimes a second
    page view), and events that replay the visit's oldest cookie, send its newest, or send the stale
    cookie itself: per goal, the attributed conversions equal the distinct (visit, goal) pairs, each
    with its first value; the stale cookie's own events (a new visit with nothing shown) count as
    unattributed, every time."""
    visits: list[list[str]] = []  # per visit: every cookie the server issued in it, oldest first
    stale = stale_cookie()
    for _ in range(data.draw(st.integers(1, 3), label="visits")):
        # a new visitor, or a new visit of the stale cookie's session (two such visits are two visits)
        returning = data.draw(st.booleans(), label="returning")
        r = client.post("/v1/decide", json={"page": {"url": "/"}, "slots": ["hero"]}, headers={"Cookie": f"strata_session={stale}"} if returning else {})
        cookies = [session_cookie(r)]
        if data.draw(st.booleans(), label="second page view"):
            r = client.post("/v1/decide", json={"page": {"url": "/"}, "slots": ["hero"]}, headers={"Cookie": f"strata_session={cookies[0]}"})
            cookies.append(session_cookie(r))
        visits.append(cookies)
    events = data.draw(st.lists(st.tuples(st.integers(0, len(visits)), st.sampled_from(GOALS), st.sampled_from(["oldest", "newest"]),
                                          st.integers(0, MAX_VALUE)), min_size=1, max_size=10), label="events")
    n0, v0 = counters(client)
    first_value: dict[tuple[int, str], int] = {}
    unattributed: Counter = Counter()
    for v, goal, which, value in events:
        if v == len(visits):  # the stale cookie, replayed as is
            assert post_event(client, goal, value, stale).json()["population"] == "unattributed"
            unattributed[goal] += 1
            continue
        cookie = visits[v][0] if which == "oldest" else visits[v][-1]
        r = post_event(client, goal, value, cookie)
        assert r.json()["population"] in ("personalized", "holdout")
        visits[v].append(session_cookie(r))
        first_value.setdefault((v, goal), value)
    n1, v1 = counters(client)
    dn, dv = n1 - n0, v1 - v0
    for goal in GOALS:
        pairs = [k for k in first_value if k[1] == goal]
        overall = sum(n for (g, slot, _, pop), n in dn.items() if g == goal and slot == "*" and pop in ("personalized", "holdout"))
        hero = sum(n for (g, slot, _, pop), n in dn.items() if g == goal and slot == "hero")
        assert overall == hero == len(pairs), (goal, events)
        value = sum(x for (g, slot, _, pop), x in dv.items() if g == goal and slot == "*" and pop in ("personalized", "holdout"))
        assert value == sum(first_value[k] for k in pairs)
        assert dn[(goal, "*", "*", "unattributed")] == unattributed[goal]


def test_events_fifty_replays_of_one_cookie_convert_once(client):
    """The issue's reproduction: 50 replays of one cookie after a decide → one conversion."""
    cookie = session_cookie(client.post("/v1/decide", json={"page": {"url": "/"}, "slots": ["hero"]}))
    n0, v0 = counters(client)
    for _ in range(50):
        post_event(client, "purchase", MAX_VALUE, cookie)
    n1, v1 = counters(client)
    attributed = {k: n for k, n in (n1 - n0).items() if k[3] in ("personalized", "holdout")}
    assert sorted(attributed.values()) == [1, 1] and sum(x for k, x in (v1 - v0).items() if k in attributed) == 2 * MAX_VALUE


# ---------------------------------------------------------------------------- what is accepted
json_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "Application/JSON", "application/json ;charset=UTF-8"])
other_types = st.sampled_from(["text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                               "application/jsonx", "application/json-seq", "text/json", "", "*/*"])


@settings(max_examples=60, deadline=None)
@given(st.one_of(json_types.map(lambda t: (t, True)), other_types.map(lambda t: (t, False))))
def test_events_only_application_json(client, case):
    ctype, ok = case
    headers = {"Content-Type": ctype} if ctype else {}
    r = client.post("/v1/events", content=b'{"goal": "purchase"}', headers=headers)
    if ok:
        assert r.status_code == 202, (ctype, r.text)
    else:
        assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type", (ctype, r.status_code)


@st.composite
def origins(draw: st.DrawFn) -> tuple[str | None, bool]:
    """(Origin header or None, whether the server must accept it): this server, the allowed origin,
    or lookalikes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([None, "null"])), False
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(st.sampled_from(["127.0.0.1", "localhost", "shop.example", "evil.example", "127.0.0.1.evil.example", "shop.example.evil"]))
    port = draw(st.sampled_from([None, "PORT", "PORT+1", 80, 443]))
    upper = draw(st.booleans())
    return (scheme, host, port, upper), True  # resolved against the running server's port in the test


@settings(max_examples=120, deadline=None)
@given(origins(), st.sampled_from([None, "same-origin", "same-site", "cross-site", "none"]))
def test_events_browser_requests_only_from_own_or_allowed_origin(server, client, origin_case, fetch_site):
    spec, has_origin = origin_case
    headers = {}
    if has_origin:
        scheme, host, port, upper = spec
        port = {"PORT": server.port, "PORT+1": server.port + 1}.get(port, port)  # type: ignore[call-overload]
        origin = f"{scheme}://{host}" + (f":{port}" if port is not None else "")
        own = host == "127.0.0.1" and port == server.port
        allowed = scheme == "https" and host == "shop.example" and port in (None,)
        headers["Origin"] = origin.upper() if upper else origin
        expect_ok = own or allowed
    else:
        if spec is not None:
            headers["Origin"] = spec  # "null": sandboxed frames, file: pages
        expect_ok = spec is None and fetch_site != "cross-site"
    if fetch_site is not None:
        headers["Sec-Fetch-Site"] = fetch_site
    r = client.post("/v1/events", json={"goal": "purchase"}, headers=headers)
    if expect_ok:
        assert r.status_code == 202, (headers, r.text)
    else:
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_origin", (headers, r.status_code)


def test_events_origin_matches_host_with_default_ports_and_ipv6():
    assert same_host("https://shop.example", "shop.example") and same_host("https://shop.example", "Shop.Example:443")
    assert same_host("http://[::1]:8080", "[::1]:8080") and not same_host("http://[::1]:8080", "[::1]:8081")
    assert not same_host("https://shop.example", "shop.example:80") and not same_host("http://a.example", "a.example:99999")
    assert not same_host("https://user@shop.example", "shop.example") and not same_host("file://shop.example", "shop.example")


def test_events_origin_behind_a_proxy_uses_forwarded_host(client):
    r = client.post("/v1/events", json={"goal": "purchase"}, headers={"Origin": "https://www.trailblazer.example", "X-Forwarded-Host": "www.trailblazer.example"})
    assert r.status_code == 202


@settings(max_examples=80, deadline=None)
@given(st.one_of(st.integers(-(10**15), 10**15), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.text(max_size=3), st.none(),
                 st.sampled_from([0, MAX_VALUE, MAX_VALUE + 1, -0.0, 1e-300, 5e13, 2**64])))
def test_events_goal_value_finite_non_negative_and_bounded(client, value):
    r = client.post("/v1/events", json={"goal": "purchase", "value": value})
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        err = r.json()["error"]
        assert r.status_code == 422 and err["code"] == "invalid_request" and err["field"] == "value"
    elif value > MAX_VALUE:
        err = r.json()["error"]
        assert r.status_code == 422 and err["code"] == "value_too_large" and err["field"] == "value" and "--max-goal-value" in err["message"]
    else:
        assert r.status_code == 202, (value, r.text)


@pytest.mark.parametrize("raw", [b'{"goal": "purchase", "value": 1e400}', b'{"goal": "purchase", "value": NaN}',
                                 b'{"goal": "purchase", "value": Infinity}', b'{"goal": "purchase", "value": -Infinity}'])
def test_events_non_finite_values_refused(client, raw):
    r = client.post("/v1/events", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


# ---------------------------------------------------------------------------- /metrics (class 7)
@settings(max_examples=30, deadline=None)
@given(st.one_of(st.none(), st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20).map(lambda t: "Bearer " + t)
                 .filter(lambda a: a != f"Bearer {TOKEN}"),
                 st.sampled_from([f"Basic {TOKEN}", f"bearer {TOKEN}", f"Bearer {TOKEN}x", TOKEN])))
def test_events_metrics_needs_the_stats_token(client, auth):
    r = client.get("/metrics", headers={"Authorization": auth} if auth is not None else {})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized" and r.headers["www-authenticate"].startswith("Bearer")
    assert "strata_conversions_total" not in r.text
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and "strata_conversions_total" in ok.text
    assert 'strata_rejected_requests_total{code="unauthorized"}' in ok.text  # refusals are counted like every 4xx
