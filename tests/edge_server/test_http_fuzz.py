"""HTTP fuzzing against the real server: random methods, paths (long, odd, encoded), query strings,
headers (malformed Referer URLs), cookies and bodies (huge, deeply nested, invalid UTF-8, malformed
page URLs, unknown slots), content types, and browser origins (own, foreign, opaque, malformed).
Zero 5xx; every 4xx carries the JSON error body; no traceback is logged. Page mode is fuzzed twice:
from a pages directory and through an origin."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import threading

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.harness.fixtures import TRAILBLAZER
from edge_server.harness.server import RunningServer

PATHS = ["/v1/decide", "/v1/events", "/v1/stats", "/v1/client.js", "/healthz", "/readyz", "/metrics", "/", "/tents.html",
         "/static/style.css", "/nope", "/v1/decide/", "/%2e%2e/%2e%2e/etc/passwd", "/static/../../pyproject.toml"]
#: Pieces of odd page paths (already percent-encoded as a client would send them): NUL and other control
#: characters, dot segments, encoded slashes and backslashes, invalid percent-encoding, non-ASCII.
PATH_PIECES = ["%00", "%0a", "%09", "%7f", "..", "%2e%2e", "%2f", "%2F", "%5c", "\\", "%", "%g1", "%ff%fe", "%c3%28", "%e2%82", "~", "tents.html",
               "static", "index", ".html", "%20", ";x=1", "//", "evil.example", "%EF%BC%8F", "a" * 256, "b" * 300]


@st.composite
def odd_paths(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["pieces", "pieces", "long_component", "long_path", "many_slashes"]))
    if kind == "long_component":
        return "/" + "c" * draw(st.integers(250, 400)) + draw(st.sampled_from(["", "/x", ".html", "/index.html"]))
    if kind == "long_path":
        return "/" + "/".join(["seg"] * draw(st.integers(500, 1500)))
    if kind == "many_slashes":
        return "/" * draw(st.integers(2, 3000)) + draw(st.sampled_from(["", "tents.html", "evil.example/x"]))
    segment = st.lists(st.sampled_from(PATH_PIECES), max_size=4).map("".join)
    return "/" + "/".join(draw(st.lists(segment, min_size=1, max_size=6)))


#: URLs as a page, a body's referrer or a Referer header may carry them: valid, relative, and malformed
#: ones the URL parser refuses (unbalanced IPv6 brackets, non-IP brackets, hosts that change under NFKC).
url_like = st.builds(lambda scheme, host, path: scheme + host + path,
                     st.sampled_from(["http://", "https://", "//", "", "javascript:", "http:", "ftp://"]),
                     st.sampled_from(["shop.example", "[::1", "::1]", "[::1]", "a]b", "[x]", "www.google.com", "ex\uff0fa.com", "", "[v1.x]", "u@[::1"]),
                     st.sampled_from(["", "/", "/tents.html?utm_source=n", "?a=%ff", "#f", "/" + "p" * 2100]))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=30)
decide_like = st.fixed_dictionaries({}, optional={
    "page": st.one_of(json_values, st.fixed_dictionaries({}, optional={"url": json_values | url_like, "referrer": json_values | url_like,
                                                                       "category": json_values})),
    "slots": st.one_of(json_values, st.lists(st.text(max_size=10), max_size=70),
                       st.lists(st.sampled_from(["hero", "banner", "offer", "recs", "nope", "Hero", ""]), max_size=5)),
    "signals": st.one_of(json_values, st.dictionaries(st.sampled_from(["cart.items", "cart.value", "search.query", "device.type", "x"]), json_values, max_size=4)),
    "page_view": json_values, "html": json_values, "goal": json_values, "value": json_values,
})
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60).map(str.strip)


SITE = TRAILBLAZER.parent / "trailblazer" / "site"
ENV = {"STRATA_COOKIE_KEYS": "k1:" + base64.b64encode(b"\x05" * 32).decode(), "STRATA_STATS_TOKEN": "t"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = RunningServer([str(TRAILBLAZER), "--pages", str(SITE), "--debug"], env=ENV, log=tmp_path_factory.mktemp("fuzz") / "server.log")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


@st.composite
def requests(draw: st.DrawFn) -> dict:
    method = draw(st.sampled_from(["GET", "POST", "POST", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]))
    path = draw(st.sampled_from(PATHS) | odd_paths())
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
                         "Sec-CH-UA-Mobile", "Authorization", "X-Anything", "Origin", "Sec-Fetch-Site", "X-Forwarded-Host", "Host"]), header_text, max_size=5))
    if draw(st.booleans()):  # most bodies declared as JSON, so they reach the events and decide validation
        headers["Content-Type"] = draw(st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", "application/jsonx"]))
    if draw(st.integers(0, 3)) == 0:  # a browser's view: this site, another site, or an opaque origin
        headers["Origin"] = draw(st.sampled_from(["http://127.0.0.1", "https://evil.example", "null", "http://[::1", "http://a:99999"]))
        headers["Sec-Fetch-Site"] = draw(st.sampled_from(["same-origin", "same-site", "cross-site", "none"]))
    if draw(st.booleans()):
        headers["Referer"] = draw(url_like.filter(lambda u: u.isascii()))
    if draw(st.integers(0, 9)) == 0:
        headers["Host"] = draw(st.sampled_from(["[::1", "a]b", "[::1]:99999", "shop.example:x", "", "x" * 300, "ex%2fa"]))
    if draw(st.booleans()):
        headers["Cookie"] = draw(st.sampled_from(["strata_session=", "strata_session=s1.k1." + "A" * 300, "strata_signals=%7B%22cart.items%22%3A5%7D",
                                                  "strata_session=s1.k1.!!;strata_consent=no", "a=b; strata_session=s1.xx.yy", "strata_signals=" + "%5B" * 500]))
    return {"method": method, "path": path, "query": query, "body": body, "headers": headers}


def _send(client: httpx.Client, req: dict, origin: bool = False) -> None:
    # absolute, so the client sends "////" or "/%2e%2e" as it is instead of merging it with its base URL
    url = str(client.base_url).rstrip("/") + req["path"] + ("?" + req["query"] if req["query"] else "")
    r = client.request(req["method"], url, content=req["body"] if req["method"] not in ("GET", "HEAD") else None, headers=req["headers"])
    assert r.status_code < 500, (req, r.status_code, r.text[:300])
    if origin and "json" not in r.headers.get("content-type", ""):
        return  # the origin's own answer (its 404 page), passed through
    if 400 <= r.status_code < 500 and req["method"] != "HEAD":
        err = r.json()["error"]
        assert isinstance(err["code"], str) and isinstance(err["message"], str)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(requests())
def test_http_fuzz_no_5xx_and_json_errors(client, req):
    _send(client, req)


def test_http_fuzz_server_still_healthy_after(server, client):
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/decide", json={"page": {"url": "/"}}).status_code == 200
    logs = server.logs()
    assert "Traceback" not in logs and "internal error" not in logs, logs[-3000:]


# --- the same shapes through an origin: page mode forwards the path to it


class _Site(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def origin_server(tmp_path_factory):
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Site, directory=str(SITE)))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    s = RunningServer([str(TRAILBLAZER), "--origin", f"http://127.0.0.1:{site.server_port}"], env=ENV,
                      log=tmp_path_factory.mktemp("fuzz-origin") / "server.log")
    yield s
    s.stop()
    site.shutdown()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(odd_paths(), st.sampled_from(["", "utm_source=n", "a=%ff"]), url_like.filter(lambda u: u.isascii()))
def test_http_fuzz_origin_mode_odd_paths_no_5xx(origin_server, path, query, referer):
    with httpx.Client(base_url=origin_server.url, timeout=10) as c:
        _send(c, {"method": "GET", "path": path, "query": query, "body": b"", "headers": {"Referer": referer}}, origin=True)


def test_http_fuzz_origin_mode_healthy_after(origin_server):
    r = httpx.get(origin_server.url + "/tents.html", headers={"Referer": "http://[::1/x"})
    assert r.status_code == 200 and 'data-strata-reason="' in r.text
    logs = origin_server.logs()
    assert "Traceback" not in logs and "internal error" not in logs, logs[-3000:]


# --- the classes behind the fuzzer's shapes, each with its answer


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(url_like.filter(lambda u: not u.startswith("/")))
def test_http_fuzz_decide_malformed_page_url_is_422_and_referrer_absent(client, url):
    from edge_server.signals import split_url

    r = client.post("/v1/decide", json={"page": {"url": url[:2048]}})
    if split_url(url[:2048]) is None:
        assert r.status_code == 422 and r.json()["error"] == {"code": "invalid_url", "field": "page.url", "message": r.json()["error"]["message"]}
    else:
        assert r.status_code == 200
    r = client.post("/v1/decide", json={"page": {"url": "/", "referrer": url[:2048]}, "slots": ["hero"]}, params={"explain": "1"})
    assert r.status_code == 200
    if split_url(url[:2048]) is None:  # decided as a visit without a referrer
        direct = client.post("/v1/decide", json={"page": {"url": "/"}, "slots": ["hero"]}, params={"explain": "1"})
        assert r.json()["segments"] == direct.json()["segments"]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(["hero", "banner", "offer", "recs"]), max_size=3), st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=3))
def test_http_fuzz_unknown_slots_are_422_naming_unknown_and_known(client, known, unknown):
    unknown = [u for u in unknown if u not in ("hero", "banner", "offer", "recs")]
    r = client.post("/v1/decide", json={"slots": known + unknown})
    if not unknown:
        assert r.status_code == 200 and set(r.json()["slots"]) == set(known)
        return
    err = r.json()["error"]
    assert r.status_code == 422 and err["code"] == "unknown_slot" and err["field"] == "slots"
    assert all(repr(u) in err["message"] for u in unknown) and "hero, banner, offer, recs" in err["message"]


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(odd_paths())
def test_http_fuzz_odd_page_paths_are_404_or_400_json(client, path):
    r = client.get(str(client.base_url).rstrip("/") + path)
    assert r.status_code in (200, 400, 404), (path, r.status_code)
    if r.status_code != 200:
        assert r.json()["error"]["code"] in ("not_found", "invalid_path")
    elif "text/html" not in r.headers["content-type"]:  # a static file: one of the site's own, never one outside it
        assert r.content in _site_files(), path


@functools.cache
def _site_files() -> frozenset[bytes]:
    return frozenset(f.read_bytes() for f in SITE.rglob("*") if f.is_file())


def test_http_fuzz_page_marking_unknown_slot_keeps_its_markup_and_is_logged(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "index.html").write_text('<html><body><div data-strata-slot="hero">old</div><div data-strata-slot="nope">mine</div></body></html>')
    s = RunningServer([str(TRAILBLAZER), "--pages", str(pages)], env=ENV, log=tmp_path / "server.log")
    try:
        for _ in range(3):
            r = httpx.get(s.url + "/")
            assert r.status_code == 200 and '<div data-strata-slot="nope">mine</div>' in r.text and 'data-strata-reason="' in r.text
    finally:
        s.stop()
    warned = [line for line in s.logs().splitlines() if "marks slot 'nope'" in line]
    assert len(warned) == 1 and "hero, banner, offer, recs" in warned[0]
