"""How ``strata serve`` logs: one configuration for the single process, the workers and the benchmark app."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str, process: bool = False) -> None:
    """What ``strata serve`` logs and how: text lines on stderr at ``level``; at info and below
    that includes one access line per request (strata.access, without IP, query or cookie).
    ``process``: name the worker process in every line (``--workers N``).

    Records do not collect what the format never prints (the Logging HOWTO's "Optimization"):
    no caller lookup (a stack walk per record), no thread or multiprocessing names, and no
    process id (a getpid(2) per record) unless the format shows it."""
    logging._srcfile = None  # documented: skips findCaller()
    logging.logThreads = False
    logging.logProcesses = process
    logging.logMultiprocessing = False
    fmt = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s" if process else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level.upper(), format=fmt, stream=sys.stderr)
