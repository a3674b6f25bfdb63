"""The demo as a new user builds it (docs/client-side.md, README "In the visitor's browser"):
edge_worker/tools/static_site.py writes the TrailBlazer site with the script tag, the built script
and the signed bundle; `python -m http.server` serves it; real Chromium walks the README's journeys
— the newsletter landing, the tent browser, the welcome offer once, GPC (generic, nothing stored) —
and a tampered bundle. Screenshots go to test-output/browser/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_server.harness.origin import StaticOrigin
from tests.browser.conftest import SITE
from tests.browser.harness import ROOT, static_site_tool

OUT = ROOT / "test-output" / "browser"
NEWSLETTER = "/newsletter.html?utm_source=newsletter&utm_medium=email&utm_campaign=camping-spring"


@pytest.fixture(scope="module")
def demo(built: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tests.edge_worker.page_runtimes import signed_bundle

    d = tmp_path_factory.mktemp("demo")
    key = Ed25519PrivateKey.generate()
    pub = d / "site.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    bundle = d / "trailblazer.strata"
    bundle.write_bytes(signed_bundle(key))
    tool = static_site_tool()
    # a long anti-flicker timeout: on a loaded machine the bundle can arrive after the default 300 ms,
    # and these journeys test decisions, not speed (test_browser_page.py tests the timeout itself)
    tool.main([str(SITE), "--bundle", str(bundle), "--pub", str(pub), "--out", str(d / "static"), "--debug", "--timeout", "10000"])
    tampered = d / "tampered"
    tool.write_site(SITE, tampered, bundle, pub.read_text())
    raw = bytearray((tampered / tool.BUNDLE_NAME).read_bytes())
    raw[len(raw) // 2] ^= 0x10
    (tampered / tool.BUNDLE_NAME).write_bytes(bytes(raw))
    good, bad = StaticOrigin(d / "static"), StaticOrigin(tampered)
    yield {"url": good.url, "tampered": bad.url, "dir": d / "static"}
    good.stop()
    bad.stop()


def shot(page: Any, name: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)


def decided(page: Any, name: str = "hero") -> dict[str, Any]:
    page.wait_for_function("window.strata && window.strata.ready")
    page.evaluate("window.strata.ready")
    el = page.locator(f'[data-strata-slot="{name}"]')
    return {"reason": el.get_attribute("data-strata-reason"), "rule": el.get_attribute("data-strata-rule"), "text": el.inner_text()}


def test_browser_demo_static_files_carry_only_the_tag_the_script_and_the_bundle(demo: dict[str, Any]) -> None:
    d: Path = demo["dir"]
    pages = sorted(p.name for p in d.glob("*.html"))
    assert {"index.html", "tents.html", "newsletter.html"} <= set(pages)
    assert all('<script src="/strata.js" data-bundle="/strata-bundle.strata" data-key="' in (d / p).read_text() for p in pages if p != "client.html")
    assert (d / "strata.js").stat().st_size > 0 and (d / "strata-bundle.strata").stat().st_size > 0


def test_browser_demo_readme_journeys_personalised_entirely_in_the_browser(browser: Any, demo: dict[str, Any]) -> None:
    ctx = browser.new_context(base_url=demo["url"], viewport={"width": 1280, "height": 900})
    try:
        page = ctx.new_page()
        page.goto(NEWSLETTER)
        hero = decided(page)
        assert hero["rule"] == "camping-welcome" and "Your camping season starts here" in hero["text"]
        shot(page, "browser-newsletter")
        page.click("nav >> text=Tents")
        decided(page)
        page.goto("/")
        hero = decided(page)
        assert hero["rule"] == "tent-hero" and "tent-hero" in page.inner_text("#strata-debug")
        offer = decided(page, "offer")
        assert offer["rule"] == "welcome-offer" and "Take 15% off your first order" in offer["text"]  # the third page view of a first visit; its template sanitised by the lazily loaded parse5
        shot(page, "browser-tent-hero-welcome-offer")
        page.goto("/tents.html")
        assert decided(page, "offer")["reason"] == "capped"  # once
    finally:
        ctx.close()


def test_browser_demo_gpc_generic_and_nothing_stored(browser: Any, demo: dict[str, Any]) -> None:
    ctx = browser.new_context(base_url=demo["url"], viewport={"width": 1280, "height": 900})
    ctx.add_init_script("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true });")
    try:
        page = ctx.new_page()
        page.goto(NEWSLETTER)
        assert decided(page)["reason"] == "no_consent"
        assert page.evaluate("[localStorage.length, sessionStorage.length, document.cookie]") == [0, 0, ""]
        shot(page, "browser-gpc-generic")
    finally:
        ctx.close()


def test_browser_demo_tampered_bundle_shows_the_page_markup(browser: Any, demo: dict[str, Any]) -> None:
    ctx = browser.new_context(base_url=demo["tampered"], viewport={"width": 1280, "height": 900})
    try:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(NEWSLETTER)
        hero = decided(page)
        assert hero["reason"] is None and hero["text"].startswith("Spring camping picks")
        assert any("refused (bad_signature)" in e for e in errors), errors
        shot(page, "browser-tampered")
    finally:
        ctx.close()
