"""Browser runtime benchmark (issue #25 point 5), in real headless Chromium against a static server
on 127.0.0.1 — a benchmark, not a timed test:

    python benchmarks/browser_bench.py [--runs 15] [--out benchmarks/results/browser.json]
        [--build-from OTHER/edge_worker] [--hosting preload] [--chromium-arg=--v8-cache-options=none]

1. size: dist/strata.mjs and dist/strata.js, minified and gzipped (-9) — re2js, the uap-core device
   regexes and parse5 are not in them but in the lazily loaded parts strata-re2.mjs, strata-device.mjs
   and strata-sanitize.mjs (browser/parts.js), measured too (budget: <= 35 KB gzip without RE2); beside
   them the peers built the same way: GrowthBook's browser SDK and cel-js, a CEL evaluator alone;
2. from script start (an inline mark just before the script tag) to filled slots (the last slot
   filled: start() fills each as the parser reaches it, and resolves at DOMContentLoaded) on the TrailBlazer
   home page: first load (a fresh browser context, nothing cached) and cached (the next page view:
   script from the cache, the bundle revalidated with a 304) (budgets: <= 50 ms first, <= 15 ms cached);
   and the page view after that (Chromium compiles from its code cache from the third load on); for
   the ways of hosting in HOSTING (strata.js revalidated per view or immutable, the bundle
   revalidated or cached for 300 s with data-bundle-cache="default", the preload links, and a
   Service Worker that caches strata.js at install so the next view has its code cache);
   --hosting picks some, --chromium-arg adds a Chromium switch (--v8-cache-options=none); with the
   phases of start() from its user-timing marks (benchmarks/browser_trace.py profiles them);
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


IMMUTABLE = "public, max-age=31536000, immutable"
#: How the site is hosted: (name, Cache-Control of strata.js and its parts, of the bundle, the tag's
#: data-bundle-cache). The pages and the site's own files are always no-cache (revalidated).
HOSTING = [
    ("all no-cache", "no-cache", "no-cache", None),
    ("strata.js immutable", IMMUTABLE, "no-cache", None),
    ("+ bundle max-age=300", IMMUTABLE, "max-age=300", "default"),
    ("+ preload links", IMMUTABLE, "max-age=300", "default"),
    ("+ service worker", IMMUTABLE, "max-age=300", "default"),
    ("+ sw static routes", IMMUTABLE, "max-age=300", "default"),
]
#: the hostings with PRELOAD before the tag
PRELOADED = {"+ preload links", "+ service worker", "+ sw static routes"}
#: A Service Worker, registered once the first view has loaded, that puts strata.js and the device
#: part into CacheStorage when it is installed: Chromium compiles a script put there during install
#: and stores its code cache beside it, so the next view runs strata.js from a code cache that view
#: 2 would otherwise have to produce (docs/client-side.md, "Where the time goes"). The first serves
#: them from its fetch handler; the second from static routes (InstallEvent.addRoutes: the browser
#: answers from the cache without starting the worker), the fetch handler as a fallback.
SW_FILES = "const FILES = ['/strata.js', '/strata-device.mjs'];\n"
SW = {
    "+ service worker": SW_FILES + """self.addEventListener('install', (e) => e.waitUntil(caches.open('strata').then((c) => c.addAll(FILES))));
