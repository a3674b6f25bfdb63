"""Content rendering escapes everything; templates cannot reach Python objects nor carry script;
links are checked by the WHATWG URL rules browsers follow (classes generated, not single examples)."""

from __future__ import annotations

import html as html_lib
import json
import shutil
import subprocess

import pytest
from ada_url import URL
from hypothesis import given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from edge_server.render import TEMPLATE_TAGS, render, sanitize
from edge_server.rewrite import Page
from edge_server.safe_href import safe_href
from runtime.decision import Decision

PAGE_BASE = "https://shop.example/tents/index.html"


def test_render_escapes_values():
    html = render({"headline": "<script>alert(1)</script>", "cta": {"text": "Go\"><img src=x onerror=alert(1)>", "href": "/x"}})
    assert "<script>" not in html and "&lt;script&gt;" in html and "onerror=alert(1)>" not in html


def test_render_template_escapes_placeholders():
    html = render({"template": "<b>{name}</b> {cta[text]}", "name": "<i>x</i>", "cta": {"text": "&"}})
    assert html == "<b>&lt;i&gt;x&lt;/i&gt;</b> &amp;"


def test_render_template_refuses_attribute_access():
    assert render({"template": "{name.__class__}", "name": "x"}) == ""


def test_render_unsafe_links_become_hash():
    for bad in ("javascript:alert(1)", "JAVASCRIPT:x", "data:text/html,x", "//evil.example/", " vbscript:x",
                "/\\evil.example", "/\t/evil.example", "\\\\evil.example", "java\nscript:alert(1)", "\x00//evil.example", ""):
        assert safe_href(bad) == "#", bad
    for ok in ("/tents.html", "https://shop.example/x", "#top", "?q=1", "tents.html", "mailto:hello@shop.example"):
        assert safe_href(ok) == ok


def test_render_absolute_links_are_whatwg_serialised():
    assert safe_href("HTTPS://Shop.Example") == "https://shop.example/"
    assert safe_href(" https:evil.example\t") == "https://evil.example/"  # absolute, hence explicit: allowed


# --- class 10: links. Random interleavings of what browsers strip, drop or read as a slash, around a host.
NOISE = st.sampled_from(["\t", "\n", "\r", " ", "\x00", "\x01", "\x1f", "\\", "/", "%2F", "%5C", "%09", ".", "./", "../", ":", "@", "?", "#"])
HOSTS = st.sampled_from(["evil.example", "EVIL.example", "evil.example:443", "[::1]", "user@evil.example", "127.0.0.1"])
PREFIXES = st.sampled_from(["", "/", "//", "\\", "http:", "https:", "HTTP:", "javascript:", "java\tscript:", "data:", "jav&#x09;ascript:",
                            "mailto:", "blob:", "ftp:", "https://shop.example", "/tents"])
links = st.builds(lambda pre, a, host, b, tail: pre + "".join(a) + host + "".join(b) + tail,
                  PREFIXES, st.lists(NOISE, max_size=5), HOSTS, st.lists(NOISE, max_size=3), st.sampled_from(["", "/x", "?q=1", "#f", "/a/../b"]))


def _safe_as_followed(out: str, base: str = PAGE_BASE) -> bool:
    """What a browser does with the link: an explicit absolute http(s)/mailto URL, or the page's own host."""
    u = URL(out, base)
    if u.protocol == "mailto:":
        return out.lower().startswith("mailto:")
    if u.protocol not in ("http:", "https:"):
        return False
    return u.host == "shop.example" or out.lower().startswith(("http://", "https://"))


