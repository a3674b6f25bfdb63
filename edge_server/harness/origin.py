"""A local origin: Python's http.server serving a directory on a free 127.0.0.1 port."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .process import RunningProcess


class StaticOrigin(RunningProcess):
    """``python -m http.server`` over ``directory``, waited for until it answers."""

    what = "local origin (python -m http.server)"

    def __init__(self, directory: Path):
        super().__init__()
        self.start([sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1", "--directory", str(directory)],
                   env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.wait_until("/", 15)
