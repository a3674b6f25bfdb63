"""Start the real server (``strata serve`` under uvicorn) on a free 127.0.0.1 port, for tests."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningServer:
    def __init__(self, args: list[str], env: dict[str, str] | None = None, ready: bool = True, log: Path | None = None, port: int | None = None):
        self.port = port or free_port()  # a restart under the same target labels passes the old port
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        # each server its own rollback state (tests reuse rule-set names and versions); a test of
        # restarts passes --state-dir or STRATA_STATE_DIR itself
        self._state_dir = None if "STRATA_STATE_DIR" in full_env or "--state-dir" in args else tempfile.mkdtemp(prefix="strata-state-")
        if self._state_dir:
            full_env["STRATA_STATE_DIR"] = self._state_dir
        out = open(log, "wb") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "serve", *args, "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT,
        )
        self.wait(ready)

    def wait(self, ready: bool, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        path = "/readyz" if ready else "/healthz"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.logs()[-2000:]}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not {'ready' if ready else 'up'} after {timeout}s: {self.logs()[-2000:]}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._state_dir:
            shutil.rmtree(self._state_dir, ignore_errors=True)


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def without_instance(text: str) -> str:
    """Prometheus text without the ``instance_id`` label every series carries (docs/deployment.md, Fleet counting)."""
    text = re.sub(r'\{instance_id="[^"]*"\}', "", text)
    return re.sub(r'instance_id="[^"]*",', "", re.sub(r',instance_id="[^"]*"\}', "}", text))


def metric(url: str, name: str, token: str | None = None) -> float:
    """The value of one sample in a server's /metrics (``name`` with its labels, as printed), or 0.
    ``token``: the server's stats token, which /metrics then requires."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for line in without_instance(httpx.get(url + "/metrics", headers=headers).text).splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return 0.0
