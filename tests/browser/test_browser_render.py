"""Rendering in the browser (docs/client-side.md, "Rendering"): the built module renders content
with the servers' renderer and sanitiser rules — over the browser's own HTML parser, parse5 only for
the few fragments that parser reads otherwise (browser/sanitize.js) — proven in real Chromium by the
servers' own template fuzz: every case of tests/vectors/render.json (standard layout, templates, 400 generated hostile
templates, every SVG and MathML name, the parser edge cases) and fresh hostile templates from
tests/vectors/hostile_html.py give byte for byte the HTML edge_server/render.py gives; and, put into
a live page's slot as the runtime puts it (innerHTML), none of them leaves an event handler, a
script-capable element or URL, or runs anything."""

from __future__ import annotations

import json
import os
import random
import re
from typing import Any

from edge_server.render import render
from tests.browser.harness import VECTORS
from tests.vectors.hostile_html import hostile_block

_SEED = os.environ.get("STRATA_FUZZ_SEED", "20")
SEED = random.SystemRandom().randrange(2**32) if _SEED == "random" else int(_SEED)
FRESH = 1500

RENDER = "async (blocks) => { const S = await import('/strata.mjs'); await S.loadSanitizer(); return blocks.map((b) => S.render(b)); }"

#: Each HTML put into a slot of the live page; then what is left that could run or navigate away.
INSERT = """async (htmls) => {
  window.__ran = 0;
  for (const f of ['alert', 'confirm', 'prompt', 'print']) window[f] = () => { window.__ran++; };
  const slot = document.createElement('section');
  slot.setAttribute('data-strata-slot', 'fuzz');
  document.body.appendChild(slot);
  const bad = [];
  const SCRIPTABLE = new Set(['SCRIPT', 'IFRAME', 'FRAME', 'OBJECT', 'EMBED', 'STYLE', 'LINK', 'META', 'BASE', 'FORM', 'svg', 'math', 'TEMPLATE', 'NOSCRIPT', 'INPUT', 'BUTTON', 'TEXTAREA', 'SELECT']);
  htmls.forEach((html, i) => {
    slot.innerHTML = html;
    for (const el of slot.querySelectorAll('*')) {
      if (SCRIPTABLE.has(el.tagName)) bad.push(`${i}: <${el.tagName}>`);
      for (const a of el.attributes) {
        if (/^on/i.test(a.name) || a.name === 'style' || a.name === 'srcdoc' || a.name === 'formaction') bad.push(`${i}: ${el.tagName} ${a.name}`);
        if (['href', 'src', 'cite'].includes(a.name)) {
          let u;
          try { u = new URL(a.value, location.href); } catch { continue; } // unparsable: nothing to follow
          if (!['http:', 'https:', 'mailto:'].includes(u.protocol)) bad.push(`${i}: ${a.name}=${a.value}`);
          if (!/^(https?:|mailto:)/i.test(a.value) && u.origin !== location.origin) bad.push(`${i}: ${a.name}=${a.value} leaves the site`);
        }
      }
    }
  });
  await new Promise((r) => setTimeout(r, 200)); // image errors, timers
  return { bad, ran: window.__ran };
}"""


def test_browser_render_every_render_vector_equals_the_python_server(context: Any) -> None:
    cases = json.loads((VECTORS / "render.json").read_text())["cases"] + [{"content": b, "html": render(b)} for b in DEEP]
    assert len(cases) > 1000
    page = context.new_page()
    page.goto("/blank.html")
    got = page.evaluate(RENDER, [c["content"] for c in cases])
    wrong = [f"{json.dumps(c['content'])[:300]}\n  python:  {c['html']!r}\n  browser: {g!r}" for c, g in zip(cases, got, strict=True) if g != c["html"]]
    assert not wrong, f"{len(wrong)} of {len(cases)} render vectors differ:\n" + "\n".join(wrong[:10])


