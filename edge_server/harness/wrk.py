"""Load from wrk (Debian package ``wrk``) for the HTTP benchmarks of the server and the worker: one
bounded run of a Lua script against a URL, its report parsed; and the CPU time a process used, to
divide by the requests wrk completed."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path


def wrk(url: str, seconds: int, connections: int, script: Path, env: Mapping[str, str] | None = None) -> dict[str, float]:
    """One wrk run (one thread, ``connections`` connections, ``seconds`` long, ``script`` with
    ``env`` added to its environment): requests per second, requests completed, non-2xx/3xx
    responses, socket errors, and the 50th and 99th percentile latency in milliseconds."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, env=dict(os.environ, **(env or {})), timeout=seconds + 30).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if rps is None or total is None:
        raise RuntimeError(f"wrk printed no summary for {url} (is wrk installed and the server up?):\n{out[-2000:]}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        if m is None:
            raise RuntimeError(f"wrk printed no {p}th percentile for {url}:\n{out[-2000:]}")
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    return {"rps": float(rps.group(1)), "requests": int(total.group(1)), "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0, "p50_ms": pct("50"), "p99_ms": pct("99")}


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds the process has used so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick
