"""A local origin: Python's http.server serving a directory on a free 127.0.0.1 port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .ports import free_port


class StaticOrigin:
    """``python -m http.server`` over ``directory``, waited for until it answers."""

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
        raise RuntimeError(f"local origin on {self.url} did not start in 15s (is {sys.executable} -m http.server runnable?)")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
