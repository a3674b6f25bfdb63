"""Real Prometheus for tests and benchmarks: Debian's ``prometheus`` (``.ci/run`` installs it) on a
free 127.0.0.1 port with temporary storage, the remote-write receiver on (edge-worker isolates push
to ``RunningPrometheus.write_url``) and ``targets`` (``strata serve`` replicas, ``host:port``)
scraped every ``scrape_interval`` (with ``bearer``: the replicas' stats token). Without the binary:
:class:`PrometheusMissing`, saying how to install it (tests/prometheus_server.py's
``require_prometheus`` turns that into a skip, or a failure on CI)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from .process import RunningProcess


def prometheus_binary() -> str | None:
    return os.environ.get("STRATA_PROMETHEUS") or shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)


class PrometheusMissing(RuntimeError):
    """No Prometheus binary; the message says how to install one."""


MISSING = "Prometheus is needed for the fleet-counting tests: apt-get install prometheus (Debian), or set STRATA_PROMETHEUS"


class RunningPrometheus(RunningProcess):
    """Prometheus scraping ``targets``, its storage and log in ``directory`` (else a temporary one, removed at stop)."""

    what = "prometheus"
    grace = 15.0

    def __init__(self, targets: Sequence[str] = (), scrape_interval: str = "1s", job: str = "strata-serve", directory: Path | None = None,
                 bearer: str | None = None):
        binary = prometheus_binary()
        if binary is None:
            raise PrometheusMissing(MISSING)
        self.dir = Path(directory or tempfile.mkdtemp(prefix="strata-prometheus-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        super().__init__(self.dir / "prometheus.log")
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
        self.start([binary, f"--config.file={config}", f"--storage.tsdb.path={self.dir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-remote-write-receiver", "--storage.tsdb.retention.time=1d"], cwd=self.dir)
        self.wait_until("/-/ready", 60.0, status=200)

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
        super().stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RunningPrometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
