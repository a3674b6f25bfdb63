"""End-to-end: the TrailBlazer demo in a real headless Chromium (Debian's package, driven by
playwright), against the real server. Each test saves a screenshot under test-output/e2e/."""

from __future__ import annotations

import base64
import re
import shutil

import pytest

from compiler.harness.fixtures import ROOT, trailblazer_without_holdout
from edge_server.harness.server import RunningServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not found: apt-get install chromium (.ci/run does)")

OUT = ROOT / "test-output" / "e2e"
SITE = ROOT / "rulesets" / "trailblazer" / "site"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("e2e")
    rs = d / "trailblazer.yaml"
    rs.write_text(trailblazer_without_holdout())  # browsers get random session ids
    s = RunningServer([str(rs), "--pages", str(SITE), "--debug"], env={"STRATA_COOKIE_KEYS": "k1:" + base64.b64encode(b"\x03" * 32).decode()})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser, server):
    ctx = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


def shot(page, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)


def slot(page, name: str) -> dict:
    el = page.locator(f'[data-strata-slot="{name}"]').first
    return {"reason": el.get_attribute("data-strata-reason"), "rule": el.get_attribute("data-strata-rule"),
            "variant": el.get_attribute("data-strata-variant"), "text": el.inner_text()}


def test_e2e_first_visit_sees_generic_hero(context):
    page = context.new_page()
    page.goto("/")
    hero = slot(page, "hero")
    assert hero["reason"] == "default" and "Gear up for your next adventure" in hero["text"]
    shot(page, "first-visit")


def test_e2e_welcome_offer_on_third_view_then_never_again(context):
    page = context.new_page()
    page.goto("/")
    page.goto("/newsletter.html")
    assert slot(page, "offer")["reason"] == "default"
    page.goto("/")
    offer = slot(page, "offer")
    assert offer["rule"] == "welcome-offer" and "TRAIL15" in offer["text"]
    shot(page, "welcome-offer")
    page.goto("/newsletter.html")
    assert slot(page, "offer")["reason"] == "capped" and slot(page, "offer")["text"] == ""


def test_e2e_newsletter_link_gets_camping_content_on_first_page(context):
    page = context.new_page()
    page.goto("/newsletter.html?utm_source=newsletter&utm_medium=email&utm_campaign=camping-spring")
    hero = slot(page, "hero")
    assert hero["rule"] == "camping-welcome" and "Your camping season starts here" in hero["text"]
    shot(page, "newsletter")


def test_e2e_viewing_tents_switches_hero_to_tent_layer(context):
    page = context.new_page()
    page.goto("/")
    assert slot(page, "hero")["rule"] is None
    page.click("nav >> text=Tents")
    page.goto("/")
    hero = slot(page, "hero")
    assert hero["rule"] == "tent-hero" and "Find the tent that fits your trip" in hero["text"]
    assert "tent-hero" in page.inner_text("#strata-debug")  # the --debug overlay explains it
    shot(page, "tent-layer")


def test_e2e_tent_in_cart_sticky_experiment_across_pages_and_restart(browser, server, context):
    page = context.new_page()
    page.goto("/product.html")
    page.click("[data-add-to-cart]")
    page.wait_for_function("document.cookie.includes('strata_signals')")
    page.goto("/")
    hero = slot(page, "hero")
    assert hero["rule"] == "starter-kit" and hero["variant"] in ("bundle-discount", "free-shipping")
    shot(page, "starter-kit")
    page.goto("/tents.html")
    assert slot(page, "hero")["variant"] == hero["variant"]
    state = context.storage_state()
    context.close()  # "browser restart": a new context with the same cookies
    again = browser.new_context(base_url=server.url, storage_state=state)
    try:
        p2 = again.new_page()
        p2.goto("/")
        assert slot(p2, "hero")["variant"] == hero["variant"]
    finally:
        again.close()


def test_e2e_global_privacy_control_generic_and_no_cookie(browser, server):
    ctx = browser.new_context(base_url=server.url, extra_http_headers={"Sec-GPC": "1"})
    try:
        page = ctx.new_page()
        for path in ("/newsletter.html?utm_source=newsletter", "/tents.html", "/", "/product.html"):
            page.goto(path)
            reasons = {slot(page, s)["reason"] for s in ("hero", "banner", "recs") if page.locator(f'[data-strata-slot="{s}"]').count()}
            assert reasons == {"no_consent"}, (path, reasons)
        shot(page, "gpc")
        assert [c["name"] for c in ctx.cookies() if c["name"] == "strata_session"] == []
    finally:
        ctx.close()


def test_e2e_client_script_mode_matches_page_mode(context):
    page = context.new_page()
    page.goto("/tents.html")
    page.goto("/")
    server_side = {s: slot(page, s) for s in ("hero", "banner", "recs")}
    page.goto("/client.html")
    page.wait_for_function("document.querySelector('[data-strata-slot=hero]').hasAttribute('data-strata-reason')")
    client_side = {s: slot(page, s) for s in ("hero", "banner", "recs")}
    for s in server_side:
        assert (client_side[s]["rule"], client_side[s]["reason"]) == (server_side[s]["rule"], server_side[s]["reason"]), s
        assert re.sub(r"\s+", " ", client_side[s]["text"]) == re.sub(r"\s+", " ", server_side[s]["text"]), s
    assert page.locator('[data-strata-slot="hero"]').is_visible()
    shot(page, "client-mode")


def test_e2e_goal_events_from_the_page_are_accepted_and_plain_text_refused(context):
    """The demo shop's add-to-cart event and client.js's strata.track() pass the events checks
    (application/json from the page's own origin, as Chromium sends it); a text/plain post is refused."""
    page = context.new_page()
    page.goto("/product.html")
    with page.expect_response("**/v1/events") as event:
        page.click("[data-add-to-cart]")
    assert event.value.status == 202
    page.goto("/client.html")
    page.wait_for_function("window.strata !== undefined")
    assert page.evaluate("strata.track('purchase', 12.5).then(r => r.status)") == 202
    assert page.evaluate("fetch('/v1/events', {method: 'POST', body: '{\"goal\": \"purchase\"}'}).then(r => r.status)") == 415
