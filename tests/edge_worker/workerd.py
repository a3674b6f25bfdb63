"""Run the edge worker in real workerd (from npm: edge_worker/node_modules/.bin/workerd) on a free
127.0.0.1 port, for tests and benchmarks: the worker is bundled with esbuild into one module, and a
workerd capnp config with the worker's bindings is written into a temporary directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.edge_server.server import free_port

ROOT = Path(__file__).resolve().parents[2]
EDGE_WORKER = ROOT / "edge_worker"
WORKERD = EDGE_WORKER / "node_modules" / ".bin" / "workerd"
ESBUILD = EDGE_WORKER / "node_modules" / ".bin" / "esbuild"
#: The deployable worker as esbuild bundles it (code and dependencies, no rule-set bundle) must stay under this.
MAX_WORKER_BYTES = 1024 * 1024


class ToolMissing(RuntimeError):
    pass


def require_node() -> None:
    """Node.js and the locked npm dependencies, or: a failed test on CI (CI=true: the JS side must
    run there), a skip with the reason elsewhere."""
    import pytest

    try:
        npm_ci()
    except ToolMissing as e:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(str(e), pytrace=False)
        pytest.skip(str(e))


def npm_ci() -> None:
    """Install edge_worker's locked dependencies (npm ci) unless they are current; a clear error
    when node or npm is missing."""
    if shutil.which("node") is None:
        raise ToolMissing("node is needed for the edge worker tests (Node.js 20+, e.g. apt-get install nodejs npm); "
                          "then `cd edge_worker && npm ci`")
    installed = EDGE_WORKER / "node_modules" / ".package-lock.json"
    lock = EDGE_WORKER / "package-lock.json"
    if WORKERD.exists() and ESBUILD.exists() and installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise ToolMissing("node and npm are needed for the edge worker tests (Node.js 20+: apt-get install nodejs npm); "
                          "then `cd edge_worker && npm ci`")
    r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=EDGE_WORKER, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise ToolMissing(f"npm ci in edge_worker failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")


def bundle_worker(out: Path) -> Path:
    """edge_worker/worker.js with its dependencies in one ES module (what `wrangler deploy` uploads)."""
    npm_ci()
    r = subprocess.run([str(ESBUILD), "worker.js", "--bundle", "--format=esm", "--platform=neutral", "--main-fields=module,main",
                        "--conditions=worker,browser", "--minify", f"--outfile={out}"], cwd=EDGE_WORKER, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"esbuild failed:\n{r.stderr}")
    return out


def _capnp_string(s: str) -> str:
    return json.dumps(s, ensure_ascii=True)  # JSON's escapes (\n, \", \\, \uXXXX) are capnp's


def write_config(directory: Path, worker: Path, port: int, bindings: dict[str, str], kv: dict[str, str] | None = None) -> Path:
    """``kv``: KV namespace bindings, each name -> the 127.0.0.1:PORT of a service speaking workerd's KV
    protocol (GET/PUT /<urlencoded key>; tests.edge_worker.bundle_origin.BundleOrigin)."""
    entries = [f"(name = {_capnp_string(k)}, text = {_capnp_string(v)})" for k, v in bindings.items()]
    entries += [f"(name = {_capnp_string(k)}, kvNamespace = {_capnp_string('kv-' + k)})" for k in (kv or {})]
    text_bindings = ",\n    ".join(entries)
    kv_services = "".join(f"\n    (name = {_capnp_string('kv-' + k)}, external = (address = {_capnp_string(a)}, http = ()))," for k, a in (kv or {}).items())
    config = f"""using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "strata", worker = .strataWorker),
    (name = "net", network = (allow = ["public", "private", "local"])),{kv_services}
  ],
  sockets = [(name = "http", address = "127.0.0.1:{port}", http = (), service = "strata")],
);

const strataWorker :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed {_capnp_string(worker.name)})],
  compatibilityDate = "2024-09-23",
  globalOutbound = "net",
  bindings = [
    {text_bindings}
  ],
);
"""
    path = directory / "workerd.capnp"
    path.write_text(config)
    return path


class RunningWorkerd:
    """workerd serving the bundled worker with ``bindings`` (the worker's environment)."""

    def __init__(self, directory: Path, bindings: dict[str, str], log: Path | None = None, kv: dict[str, str] | None = None,
                 worker: Path | None = None):
        """``kv``: KV namespace bindings (write_config); ``worker``: an already bundled worker.js to reuse."""
        directory.mkdir(parents=True, exist_ok=True)
        if worker is None:
            worker = bundle_worker(directory / "worker.js")
        elif worker.parent != directory:
            worker = Path(shutil.copy(worker, directory / "worker.js"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = write_config(directory, worker, self.port, bindings, kv)
        self.log_path = log or directory / "workerd.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(WORKERD), "serve", str(config), "--verbose"], cwd=directory, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.wait()

    def wait(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"workerd exited with {self.proc.returncode}: {self.logs()[-3000:]}")
            try:
                httpx.get(self.url + "/healthz", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"workerd not up after {timeout}s: {self.logs()[-3000:]}")

    def peak_rss(self) -> int:
        """The process's peak resident set so far, in bytes (VmHWM; Linux)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM in /proc/PID/status")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


class StaticOrigin:
    """A local origin: Python's http.server serving ``directory`` on a free 127.0.0.1 port."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1", "--directory", str(directory)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("local origin did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
