"""Content rendering escapes everything; templates cannot reach Python objects; links are safe."""

from __future__ import annotations

from edge_server.render import render, safe_href
from edge_server.rewrite import Page
from runtime.decision import Decision


def test_render_escapes_values():
    html = render({"headline": "<script>alert(1)</script>", "cta": {"text": "Go\"><img src=x onerror=alert(1)>", "href": "/x"}})
    assert "<script>" not in html and "&lt;script&gt;" in html and "onerror=alert(1)>" not in html


def test_render_template_escapes_placeholders():
    html = render({"template": "<b>{name}</b> {cta[text]}", "name": "<i>x</i>", "cta": {"text": "&"}})
    assert html == "<b>&lt;i&gt;x&lt;/i&gt;</b> &amp;"


def test_render_template_refuses_attribute_access():
    assert render({"template": "{name.__class__}", "name": "x"}) == ""


def test_render_unsafe_links_become_hash():
    for bad in ("javascript:alert(1)", "JAVASCRIPT:x", "data:text/html,x", "//evil.example/", " vbscript:x"):
        assert safe_href(bad) == "#"
    for ok in ("/tents.html", "https://shop.example/x", "#top", "?q=1"):
        assert safe_href(ok) == ok


def test_rewrite_fills_marked_elements_only():
    page = Page('<html data-strata-category="tents"><body><div data-strata-slot="hero">old</div><div>keep</div></body></html>')
    assert page.slots == ["hero"] and page.category == "tents"
    out = page.fill({"hero": Decision("hero", {"headline": "<new>"}, "rule", rule="r")}, render)
    assert '<h2 class="strata-headline">&lt;new&gt;</h2>' in out and "<div>keep</div>" in out and 'data-strata-rule="r"' in out
