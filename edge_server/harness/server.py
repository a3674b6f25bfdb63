"""The real server (``strata serve`` under uvicorn) on a free 127.0.0.1 port, started in its own
process from the checkout and waited for until ready; and reading one sample of its /metrics."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import httpx

from compiler.harness.fixtures import ROOT

from .process import RunningProcess


class RunningServer(RunningProcess):
    """``strata serve ARGS --host 127.0.0.1 --port <free>`` with ``env`` added to this environment.
    ``ready``: wait for /readyz (a bundle is live), else for /healthz; ``log``: the server's output
    goes there (else nowhere)."""

    what = "server"

    def __init__(self, args: list[str], env: dict[str, str] | None = None, ready: bool = True, log: Path | None = None):
        super().__init__(log)
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        # each server its own rollback state (tests reuse rule-set names and versions); a test of
        # restarts passes --state-dir or STRATA_STATE_DIR itself
        self._state_dir = None if "STRATA_STATE_DIR" in full_env or "--state-dir" in args else tempfile.mkdtemp(prefix="strata-state-")
        if self._state_dir:
            full_env["STRATA_STATE_DIR"] = self._state_dir
        self.start([sys.executable, "-m", "runtime.cli", "serve", *args, "--host", "127.0.0.1", "--port", str(self.port)], cwd=ROOT, env=full_env)
        self.wait(ready)

    def wait(self, ready: bool, timeout: float = 60.0) -> None:
        """Until /readyz (``ready``) or /healthz answers 200."""
        self.wait_until("/readyz" if ready else "/healthz", timeout, status=200)

    def stop(self) -> None:
        super().stop()
        if self._state_dir:
            shutil.rmtree(self._state_dir, ignore_errors=True)


def metric(url: str, name: str, token: str | None = None) -> float:
    """The value of one sample in a server's /metrics (``name`` with its labels, as printed), or 0.
    ``token``: the server's stats token, which /metrics then requires."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for line in httpx.get(url + "/metrics", headers=headers).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return 0.0
