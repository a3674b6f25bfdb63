"""Measurement stays aggregate and at the edge (issue #25, points 4 and 6; docs/client-side.md,
"Measurement"), in real Chromium against a real `strata serve`: the TrailBlazer static site decides
in the browser, its exposures reach the server's ``/v1/events`` by ``navigator.sendBeacon`` (the
static host passes ``/v1/events`` to the server, as a CDN routes it) and appear in ``/v1/stats``
once per visit; with GPC nothing is sent; a tampered bundle is counted in
``strata_client_bundle_refused_total``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge_server.harness.server import RunningServer, metric
from tests.browser.conftest import serve_trailblazer

TOKEN = "browser-measure-token"
EVENTS = ' data-events="/v1/events"'


@pytest.fixture(scope="module")
def edge(site: Any, trailblazer: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `strata serve` of the page's own bundle and key, behind the static site's /v1/events."""
    d: Path = tmp_path_factory.mktemp("measure")
    (d / "site.pub").write_text(trailblazer["pem"])
    (d / "trailblazer.strata").write_bytes(site.files[trailblazer["url"]])
    server = RunningServer(["--bundle", str(d / "trailblazer.strata"), "--pub", str(d / "site.pub"), "--insecure-cookie", "--stats-token", TOKEN],
                           log=d / "server.log")
    site.forward = server.url
    try:
        yield server.url
    finally:
        site.forward = None
        server.stop()


def exposures(url: str) -> dict[tuple[str, str, str, str], int]:
    snap = httpx.get(url + "/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).json()
    return {(r["slot"], r["arm"], r["layer"], r["population"]): r["count"] for r in snap["exposures"]}


def shown(page: Any) -> list[str]:
    """The exposure keys of the page's visit (the session on the device), once the page decided."""
    page.wait_for_function("window.strata && window.strata.ready")
    return page.evaluate("window.strata.ready.then((s) => s.session ? s.session.shown : [])")


def settled(url: str, want: dict[tuple[str, str, str, str], int]) -> dict[tuple[str, str, str, str], int]:
    """The server's exposures once they include ``want`` (beacons are sent after the page's load), at most 10 s."""
    deadline = time.monotonic() + 10
    while True:
        got = exposures(url)
        if all(got.get(k, 0) >= n for k, n in want.items()) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_browser_exposures_reach_strata_serve_once_per_visit(browser: Any, site: Any, trailblazer: dict[str, Any], edge: str) -> None:
    serve_trailblazer(site, trailblazer, EVENTS)
    ctx = browser.new_context(base_url=site.url)
    try:
        page = ctx.new_page()
        before = exposures(edge)
        page.goto("/tents.html")
        keys = shown(page)
        assert keys, "the page decided no slot"
        want = {(*k.split("|"), "personalized"): before.get((*k.split("|"), "personalized"), 0) + 1 for k in keys}
        got = settled(edge, want)
        assert {k: got.get(k, 0) for k in want} == want
        # the same visit again (a reload, the same page): nothing new to count
        page.reload()
        assert shown(page) == keys
        page.wait_for_timeout(300)
        assert {k: exposures(edge).get(k, 0) for k in want} == want
    finally:
        ctx.close()
        serve_trailblazer(site, trailblazer)


def test_browser_sends_nothing_without_consent_and_reports_a_tampered_bundle(browser: Any, site: Any, trailblazer: dict[str, Any], edge: str) -> None:
    raw = bytearray(site.files[trailblazer["url"]])
    raw[len(raw) // 2] ^= 0x10
    site.files["/tampered.strata"] = bytes(raw)
    ctx = browser.new_context(base_url=site.url, extra_http_headers={"Sec-GPC": "1"})
    ctx.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})")
    try:
        serve_trailblazer(site, trailblazer, EVENTS)
        start = len(site.requests)
        page = ctx.new_page()
        page.goto("/tents.html")
        assert shown(page) == []
        page.wait_for_timeout(300)
        assert [r for r in site.requests[start:] if r.path == "/v1/events"] == []
        refused = sum(metric(edge, f'strata_client_bundle_refused_total{{reason="{r}"}}', TOKEN) for r in ("bad_signature", "malformed"))
        serve_trailblazer(site, trailblazer, EVENTS, bundle="/tampered.strata")
        page.goto("/tents.html")
        page.wait_for_function("window.strata && window.strata.ready")
        assert page.evaluate("window.strata.ready.then((s) => s.error && s.error.code)") in ("bad_signature", "malformed")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = sum(metric(edge, f'strata_client_bundle_refused_total{{reason="{r}"}}', TOKEN) for r in ("bad_signature", "malformed"))
            if now > refused:
                break
            time.sleep(0.1)
        assert now == refused + 1
    finally:
        ctx.close()
        serve_trailblazer(site, trailblazer)
