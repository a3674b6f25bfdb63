"""Where the browser runtime's milliseconds go (issue #25 point 5): a first load, the next (cached) view
and the view after it of the static TrailBlazer home page in real headless Chromium, traced, a profile
not a benchmark:

    python benchmarks/browser_trace.py [--runs 5] [--out DIR] [--minified] [--chromium-arg=...]

Per load, from the page's mark just before Strata's tag (window.__t0) to the last slot filled:
- network: each request's start and end (the Chromium trace's Resource* events), relative to the mark;
- main thread: script compile and evaluation per script, module compile (marked when V8 read the
  script's code cache instead), code cache production, HTML parsing, style and layout, garbage
  collection (the trace's devtools.timeline and v8 events, summed inside the window);
- JavaScript self time per source module (a CDP Profiler CPU profile at 50 us of an unminified build,
  its lines mapped back to the runtime/, worker/ and browser/ modules by esbuild's module comments).
Medians over ``--runs`` loads. With ``--out``, the last load's trace and profile are written as files
DevTools opens. The timings are those of a profiled page (sampling costs a few percent);
benchmarks/browser_bench.py measures without it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.browser_bench import HOSTING, PRELOADED, SW, SW_READY, settled_page, tag_pages, trailblazer_site  # noqa: E402
from edge_server.harness.browser import ARGS, EDGE_WORKER, BrowserBuild, build_browser  # noqa: E402

CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "v8", "v8.execute", "blink.user_timing", "loading", "blink"]
#: main-thread trace events, named as DevTools' Performance panel groups them
MAIN = {"v8.compile": "script compile", "v8.compileModule": "module compile", "v8.evaluateModule": "module evaluate",
        "EvaluateScript": "script evaluate", "ParseHTML": "HTML parse", "UpdateLayoutTree": "style", "Layout": "layout",
        "Paint": "paint", "MinorGC": "GC", "MajorGC": "GC", "V8.GC_SCAVENGER": "GC", "FunctionCall": "callbacks (JS)",
        "RunMicrotasks": "microtasks (JS)", "ResourceReceivedData": "network data (main thread)",
        "v8.produceCache": "code cache produced", "v8.produceModuleCache": "code cache produced"}
#: the window ends at the last slot filled (the last strata:filled mark: start() fills each slot as the
#: parser reaches it and resolves at DOMContentLoaded), as benchmarks/browser_bench.py's total does
WAIT = """window.strata.ready.then(() => new Promise((r) => setTimeout(r))).then(() => [window.__t0,
  performance.getEntriesByName('strata:filled').at(-1)?.startTime ?? window.__t1])"""


def unminified(out: Path) -> BrowserBuild:
    """The browser build with names and esbuild's `// runtime/x.js` module comments kept."""
    r = subprocess.run(["node", "-e", f"import('./tools/build_browser.js').then((m) => m.buildBrowser({json.dumps(str(out))}, {{ minify: false }}))"],
                       cwd=EDGE_WORKER, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return {"module": out / "strata.mjs", "script": out / "strata.js", "parts": {p.stem.removeprefix("strata-"): p for p in sorted(out.glob("strata-*.mjs"))}}


def module_lines(source: str) -> list[tuple[int, str]]:
    """(first line, module) of each module esbuild put in an unminified bundle, in order."""
    marks = [(0, "(entry)")]
    for i, line in enumerate(source.splitlines()):
        m = re.match(r"^\s*// ((?:\.\./)*(?:runtime|worker|browser|edge_server|node_modules)/\S+)$", line)
        if m:
            name = m.group(1).lstrip("./")
            if name.startswith("node_modules/"):
                name = "/".join(name.split("/")[1:3]) if name.split("/")[1].startswith("@") else name.split("/")[1]
            marks.append((i, name))
    return marks


def module_of(marks: list[tuple[int, str]], line: int) -> str:
    found = marks[0][1]
    for first, name in marks:
        if first > line:
            break
        found = name
    return found


def self_times(profile: dict[str, Any], sources: dict[str, list[tuple[int, str]]]) -> dict[str, float]:
    """ms of self time per module (or per kind of native work) in a CDP CPU profile."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    out: dict[str, float] = defaultdict(float)
    for sample, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        frame = nodes[sample]["callFrame"]
        url = frame["url"].rsplit("/", 1)[-1]
        if url in sources:
            key = f"{url}: {module_of(sources[url], frame['lineNumber'])}"
        elif frame["functionName"] in ("(idle)", "(program)", "(garbage collector)"):
            key = frame["functionName"]
        else:
            key = url or frame["functionName"] or "(native)"
        out[key] += delta / 1000
    return out


def main_thread(events: list[dict[str, Any]], t0: float, t1: float) -> tuple[dict[str, float], list[tuple[str, float, float]]]:
    """Main-thread ms per kind inside [t0, t1] (trace microseconds), and the requests (url, start, end) in ms from t0."""
    renderer = next(e["pid"] for e in events if e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain")
    main_tid = next(e["tid"] for e in events if e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain" and e["pid"] == renderer)
    kinds: dict[str, float] = defaultdict(float)
    depth_ok: list[tuple[float, float]] = []
    for e in sorted(events, key=lambda e: e.get("ts", 0)):
        if e.get("ph") != "X" or e.get("pid") != renderer or e.get("tid") != main_tid or e["name"] not in MAIN:
            continue
        start, end = e["ts"], e["ts"] + e.get("dur", 0)
        if end < t0 or start > t1:
            continue
        if any(s <= start and end <= f for s, f in depth_ok) and e["name"] in ("FunctionCall", "RunMicrotasks", "EvaluateScript", "v8.evaluateModule"):
            continue  # nested in an outer JS span already counted
        label = MAIN[e["name"]]
        data = e.get("args", {}).get("data", {}) or {}
        url = data.get("url") or (e.get("args", {}).get("fileName")) or ""
        if label in ("script compile", "module compile") and data.get("consumedCacheSize"):
            label += " (from the code cache)"  # V8 read the script's code cache instead of parsing it
        if label.startswith(("script compile", "script evaluate", "module compile", "module evaluate", "code cache")) and url:
            label += " " + url.rsplit("/", 1)[-1]
        kinds[label] += (min(end, t1) - max(start, t0)) / 1000
        if e["name"] in ("FunctionCall", "RunMicrotasks", "EvaluateScript", "v8.evaluateModule"):
            depth_ok.append((start, end))
    sent: dict[str, tuple[str, float]] = {}
    requests = []
    for e in sorted(events, key=lambda e: e.get("ts", 0)):
        data = (e.get("args", {}) or {}).get("data", {}) or {}
        if e.get("name") == "ResourceSendRequest":
            sent[data["requestId"]] = (data["url"], e["ts"])
        elif e.get("name") == "ResourceFinish" and data.get("requestId") in sent:
            url, start = sent.pop(data["requestId"])
            requests.append((url.rsplit("/", 1)[-1] or "/", (start - t0) / 1000, (e["ts"] - t0) / 1000))
    return kinds, requests


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-profile", action="store_true", help="no CPU profile: the main thread's timeline undisturbed by sampling")
    ap.add_argument("--out", type=Path, default=None, help="write the last load's trace (.json) and CPU profile (.cpuprofile) here")
    ap.add_argument("--minified", action="store_true", help="trace the minified build as shipped (implies --no-profile: no module names to map samples to)")
    ap.add_argument("--chromium-arg", action="append", default=[], help="one more Chromium switch (repeatable), e.g. --v8-cache-options=none")
    ap.add_argument("--build-arg", action="append", default=[], help="with --minified: one more argument to tools/build_browser.js, e.g. --compile-hints")
    ap.add_argument("--hosting", default=None, help="host the site as browser_bench.py's hosting of this name (default: all no-cache)")
    a = ap.parse_args()
    if a.minified:
        a.no_profile = True
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="strata-browser-trace-"))
    built: BrowserBuild
    if a.minified and a.build_arg:
        subprocess.run(["node", "tools/build_browser.js", str(tmp), *a.build_arg], cwd=EDGE_WORKER, check=True, capture_output=True, timeout=120)
        built = {"module": tmp / "strata.mjs", "script": tmp / "strata.js", "parts": {p.stem.removeprefix("strata-"): p for p in sorted(tmp.glob("strata-*.mjs"))}}
    else:
        built = build_browser(tmp) if a.minified else unminified(tmp)
    sources = {p.name: module_lines(p.read_text()) for p in [built["script"], *built["parts"].values()]}
    site = trailblazer_site(built)
    hosting = next((h for h in HOSTING if h[0] == a.hosting), None) if a.hosting else None
    if a.hosting and hosting is None:
        raise SystemExit(f"no hosting {a.hosting!r}: one of {[h[0] for h in HOSTING]}")
    if hosting is not None:
        name, script_cache, bundle_cache, mode = hosting
        for path in ["/strata.js", *("/" + part.name for part in built["parts"].values())]:
            site.cache_controls[path] = script_cache
        site.cache_controls["/trailblazer.strata"] = bundle_cache
        tag_pages(site, f' data-bundle-cache="{mode}"' if mode else "", preload=name in PRELOADED, sw=SW.get(name))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    loads: dict[str, list[dict[str, Any]]] = {"first": [], "cached": [], "third": []}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=ARGS + a.chromium_arg)
        for _ in range(a.runs):
            ctx = b.new_context(base_url=site.url)
            page = settled_page(ctx)
            cdp = ctx.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 50})
            for kind in loads:
                b.start_tracing(page=page, categories=CATEGORIES)
                if not a.no_profile:
                    cdp.send("Profiler.start")
                page.goto("/")
                t0, t1 = page.evaluate(WAIT)
                if kind == "first" and hosting is not None and hosting[0] in SW:
                    page.evaluate(SW_READY)  # (outside the window: the worker installed, the scripts cached)
                profile: dict[str, Any] = {"nodes": [], "samples": [], "timeDeltas": [], "startTime": 0} if a.no_profile else cdp.send("Profiler.stop")["profile"]
                trace = json.loads(b.stop_tracing())
                events = trace["traceEvents"] if isinstance(trace, dict) else trace
                nav = page.evaluate("performance.timeOrigin")
                # trace timestamps are the monotonic clock in us; the page mark's is ms from timeOrigin:
                # the user-timing mark written at __t0 ties them
                mark = next((e for e in events if e.get("name") == "strata:t0"), None)
                base = mark["ts"] - t0 * 1000 if mark else None
                if base is None:
                    raise RuntimeError(f"no strata:t0 mark in the trace (timeOrigin {nav})")
                kinds, requests = main_thread(events, base + t0 * 1000, base + t1 * 1000)
                prof_t0 = profile["startTime"]
                # keep only samples inside the window: the profile's clock is the trace's
                times, samples, ts = [], [], prof_t0
                for s, d in zip(profile["samples"], profile["timeDeltas"], strict=True):
                    ts += d
                    if base + t0 * 1000 <= ts <= base + t1 * 1000:
                        samples.append(s)
                        times.append(d)
                windowed = {**profile, "samples": samples, "timeDeltas": times}
                marks = {e["name"]: (e["ts"] - base) / 1000 - t0 for e in events if str(e.get("name", "")).startswith("strata:") and e.get("ph") in ("R", "I", "n", "b", "e")}
                loads[kind].append({"total": t1 - t0, "main": kinds, "requests": requests, "js": self_times(windowed, sources), "marks": marks})
                if a.out is not None:
                    a.out.mkdir(parents=True, exist_ok=True)
                    (a.out / f"{kind}.trace.json").write_text(json.dumps(trace))
                    (a.out / f"{kind}.cpuprofile").write_text(json.dumps(profile))
            ctx.close()
        b.close()
    site.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    med = statistics.median
    for kind, runs in loads.items():
        print(f"{kind} load: script start -> filled slots {med(r['total'] for r in runs):.1f} ms (median of {len(runs)}, {'minified, traced' if a.minified else 'profiled, unminified'})")
        names = sorted({n for r in runs for n in r["marks"] if n != "strata:t0"}, key=lambda n: med(r["marks"].get(n, 0) for r in runs))
        print("  start()'s phases ended at (ms from the mark, median): " + ", ".join(f"{n.removeprefix('strata:')} {med(r['marks'].get(n, 0) for r in runs):.1f}" for n in names))
        print("  requests (ms from the mark; last run):")
        for url, start, end in runs[-1]["requests"]:
            print(f"    {url[:40]:40} {start:7.1f} -> {end:7.1f}")
        print("  main thread inside the window (ms, median):")
        keys = sorted({k for r in runs for k in r["main"]}, key=lambda k: -med(r["main"].get(k, 0) for r in runs))
        for k in keys:
            v = med(r["main"].get(k, 0) for r in runs)
            if v >= 0.05:
                print(f"    {k[:60]:60} {v:7.2f}")
        print("  self time per module (ms, median):")
        keys = sorted({k for r in runs for k in r["js"]}, key=lambda k: -med(r["js"].get(k, 0) for r in runs))
        for k in keys[:30]:
            v = med(r["js"].get(k, 0) for r in runs)
            if v >= 0.05:
                print(f"    {k[:60]:60} {v:7.2f}")


if __name__ == "__main__":
    main()
