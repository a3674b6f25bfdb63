"""HTTP fuzzing against the real server: random methods, paths, query strings, headers, cookies
and bodies (huge, deeply nested, invalid UTF-8), content types, and browser origins (own, foreign,
opaque, malformed). Zero 5xx; every 4xx carries the JSON error body."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TRAILBLAZER
from tests.edge_server.server import RunningServer

PATHS = ["/v1/decide", "/v1/events", "/v1/stats", "/v1/client.js", "/healthz", "/readyz", "/metrics", "/", "/tents.html",
         "/static/style.css", "/nope", "/v1/decide/", "/%2e%2e/%2e%2e/etc/passwd", "/static/../../pyproject.toml"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=30)
decide_like = st.fixed_dictionaries({}, optional={
    "page": st.one_of(json_values, st.fixed_dictionaries({}, optional={"url": json_values, "referrer": json_values, "category": json_values})),
    "slots": st.one_of(json_values, st.lists(st.text(max_size=10), max_size=70)),
    "signals": st.one_of(json_values, st.dictionaries(st.sampled_from(["cart.items", "cart.value", "search.query", "device.type", "x"]), json_values, max_size=4)),
    "page_view": json_values, "html": json_values, "goal": json_values, "value": json_values,
})
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60).map(str.strip)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    site = TRAILBLAZER.parent / "trailblazer" / "site"
    s = RunningServer([str(TRAILBLAZER), "--pages", str(site), "--debug"],
                      env={"STRATA_COOKIE_KEYS": "k1:" + base64.b64encode(b"\x05" * 32).decode(), "STRATA_STATS_TOKEN": "t"})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


@st.composite
def requests(draw: st.DrawFn) -> dict:
    method = draw(st.sampled_from(["GET", "POST", "POST", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]))
    path = draw(st.sampled_from(PATHS))
    query = draw(st.sampled_from(["", "explain=1", "utm_source=newsletter", "a=%ff%fe", "x=" + "y" * 3000, "=&&==", "explain=1&explain=0"]))
    kind = draw(st.sampled_from(["json", "json", "raw", "huge", "nested", "bad_utf8", "empty"]))
    if kind == "json":
        body = json.dumps(draw(decide_like), allow_nan=True).encode()
    elif kind == "raw":
        body = draw(st.binary(max_size=300))
    elif kind == "huge":
        body = b'{"page": {"url": "' + b"a" * draw(st.integers(16_000, 40_000)) + b'"}}'
    elif kind == "nested":
        d = draw(st.integers(500, 5000))
        body = b'{"signals":' + b"[" * d + b"]" * d + b"}"
    elif kind == "bad_utf8":
        body = b'{"page": {"url": "\xff\xfe\xfd"}}'
    else:
        body = b""
    headers = draw(st.dictionaries(
        st.sampled_from(["Cookie", "Sec-GPC", "DNT", "User-Agent", "Accept-Language", "Referer", "CF-IPCountry", "Content-Type",
                         "Sec-CH-UA-Mobile", "Authorization", "X-Anything", "Origin", "Sec-Fetch-Site", "X-Forwarded-Host"]), header_text, max_size=5))
    if draw(st.booleans()):  # most bodies declared as JSON, so they reach the events and decide validation
        headers["Content-Type"] = draw(st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "application/jsonx"]))
    if draw(st.integers(0, 3)) == 0:  # a browser's view: this site, another site, or an opaque origin
        headers["Origin"] = draw(st.sampled_from(["http://127.0.0.1", "https://evil.example", "null", "http://[::1", "http://a:99999"]))
        headers["Sec-Fetch-Site"] = draw(st.sampled_from(["same-origin", "same-site", "cross-site", "none"]))
    if draw(st.booleans()):
        headers["Cookie"] = draw(st.sampled_from(["strata_session=", "strata_session=s1.k1." + "A" * 300, "strata_signals=%7B%22cart.items%22%3A5%7D",
                                                  "strata_session=s1.k1.!!;strata_consent=no", "a=b; strata_session=s1.xx.yy", "strata_signals=" + "%5B" * 500]))
    return {"method": method, "path": path, "query": query, "body": body, "headers": headers}


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(requests())
def test_http_fuzz_no_5xx_and_json_errors(client, req):
    url = req["path"] + ("?" + req["query"] if req["query"] else "")
    r = client.request(req["method"], url, content=req["body"] if req["method"] not in ("GET", "HEAD") else None, headers=req["headers"])
    assert r.status_code < 500, (req, r.status_code, r.text[:300])
    if 400 <= r.status_code < 500 and req["method"] != "HEAD":
        err = r.json()["error"]
        assert isinstance(err["code"], str) and isinstance(err["message"], str)


def test_http_fuzz_server_still_healthy_after(server, client):
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/decide", json={"page": {"url": "/"}}).status_code == 200
