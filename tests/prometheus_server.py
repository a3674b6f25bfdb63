"""Real Prometheus for tests: Debian's ``prometheus`` (``.ci/run`` installs it) on a free 127.0.0.1
port with temporary storage, the remote-write receiver on (edge-worker isolates push to
``RunningPrometheus.write_url``) and ``targets`` (``strata serve`` replicas, ``host:port``) scraped
every ``scrape_interval`` (with ``bearer``: the replicas' stats token). Self-contained: one file, no fixture of its own, so it can move into a
shared harness."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx


def prometheus_binary() -> str | None:
    return os.environ.get("STRATA_PROMETHEUS") or shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)


def require_prometheus() -> str:
    """The binary, or: a failed test on CI (CI=true: Prometheus must run there), a skip elsewhere."""
    import pytest

    found = prometheus_binary()
    if found is None:
        msg = "Prometheus is needed for the fleet-counting tests: apt-get install prometheus (Debian), or set STRATA_PROMETHEUS"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningPrometheus:
    def __init__(self, targets: list[str] = (), scrape_interval: str = "1s", job: str = "strata-serve", directory: Path | None = None,  # type: ignore[assignment]
                 bearer: str | None = None):
        binary = require_prometheus()
        self.dir = Path(directory or tempfile.mkdtemp(prefix="strata-prometheus-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.write_url = self.url + "/api/v1/write"
        config = self.dir / "prometheus.yml"
        lines = ["global:", f"  scrape_interval: {scrape_interval}", f"  scrape_timeout: {scrape_interval}", "scrape_configs:"]
        if targets:
            lines += [f"  - job_name: {job}", "    static_configs:", "      - targets: [" + ", ".join(f"'{t}'" for t in targets) + "]"]
            if bearer:  # the replicas' STRATA_STATS_TOKEN protects /metrics
                lines += ["    authorization:", "      type: Bearer", f"      credentials: '{bearer}'"]
        else:
            lines[-1] = "scrape_configs: []"
        config.write_text("\n".join(lines) + "\n")
        self.log_path = self.dir / "prometheus.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={self.dir / 'data'}",
                                      f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-remote-write-receiver",
                                      "--storage.tsdb.retention.time=1d"], cwd=self.dir, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait()

    def _wait(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}: {self.logs()[-3000:]}")
            try:
                if httpx.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"prometheus not ready after {timeout}s: {self.logs()[-3000:]}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def query(self, promql: str) -> list[dict[str, Any]]:
        r = httpx.post(self.url + "/api/v1/query", data={"query": promql}, timeout=10)
        r.raise_for_status()
        return r.json()["data"]["result"]  # type: ignore[no-any-return]

    def value(self, promql: str) -> float:
        """The single value of a scalar-like query (0 when it has no result)."""
        rows = self.query(promql)
        return float(rows[0]["value"][1]) if rows else 0.0

    def wait_for(self, promql: str, expected: float, timeout: float = 30.0) -> float:
        """Poll until ``promql`` gives ``expected``; the last value otherwise (the caller asserts)."""
        deadline = time.monotonic() + timeout
        v = self.value(promql)
        while v != expected and time.monotonic() < deadline:
            time.sleep(0.2)
            v = self.value(promql)
        return v

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RunningPrometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
