"""Rendering in the browser (docs/client-side.md, "Rendering"): the built module renders content
with the servers' renderer and sanitiser, proven in real Chromium by the servers' own template
fuzz: every case of tests/vectors/render.json (standard layout, templates, 400 generated hostile
templates, every SVG and MathML name, the parser edge cases) and fresh hostile templates from
tests/vectors/hostile_html.py give byte for byte the HTML edge_server/render.py gives; and, put into
a live page's slot as the runtime puts it (innerHTML), none of them leaves an event handler, a
script-capable element or URL, or runs anything."""

from __future__ import annotations

import json
import os
import random
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
    cases = json.loads((VECTORS / "render.json").read_text())["cases"]
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
