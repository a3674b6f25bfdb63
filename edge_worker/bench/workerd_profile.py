"""Where a request's CPU goes in workerd: a V8 CPU profile of the edge worker under wrk load.

    python edge_worker/bench/workerd_profile.py [--route decide|page|events] [--seconds 5] [--out-dir benchmarks/results]

Starts workerd as workerd_bench.py does (the edge worker, its origin and the control worker in one
process) with the worker bundled unminified (so the profile names functions) and the V8 inspector
on (`--inspector-addr`), drives the route's wrk mix (edge_worker/bench/*.lua) at the edge worker and
then at the control, recording a CPU profile of each isolate through the inspector's Profiler
domain (sampling every 100 µs). Writes both .cpuprofile files (Chrome DevTools opens them) and
prints each profile's self time per request, grouped by the worker's source module (esbuild's
`// worker/x.js` markers in the unminified bundle) and by platform function (Request, Headers,
crypto, promise turns, GC), in µs per request: what Strata's own code costs, and what the platform
costs around it.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import json
import re
import sys
import tempfile
import threading
from pathlib import Path

import httpx
import websocket  # websocket-client

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from workerd_bench import SCRIPTS, load, warm, wrk  # noqa: E402
from workerd_bench import workerd as start_workerd  # noqa: E402

from edge_server.harness.ports import free_port  # noqa: E402


class Inspector:
    """One isolate's V8 inspector session (Chrome DevTools protocol over a WebSocket)."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=60)
        self.n = 0

    def call(self, method: str, **params: object) -> dict:
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError(f"inspector {method}: {msg['error']}")
                return msg.get("result", {})


def modules_of(bundle: str) -> list[tuple[int, str]]:
    """(first line, module) of each module in an unminified esbuild bundle (its `// path` markers), 0-based lines."""
    out = [(0, "(bundle)")]
    for i, line in enumerate(bundle.splitlines()):
        m = re.fullmatch(r"// ((?:node_modules/|worker/|runtime/|worker\.js).*)", line)
        if m:
            name = m.group(1)
            out.append((i, re.sub(r"^node_modules/(@[^/]+/[^/]+|[^/]+)/.*", r"\1", name)))
    return out


def breakdown(profile: dict, modules: list[tuple[int, str]] | None, requests: int) -> list[tuple[str, float]]:
    """Self time per group in µs per request, largest first: a function of the worker's bundle is
    grouped by its module, anything else (platform built-ins, GC, idle) by its own name."""
    starts = [m[0] for m in modules] if modules else []
    node_group = {}
    for node in profile["nodes"]:
        cf = node["callFrame"]
        if modules and cf["url"].endswith("worker.js") and cf["lineNumber"] >= 0:
            group = modules[bisect.bisect_right(starts, cf["lineNumber"]) - 1][1]
        elif cf["url"] == "" or cf["url"].startswith("node:") or "cloudflare" in cf["url"] or cf["url"].startswith("internal:"):
            group = f"platform: {cf['functionName'] or '(anonymous)'}"
        else:
            group = f"{cf['url'].rsplit('/', 1)[-1]}: {cf['functionName'] or '(anonymous)'}"
        node_group[node["id"]] = group
    total = collections.Counter()
    deltas = profile.get("timeDeltas", [])
    for sample, dt in zip(profile.get("samples", []), deltas[1:] + [0]):
        total[node_group[sample]] += dt
    return [(g, us / max(1, requests)) for g, us in total.most_common()]


#: The concerns of issue #26's breakdown: a group of breakdown() -> the concern it belongs to.
CONCERNS = [
    ("the decision (runtime/, SHA-256 bucketing)", lambda g: g.startswith("runtime/") and g != "runtime/msgpack.js"),
    ("session cookie state (session.js, msgpack, base64url)",
     lambda g: g in ("worker/session.js", "worker/cookie_msgpack.js", "runtime/msgpack.js", "worker/base64url.js")),
    ("request signals (signals.js, device.js, caches)", lambda g: g in ("worker/signals.js", "worker/device.js", "worker/bounded_cache.js")),
    ("counting (model_counts.js, measure.js, metrics.js, visit_ledger.js)",
     lambda g: g in ("worker/model_counts.js", "worker/measure.js", "worker/metrics.js", "worker/visit_ledger.js")),
    ("body and response JSON (decide.js, body.js, json_syntax.js, errors.js)",
     lambda g: g in ("worker/decide.js", "worker/body.js", "worker/json_syntax.js", "worker/errors.js", "worker/bounded_read.js")),
    ("routing, consent, bundle (server.js, worker.js, bundles.js, events.js, pages.js, rewrite.js)",
     lambda g: g.startswith("worker/") or g == "worker.js"),
    ("the control's own code (control.js)", lambda g: g.startswith("control.js")),
    ("WebCrypto (AES-GCM, random)", lambda g: g in ("platform: encrypt", "platform: decrypt", "platform: getRandomValues", "platform: digest")),
    ("platform objects (Request, Headers, Response, URL, body reads, text codecs)", lambda g: g.startswith("platform: ") and g not in (
        "platform: (garbage collector)", "platform: (program)", "platform: (anonymous)", "platform: (idle)", "platform: (root)")),
    ("garbage collector", lambda g: g == "platform: (garbage collector)"),
    ("workerd and V8 outside JS functions (event loop, HTTP, promise jobs)", lambda g: g in ("platform: (program)", "platform: (anonymous)", "platform: (root)")),
]


