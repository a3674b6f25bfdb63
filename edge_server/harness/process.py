"""A local HTTP process for tests and benchmarks: started on a free 127.0.0.1 port, waited for
until it answers, its output kept, stopped (terminated, killed after a grace period). The server, workerd,
the static origin and Prometheus are each one."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import httpx

from .ports import free_port


class RunningProcess:
    """Subclasses start ``self.proc`` with :meth:`start` and wait with :meth:`wait_until`.
    ``what``: how errors name the process."""

    what = "process"
    #: seconds between terminate and kill at stop
    grace = 10.0

    def __init__(self, log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log: IO[bytes] | None = None

    def start(self, argv: list[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> None:
        """Run ``argv``; its output goes to ``log_path`` (else nowhere)."""
        self._log = open(self.log_path, "wb") if self.log_path else None
        self.proc = subprocess.Popen(argv, cwd=cwd, env=dict(env) if env is not None else None,
                                     stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT)

    def wait_until(self, path: str, timeout: float, status: int | None = None) -> None:
        """Until GET ``path`` answers (with ``status``, when given); a RuntimeError with the end of
        the log when the process exits first or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.what} exited with {self.proc.returncode}: {self.logs()[-3000:]}")
            try:
                if status in (None, httpx.get(self.url + path, timeout=1).status_code):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        wanted = f" with {status}" if status is not None else ""
        raise RuntimeError(f"{self.what} did not answer GET {path}{wanted} within {timeout}s: {self.logs()[-3000:]}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(self.grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._log is not None:
            self._log.close()
