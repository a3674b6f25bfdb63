"""Slots filled as the page is parsed (docs/client-side.md, "Where the time goes"), in real Chromium:
a page whose parsing is held up by slow scripts — one before a slot far down a long page, one
inside a slot's own default markup — gets its first slots filled while the parser waits, a slot
filled only once the parser has closed it (none of its default markup left behind), the slot far
down filled before DOMContentLoaded, and the decision kept once (the session, the exposures)."""

from __future__ import annotations

from typing import Any

#: What the page looked like when DOMContentLoaded fired (recorded before Strata's own listener runs).
WATCH = """window.__atDom = null;
document.addEventListener('DOMContentLoaded', () => {
  const s = (n) => { const e = document.querySelector(`[data-strata-slot="${n}"]`);
    return { reason: e.getAttribute('data-strata-reason'), text: e.textContent, visibility: getComputedStyle(e).visibility }; };
  window.__atDom = { hero: s('hero'), recs: s('recs'), far: s('banner') };
});"""
#: Run by the slow scripts once they arrive: the slots' state while the parser waited for them.
PROBE = b"""(window.__probes ||= []).push(Array.from(document.querySelectorAll('[data-strata-slot]'), (e) =>
  [e.getAttribute('data-strata-slot'), e.getAttribute('data-strata-reason'), getComputedStyle(e).visibility]));"""
FILLER = "".join(f"<p>Paragraph {i} of the long page, after which the last slot comes.</p>\n" for i in range(3000))


def long_page(tag: str) -> bytes:
    """TrailBlazer's slots on one long page: hero at the top; recs whose default markup holds a
    slow script (the parser stops inside the open slot); 3,000 paragraphs; the banner slot last."""
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>long</title>{tag}</head><body>
<section data-strata-slot="hero"><h2>Default hero</h2></section>
<section data-strata-slot="recs"><h2>Default recs</h2><script src="/slow-inside.js"></script><p>default tail of recs</p></section>
<script src="/slow-before.js"></script>
{FILLER}
<div data-strata-slot="banner">Default banner far down</div>
<p>The end.</p>
</body></html>"""
    return page.encode()


def test_browser_parsing_slots_filled_as_parsed_far_down_a_long_page(browser: Any, site: Any, trailblazer: dict[str, Any]) -> None:
    from tests.browser.harness import static_site_tool

    tag = static_site_tool().script_tag(trailblazer["url"], trailblazer["key"], ' data-timeout="10000"')
    site.files["/long.html"] = long_page(tag)
    site.files["/slow-inside.js"] = PROBE
    site.files["/slow-before.js"] = PROBE
    site.delays["/slow-inside.js"] = 0.8
    site.delays["/slow-before.js"] = 0.8
    ctx = browser.new_context(base_url=site.url)
    try:
        ctx.add_init_script(WATCH)
        page = ctx.new_page()
        page.goto("/long.html?utm_source=newsletter&utm_medium=email")
        page.wait_for_function("window.strata && window.strata.ready")
        page.evaluate("window.strata.ready")
        probes = page.evaluate("window.__probes")
        at_dom = page.evaluate("window.__atDom")
        recs = page.locator('[data-strata-slot="recs"]')
        recs_text = recs.inner_text()
        outcome = page.evaluate("window.strata.ready.then((s) => Object.fromEntries(Object.entries(s.outcome.decisions).map(([k, d]) => [k, d.reason])))")
        storage = page.evaluate("JSON.parse(JSON.stringify(Object.keys(localStorage)))")
        shown = page.evaluate("window.strata.ready.then((s) => s.session && s.session.shown.length)")
    finally:
        for p in ("/slow-inside.js", "/slow-before.js"):
            site.delays.pop(p, None)
        ctx.close()
    inside, before = (dict((n, (r, v)) for n, r, v in probe) for probe in probes)
    # while the parser waited inside recs (0.8 s: the bundle was there), the hero was filled and
    # shown; recs, still open, was neither filled nor shown
    assert inside["hero"][0] is not None and inside["hero"][1] == "visible", inside
    assert inside["recs"] == (None, "hidden"), inside
    # the parser past recs: filled, shown, without the default markup that came after the script
    assert before["recs"][0] is not None and before["recs"][1] == "visible", before
    assert "default tail of recs" not in recs_text and "Default recs" not in recs_text, recs_text
    # the slot far down, after 3,000 paragraphs, filled before DOMContentLoaded
    assert at_dom["far"]["reason"] is not None and at_dom["far"]["visibility"] == "visible", at_dom
    assert "Default banner far down" not in at_dom["far"]["text"], at_dom
    # one decision kept for the page's slots (the session records each slot once)
    assert sorted(outcome) == ["banner", "hero", "recs"], outcome
    assert storage == ["strata_session"] and shown == 3, (storage, shown)


def test_browser_parsing_trailblazer_pages_decide_the_same_slots(browser: Any, site: Any, trailblazer: dict[str, Any]) -> None:
    """The demo's own pages: every slot of each page filled, and the kept outcome decides exactly the
    page's slots (no slot of the bundle the page lacks)."""
    from tests.browser.conftest import serve_trailblazer

    serve_trailblazer(site, trailblazer)
    ctx = browser.new_context(base_url=site.url)
    try:
        for name in ("index.html", "tents.html", "cart.html"):
            page = ctx.new_page()
            page.goto("/" + name)
            page.wait_for_function("window.strata && window.strata.ready")
            page.evaluate("window.strata.ready")
            marked = page.evaluate(
                "Array.from(document.querySelectorAll('[data-strata-slot]'), (e) => [e.getAttribute('data-strata-slot'), e.getAttribute('data-strata-reason')])"
            )
            decided = page.evaluate("window.strata.ready.then((s) => Object.keys(s.outcome.decisions))")
            expected = sorted(n for n, _ in marked)
            assert sorted(decided) == expected and all(r is not None for _, r in marked), (name, marked, decided)
            page.close()
    finally:
        ctx.close()


