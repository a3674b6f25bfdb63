"""Run the edge worker in real workerd (from npm: edge_worker/node_modules/.bin/workerd) on a free
127.0.0.1 port, for tests and benchmarks: the worker is bundled with esbuild into one module, and a
workerd capnp config with the worker's bindings is written into a temporary directory. Missing tools
raise :class:`ToolMissing` with the remedy (the tests turn it into a skip, or a failure on CI)."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path

from compiler.harness.fixtures import ROOT

from .process import RunningProcess

EDGE_WORKER = ROOT / "edge_worker"
WORKERD = EDGE_WORKER / "node_modules" / ".bin" / "workerd"
ESBUILD = EDGE_WORKER / "node_modules" / ".bin" / "esbuild"
#: The deployable worker as esbuild bundles it (code and dependencies, no rule-set bundle) must stay under this.
MAX_WORKER_BYTES = 1024 * 1024


class ToolMissing(RuntimeError):
    """Node.js, npm or the locked npm dependencies are missing; the message says how to install them."""


def npm_ci() -> None:
    """Install edge_worker's locked dependencies (npm ci) unless they are current; a clear error
    when node or npm is missing."""
    if shutil.which("node") is None:
        raise ToolMissing("node is needed for the edge worker tests (Node.js 20+, e.g. apt-get install nodejs npm); "
                          "then `cd edge_worker && npm ci`")
    installed = EDGE_WORKER / "node_modules" / ".package-lock.json"
    lock = EDGE_WORKER / "package-lock.json"

    def current() -> bool:
        return WORKERD.exists() and ESBUILD.exists() and installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime

    if current():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise ToolMissing("node and npm are needed for the edge worker tests (Node.js 20+: apt-get install nodejs npm); "
                          "then `cd edge_worker && npm ci`")
    # the test processes (pytest-xdist workers) install once: npm ci empties node_modules first, so a
    # second install beside the first would pull the files from under a running workerd
    with open(EDGE_WORKER / ".npm-ci.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if current():
            return
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=EDGE_WORKER, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise ToolMissing(f"npm ci in edge_worker failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")


def bundle_worker(out: Path, minify: bool = True, entry: str = "worker.js") -> Path:
    """edge_worker/worker.js with its dependencies in one ES module (what `wrangler deploy` uploads);
    ``minify`` False keeps the names, for a CPU profile (edge_worker/bench/workerd_profile.py);
    ``entry``: another module of edge_worker/ (the bench's control worker)."""
    npm_ci()
    r = subprocess.run([str(ESBUILD), entry, "--bundle", "--format=esm", "--platform=neutral", "--main-fields=module,main",
                        "--conditions=worker,browser", *(["--minify"] if minify else []), f"--outfile={out}"], cwd=EDGE_WORKER,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"esbuild failed:\n{r.stderr}")
    return out


def _capnp_string(s: str) -> str:
    return json.dumps(s, ensure_ascii=True)  # JSON's escapes (\n, \", \\, \uXXXX) are capnp's


def write_config(directory: Path, worker: Path, port: int, bindings: dict[str, str], kv: dict[str, str] | None = None,
                 v8_flags: tuple[str, ...] = ()) -> Path:
    """``kv``: KV namespace bindings, each name -> the 127.0.0.1:PORT of a service speaking workerd's KV
    protocol (GET/PUT /<urlencoded key>; tests.edge_worker.bundle_origin.BundleOrigin); ``v8_flags``:
    e.g. ``("--max-old-space-size=64",)``, a heap smaller than a Cloudflare isolate's."""
    flags = ", ".join(_capnp_string(f) for f in v8_flags)
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
  v8Flags = [{flags}],
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


class RunningWorkerd(RunningProcess):
    """workerd serving the bundled worker with ``bindings`` (the worker's environment); its output
    goes to ``log`` (else workerd.log in ``directory``)."""

    what = "workerd"

    def __init__(self, directory: Path, bindings: dict[str, str], log: Path | None = None, kv: dict[str, str] | None = None,
                 worker: Path | None = None, v8_flags: tuple[str, ...] = ()):
        """``kv``: KV namespace bindings (write_config); ``worker``: an already bundled worker.js to reuse;
        ``v8_flags``: workerd's V8 flags (write_config)."""
        directory.mkdir(parents=True, exist_ok=True)
        if worker is None:
            worker = bundle_worker(directory / "worker.js")
        elif worker.parent != directory:
            worker = Path(shutil.copy(worker, directory / "worker.js"))
        super().__init__(log or directory / "workerd.log")
        config = write_config(directory, worker, self.port, bindings, kv, v8_flags)
        self.start([str(WORKERD), "serve", str(config), "--verbose"], cwd=directory)
        self.wait()

    def wait(self, timeout: float = 30.0) -> None:
        """Until /healthz answers at all."""
        self.wait_until("/healthz", timeout)

    def peak_rss(self) -> int:
        """The process's peak resident set so far, in bytes (VmHWM; Linux)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM in /proc/PID/status")
