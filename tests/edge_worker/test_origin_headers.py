"""Page mode keeps the origin's protections (docs/security.md, issue #20 point 1), on both runtimes:
generated origin answers — security headers, several Set-Cookie, every Cache-Control combination,
Vary, ETag, a hop-by-hop header named in Connection; a page Strata personalises, a client-mode page,
a JSON answer and an HTML 404 — fetched with and without the visitor's cookies and Authorization
through the real server (``strata serve --origin``) and the worker in real workerd (STRATA_ORIGIN),
both with the debug panel on (an inline style block next to the origin's CSP). The oracle below is
written from the guarantee, not from origin_headers.py."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.edge_worker.page_runtimes import Answer, ProgrammableOrigin, page_runtimes

SERVER_PAGE = b'<!DOCTYPE html><html><head><title>t</title></head><body><div data-strata-slot="hero">origin hero</div></body></html>'
CLIENT_PAGE = b'<!DOCTYPE html><html data-strata-mode="client"><head></head><body><div data-strata-slot="hero">x</div></body></html>'
KINDS = {  # kind -> (status, content type, body, personalised)
    "personalised": (200, "text/html; charset=utf-8", SERVER_PAGE, True),
    "client": (200, "text/html; charset=utf-8", CLIENT_PAGE, False),
    "json": (200, "application/json", b'{"ok": true}', False),
    "not-found": (404, "text/html; charset=utf-8", b"<p>no such page</p>", False),
}
SECURITY = [
    ("Content-Security-Policy", "default-src 'self'; script-src 'nonce-r4nd0m'"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'nonce-s7yle' 'self'"),
    ("Content-Security-Policy", "style-src 'self' 'unsafe-inline'"),
    ("Content-Security-Policy", "default-src 'self', style-src 'none'"),
    ("Content-Security-Policy-Report-Only", "style-src-elem 'sha256-AAAA' 'self'; report-uri /csp"),
    ("X-Frame-Options", "DENY"),
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains; preload"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Permissions-Policy", "geolocation=(), camera=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-site"),
    ("X-Origin-Trace", "abc"),
]
SET_COOKIES = ["site_a=1; Path=/; HttpOnly", "site_b=2; Secure; SameSite=Lax", "cart=3; Max-Age=60; Path=/"]
DIRECTIVES = ["public", "private", "no-store", "no-cache", "max-age=0", "max-age=600", "s-maxage=300", "must-revalidate",
              "stale-while-revalidate=30", "no-transform"]
#: What Strata may own: framing, the sender's Date, the cache directive, Vary, validators, a
#: rewritten body's type, its own added Set-Cookie, a hash added to the CSP (each checked below).
OWNED = {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive", "date", "server", "cache-control", "vary",
         "etag", "last-modified", "content-type", "set-cookie", "content-security-policy", "content-security-policy-report-only"}
HOP = "x-hop-only"


@st.composite
def cases(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(KINDS)))
    headers = list(draw(st.lists(st.sampled_from(SECURITY), unique=True, max_size=6)))
    headers += [("Set-Cookie", c) for c in draw(st.lists(st.sampled_from(SET_COOKIES), unique=True, max_size=3))]
    cc = draw(st.lists(st.sampled_from(DIRECTIVES), unique=True, max_size=4))
    if cc:
        headers.append(("Cache-Control", ", ".join(cc)))
    if draw(st.booleans()):
        headers.append(("Vary", "Accept-Encoding"))
    if draw(st.booleans()):
        headers.append(("ETag", '"v1-abc"'))
    if draw(st.booleans()):
        headers += [("Connection", HOP), (HOP, "1")]
    visitor: dict[str, str] = {}
    if draw(st.booleans()):
        visitor["cookie"] = draw(st.sampled_from(["site_a=1", "site_a=1; cart=3", "strata_consent=yes"]))
    if draw(st.booleans()):
        visitor["authorization"] = "Bearer visitor-token"
    return {"kind": kind, "headers": headers, "visitor": visitor}


@pytest.fixture(scope="module")
def origin() -> Iterator[ProgrammableOrigin]:
    o = ProgrammableOrigin()
    yield o
    o.stop()


@pytest.fixture(scope="module")
def runtimes(origin: ProgrammableOrigin, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with page_runtimes(tmp_path_factory.mktemp("origin-headers"), origin.url) as urls:
        yield urls


_counter = itertools.count()


def _cc(value: str | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for part in (value or "").split(","):
        name, eq, arg = part.strip().partition("=")
        if name.strip():
            out.setdefault(name.strip().lower(), arg.strip() if eq else None)
    return out


def _shared_cacheable(cc: dict[str, str | None]) -> bool:
    return "private" not in cc and "no-store" not in cc


def _policies(values: list[str]) -> list[dict[str, list[str]]]:
    out = []
    for value in values:
        for text in value.split(","):
            d: dict[str, list[str]] = {}
            for part in text.split(";"):
                tokens = part.split()
                if tokens:
                    d.setdefault(tokens[0].lower(), tokens[1:])
            out.append(d)
    return out


def check_cache(origin_cc: str | None, got_cc: str | None, got_vary: str, personalised: bool, credentialed: bool) -> None:
    o, g = _cc(origin_cc), _cc(got_cc)
    assert "public" not in g or "public" in o, (origin_cc, got_cc)  # Strata never adds public
    if "no-store" in o:
        assert "no-store" in g, (origin_cc, got_cc)
    if "private" in o:
        assert "private" in g or "no-store" in g, (origin_cc, got_cc)
    if "no-cache" in o:
        assert "no-cache" in g or "no-store" in g, (origin_cc, got_cc)
    if not _shared_cacheable(o) or credentialed or personalised:
        assert not _shared_cacheable(g), (origin_cc, got_cc, credentialed, personalised)
    for age in ("max-age", "s-maxage"):
        if o.get(age) is not None and "no-store" not in g and g.get(age) is not None:
            assert int(g[age] or 0) <= int(o[age] or 0), (origin_cc, got_cc)
        if o.get(age) is not None and "no-store" not in g and "no-cache" not in g and (age == "max-age" or _shared_cacheable(g)):
            assert g.get(age) is not None, (origin_cc, got_cc)  # a freshness limit is never dropped
    if personalised:
        assert "private" in g and "cookie" in [v.strip().lower() for v in got_vary.split(",")], (got_cc, got_vary)


def check_csp(origin_values: list[str], got_values: list[str], body: str) -> None:
    """The CSP is the origin's, at most with a hash of Strata's own style block added; that block,
    when present, is allowed by every policy."""
    before, after = _policies(origin_values), _policies(got_values)
    assert len(before) == len(after), (origin_values, got_values)
    m = re.search(r"<style( nonce=\"([^\"]*)\")?>([^<]*)</style><aside id=\"strata-debug\"", body)
    digest = "'sha256-" + base64.b64encode(hashlib.sha256(m.group(3).encode()).digest()).decode() + "'" if m else None
    for b, a in zip(before, after, strict=True):
        for name, sources in b.items():
            assert a[name][: len(sources)] == sources and all(s == digest for s in a[name][len(sources):]), (b, a)
        for name in set(a) - set(b):
            assert name == "style-src-elem" and a[name] == [*b["default-src"], digest], (b, a)
        if m:
            governing = next((a[n] for n in ("style-src-elem", "style-src", "default-src") if n in a), None)
            if governing is None:
                continue
            original = next((b[n] for n in ("style-src-elem", "style-src", "default-src") if n in b), [])
            inline = "'unsafe-inline'" in original and not any(s.startswith(("'nonce-", "'sha")) for s in original)
            assert inline or digest in governing or (m.group(2) and f"'nonce-{m.group(2)}'" in governing), (b, a, m.group(0)[:80])


def check(case: dict[str, Any], r: httpx.Response) -> None:
    status, ctype, _, personalised = KINDS[case["kind"]]
    origin = [(k.lower(), v) for k, v in case["headers"]]
    credentialed = "authorization" in case["visitor"] or any(
        not c.strip().startswith("strata_session=") for c in case["visitor"].get("cookie", "").split(";") if c.strip())
    assert r.status_code == status, (case, r.status_code, r.text[:300])
    got = [(k.lower(), v) for k, v in r.headers.multi_items()]
    names = {k for k, _ in origin}
    for name in names - OWNED - {HOP}:  # every end-to-end header, every value, in order
        assert [v for k, v in got if k == name] == [v for k, v in origin if k == name], (name, case, got)
    assert HOP not in {k for k, _ in got}, got
    for name in ("date", "server", "content-type", "content-length", "cache-control", "vary", "etag"):  # never two
        assert len([k for k, _ in got if k == name]) <= 1, (name, got)
    origin_cookies = [v for k, v in origin if k == "set-cookie"]
    cookies = [v for k, v in got if k == "set-cookie"]
    assert cookies[: len(origin_cookies)] == origin_cookies or all(c in cookies for c in origin_cookies), (origin_cookies, cookies)
    assert all(c in origin_cookies or c.startswith("strata_") for c in cookies), cookies
    assert all(c in origin_cookies for c in cookies) or personalised, cookies  # Strata's own only on the page it personalised
    if not personalised:
        assert r.headers.get("content-type") == ctype
    origin_cc = ", ".join(v for k, v in origin if k == "cache-control") or None
    check_cache(origin_cc, r.headers.get("cache-control"), r.headers.get("vary", ""), personalised, credentialed)
    if ("vary", "Accept-Encoding") in origin:
        assert "accept-encoding" in [v.strip().lower() for v in r.headers.get("vary", "").split(",")]
    etag = r.headers.get("etag")
    if personalised:
        assert etag is None or etag.startswith("W/"), etag
        assert "origin hero" not in r.text  # it was personalised
    elif ("etag", '"v1-abc"') in origin:
        assert etag in ('"v1-abc"', 'W/"v1-abc"'), etag
    for name in ("content-security-policy", "content-security-policy-report-only"):
        check_csp([v for k, v in origin if k == name], [v for k, v in got if k == name], r.text if personalised else "")


@pytest.mark.parametrize("runtime", ["server", "worker"])
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=cases())
def test_origin_headers_generated_page_keeps_origin_protections(origin: ProgrammableOrigin, runtimes: dict[str, str], runtime: str,
                                                                case: dict[str, Any]) -> None:
    status, ctype, body, _ = KINDS[case["kind"]]
    path = f"/case/{next(_counter)}"
    origin.answers[path] = Answer(status, [("Content-Type", ctype), *case["headers"]], body)
    r = httpx.get(runtimes[runtime] + path, headers=case["visitor"], timeout=10)
    check(case, r)
    sent = origin.answers[path].requests[-1]
    assert ("authorization" in sent) == ("authorization" in case["visitor"])  # what made the answer credentialed reached the origin
    del origin.answers[path]


def test_origin_headers_client_mode_bytes_and_validators_unchanged(origin: ProgrammableOrigin, runtimes: dict[str, str]) -> None:
    """A client-mode page is the origin's bytes and its strong ETag, cacheable as the origin said
    when the visitor sent no credentials."""
    origin.answers["/client"] = Answer(200, [("Content-Type", "text/html; charset=iso-8859-1"), ("ETag", '"c1"'),
                                             ("Cache-Control", "public, max-age=60")], CLIENT_PAGE.replace(b"x<", b"\xe9<"))
    for url in (runtimes["server"], runtimes["worker"]):
        r = httpx.get(url + "/client")
        assert r.content == CLIENT_PAGE.replace(b"x<", b"\xe9<") and r.headers["etag"] == '"c1"'
        assert r.headers["content-type"] == "text/html; charset=iso-8859-1" and r.headers["cache-control"] == "public, max-age=60"
        r = httpx.get(url + "/client", headers={"cookie": "site_a=1"})
        assert r.headers["cache-control"] == "private, max-age=60"
