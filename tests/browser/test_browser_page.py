"""The page around the decisions (docs/client-side.md), in real Chromium on the static TrailBlazer
site: the bundle revalidated with If-None-Match (a 304, still decided), or cached as the host says
and verified on every view; the slots hidden until
decided and, past the anti-flicker timeout, the page's own markup shown and kept; a tampered bundle
refused in the page (the page's own markup, the refusal in the console); the debug overlay; a
goal sent to the events endpoint with sendBeacon; the lazily loaded parts (strata-*.mjs) fetched only
when needed."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.browser.conftest import serve_trailblazer

#: The hero's visibility when the parser inserts it (the bundle still on its way) and console
#: messages. Taken at parse time, a few ms after the script in <head> started the anti-flicker
#: timeout, not at DOMContentLoaded: on a loaded machine the page's parse could outlast the 300 ms.
WATCH = """window.__visibility = [];
new MutationObserver((records, observer) => {
  const hero = document.querySelector('[data-strata-slot="hero"]');
  if (hero) { window.__visibility.push(getComputedStyle(hero).visibility); observer.disconnect(); }
}).observe(document, { childList: true, subtree: true });"""
NEWSLETTER_HERO = "Spring camping picks"  # the newsletter page's own hero markup


@pytest.fixture
def page_of(browser: Any, site: Any) -> Any:
    contexts = []

    def open_page() -> tuple[Any, list[str]]:
        ctx = browser.new_context(base_url=site.url)
        contexts.append(ctx)
        ctx.add_init_script(WATCH)
        page = ctx.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        return page, console

    yield open_page
    for c in contexts:
        c.close()


def hero(page: Any) -> dict[str, Any]:
    page.wait_for_function("window.strata && window.strata.ready")
    page.evaluate("window.strata.ready")
    el = page.locator('[data-strata-slot="hero"]')
    return {"reason": el.get_attribute("data-strata-reason"), "rule": el.get_attribute("data-strata-rule"), "text": el.inner_text(),
            "visibility": el.evaluate("(e) => getComputedStyle(e).visibility")}


def test_browser_page_bundle_is_revalidated_with_if_none_match_and_still_decides(page_of: Any, site: Any, trailblazer: dict[str, Any]) -> None:
    serve_trailblazer(site, trailblazer)
    start = len(site.requests)
    page, _ = page_of()
    page.goto("/")
    assert hero(page)["reason"] == "default"
    page.goto("/tents.html")
    assert hero(page)["reason"] == "rule"  # decided with the revalidated copy
    fetched = [r for r in site.requests[start:] if r.path == trailblazer["url"]]
    assert [r.status for r in fetched] == [200, 304]
    assert "if-none-match" not in fetched[0].headers and fetched[1].headers["if-none-match"].startswith('"')


def test_browser_page_bundle_cache_default_follows_max_age_and_still_verifies_every_view(page_of: Any, site: Any, trailblazer: dict[str, Any]) -> None:
    """data-bundle-cache="default": a bundle the host serves with max-age comes from the HTTP cache
    on the next view (no request), and is verified again there: a tampered bundle in the cache is
    refused on every view, not only the one that fetched it."""
    good = site.files[trailblazer["url"]]
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x01
    site.files["/cached-good.strata"] = good
    site.files["/cached-bad.strata"] = bytes(bad)
    outcomes = {}
    try:
        for name in ("good", "bad"):
            url = f"/cached-{name}.strata"
            site.cache_controls[url] = "max-age=300"
            serve_trailblazer(site, trailblazer, ' data-bundle-cache="default"', bundle=url)
            start = len(site.requests)
            page, _ = page_of()
            views = []
            for path in ("/", "/tents.html"):
                page.goto(path)
                h = hero(page)
                views.append((h["reason"], page.evaluate("window.strata.ready.then((s) => s.error && s.error.code)")))
            outcomes[name] = (views, [r.status for r in site.requests[start:] if r.path == url])
    finally:
        site.cache_controls.clear()
        serve_trailblazer(site, trailblazer)
    assert outcomes["good"] == ([("default", None), ("rule", None)], [200])  # one request: the second view decided from the cache
    assert outcomes["bad"] == ([(None, "bad_signature"), (None, "bad_signature")], [200])


def test_browser_page_loads_re2js_parse5_and_the_crawler_parsers_only_when_needed(page_of: Any, site: Any, trailblazer: dict[str, Any]) -> None:
    # TrailBlazer calls no `matches`: re2js is never fetched; its one template (the welcome offer,
    # decided on the third page view) is sanitised over the browser's own parser: no parse5 either;
    # Chromium's User-Agent is no crawler's: of the device parsers only the Spider ones (strata-device.mjs)
    serve_trailblazer(site, trailblazer)
    start = len(site.requests)
    page, _ = page_of()
    page.goto("/")
    assert hero(page)["reason"] == "default"
    fetched = {r.path for r in site.requests[start:]}
    assert "/strata-device.mjs" in fetched
    assert "/strata-re2.mjs" not in fetched and "/strata-sanitize.mjs" not in fetched and "/strata-crawler.mjs" not in fetched
    for _ in range(2):
        page.goto("/")
        hero(page)
    offer = page.locator('[data-strata-slot="offer"]')
    assert offer.get_attribute("data-strata-rule") == "welcome-offer"
    assert offer.inner_html() == "<strong>Welcome to TrailBlazer!</strong> <span>Take 15% off your first order with code <b>TRAIL15</b>.</span>"
    assert "/strata-sanitize.mjs" not in {r.path for r in site.requests[start:]}


def needs_parse5_bundle(site: Any, trailblazer: dict[str, Any]) -> str:
    """TrailBlazer with a welcome offer whose template holds a character reference without digits
    ("&#x;", text on every runtime), which the browser sanitises with parse5 (browser/sanitize.js)."""
    from compiler.harness.fixtures import trailblazer_without_holdout
    from compiler.pipeline import Options, run

    text = trailblazer_without_holdout()
    assert "<b>{code}</b>." in text
    ctx = run("trailblazer.yaml", Options(key=trailblazer["private"], created=int(time.time()) - 60, version=int(time.time()) // 60, codec="gzip"),
              text=text.replace("<b>{code}</b>.", "<b>{code}</b>&#x;."))
    assert ctx.bundle is not None
    site.files["/needs-parse5.strata"] = ctx.bundle
    return "/needs-parse5.strata"


def test_browser_page_a_template_whose_parse5_arrives_past_the_timeout_keeps_the_page_markup(page_of: Any, site: Any, trailblazer: dict[str, Any]) -> None:
    # the welcome offer (a template needing parse5) is decided on the third page view; parse5
    # arrives after the anti-flicker timeout, when the page's own markup has shown: that markup stays
    bundle = needs_parse5_bundle(site, trailblazer)
    serve_trailblazer(site, trailblazer, ' data-events="/v1/events"', bundle=bundle)
    site.requests.clear()
    page, _ = page_of()
    for _ in range(2):
        page.goto("/")
        hero(page)
    serve_trailblazer(site, trailblazer, ' data-events="/v1/events"', bundle=bundle, timeout=1500)
    site.delays["/strata-sanitize.mjs"] = 3.0
    try:
        page.goto("/")
        page.wait_for_function("window.strata && window.strata.ready")
        decided = page.evaluate("async () => { const s = await window.strata.ready; return s.outcome && s.outcome.decisions.offer.rule; }")
        filled = page.evaluate("async () => (await window.strata.ready).filled")  # settles once the late sanitiser arrived
    finally:
        del site.delays["/strata-sanitize.mjs"]
    offer = page.locator('[data-strata-slot="offer"]')
    assert decided == "welcome-offer" and filled is False  # decided in time, the fill dropped ...
    assert offer.get_attribute("data-strata-reason") is None and "Take 15% off" not in offer.inner_text()  # ... but never filled late
    # ... and so never reported shown: no exposure beacon names it (the first two page views' did send theirs)
    beacons = [r.body.decode() for r in site.seen("/v1/events")]
    assert any("exposures" in b for b in beacons) and not any("welcome-offer" in b for b in beacons), beacons


def test_browser_page_slots_hidden_until_decided_then_shown(page_of: Any, site: Any, trailblazer: dict[str, Any]) -> None:
    serve_trailblazer(site, trailblazer)
    site.delays[trailblazer["url"]] = 0.5
    try:
        page, _ = page_of()
        page.goto("/newsletter.html?utm_source=newsletter&utm_medium=email&utm_campaign=camping-spring")
        h = hero(page)
    finally:
        del site.delays[trailblazer["url"]]
    assert page.evaluate("window.__visibility") == ["hidden"]  # parsed, the bundle not yet there
    assert (h["rule"], h["visibility"]) == ("camping-welcome", "visible")


def test_browser_page_past_the_timeout_the_page_markup_shows_and_stays(page_of: Any, site: Any, trailblazer: dict[str, Any]) -> None:
    serve_trailblazer(site, trailblazer, timeout=300)
    site.delays[trailblazer["url"]] = 1.5
    try:
        page, console = page_of()
        page.goto("/newsletter.html?utm_source=newsletter&utm_medium=email&utm_campaign=camping-spring")
        page.wait_for_timeout(800)  # past the timeout, the bundle still on its way
        early = page.locator('[data-strata-slot="hero"]').evaluate("(e) => getComputedStyle(e).visibility")
        h = hero(page)  # the bundle has arrived
    finally:
        del site.delays[trailblazer["url"]]
        serve_trailblazer(site, trailblazer)
    assert page.evaluate("window.__visibility") == ["hidden"] and early == "visible"
    assert h["reason"] is None and h["text"].startswith(NEWSLETTER_HERO)  # not swapped in late: no flicker
    assert page.evaluate("Object.keys(localStorage)") == []  # this page view was not decided, nothing recorded
    assert any("anti-flicker timeout" in m for m in console)


def test_browser_page_tampered_bundle_is_refused_page_markup_shown_and_reported(page_of: Any, site: Any, trailblazer: dict[str, Any]) -> None:
    good = site.files[trailblazer["url"]]
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x01
    site.files["/tampered.strata"] = bytes(bad)
    serve_trailblazer(site, trailblazer, bundle="/tampered.strata")
    try:
        page, console = page_of()
        page.goto("/newsletter.html?utm_source=newsletter&utm_medium=email&utm_campaign=camping-spring")
        h = hero(page)
        error = page.evaluate("window.strata.ready.then((s) => s.error && s.error.code)")
    finally:
        serve_trailblazer(site, trailblazer)
    assert (h["reason"], h["visibility"], error) == (None, "visible", "bad_signature")
    assert h["text"].startswith(NEWSLETTER_HERO)
    assert any(m.startswith("error: strata: bundle /tampered.strata refused (bad_signature)") for m in console), console


def test_browser_page_debug_overlay_explains_the_decision(page_of: Any, site: Any, trailblazer: dict[str, Any]) -> None:
    serve_trailblazer(site, trailblazer, " data-debug")
    try:
        page, _ = page_of()
        page.goto("/tents.html")
        hero(page)
        page.goto("/")
        assert hero(page)["rule"] == "tent-hero"
        overlay = page.inner_text("#strata-debug")
    finally:
        serve_trailblazer(site, trailblazer)
    assert "tent-hero" in overlay and "trailblazer" in overlay and "segments:" in overlay


def test_browser_page_track_sends_the_goal_with_send_beacon(page_of: Any, site: Any, trailblazer: dict[str, Any]) -> None:
    serve_trailblazer(site, trailblazer, ' data-events="/v1/events"')
    site.requests.clear()  # another test's beacons
    try:
        page, _ = page_of()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto("/product.html")
        page.wait_for_function("window.strata && window.strata.ready")
        page.evaluate("window.strata.ready")
        page.click("[data-add-to-cart]")  # the shop's own script calls window.strata.track("add_to_cart")
        page.wait_for_function("document.querySelector('[data-add-to-cart]').textContent.includes('Added')")
        page.wait_for_timeout(300)
    finally:
        serve_trailblazer(site, trailblazer)
    posts = [r for r in site.requests if r.path == "/v1/events"]
    assert errors == []
    bodies = [json.loads(r.body) for r in posts]
    goals = [b for b in bodies if "goal" in b]
    exposures = [b for b in bodies if "exposures" in b]
    # the goal carries the visit nonce of the page's exposures (beacon.js), never a visitor id
    assert [g["goal"] for g in goals] == ["add_to_cart"] and set(goals[0]) == {"goal", "visit"}
    assert exposures and all(e["visit"] == goals[0]["visit"] for e in exposures) and len(bodies) == len(goals) + len(exposures)
    assert all(r.headers["content-type"] == "application/json" for r in posts)
