"""The session and consent on the device (docs/client-side.md, "Session and consent"), in real
Chromium on the TrailBlazer site served as plain static files: page views, visits, recent
categories, caps and sticky experiment arms live in the origin's localStorage and personalise the
next page exactly as the servers' cookie does; without consent (GPC, Do Not Track, the consent
cookie's refusal, or the opt-in mode before consent() is called) every slot shows its generic
content and nothing at all is stored: no localStorage, sessionStorage, cookie, IndexedDB or Cache
Storage entry."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import serve_trailblazer

GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true, configurable: true });"
DNT = "Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1', configurable: true });"
#: Everything a page can keep on the device.
STORED = """async () => ({
  local: Object.keys(localStorage), session: Object.keys(sessionStorage), cookie: document.cookie,
  idb: (await indexedDB.databases()).map((d) => d.name), caches: await caches.keys(),
})"""
NOTHING = {"local": [], "session": [], "cookie": "", "idb": [], "caches": []}


def slot(page: Any, name: str) -> dict[str, Any]:
    el = page.locator(f'[data-strata-slot="{name}"]').first
    el.wait_for(state="attached")
    page.wait_for_function("window.strata && window.strata.ready")
    page.evaluate("window.strata.ready")
    return {"reason": el.get_attribute("data-strata-reason"), "rule": el.get_attribute("data-strata-rule"),
            "variant": el.get_attribute("data-strata-variant"), "text": el.inner_text()}


@pytest.fixture
def shop(site: Any, trailblazer: dict[str, Any]) -> Any:
    serve_trailblazer(site, trailblazer)
    return site


def test_browser_session_welcome_offer_on_third_view_then_capped_and_cleared_storage_is_a_new_visitor(context: Any, shop: Any) -> None:
    page = context.new_page()
    page.goto("/")
    assert slot(page, "offer")["reason"] == "default"
    page.goto("/newsletter.html")
    assert slot(page, "offer")["reason"] == "default"
    page.goto("/")
    offer = slot(page, "offer")
    assert offer["rule"] == "welcome-offer" and "TRAIL15" in offer["text"]
    assert page.inner_html('[data-strata-slot="offer"]').startswith("<strong>Welcome to TrailBlazer!</strong>")  # the sanitised template
    page.goto("/newsletter.html")
    assert slot(page, "offer") == {"reason": "capped", "rule": None, "variant": None, "text": ""}
    assert page.evaluate("Object.keys(localStorage)") == ["strata_session"]
    assert page.evaluate("window.strata.ready.then((s) => s.session.pageViews)") == 4
    # the exposure keys of the visit, as the servers' cookie keeps them (slot|arm|layer, first showing only)
    assert page.evaluate("window.strata.ready.then((s) => s.session.shown)") == [
        "banner|default|", "hero|default|", "offer|default|", "recs|default|", "offer|welcome-offer|mid"]
    page.evaluate("localStorage.clear()")  # a visitor who clears storage is a new visitor
    page.goto("/")
    assert page.evaluate("window.strata.ready.then((s) => [s.session.pageViews, s.session.visitCount])") == [1, 1]


def test_browser_session_tent_browser_gets_the_tent_hero(context: Any, shop: Any) -> None:
    page = context.new_page()
    page.goto("/")
    assert slot(page, "hero")["rule"] is None
    page.click("nav >> text=Tents")
    slot(page, "hero")
    page.goto("/")
    hero = slot(page, "hero")
    assert hero["rule"] == "tent-hero" and "Find the tent that fits your trip" in hero["text"]


def test_browser_session_sticky_starter_kit_arm_across_pages_and_restart(browser: Any, site: Any, shop: Any) -> None:
    ctx = browser.new_context(base_url=site.url)
    try:
        page = ctx.new_page()
        page.goto("/product.html")
        slot(page, "banner")
        page.click("[data-add-to-cart]")
        page.goto("/")
        hero = slot(page, "hero")
        assert hero["rule"] == "starter-kit" and hero["variant"] in ("bundle-discount", "free-shipping")
        page.goto("/tents.html")
        assert slot(page, "hero")["variant"] == hero["variant"]
        state = ctx.storage_state()
    finally:
        ctx.close()
    again = browser.new_context(base_url=site.url, storage_state=state)  # "browser restart": the same storage
    try:
        p2 = again.new_page()
        p2.goto("/")
        assert slot(p2, "hero")["variant"] == hero["variant"]
        assert p2.evaluate("window.strata.ready.then((s) => s.session.assignments())") == {"starter-kit": hero["variant"]}
    finally:
        again.close()


@pytest.mark.parametrize("refusal", ["gpc", "dnt", "cookie"])
def test_browser_session_without_consent_generic_content_and_nothing_stored(browser: Any, site: Any, shop: Any, refusal: str) -> None:
    ctx = browser.new_context(base_url=site.url)
    try:
        if refusal == "gpc":
            ctx.add_init_script(GPC)
        elif refusal == "dnt":
            ctx.add_init_script(DNT)
        else:
            ctx.add_cookies([{"name": "strata_consent", "value": "no", "url": site.url}])
        page = ctx.new_page()
        for path in ("/", "/tents.html", "/newsletter.html?utm_source=newsletter&utm_medium=email&utm_campaign=camping-spring", "/"):
            page.goto(path)
            for name in ("hero", "offer", "banner"):
                assert slot(page, name)["reason"] == "no_consent", (path, name)
        stored = page.evaluate(STORED)
        if refusal == "cookie":
            stored["cookie"] = stored["cookie"].replace("strata_consent=no", "")  # the page's own refusal, nothing else
        assert stored == NOTHING
    finally:
        ctx.close()


def test_browser_session_opt_in_stores_nothing_until_consent_then_personalises(browser: Any, site: Any, trailblazer: dict[str, Any]) -> None:
    serve_trailblazer(site, trailblazer, ' data-require-consent')
    ctx = browser.new_context(base_url=site.url)
    try:
        page = ctx.new_page()
        page.goto("/tents.html")
        assert slot(page, "hero")["reason"] == "no_consent"
        assert page.evaluate(STORED) == NOTHING
        page.evaluate("window.strata.consent(true)")  # the consent banner's callback
        assert page.evaluate("Object.keys(localStorage)") == ["strata_session"]
        assert "strata_consent=yes" in page.evaluate("document.cookie")
        page.goto("/")
        assert slot(page, "hero")["rule"] == "tent-hero"
        page.evaluate("window.strata.consent(false)")  # withdrawn: the session is forgotten at once
        assert page.evaluate("Object.keys(localStorage)") == []
        assert slot(page, "hero")["reason"] == "no_consent"
    finally:
        ctx.close()
        serve_trailblazer(site, trailblazer)