def test_browser_parsing_a_slot_reached_after_the_timeout_keeps_its_markup_and_is_not_recorded(browser: Any, site: Any, trailblazer: dict[str, Any]) -> None:
    """The bundle in time, the parser not: the slot before the slow script is filled and shown; the one
    the parser reaches after the anti-flicker timeout shows its own markup, and only the filled slot
    is this page view's decision (one exposure in the session)."""
    from tests.browser.harness import static_site_tool

    tag = static_site_tool().script_tag(trailblazer["url"], trailblazer["key"], ' data-timeout="2500"')
    page_html = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>late</title>{tag}</head><body>
<section data-strata-slot="hero"><h2>Default hero</h2></section>
<script src="/slow-late.js"></script>
<div data-strata-slot="banner">Default banner after the timeout</div>
</body></html>"""
    site.files["/late.html"] = page_html.encode()
    site.files["/slow-late.js"] = PROBE
    site.delays["/slow-late.js"] = 3.5  # past the timeout, which leaves a loaded machine 2.5 s for the bundle
    ctx = browser.new_context(base_url=site.url)
    try:
        page = ctx.new_page()
        page.goto("/late.html?utm_source=newsletter&utm_medium=email")
        page.wait_for_function("window.strata && window.strata.ready")
        page.evaluate("window.strata.ready")
        probe = dict((n, (r, v)) for n, r, v in page.evaluate("window.__probes")[0])
        banner = page.locator('[data-strata-slot="banner"]')
        banner_state = (banner.get_attribute("data-strata-reason"), banner.inner_text(), banner.evaluate("(e) => getComputedStyle(e).visibility"))
        decided = page.evaluate("window.strata.ready.then((s) => s.outcome && Object.keys(s.outcome.decisions))")
        shown = page.evaluate("window.strata.ready.then((s) => s.session && s.session.shown.length)")
    finally:
        site.delays.pop("/slow-late.js", None)
        ctx.close()
    assert probe["hero"][0] is not None and probe["hero"][1] == "visible", probe  # filled within the timeout
    assert banner_state == (None, "Default banner after the timeout", "visible"), banner_state  # its own markup, not swapped in late
    assert decided == ["hero"] and shown == 1, (decided, shown)
