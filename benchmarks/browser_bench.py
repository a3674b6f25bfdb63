"""Browser runtime benchmark (issue #25 point 5), in real headless Chromium against a static server
on 127.0.0.1 — a benchmark, not a timed test:

    /work/heavy .venv/bin/python benchmarks/browser_bench.py [--runs 15] [--out benchmarks/results/browser.json]

1. size: dist/strata.mjs and dist/strata.js, minified and gzipped (-9) — re2js, the uap-core device
   regexes and parse5 are not in them but in the lazily loaded parts strata-re2.mjs, strata-device.mjs
   and strata-sanitize.mjs (browser/parts.js), measured too (budget: <= 35 KB gzip without RE2);
2. from script start (an inline mark just before the script tag) to filled slots on the TrailBlazer
   home page: first load (a fresh browser context, nothing cached) and cached (the next page view:
   script from the cache, the bundle revalidated with a 304) (budgets: <= 50 ms first, <= 15 ms cached);
   and the page view after that (Chromium compiles from its code cache from the third load on);
3. decide() in the page, all 4 TrailBlazer slots, median per call (budget: <= 5 us);
4. beside it in the same page, the GrowthBook browser SDK (@growthbook/growthbook's bundle)
   evaluating four features whose rules state TrailBlazer's slot rules as GrowthBook conditions.
Prints a table and writes a JSON results file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compiler.harness.fixtures import trailblazer_without_holdout  # noqa: E402
from edge_server.harness.browser import ARGS, BrowserBuild, StaticSite, build_browser, serve_site, static_site_tool  # noqa: E402

EDGE = ROOT / "edge_worker"
GROWTHBOOK = EDGE / "node_modules" / "@growthbook" / "growthbook" / "dist" / "bundles" / "index.min.js"
MARK = "<script>window.__t0 = performance.mark('strata:t0').startTime;</script>"
#: Right after Strata's tag: the time the slots are filled, taken in the page when start() resolves
#: (reading performance.now() from page.evaluate after goto() would time the load event instead).
DONE = "<script>window.strata.ready.then(() => { window.__t1 = performance.now(); });</script>"
#: Per call, in the page: Strata's decide for a profile, and GrowthBook's four features for the same attributes.
DECIDE = """async (n) => {
  const s = await window.strata.ready;
  const p = s.prepared;
  const signals = { 'page.path': '/', 'utm.source': 'newsletter', 'utm.medium': 'email', 'device.type': 'mobile', 'geo.country': 'US',
    'session.visit_count': 1, 'session.page_views': 3, 'session.recent_categories': ['tents'] };
  const opts = { sessionId: 'visitor-001', now: Date.now() / 1000 };
  const attrs = { page: { path: '/' }, utm: { source: 'newsletter', medium: 'email', campaign: '' }, device: { type: 'mobile' },
    geo: { country: 'US' }, session: { visit_count: 1, page_views: 3, recent_categories: ['tents'], purchased: false }, cart: { items: [] },
    referrer: { host: '' } };
  const features = {
    hero: { defaultValue: 'default', rules: [
      { condition: { 'cart.items': { $elemMatch: { category: 'tents' } }, 'session.purchased': false }, force: 'starter-kit' },
      { condition: { 'session.recent_categories': { $elemMatch: { $eq: 'tents' } } }, force: 'tent-hero' },
      { condition: { $or: [{ 'utm.source': 'newsletter' }, { 'utm.campaign': { $regex: '^camping' } },
        { 'referrer.host': { $in: ['thecampingblog.example', 'www.thecampingblog.example'] } }] }, force: 'camping-welcome' },
      { condition: { 'device.type': 'mobile' }, force: 'mobile-hero' }] },
    banner: { defaultValue: 'default', rules: [{ condition: { 'geo.country': 'US' }, force: 'free-shipping-home' }] },
    offer: { defaultValue: 'default', rules: [{ condition: { 'session.visit_count': 1, 'session.page_views': { $gte: 3 } }, force: 'welcome-offer' }] },
    recs: { defaultValue: 'default', rules: [{ condition: { $or: [{ 'session.recent_categories': { $elemMatch: { $eq: 'tents' } } },
      { 'utm.source': 'newsletter' }] }, force: 'camping-recs' }] },
  };
  const gb = new growthbook.GrowthBook({ attributes: attrs, features });
  const names = Object.keys(features);
  const time = (f) => {
    const per = [];
    for (let r = 0; r < 31; r++) {
      const t = performance.now();
      for (let i = 0; i < n; i++) f();
      per.push((performance.now() - t) * 1000 / n);
    }
    per.sort((a, b) => a - b);
    return per[15];
  };
  const strataOut = Object.fromEntries(Object.entries(p.decide(signals, null, opts).decisions).map(([k, d]) => [k, d.rule || d.variant || 'default']));
  const gbOut = Object.fromEntries(names.map((k) => [k, gb.getFeatureValue(k, 'default')]));
  return { strata_us: time(() => p.decide(signals, null, opts)), growthbook_us: time(() => { for (const k of names) gb.getFeatureValue(k, 'default'); }),
    strata: strataOut, growthbook: gbOut };
}"""


def gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), 9))


def trailblazer_site(built: BrowserBuild) -> StaticSite:
    """A static TrailBlazer on 127.0.0.1 serving ``built`` (strata.js and its parts), a freshly
    signed gzip bundle and GrowthBook's bundle; each page marks the clock's start just before
    Strata's tag (window.__t0) and its end when start() resolves (window.__t1)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from compiler.pipeline import Options, run

    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    site = StaticSite()
    site.files["/strata.js"] = built["script"].read_bytes()
    for part in built["parts"].values():
        site.files["/" + part.name] = part.read_bytes()
    compiled = run("trailblazer.yaml", Options(key=key, created=int(time.time()) - 60, version=1, codec="gzip"), text=trailblazer_without_holdout())
    assert compiled.bundle is not None
    site.files["/trailblazer.strata"] = compiled.bundle
    site.files["/growthbook.js"] = GROWTHBOOK.read_bytes()
    tool = static_site_tool()
    serve_site(site, ROOT / "rulesets" / "trailblazer" / "site", tool.script_tag("/trailblazer.strata", tool.key_line(pem), ' data-timeout="10000"'))
    for name, body in list(site.files.items()):
        if name.endswith(".html"):
            at = body.index(b'<script src="/strata.js"')
            end = body.index(b"</script>", at) + len(b"</script>")
            # the clock starts after GrowthBook's script, just before Strata's
            site.files[name] = body[:at] + b'<script src="/growthbook.js"></script>' + MARK.encode() + body[at:end] + DONE.encode() + body[end:]
    return site


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "browser.json"))
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(tempfile.mkdtemp(prefix="strata-browser-bench-"))
    built = build_browser(out)
    sizes = {"module_gzip": gz(built["module"]), "script_gzip": gz(built["script"])}
    sizes.update({f"part_{name}_gzip": gz(path) for name, path in built["parts"].items()})
    site = trailblazer_site(built)
    first, cached, third = [], [], []
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    elapsed = "window.strata.ready.then(() => new Promise((r) => setTimeout(r))).then(() => window.__t1 - window.__t0)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=ARGS)
        for _ in range(a.runs):
            ctx = b.new_context(base_url=site.url)
            page = ctx.new_page()
            page.goto("/")
            first.append(page.evaluate(elapsed))
            page.goto("/")
            cached.append(page.evaluate(elapsed))
            page.goto("/")
            third.append(page.evaluate(elapsed))
            ctx.close()
        ctx = b.new_context(base_url=site.url)
        page = ctx.new_page()
        page.goto("/")
        peer = page.evaluate(DECIDE, 2000)
        ctx.close()
        b.close()
    site.stop()
    shutil.rmtree(out, ignore_errors=True)
    med = statistics.median
    results = {"sizes_bytes": sizes, "first_load_ms": med(first), "cached_ms": med(cached), "third_view_ms": med(third),
               "decide_us": peer["strata_us"],
               "growthbook_us": peer["growthbook_us"], "decisions": {"strata": peer["strata"], "growthbook": peer["growthbook"]}, "runs": a.runs}
    print("1. size, gzip -9 (budget: module <= 35 KB without RE2; the parts load only when needed)")
    for k, v in sizes.items():
        print(f"   {k:40} {v / 1024:7.1f} KB")
    print(f"2. script start -> filled slots, TrailBlazer home, median of {a.runs}")
    print(f"   first load (nothing cached)            {med(first):7.1f} ms  (budget 50 ms)")
    print(f"   cached (script cached, bundle 304)     {med(cached):7.1f} ms  (budget 15 ms)")
    print(f"   third view (V8 code cache)             {med(third):7.1f} ms")
    print("3./4. in the page, median per call")
    print(f"   Strata decide(), 4 slots               {peer['strata_us']:7.2f} us  (budget 5 us)")
    print(f"   GrowthBook, 4 equivalent features      {peer['growthbook_us']:7.2f} us")
    print(f"   decisions: strata {peer['strata']}, growthbook {peer['growthbook']}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