def by_concern(rows: list[tuple[str, float]]) -> dict[str, float]:
    """breakdown()'s rows summed per concern (idle left out)."""
    out = dict.fromkeys([c for c, _ in CONCERNS], 0.0)
    for g, us in rows:
        for c, match in CONCERNS:
            if match(g):
                out[c] += us
                break
    return out


def profile_route(ws_url: str, url: str, pid: int, seconds: int, connections: int, cookie: str, mode: str) -> tuple[dict, int]:
    """A CPU profile of one isolate while wrk drives ``mode``'s mix at ``url``; returns it and the requests completed."""
    ins = Inspector(ws_url)
    ins.call("Profiler.enable")
    ins.call("Profiler.setSamplingInterval", interval=100)
    ins.call("Profiler.start")
    result: dict = {}
    t = threading.Thread(target=lambda: result.update(wrk(url + "/", seconds, connections, cookie, SCRIPTS[mode])))
    t.start()
    t.join()
    prof = ins.call("Profiler.stop")["profile"]
    ins.ws.close()
    return prof, int(result["requests"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--route", choices=["decide", "page", "events"], default="decide")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    a = ap.parse_args()
    from compiler.keys import keygen, load_private_key
    from compiler.pipeline import Options, run

    tmp = Path(tempfile.mkdtemp(prefix="strata-workerd-profile-"))
    priv, pub, _ = keygen(tmp / "k")
    ctx = run(ROOT / "rulesets" / "trailblazer.yaml", Options(key=load_private_key(priv), codec="gzip"))
    assert ctx.bundle is not None
    port = free_port()
    out_dir = Path(a.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with start_workerd(tmp, ctx.bundle, pub.read_text(), minify=False, extra=(f"--inspector-addr=127.0.0.1:{port}",)) as (proc, url, control):
        targets = {t["id"]: t["webSocketDebuggerUrl"] for t in httpx.get(f"http://127.0.0.1:{port}/json/list").json()}
        cookie = warm(url)
        modules = modules_of((tmp / "worker.js").read_text())
        print(f"load average before: {load()}; V8 CPU profile, sampling every 100 µs, wrk -c{a.connections} {a.seconds}s, {SCRIPTS[a.route]}\n")
        concerns = {}
        for name, ws, target, mods in (("strata", targets["strata"], url, modules), ("control", targets["control"], control, None)):
            prof, n = profile_route(ws, target, proc.pid, a.seconds, a.connections, cookie, a.route)
            path = out_dir / f"workerd-{a.route}-{name}.cpuprofile"
            path.write_text(json.dumps(prof))
            rows = breakdown(prof, mods, n)
            concerns[name] = by_concern(rows)
            busy = sum(us for g, us in rows if g not in ("platform: (idle)",))
            print(f"{name}: {n:,} requests; isolate busy {busy:.1f} µs per request (self time, excluding idle); {path.name}")
            print("| where | µs per request |\n|---|---|")
            for g, us in rows[: a.top]:
                print(f"| {g} | {us:.1f} |")
            print()
        print("By concern, µs per request (profiled: the sampling itself slows the isolate):\n")
        print("| concern | edge worker | control | difference |\n|---|---|---|---|")
        for c, _ in CONCERNS:
            st, ct = concerns["strata"][c], concerns["control"][c]
            print(f"| {c} | {st:.1f} | {ct:.1f} | {st - ct:+.1f} |")
        st, ct = sum(concerns["strata"].values()), sum(concerns["control"].values())
        print(f"| **busy, in all** | **{st:.1f}** | **{ct:.1f}** | **{st - ct:+.1f}** |\n")
        print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
