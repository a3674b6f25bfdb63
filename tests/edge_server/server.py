"""Running the real server lives in the shared harness, ``edge_server/harness/``; its names are
handed on here for tests written against this module (new tests import the harness)."""

from __future__ import annotations

from compiler.harness.fixtures import ROOT
from edge_server.harness.ports import free_port, wait_for
from edge_server.harness.server import RunningServer, metric

__all__ = ["ROOT", "RunningServer", "free_port", "metric", "wait_for"]
