"""Page mode and /v1/decide in real workerd next to the Python server: requests per second and CPU
per request.

    python edge_worker/bench/workerd_bench.py [--seconds 10] [--connections 16] [--out benchmarks/results/workerd.json]

Both serve the TrailBlazer shop in page mode with the same signed bundle, cookie keys and visitor
mix (edge_worker/bench/pages.lua: four pages, half with a session cookie, 10% with Sec-GPC), driven
by wrk on 127.0.0.1:
  - workerd (from npm) runs the esbuild-bundled worker; its origin is a second worker in the same
    workerd process serving the pages from memory (the closest thing to `--pages`: no network hop,
    as when the CDN has the origin page cached); the bundle is fetched from it too;
  - the Python server is `strata serve --bundle ... --pages rulesets/trailblazer/site` (uvicorn,
    one worker, httptools, `--log-level warning`).
CPU per request is the server process's user + system time (from /proc) over the run divided by
the requests wrk completed: for workerd it includes the origin worker. Each run is bounded in time.

Strata's own CPU (issue #26): the same workerd process also runs the control worker
(edge_worker/bench/control.js) on a second socket, doing each route's I/O and none of Strata's
work (read the JSON body, parse the page URL, open and seal the AES-GCM session cookie with
WebCrypto, answer a decide-sized body with Set-Cookie; page mode: the origin page through
HTMLRewriter untouched). Each route and its control run alternately, --rounds times, in the same
process and the same minutes, so load from elsewhere on the machine falls on both; own CPU per
request = route − control, the median over the rounds' pairs. The machine's load average is
recorded beside the figures. Prints the tables and writes the results as JSON.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from edge_server.harness.ports import free_port  # noqa: E402
from edge_server.harness.server import RunningServer  # noqa: E402
from edge_server.harness.workerd import WORKERD, bundle_worker  # noqa: E402
from edge_server.harness.wrk import cpu_seconds  # noqa: E402
from edge_server.harness.wrk import wrk as run_wrk  # noqa: E402

SITE = ROOT / "rulesets" / "trailblazer" / "site"
CONTROL_JS = Path(__file__).with_name("control.js")
#: The control's decide body: about the size of the edge worker's answers in decide.lua's mix
#: (checked against them at warm-up; update when it drifts more than 25% off).
CONTROL_BODY_BYTES = 1000
#: route -> its wrk script.
SCRIPTS = {"page": "pages.lua", "decide": "decide.lua", "events": "events.lua", "healthz": "healthz.lua"}
COOKIE_KEYS = "k1:" + base64.b64encode(b"\x05" * 32).decode()
ORIGIN_JS = """
import site from "site.json";
import bundle from "bundle.data";
export default {
  fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/trailblazer.bundle") return new Response(bundle, { headers: { etag: '"1"' } });
    const page = site[path === "/" ? "/index.html" : path];
    if (page === undefined) return new Response("not found", { status: 404 });
    return new Response(page[1], { headers: { "content-type": page[0] } });
  },
};
"""


def wrk(url: str, seconds: int, connections: int, cookie: str, script: str) -> dict[str, float]:
    """A wrk run of edge_worker/bench/``script`` with the visitor's ``cookie``; ``errors``: non-2xx/3xx plus socket errors."""
    r = run_wrk(url, seconds, connections, Path(__file__).with_name(script), {"COOKIE": cookie})
    return {"rps": r["rps"], "requests": r["requests"], "errors": r["non_2xx"] + r["socket_errors"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"]}


def warm(url: str, decide_sizes: list[int] | None = None) -> str:
    """A session cookie minted by a first page view, after a warm-up of every route (caches, JIT);
    ``decide_sizes`` receives the sizes of decide's answers."""
    with httpx.Client() as c:
        r = c.get(url + "/")
        assert r.status_code == 200 and "data-strata-reason" in r.text, r.text[:300]
        cookie = r.headers["set-cookie"].split(";")[0]
        for i in range(50):
            c.get(url + "/tents.html")
            d = c.post(url + "/v1/decide", json={"page": {"url": "/tents.html" if i % 2 else "/"}}, headers={"cookie": cookie})
            assert d.status_code == 200, d.text[:300]
            if decide_sizes is not None:
                decide_sizes.append(len(d.content))
            e = c.post(url + "/v1/events", json={"goal": "add_to_cart", "value": 12.5}, headers={"cookie": cookie})
            assert e.status_code == 202, e.text[:300]
    return cookie


def one(url: str, pid: int, seconds: int, connections: int, cookie: str, mode: str) -> dict[str, float]:
    """One wrk run of ``mode``'s script with its CPU per request (the process's user + system)."""
    before = sum(cpu_seconds(pid))
    result = wrk(url + "/", seconds, connections, cookie, SCRIPTS[mode])
    result["cpu_us_per_request"] = (sum(cpu_seconds(pid)) - before) / max(1, result["requests"]) * 1e6
    return result


def measure(url: str, pid: int, seconds: int, connections: int) -> dict[str, dict[str, float]]:
    """Page mode, /v1/decide, /v1/events and the floor, /healthz, against one running server."""
    cookie = warm(url)
    return {mode: one(url, pid, seconds, connections, cookie, mode) for mode in SCRIPTS}


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in ("rps", "cpu_us_per_request", "p50_ms", "p99_ms")} | {
        "requests": sum(r["requests"] for r in runs), "errors": sum(r["errors"] for r in runs)}


def measure_split(url: str, control: str, pid: int, seconds: int, connections: int, rounds: int) -> dict[str, dict[str, float]]:
    """Each route beside its control (the same process): ``rounds`` alternating pairs of runs; per
    route the medians of route and control and own = the median of the pairs' differences."""
    sizes: list[int] = []
    cookie = warm(url, sizes)
    mean = sum(sizes) / len(sizes)
    if not 0.75 * mean <= CONTROL_BODY_BYTES <= 1.25 * mean:
        raise SystemExit(f"workerd_bench.py: decide answers average {mean:.0f} bytes, the control's {CONTROL_BODY_BYTES}: set CONTROL_BODY_BYTES near {mean:.0f}")
    out: dict[str, dict[str, float]] = {}
    for mode in ("decide", "page", "events"):
        pairs = []
        for i in range(rounds):
            if i % 2 == 0:  # alternate which runs first, so a trend in the machine's load falls on both alike
                c = one(control, pid, seconds, connections, cookie, mode)
                r = one(url, pid, seconds, connections, cookie, mode)
            else:
                r = one(url, pid, seconds, connections, cookie, mode)
                c = one(control, pid, seconds, connections, cookie, mode)
            pairs.append((r, c))
        route, ctl = median_run([p[0] for p in pairs]), median_run([p[1] for p in pairs])
        own = [p[0]["cpu_us_per_request"] - p[1]["cpu_us_per_request"] for p in pairs]
        out[mode] = {**route, "control": ctl, "own_cpu_us": statistics.median(own), "own_cpu_us_runs": own}
    out["healthz"] = one(url, pid, seconds, connections, cookie, "healthz")
    return out


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes), recorded beside every figure."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@contextlib.contextmanager
def workerd(tmp: Path, bundle: bytes, pub: str, minify: bool = True, extra: tuple[str, ...] = ()) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """workerd serving the edge worker (its origin a second worker in the same process) and the
    control worker on a second socket: yields (process, worker URL, control URL) once ready.
    ``minify`` False keeps the worker's names (for a profile); ``extra``: more workerd arguments."""
    worker = bundle_worker(tmp / "worker.js", minify)
    site = {}
    for f in SITE.rglob("*"):
        if f.is_file():
            ctype = "text/html; charset=utf-8" if f.suffix == ".html" else "text/css" if f.suffix == ".css" else \
                "application/javascript" if f.suffix == ".js" else "image/svg+xml" if f.suffix == ".svg" else "application/octet-stream"
            site["/" + f.relative_to(SITE).as_posix()] = [ctype, f.read_text(errors="replace")]
    (tmp / "site.json").write_text(json.dumps(site))
    (tmp / "bundle.data").write_bytes(bundle)
    (tmp / "origin.js").write_text(ORIGIN_JS)
    bundle_worker(tmp / "control.js", minify, entry=CONTROL_JS.relative_to(ROOT / "edge_worker").as_posix())
    vary = json.loads((ROOT / "edge_server" / "edge_contract.json").read_text())["http"]["VARY"]["value"]
    port, control_port = free_port(), free_port()
    bindings = {"STRATA_BUNDLE": "http://origin/trailblazer.bundle", "STRATA_PUB": pub, "STRATA_ORIGIN": "http://origin",
                "STRATA_COOKIE_KEYS": COOKIE_KEYS, "STRATA_COOKIE_SECURE": "0"}
    text = ",\n    ".join(f"(name = {json.dumps(k)}, text = {json.dumps(v)})" for k, v in bindings.items())
    (tmp / "bench.capnp").write_text(f"""using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "strata", worker = .strata), (name = "origin", worker = .origin), (name = "control", worker = .control)],
  sockets = [(name = "http", address = "127.0.0.1:{port}", http = (), service = "strata"),
             (name = "control", address = "127.0.0.1:{control_port}", http = (), service = "control")],
);
const control :Workerd.Worker = (
  modules = [(name = "control.js", esModule = embed "control.js")],
  compatibilityDate = "2024-09-23",
  globalOutbound = "origin",
  bindings = [(name = "STRATA_COOKIE_KEYS", text = {json.dumps(COOKIE_KEYS)}), (name = "CONTROL_BODY_BYTES", text = "{CONTROL_BODY_BYTES}"),
              (name = "CONTROL_VARY", text = {json.dumps(vary)})],
);
const strata :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "{worker.name}")],
  compatibilityDate = "2024-09-23",
  globalOutbound = "origin",
  bindings = [
    {text}
  ],
);
const origin :Workerd.Worker = (
  modules = [(name = "origin.js", esModule = embed "origin.js"), (name = "site.json", json = embed "site.json"),
             (name = "bundle.data", data = embed "bundle.data")],
  compatibilityDate = "2024-09-23",
);
""")
    proc = subprocess.Popen([str(WORKERD), "serve", str(tmp / "bench.capnp"), *extra], cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("workerd did not become ready")
            time.sleep(0.1)
        yield proc, url, f"http://127.0.0.1:{control_port}"
    finally:
        proc.terminate()
        proc.wait(10)


def workerd_run(tmp: Path, bundle: bytes, pub: str, seconds: int, connections: int, rounds: int) -> dict[str, dict[str, float]]:
    with workerd(tmp, bundle, pub) as (proc, url, control):
        return measure_split(url, control, proc.pid, seconds, connections, rounds)


def python_run(tmp: Path, bundle: bytes, pub_file: Path, seconds: int, connections: int) -> dict[str, dict[str, float]]:
    (tmp / "py.bundle").write_bytes(bundle)
    s = RunningServer(["--bundle", str(tmp / "py.bundle"), "--pub", str(pub_file), "--pages", str(SITE), "--insecure-cookie",
                       "--log-level", "warning"], env={"STRATA_COOKIE_KEYS": COOKIE_KEYS})
    try:
        return measure(s.url, s.proc.pid, seconds, connections)
    finally:
        s.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3, help="alternating route/control pairs per route (workerd)")
    ap.add_argument("--no-python", action="store_true", help="workerd only (the Python server's split: benchmarks/http_bench.py --control)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "workerd.json"))
    a = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    from compiler.keys import keygen, load_private_key
    from compiler.pipeline import Options, run

    tmp = Path(tempfile.mkdtemp(prefix="strata-workerd-bench-"))
    priv, pub, _ = keygen(tmp / "k")
    ctx = run(ROOT / "rulesets" / "trailblazer.yaml", Options(key=load_private_key(priv), codec="gzip"))
    assert ctx.bundle is not None
    load_before = load()
    split = workerd_run(tmp, ctx.bundle, pub.read_text(), a.seconds, a.connections, a.rounds)
    load_after = load()
    python = None if a.no_python else python_run(tmp, ctx.bundle, pub, a.seconds, a.connections)
    worker_bytes = (tmp / "worker.js").stat().st_size
    print(f"wrk -c{a.connections} {a.seconds}s per run, edge_worker/bench/*.lua; worker as deployed (esbuild, minified): {worker_bytes:,} bytes")
    print(f"load average (1 5 15 min) before / after the workerd runs: {load_before} / {load_after}\n")
    print(f"workerd: each route beside its control (edge_worker/bench/control.js) in the same process, {a.rounds} alternating pairs, medians\n")
    print("| route | req/s | CPU per request | control: req/s, CPU per request | own CPU (route − control) | errors |\n|---|---|---|---|---|---|")
    names = {"page": "page mode (GET pages)", "decide": "POST /v1/decide", "events": "POST /v1/events", "healthz": "GET /healthz (the floor)"}
    for mode in ("decide", "page", "events"):
        r = split[mode]
        c = r["control"]
        runs = ", ".join(f"{x:.0f}" for x in r["own_cpu_us_runs"])
        print(f"| {names[mode]} | {r['rps']:,.0f} | {r['cpu_us_per_request']:,.0f} µs | {c['rps']:,.0f}, {c['cpu_us_per_request']:,.0f} µs | "
              f"**{r['own_cpu_us']:,.0f} µs** ({runs}) | {r['errors'] + c['errors']} |")
    h = split["healthz"]
    print(f"| {names['healthz']} | {h['rps']:,.0f} | {h['cpu_us_per_request']:,.0f} µs | | | {h['errors']} |")
    if python is not None:
        print("\nPython strata serve --pages (no control here: benchmarks/http_bench.py --control)\n")
        print("| route | req/s | CPU per request | p50 / p99 | errors |\n|---|---|---|---|---|")
        for mode, r in python.items():
            print(f"| {names[mode]} | {r['rps']:,.0f} | {r['cpu_us_per_request']:,.0f} µs | {r['p50_ms']:.2f} / {r['p99_ms']:.2f} ms | {r['errors']} |")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"seconds": a.seconds, "connections": a.connections, "rounds": a.rounds, "worker_bytes": worker_bytes,
                               "load_before": load_before, "load_after": load_after,
                               "results": {"workerd (edge worker)": split, "Python strata serve --pages": python}}, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