def test_browser_render_fresh_hostile_templates_equal_the_python_server_and_are_inert_in_the_page(context: Any) -> None:
    rng = random.Random(SEED ^ 0xB20)
    blocks = [hostile_block(rng) for _ in range(FRESH)]
    page = context.new_page()
    page.goto("/blank.html")
    got = page.evaluate(RENDER, blocks)
    wrong = [f"{json.dumps(b)[:300]}\n  python:  {render(b)!r}\n  browser: {g!r}" for b, g in zip(blocks, got, strict=True) if g != render(b)]
    assert not wrong, f"seed {SEED} (STRATA_FUZZ_SEED={SEED} reproduces): {len(wrong)} of {FRESH} templates differ:\n" + "\n".join(wrong[:10])
    nonempty = [h for h in got if h]
    assert len(nonempty) >= FRESH // 2
    # the control: the same check finds what an unsanitised template would have left
    raw = [str(b["template"]) for b in blocks[:200]]
    assert page.evaluate(INSERT, raw)["bad"], "the inertness check finds nothing even in raw hostile templates"
    vectors = [c["html"] for c in json.loads((VECTORS / "render.json").read_text())["cases"]]
    result = page.evaluate(INSERT, nonempty + vectors)
    assert result == {"bad": [], "ran": 0}, f"seed {SEED}: " + "\n".join(result["bad"][:20])


#: Nesting deeper than Chromium's parser nests (512): sanitised by parse5 in the browser
#: (browser/sanitize.js MAX_NATIVE_TAGS); 256 tags, the most the browser's parser takes.
DEEP = [{"template": "<b>" * 600 + "x"}, {"template": "<i><q>" * 200 + "{a}", "a": "<y>"}, {"template": "<em>" * 256 + "z"}]


def needs_parse5(block: Any) -> bool:
    """browser/sanitize.js's NEEDS_PARSE5 and MAX_NATIVE_TAGS, restated: what the browser's parser
    does not take (the template, or a NUL in a value filled into it)."""
    text = json.dumps(block, ensure_ascii=False).replace("\\u0000", "\0")
    template = str(block.get("template", "")) if isinstance(block, dict) else ""
    return bool(re.search(r"<noscript|\0|&#(?![0-9]|[xX][0-9a-fA-F])", text, re.I)) or template.count("<") > 256


#: Rendered without parse5: what each block gives, or the error of one that needs it.
RENDER_NATIVE = """async (blocks) => { const S = await import('/strata.mjs');
  return blocks.map((b) => { try { return { html: S.render(b) }; } catch (e) { return { error: String(e.message) }; } }); }"""


def test_browser_render_without_parse5_the_browsers_parser_gives_the_servers_html(context: Any, site: Any) -> None:
    """The browser's own parser (an inert document) with the shared rules: every render vector and
    fresh hostile templates that need no parse5 equal edge_server/render.py with strata-sanitize.mjs
    never fetched; those that need it (<noscript>, a NUL, "&#x;") are refused with the remedy
    until it is loaded, never rendered by the wrong parser."""
    rng = random.Random(SEED ^ 0x5A7)
    blocks = [c["content"] for c in json.loads((VECTORS / "render.json").read_text())["cases"]] + [hostile_block(rng) for _ in range(FRESH)] + DEEP
    start = len(site.requests)
    page = context.new_page()
    page.goto("/blank.html")
    got = page.evaluate(RENDER_NATIVE, blocks)
    assert not [r.path for r in site.requests[start:] if r.path == "/strata-sanitize.mjs"]
    needs = [b for b, g in zip(blocks, got, strict=True) if "error" in g]
    assert all("strata-sanitize.mjs is not loaded" in g["error"] for g in got if "error" in g)
    assert all(needs_parse5(b) for b in needs) and needs_parse5(DEEP[0]) and needs_parse5(DEEP[1]) and not needs_parse5(DEEP[2])
    assert DEEP[0] in needs and DEEP[1] in needs and DEEP[2] not in needs
    wrong = [f"{json.dumps(b)[:300]}\n  python:  {render(b)!r}\n  browser: {g['html']!r}" for b, g in zip(blocks, got, strict=True)
             if "html" in g and g["html"] != render(b)]
    assert not wrong, f"seed {SEED}: {len(wrong)} of {len(blocks)} differ:\n" + "\n".join(wrong[:10])
    native = sum(1 for b, g in zip(blocks, got, strict=True) if "html" in g and isinstance(b, dict) and isinstance(b.get("template"), str))
    assert native > 2000, f"{native} templates rendered by the browser's parser"
    assert len(needs) < len(blocks) // 4  # the hostile generator writes &#, NULs and <noscript> often; real templates rarely
