"""HTTP benchmark: /v1/decide against a bare Starlette route on the same server configuration.

    python benchmarks/http_bench.py [--seconds 10] [--http httptools|h11] [--log-level info|warning]
                                    [--control [--rounds 5]] [--out benchmarks/results/http.json]

Starts the server as `strata serve` runs it (uvicorn, 1 worker, 127.0.0.1, the trailblazer bundle,
`--log-level info` by default: one access line per request, written to a log file) with one more
route, a bare Starlette route returning a constant JSON body, on the same router behind the same
middleware. Then with wrk (Debian package `wrk`), every request from benchmarks/http/post.lua's
visitor mix (first visits, returning visitors carrying a real session cookie, 20% with Sec-GPC,
four pages including a cart with client signals):
  1. saturation: 32 connections for --seconds against the bare route, then /v1/decide, then OFREP's
     single-flag route (/ofrep/v1/evaluate/flags/hero, benchmarks/http/ofrep.lua: the same mix);
  2. latency at 70% of /v1/decide's saturation rate (paced connections): p50/p99, errors.
With --control, also a control route doing a decide request's I/O and none of Strata's work
(bench_app.py's /bench/shape: reads the body, parses the page URL, opens and seals the AES-GCM
session cookie, answers decide's headers, the Set-Cookie and a decide-sized body), and the server's
CPU time per request (user and system, from /proc) on each route; control and /v1/decide run
alternately, --rounds rounds in the same process and minutes, and Strata's own CPU per request is
the median of the rounds' differences (decide − control), the machine's load average beside it.
The control runs twice a round: through Starlette's router (/bench/shape) and dispatched as
/v1/decide is, without it (/bench/shape-hot, edge_server/hot_routes.py); both differences print.
Targets on the 2-core reference machine: decide throughput >= 70% of the bare route's, OFREP's
single flag >= 90% of decide's,
p99 < 10 ms at 70% of saturation, zero errors. Every run is bounded in time.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_server.harness.ports import free_port  # noqa: E402
from edge_server.harness.wrk import cpu_seconds  # noqa: E402
from edge_server.harness.wrk import wrk as run_wrk  # noqa: E402


def wrk(url: str, seconds: int, connections: int, delay_ms: float = 0, cookies: Sequence[str] = (), script: str = "post.lua") -> dict[str, float]:
    """A wrk run of benchmarks/http/``script``, pausing ``delay_ms`` between a connection's requests,
    sending ``cookies`` in turn."""
    return run_wrk(url, seconds, connections, ROOT / "benchmarks" / "http" / script, {"DELAY_MS": f"{delay_ms:.3f}", "COOKIES": "|".join(cookies)})


def start_bench_server(http: str, prefix: str, log_level: str = "info") -> tuple[subprocess.Popen[bytes], str]:
    """The benchmarked server (benchmarks/http/bench_app.py: the trailblazer bundle, a fresh key,
    `strata serve`'s logging at ``log_level``, written to server.log in its temporary directory)
    under uvicorn with one worker; returns once /readyz answers."""
    from compiler.keys import keygen, load_private_key
    from compiler.pipeline import Options, run

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    priv, pub, _ = keygen(tmp / "k")
    bundle = tmp / "trailblazer.bundle"
    bundle.write_bytes(run(ROOT / "rulesets" / "trailblazer.yaml", Options(key=load_private_key(priv))).bundle)
    port = free_port()
    env = dict(os.environ, BENCH_BUNDLE=str(bundle), BENCH_PUB=str(pub), BENCH_COOKIE_KEY=base64.b64encode(os.urandom(32)).decode(),
               BENCH_LOG_LEVEL=log_level, PYTHONPATH=f"{ROOT}:{ROOT / 'benchmarks' / 'http'}")
    loop = "uvloop" if http == "httptools" else "asyncio"
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench_app:app", "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                               "--log-level", "warning", "--http", http, "--loop", loop], env=env, stdout=subprocess.DEVNULL,
                              stderr=(tmp / "server.log").open("wb"))
    server.log_path = tmp / "server.log"  # type: ignore[attr-defined]
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while subprocess.run(["curl", "-sf", base + "/readyz"], capture_output=True).returncode != 0:
        if time.monotonic() > deadline or server.poll() is not None:
            server.terminate()
            raise SystemExit("server did not become ready")
        time.sleep(0.2)
    return server, base


def wrk_cpu(pid: int, url: str, seconds: int, connections: int, **kw: Any) -> dict[str, float]:
    """:func:`wrk`, plus the server's CPU time per request (``user_us``, ``sys_us``)."""
    u0, s0 = cpu_seconds(pid)
    r = wrk(url, seconds, connections, **kw)
    u1, s1 = cpu_seconds(pid)
    n = max(1, r["requests"])
    return {**r, "user_us": (u1 - u0) / n * 1e6, "sys_us": (s1 - s0) / n * 1e6}


def median_run(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    """The median of each figure over ``runs`` of one route (requests and errors: their sums)."""
    out = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms", "user_us", "sys_us")}
    return {**out, **{k: sum(r[k] for r in runs) for k in ("requests", "non_2xx", "socket_errors")}}


def stop_bench_server(server: subprocess.Popen[bytes]) -> int:
    """Stop the server, remove its temporary directory; returns how many access lines it wrote."""
    server.terminate()
    server.wait(10)
    log = server.log_path  # type: ignore[attr-defined]
    with log.open("rb") as f:
        lines = sum(1 for line in f if b"strata.access" in line)
    shutil.rmtree(log.parent, ignore_errors=True)
    return lines


#: wrk waits whole milliseconds between a connection's requests (it truncates fractions), so
#: paced runs use a fixed pause and as many connections as the target rate needs.
PAUSE_MS = 5


def paced_connections(base: str, target_rps: float, cookies: Sequence[str]) -> int:
    """Connections that, each pausing PAUSE_MS between a response and its next request, send about
    ``target_rps`` to /v1/decide, given the latency a short paced probe measures."""
    probe = wrk(base + "/v1/decide", 2, 16, delay_ms=PAUSE_MS, cookies=cookies)
    cycle_ms = max(float(PAUSE_MS), 16 / probe["rps"] * 1000)
    return max(1, round(target_rps * cycle_ms / 1000))


def mint_cookies(base: str, n: int = 16) -> list[str]:
    """Session cookies of ``n`` returning visitors, from real first visits to /v1/decide."""
    import urllib.request

    out = []
    for i in range(n):
        body = json.dumps({"page": {"url": "/tents.html" if i % 2 else "/", "category": "tents" if i % 2 else ""}}).encode()
        req = urllib.request.Request(base + "/v1/decide", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            out.append(r.headers["set-cookie"].split(";")[0])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--http", choices=["h11", "httptools"], default="httptools")
    ap.add_argument("--log-level", choices=["info", "warning"], default="info",
                    help="the server's log level as in strata serve: info (default) writes one access line per request")
    ap.add_argument("--control", action="store_true",
                    help="also measure a control route doing a decide request's I/O without its work (bench_app.py's /bench/shape)")
    ap.add_argument("--rounds", type=int, default=5, help="with --control: alternating control / decide pairs")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "http.json"))
    a = ap.parse_args()
    if shutil.which("wrk") is None:
        print("http_bench needs wrk: apt-get install wrk", file=sys.stderr)
        return 1
    server, base = start_bench_server(a.http, "strata-http-bench-", a.log_level)
    loop = "uvloop" if a.http == "httptools" else "asyncio"
    try:
        cookies = mint_cookies(base)
        wrk(base + "/v1/decide", 2, 16, cookies=cookies)  # warm-up
        load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
        bare = wrk_cpu(server.pid, base + "/bench/constant", a.seconds, 32, cookies=cookies)
        shape, shape_hot, split = None, None, None
        if a.control:
            pairs = []
            routes = [("control", "/bench/shape"), ("control_hot", "/bench/shape-hot"), ("decide", "/v1/decide")]
            for i in range(a.rounds):  # rotate the order, so a trend in the machine's load falls on all alike
                runs = routes[i % 3:] + routes[:i % 3]
                pair = {name: wrk_cpu(server.pid, base + path, a.seconds, 32, cookies=cookies) for name, path in runs}
                pairs.append(pair)
            cpu = lambda r: r["user_us"] + r["sys_us"]  # noqa: E731
            shape, shape_hot, decide = (median_run([p[k] for p in pairs]) for k in ("control", "control_hot", "decide"))
            own = [cpu(p["decide"]) - cpu(p["control"]) for p in pairs]
            own_hot = [cpu(p["decide"]) - cpu(p["control_hot"]) for p in pairs]
            split = {"own_cpu_us": statistics.median(own), "own_cpu_us_runs": own,
                     "own_cpu_us_over_hot_control": statistics.median(own_hot), "own_cpu_us_over_hot_control_runs": own_hot}
        else:
            decide = wrk_cpu(server.pid, base + "/v1/decide", a.seconds, 32, cookies=cookies)
        wrk(base + "/ofrep/v1/evaluate/flags/hero", 2, 16, cookies=cookies, script="ofrep.lua")  # warm-up
        ofrep = wrk_cpu(server.pid, base + "/ofrep/v1/evaluate/flags/hero", a.seconds, 32, cookies=cookies, script="ofrep.lua")
        conns = paced_connections(base, 0.7 * decide["rps"], cookies)
        paced = wrk(base + "/v1/decide", a.seconds, conns, delay_ms=PAUSE_MS, cookies=cookies)
        load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    finally:
        log_lines = stop_bench_server(server)
    ratio = decide["rps"] / bare["rps"]
    print(f"server: uvicorn 1 worker, --http {a.http} --loop {loop}, --log-level {a.log_level} ({log_lines} access lines written)")
    print(f"{'route':28} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}  {'server CPU per request (user + system)'}")
    rows = [("bare Starlette route", bare), ("control: decide's I/O only", shape), ("control, dispatched as decide", shape_hot),
            ("/v1/decide (saturated)", decide),
            ("OFREP one flag (saturated)", ofrep), ("/v1/decide at 70% (paced)", paced)]
    for name, r in rows:
        if r is not None:
            cpu = f"  {r['user_us']:.1f} + {r['sys_us']:.1f} = {r['user_us'] + r['sys_us']:.1f} us" if "user_us" in r else ""
            print(f"{name:28} {r['rps']:9.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['non_2xx'] + r['socket_errors']:7d}{cpu}")
    if split is not None:
        runs = ", ".join(f"{x:.1f}" for x in split["own_cpu_us_runs"])
        print(f"Strata's own CPU per /v1/decide request (decide − control, median of {a.rounds} rounds): "
              f"{split['own_cpu_us']:.1f} us ({runs}); load average before / after: {load_before} / {load_after}")
        runs = ", ".join(f"{x:.1f}" for x in split["own_cpu_us_over_hot_control_runs"])
        print(f"  over the control dispatched as /v1/decide is (without Starlette's router, edge_server/hot_routes.py): "
              f"{split['own_cpu_us_over_hot_control']:.1f} us ({runs})")
    print(f"decide / bare throughput: {ratio:.0%} (target >= 70%); p99 at {paced['rps']:.0f} req/s: {paced['p99_ms']:.2f} ms (target < 10 ms)")
    print(f"OFREP single flag / decide throughput: {ofrep['rps'] / decide['rps']:.0%} (target >= 90%)")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"http": a.http, "loop": loop, "log_level": a.log_level, "access_lines": log_lines, "seconds": a.seconds,
                               "load_before": load_before, "load_after": load_after, "split": split,
                               "bare": bare, "control": shape, "control_hot": shape_hot, "decide": decide, "paced_70": paced, "ratio": ratio,
                               "ofrep_flag": ofrep, "ofrep_ratio": ofrep["rps"] / decide["rps"]}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