@settings(max_examples=3000, deadline=None)
@given(links)
def test_render_safe_href_generated_links_stay_on_site_or_explicit(value):
    out = safe_href(value)
    assert out == "#" or _safe_as_followed(out), (value, out)
    assert safe_href(out) == out  # stable: what it returns, it accepts unchanged
    if out != "#" and not out.lower().startswith(("http://", "https://", "mailto:")):
        # a relative link is returned as the browser reads it: the stripped characters removed, nothing else
        assert out == value.strip("".join(map(chr, range(0x21)))).translate(str.maketrans("", "", "\t\n\r"))


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@settings(max_examples=15, deadline=None)
@given(st.lists(links, min_size=100, max_size=100))
def test_render_safe_href_agrees_with_node_whatwg_url(values):
    """Node's own ``new URL(link, page)`` (its WHATWG parser) follows every accepted link to the
    page's host or to an explicit absolute http(s)/mailto URL; no accepted link leaves otherwise."""
    outs = [safe_href(v) for v in values]
    script = ("const [base, links] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "console.log(JSON.stringify(links.map(l => { try { const u = new URL(l, base); return [u.protocol, u.host]; } catch (e) { return null; } })));")
    res = subprocess.run(["node", "-e", script], input=json.dumps([PAGE_BASE, outs]), capture_output=True, text=True, check=True, timeout=30)
    for v, out, parsed in zip(values, outs, json.loads(res.stdout)):
        if out == "#":
            continue
        assert parsed is not None, (v, out)
        protocol, host = parsed
        explicit = out.lower().startswith(("http://", "https://", "mailto:"))
        assert protocol in ("http:", "https:", "mailto:") and (host == "shop.example" or explicit), (v, out, parsed)


# --- class 10: templates. Author HTML with everything a sanitizer must take out, and hostile values.
DANGEROUS_VALUES = st.sampled_from(["<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "javascript:alert(1)", "//evil.example",
                                    "/\\evil.example", "' onmouseover='alert(1)", "</a><iframe src=//evil.example>", "&lt;script&gt;", "ok"])
TEMPLATE_PARTS = st.sampled_from([
    "<b>{v}</b>", "<p class=\"x\">{v}</p>", "<a href=\"{v}\">go</a>", "<a href=\"/p/{v}\">go</a>", "<img src=\"{v}\" alt=\"{v}\">",
    "<script>alert(1)</script>", "<style>*{{}}</style>", "<iframe src=\"//evil.example\"></iframe>", "<a href=\"javascript:alert(1)\">x</a>",
    "<div onclick=\"alert(1)\" style=\"x\">{v}</div>", "<svg><script>alert(1)</script></svg>", "<form action=\"//evil\"><input></form>",
    "<!-- {v} -->", "<a href=\"/\\evil.example\">x</a>", "<img src=\"/\t/evil.example\">", "<object data=\"x\"></object>", "plain {v} text",
])


@settings(max_examples=800, deadline=None)
@given(st.lists(TEMPLATE_PARTS, min_size=1, max_size=6), DANGEROUS_VALUES)
def test_render_template_generated_never_carries_script(parts, value):
    out = render({"template": "".join(parts), "v": value})
    tree = LexborHTMLParser(f"<body>{out}</body>")
    for node in tree.body.traverse(include_text=False) if tree.body else ():
        if node.tag in ("body", "html", "head"):
            continue
        assert node.tag in TEMPLATE_TAGS, (parts, value, out)
        for name, attr in node.attributes.items():
            assert not name.lower().startswith("on") and name.lower() != "style", (parts, value, out)
            if name in ("href", "src"):
                assert attr == safe_href(attr) and (attr == "#" or _safe_as_followed(attr)), (parts, value, out)
    assert "<script" not in out.lower()  # ("javascript:" may appear as text: a value is text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_render_template_values_are_escaped_text(value):
    """Inside a clean template a value is text, whatever it contains: the page shows exactly it."""
    out = render({"template": "<p class=\"msg\">{v}</p>", "v": value})
    node = LexborHTMLParser(f"<body>{out}</body>").css_first("p.msg")
    expected = LexborHTMLParser(f"<body><p>{html_lib.escape(value)}</p></body>").css_first("p")
    assert node is not None and expected is not None and node.text() == expected.text()
    assert len(LexborHTMLParser(f"<body>{out}</body>").body.css("*")) == 2  # body and p: no element came from the value


def test_render_sanitize_keeps_clean_author_html():
    clean = '<div class="promo"><h3>Spring</h3><p>Up to <strong>30%</strong> off <a href="/sale.html">tents</a></p><img src="/i.svg" alt=""></div>'
    assert sanitize(clean) == clean


def test_rewrite_fills_marked_elements_only():
    page = Page('<html data-strata-category="tents"><body><div data-strata-slot="hero">old</div><div>keep</div></body></html>')
    assert page.slots == ["hero"] and page.category == "tents"
    out = page.fill({"hero": Decision("hero", {"headline": "<new>"}, "rule", rule="r")}, render)
    assert '<h2 class="strata-headline">&lt;new&gt;</h2>' in out and "<div>keep</div>" in out and 'data-strata-rule="r"' in out


def _elements(fragment: str) -> list[tuple[str, tuple[str, ...]]]:
    body = LexborHTMLParser(f"<body>{fragment}</body>").body
    return [(n.tag, tuple(sorted(n.attributes.items(), key=lambda a: a[0]))) for n in body.traverse(include_text=False)
            if n.tag not in ("body", "-comment")] if body else []  # comments: removed, harmless


@settings(max_examples=150, deadline=None)
@given(st.lists(TEMPLATE_PARTS | st.sampled_from(["<em class=\"a\">{v}</em>", "<ul><li>{v}</li></ul>", "<span title=\"t\">x</span>",
                                                   "<table><tbody><tr><td colspan=\"2\">{v}</td></tr></tbody></table>"]), min_size=1, max_size=4))
def test_render_compiler_refuses_exactly_the_templates_the_sanitiser_changes(parts):
    """The compiler (runtime.format's allow-list) and the server's sanitiser agree: a template
    compiles iff sanitising it removes no element and no attribute, and changes no link."""
    from compiler.errors import CompileError
    from compiler.pipeline import Options, run

    template = "".join(parts)
    text = "strata: 1\nname: t\nslots:\n  - id: hero\n    default:\n      template: " + json.dumps(template) + "\n      v: x\n"
    try:
        run("t.yaml", Options(), text=text)
        compiles = True
    except CompileError as e:
        assert all(d.code == "template" for d in e.diagnostics), e
        compiles = False
    assert compiles == (_elements(sanitize(template)) == _elements(template)), (template, sanitize(template))


#: [what the template opens, what the sanitiser writes for it, its end tag]; the worker's side of
#: the class is edge_worker/test/worker_sanitize.test.js.
NESTING = [("<div>", "<div>", "</div>"), ("<span title=x onclick=y>", '<span title="x">', "</span>"), ("<x-y>", "", ""),
           ("<blockquote cite=javascript:x>", '<blockquote cite="#">', "</blockquote>"), ("<svg><g>", "", "")]


@settings(max_examples=6, deadline=None)
@given(st.integers(6_000, 12_000), st.sampled_from(NESTING))
def test_render_sanitize_cleans_nesting_of_any_depth(depth, nesting):
    opened, kept, close = nesting
    want = "" if opened.startswith("<svg") else kept * depth + "z" + close * depth
    assert sanitize(opened * depth + "z") == want


def test_render_sanitize_renders_nothing_for_a_start_tag_the_parsers_disagree_on():
    for t in ["<select>x", "<SELECT/>x", "a<select\n>b", "<isindex>x", "<IsIndex\ttitle=1>x", '<b title="<select>">x</b>', "<!-- <select> -->x", "<table>{<!DOCTYPE>\n", "<!doctype html>x"]:
        assert sanitize(t) == "", t
    for t in ["<selectx>y", "x<select", "select>y", "&lt;select>y", "<sel ect>y", "<ſelect>y", "<!doc type>y"]:
        assert sanitize(t) != "", t
