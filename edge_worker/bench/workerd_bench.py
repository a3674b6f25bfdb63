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
Prints a table and writes the results as JSON.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
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


def measure(url: str, pid: int, seconds: int, connections: int) -> dict[str, dict[str, float]]:
    """Page mode (pages.lua), /v1/decide (decide.lua) and the floor, /healthz (healthz.lua), against one running server."""
    with httpx.Client() as c:
        r = c.get(url + "/")
        assert r.status_code == 200 and "data-strata-reason" in r.text, r.text[:300]
        cookie = r.headers["set-cookie"].split(";")[0]
        for _ in range(50):  # warm up: caches, JIT
            c.get(url + "/tents.html")
    out = {}
    for mode, script in (("page", "pages.lua"), ("decide", "decide.lua"), ("healthz", "healthz.lua")):
        before = sum(cpu_seconds(pid))  # user + system
        result = wrk(url + "/", seconds, connections, cookie, script)
        result["cpu_us_per_request"] = (sum(cpu_seconds(pid)) - before) / max(1, result["requests"]) * 1e6
        out[mode] = result
    return out


def workerd_run(tmp: Path, bundle: bytes, pub: str, seconds: int, connections: int) -> dict[str, dict[str, float]]:
    worker = bundle_worker(tmp / "worker.js")
    site = {}
    for f in SITE.rglob("*"):
        if f.is_file():
            ctype = "text/html; charset=utf-8" if f.suffix == ".html" else "text/css" if f.suffix == ".css" else \
                "application/javascript" if f.suffix == ".js" else "image/svg+xml" if f.suffix == ".svg" else "application/octet-stream"
            site["/" + f.relative_to(SITE).as_posix()] = [ctype, f.read_text(errors="replace")]
    (tmp / "site.json").write_text(json.dumps(site))
    (tmp / "bundle.data").write_bytes(bundle)
    (tmp / "origin.js").write_text(ORIGIN_JS)
    port = free_port()
    bindings = {"STRATA_BUNDLE": "http://origin/trailblazer.bundle", "STRATA_PUB": pub, "STRATA_ORIGIN": "http://origin",
                "STRATA_COOKIE_KEYS": COOKIE_KEYS, "STRATA_COOKIE_SECURE": "0"}
    text = ",\n    ".join(f"(name = {json.dumps(k)}, text = {json.dumps(v)})" for k, v in bindings.items())
    (tmp / "bench.capnp").write_text(f"""using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "strata", worker = .strata), (name = "origin", worker = .origin)],
  sockets = [(name = "http", address = "127.0.0.1:{port}", http = (), service = "strata")],
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
    proc = subprocess.Popen([str(WORKERD), "serve", str(tmp / "bench.capnp")], cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
        return measure(url, proc.pid, seconds, connections)
    finally:
        proc.terminate()
        proc.wait(10)


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
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
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
    rows = {"workerd (edge worker)": workerd_run(tmp, ctx.bundle, pub.read_text(), a.seconds, a.connections),
            "Python strata serve --pages": python_run(tmp, ctx.bundle, pub, a.seconds, a.connections)}
    worker_bytes = (tmp / "worker.js").stat().st_size
    print(f"wrk -c{a.connections} {a.seconds}s, edge_worker/bench/pages.lua and decide.lua; worker as deployed (esbuild, minified): {worker_bytes:,} bytes\n")
    print("| server | route | req/s | CPU per request | p50 / p99 | errors |\n|---|---|---|---|---|---|")
    for name, modes in rows.items():
        for mode, r in modes.items():
            route = {"page": "page mode (GET pages)", "decide": "POST /v1/decide", "healthz": "GET /healthz (the floor)"}[mode]
            print(f"| {name} | {route} | {r['rps']:,.0f} | {r['cpu_us_per_request']:,.0f} µs | {r['p50_ms']:.2f} / {r['p99_ms']:.2f} ms | {r['errors']} |")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"seconds": a.seconds, "connections": a.connections, "worker_bytes": worker_bytes, "results": rows}, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