self.addEventListener('fetch', (e) => {
  const path = new URL(e.request.url).pathname;
  if (FILES.includes(path)) e.respondWith(caches.match(path).then((r) => r || fetch(e.request)));
});
""",
    "+ sw static routes": SW_FILES + """self.addEventListener('install', (e) => {
  e.addRoutes(FILES.map((pathname) => ({ condition: { urlPattern: new URLPattern({ pathname }) }, source: { cacheName: 'strata' } })));
  e.waitUntil(caches.open('strata').then((c) => c.addAll(FILES)));
});
""",
}
REGISTER = "<script>addEventListener('load', () => navigator.serviceWorker.register('/sw.js'));</script>"
#: after the first view of a Service Worker hosting: the worker installed and active (a visitor's next
#: click comes later than this)
SW_READY = "navigator.serviceWorker.ready.then(() => new Promise((r) => setTimeout(() => r(true), 500)))"
#: what a page may put before Strata's tag so that the bundle and the device part are fetched
#: while strata.js is (docs/client-side.md, "Hosting"): the fetch() of a bundleCache 'default'
#: bundle and the part's import() take the preloaded responses
PRELOAD = ('<link rel="preload" href="/trailblazer.strata" as="fetch" crossorigin>'
           '<link rel="modulepreload" href="/strata-device.mjs">')
#: first: a fresh context, nothing cached; cached: the next view (the bundle revalidated, 304);
#: third: the one after (Chromium compiles from its code cache from the third load of a script on)
VIEWS = ["first", "cached", "third"]
#: the total: script start to the last slot filled (the last strata:filled mark; a build that marks none:
#: to start()'s end) — start() itself resolves later, once the page is parsed and the decision kept
ELAPSED = """window.strata.ready.then(() => new Promise((r) => setTimeout(r))).then(() => [
  (performance.getEntriesByName('strata:filled').at(-1)?.startTime ?? window.__t1) - window.__t0,
  performance.getEntriesByType('mark').filter((m) => m.name.startsWith('strata:') && m.name !== 'strata:t0').map((m) => [m.name, m.startTime - window.__t0])])"""


def settled_page(ctx: Any) -> Any:
    """A new page of ``ctx`` once Chromium's own start-up work is over: a new context's first page
    makes this Chromium load its omnibox WebUI (some 100 chrome:// modules, 0.3-0.5 s of the 2 cores)
    while the site loads; about:blank and a second let it finish. The HTTP cache stays empty: the
    load that follows is still a first load of the site."""
    page = ctx.new_page()
    page.goto("about:blank")
    page.wait_for_timeout(1500)
    return page


def gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), 9))


def peer_sizes() -> dict[str, dict[str, list[int]]]:
    """The peers built as strata.mjs is (tools/build_browser.js --peers, from this checkout: every
    export bundled for the browser, esbuild minified, then the same terser pass), weighed as
    strata.mjs is (``gz``): {package: {"esbuild": [minified, gzip], "terser": [minified, gzip]}}."""
    with tempfile.TemporaryDirectory(prefix="strata-peers-") as out:
        r = subprocess.run(["node", "tools/build_browser.js", "--peers", out], cwd=EDGE, check=True, capture_output=True, text=True, timeout=120)
        files: dict[str, dict[str, str]] = json.loads(r.stdout)
        return {name: {how: [Path(f).stat().st_size, gz(Path(f))] for how, f in built.items()} for name, built in files.items()}


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
    site.files["/key.pub"] = pem.encode()
    tag_pages(site, "")
    return site


def tag_pages(site: StaticSite, attrs: str, preload: bool = False, sw: str | None = None) -> None:
    """(Re)write the site's pages with Strata's tag (``attrs``: more data- attributes) between the
    marks; with ``preload``, PRELOAD before them; with ``sw``, that Service Worker as /sw.js,
    registered at the load event."""
    if sw is not None:
        site.files["/sw.js"] = sw.encode()
    tool = static_site_tool()
    pem = site.files["/key.pub"].decode()
    serve_site(site, ROOT / "rulesets" / "trailblazer" / "site", tool.script_tag("/trailblazer.strata", tool.key_line(pem), ' data-timeout="10000"' + attrs))
    for name, body in list(site.files.items()):
        if name.endswith(".html"):
            at = body.index(b'<script src="/strata.js"')
            end = body.index(b"</script>", at) + len(b"</script>")
            # the clock starts after GrowthBook's script, just before Strata's
            head = (PRELOAD if preload else "") + '<script src="/growthbook.js"></script>' + MARK
            site.files[name] = body[:at] + head.encode() + body[at:end] + (DONE + (REGISTER if sw else "")).encode() + body[end:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "browser.json"))
    ap.add_argument("--build-from", type=Path, default=None,
                    help="an edge_worker/ directory of another checkout (npm ci done) to build the browser files from: a baseline, measured alternately")
    ap.add_argument("--build-arg", action="append", default=[], help="one more argument to tools/build_browser.js (repeatable), e.g. --compile-hints")
    ap.add_argument("--hosting", action="append", default=[], help="only the hostings whose name contains this (repeatable; e.g. 'preload')")
    ap.add_argument("--chromium-arg", action="append", default=[],
                    help="one more Chromium switch (repeatable), e.g. --chromium-arg=--v8-cache-options=none: the code cache's share of a view")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(tempfile.mkdtemp(prefix="strata-browser-bench-"))
    if a.build_from is None and not a.build_arg:
        built = build_browser(out)
    else:
        subprocess.run(["node", "tools/build_browser.js", str(out), *a.build_arg], cwd=a.build_from or EDGE, check=True, capture_output=True, timeout=120)
        built = {"module": out / "strata.mjs", "script": out / "strata.js", "parts": {f.stem.removeprefix("strata-"): f for f in sorted(out.glob("strata-*.mjs"))}}
    sizes = {"module_gzip": gz(built["module"]), "script_gzip": gz(built["script"])}
    sizes.update({f"part_{name}_gzip": gz(path) for name, path in built["parts"].items()})
    peers = peer_sizes()
    site = trailblazer_site(built)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    views: dict[str, list[float]] = {}
    phases: dict[str, dict[str, list[float]]] = {}
    controlled: dict[str, list[bool]] = {}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=ARGS + a.chromium_arg)
        hostings = [h for h in HOSTING if not a.hosting or any(part in h[0] for part in a.hosting)]
        for hosting, script_cache, bundle_cache, mode in hostings:
            for path in ["/strata.js", *("/" + part.name for part in built["parts"].values())]:
                site.cache_controls[path] = script_cache
            site.cache_controls["/trailblazer.strata"] = bundle_cache
            tag_pages(site, f' data-bundle-cache="{mode}"' if mode else "", preload=hosting in PRELOADED, sw=SW.get(hosting))
            for _ in range(a.runs):
                ctx = b.new_context(base_url=site.url)
                page = settled_page(ctx)
                for view in VIEWS:
                    page.goto("/")
                    total, marks = page.evaluate(ELAPSED)
                    if hosting in SW:
                        if view == "first":
                            page.evaluate(SW_READY)
                        else:  # the view ran under the worker
                            controlled.setdefault(hosting, []).append(page.evaluate("!!navigator.serviceWorker.controller"))
                    views.setdefault(f"{view} {hosting}", []).append(total)
                    for name, t in dict(marks).items():  # a mark set more than once (strata:filled, per slot): its last
                        phases.setdefault(f"{view} {hosting}", {}).setdefault(name, []).append(t)
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
    results = {"sizes_bytes": sizes, "peer_sizes_bytes": peers, "views_ms": {k: med(v) for k, v in views.items()},
               "phases_ms": {k: {n: med(t) for n, t in v.items()} for k, v in phases.items()},
               "decide_us": peer["strata_us"], "growthbook_us": peer["growthbook_us"],
               "decisions": {"strata": peer["strata"], "growthbook": peer["growthbook"]}, "runs": a.runs, "chromium_args": a.chromium_arg,
               "sw_controlled_views": {k: sum(v) for k, v in controlled.items()}}
    print("1. size, gzip -9 (budget: module <= 35 KB without RE2; the parts load only when needed)")
    for k, v in sizes.items():
        print(f"   {k:40} {v / 1024:7.1f} KB")
    print("   beside it, built the same way (every export, esbuild --bundle --minify, then terser; esbuild alone in brackets)")
    for name, peer_size in peers.items():
        egz, (tmin, tgz) = peer_size["esbuild"][1], peer_size["terser"]
        print(f"   {name:40} {tgz / 1024:7.1f} KB  ({egz / 1024:.1f} KB; minified {tmin / 1024:.0f} KB)")
    print(f"2. script start -> filled slots, TrailBlazer home, median of {a.runs} (budgets: first load 50 ms, cached 15 ms)")
    print("   and when each phase ended (user-timing marks of start(), ms from script start)")
    names = ["strata:start", "strata:fetched", "strata:device", "strata:verified", "strata:dom", "strata:context", "strata:decided", "strata:filled"]
    print(f"   {'view':7} {'hosting':21} {'total':>6}  " + " ".join(f"{n.removeprefix('strata:'):>8}" for n in names))
    for hosting, *_ in hostings:
        for view in VIEWS:
            k = f"{view} {hosting}"
            ph = results["phases_ms"].get(k, {})
            print(f"   {view:7} {hosting:21} {results['views_ms'][k]:6.1f}  " + " ".join(f"{ph.get(n, float('nan')):8.1f}" for n in names))
    for k, n in results["sw_controlled_views"].items():
        print(f"   {k}: {n} of {len(controlled[k])} later views controlled by the Service Worker")
    print("3./4. in the page, median per call")
    print(f"   Strata decide(), 4 slots               {peer['strata_us']:7.2f} us  (budget 5 us)")
    print(f"   GrowthBook, 4 equivalent features      {peer['growthbook_us']:7.2f} us")
    print(f"   decisions: strata {peer['strata']}, growthbook {peer['growthbook']}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
