"""Soak: 10 minutes of /v1/decide at 70% of saturation; memory must stay flat, errors zero.

    python benchmarks/soak.py [--minutes 10] [--out benchmarks/results/soak.json]

Starts the server as benchmarks/http_bench.py does (uvicorn, 1 worker, httptools, trailblazer
bundle, `strata serve`'s logging at info), sends the same visitor mix (first visits, returning
visitors with real session cookies, 20% GPC, the cart with client signals), measures saturation
with wrk for 10 s, then paces wrk at 70% of it for --minutes (bounded), sampling the server's RSS
from /proc every 30 s. Prints RSS at start and end, throughput, p99 and errors; the server's
temporary directory (bundle, log) is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.http_bench import PAUSE_MS, mint_cookies, paced_connections, start_bench_server, stop_bench_server, wrk  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "soak.json"))
    a = ap.parse_args()
    server, base = start_bench_server("httptools", "strata-soak-")
    samples: list[tuple[float, int]] = []
    try:
        cookies = mint_cookies(base)
        wrk(base + "/v1/decide", 3, 16, cookies=cookies)  # warm-up
        sat = wrk(base + "/v1/decide", 10, 32, cookies=cookies)
        conns = paced_connections(base, 0.7 * sat["rps"], cookies)
        seconds = int(a.minutes * 60)
        t0 = time.monotonic()
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append((time.monotonic() - t0, rss_kib(server.pid)))
                stop.wait(30)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        soak = wrk(base + "/v1/decide", seconds, conns, delay_ms=PAUSE_MS, cookies=cookies)
        stop.set()
        th.join()
        samples.append((time.monotonic() - t0, rss_kib(server.pid)))
    finally:
        log_lines = stop_bench_server(server)
    start, end = samples[0][1], samples[-1][1]
    print(f"saturation {sat['rps']:.0f} req/s; soak {seconds}s paced at 70% -> {soak['rps']:.0f} req/s ({soak['rps'] / sat['rps']:.0%}), {soak['requests']:,} requests, "
          f"p50 {soak['p50_ms']:.2f} ms, p99 {soak['p99_ms']:.2f} ms, errors {soak['non_2xx'] + soak['socket_errors']}")
    print(f"server log: {log_lines:,} access lines written")
    print(f"RSS start {start / 1024:.1f} MiB, end {end / 1024:.1f} MiB (max {max(s for _, s in samples) / 1024:.1f} MiB)")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"saturation": sat, "soak": soak, "rss_kib": samples, "access_lines": log_lines}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
