"""HTTP benchmark: /v1/decide against a bare Starlette route on the same server configuration.

    python benchmarks/http_bench.py [--seconds 10] [--http h11|httptools] [--out benchmarks/results/http.json]

Starts the server (uvicorn, 1 worker, 127.0.0.1, the trailblazer bundle, request logging on),
then with wrk (Debian package `wrk`):
  1. saturation: 32 connections for --seconds against the bare route, then /v1/decide
     (a mix of new visitors, newsletter arrivals, tent pages, cart abandoners, 20% with GPC);
  2. latency at 70% of /v1/decide's saturation rate (paced connections): p50/p99, errors.
Targets on the 2-core reference machine: decide throughput >= 70% of the bare route's,
p99 < 10 ms at 70% of saturation, zero errors. Every run is bounded in time.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wrk(url: str, seconds: int, connections: int, delay_ms: float = 0) -> dict[str, float]:
    env = dict(os.environ, DELAY_MS=f"{delay_ms:.3f}")
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(ROOT / "benchmarks" / "http" / "post.lua"), url],
                         capture_output=True, text=True, env=env, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    return {"rps": rps, "requests": total, "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0, "p50_ms": pct("50"), "p99_ms": pct("99")}


def start_bench_server(http: str, prefix: str) -> tuple[subprocess.Popen[bytes], str]:
    """The benchmarked server (benchmarks/http/bench_app.py: the trailblazer bundle, a fresh key,
    request logging on) under uvicorn with one worker; returns once /readyz answers."""
    from compiler.keys import keygen, load_private_key
    from compiler.pipeline import Options, run

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    priv, pub, _ = keygen(tmp / "k")
    bundle = tmp / "trailblazer.bundle"
    bundle.write_bytes(run(ROOT / "rulesets" / "trailblazer.yaml", Options(key=load_private_key(priv))).bundle)
    port = free_port()
    env = dict(os.environ, BENCH_BUNDLE=str(bundle), BENCH_PUB=str(pub), BENCH_COOKIE_KEY=base64.b64encode(os.urandom(32)).decode(),
               BENCH_LOG="1", PYTHONPATH=f"{ROOT}:{ROOT / 'benchmarks' / 'http'}")
    loop = "uvloop" if http == "httptools" else "asyncio"
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench_app:app", "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                               "--log-level", "warning", "--http", http, "--loop", loop], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while subprocess.run(["curl", "-sf", base + "/readyz"], capture_output=True).returncode != 0:
        if time.monotonic() > deadline or server.poll() is not None:
            server.terminate()
            raise SystemExit("server did not become ready")
        time.sleep(0.2)
    return server, base


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--http", choices=["h11", "httptools"], default="httptools")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "http.json"))
    a = ap.parse_args()
    if shutil.which("wrk") is None:
        print("http_bench needs wrk: apt-get install wrk", file=sys.stderr)
        return 1
    server, base = start_bench_server(a.http, "strata-http-bench-")
    loop = "uvloop" if a.http == "httptools" else "asyncio"
    try:
        wrk(base + "/v1/decide", 2, 16)  # warm-up
        bare = wrk(base + "/bench/constant", a.seconds, 32)
        decide = wrk(base + "/v1/decide", a.seconds, 32)
        target = 0.7 * decide["rps"]
        conns = 16
        paced = wrk(base + "/v1/decide", a.seconds, conns, delay_ms=conns / target * 1000)
    finally:
        server.terminate()
        server.wait(10)
    ratio = decide["rps"] / bare["rps"]
    print(f"server: uvicorn 1 worker, --http {a.http} --loop {loop}, request logging on")
    print(f"{'route':28} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}")
    for name, r in (("bare Starlette route", bare), ("/v1/decide (saturated)", decide), ("/v1/decide at 70% (paced)", paced)):
        print(f"{name:28} {r['rps']:9.0f} {r['p50_ms']:7.2f} {r['p99_ms']:7.2f} {r['non_2xx'] + r['socket_errors']:7d}")
    print(f"decide / bare throughput: {ratio:.0%} (target >= 70%); p99 at {paced['rps']:.0f} req/s: {paced['p99_ms']:.2f} ms (target < 10 ms)")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"http": a.http, "loop": loop, "seconds": a.seconds, "bare": bare, "decide": decide, "paced_70": paced,
                               "ratio": ratio}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
