"""The edge worker's tools for tests: :func:`require_node` turns a missing Node.js into a skip (a
failure on CI). Running workerd lives in the shared harness, ``edge_server/harness/workerd.py``; its
names are handed on here for tests written against this module."""

from __future__ import annotations

import os

import pytest

from edge_server.harness.origin import StaticOrigin
from edge_server.harness.workerd import EDGE_WORKER, MAX_WORKER_BYTES, WORKERD, RunningWorkerd, ToolMissing, bundle_worker, npm_ci

__all__ = ["EDGE_WORKER", "MAX_WORKER_BYTES", "WORKERD", "RunningWorkerd", "StaticOrigin", "ToolMissing", "bundle_worker", "npm_ci", "require_node"]


def require_node() -> None:
    """Node.js and the locked npm dependencies, or: a failed test on CI (CI=true: the JS side must
    run there), a skip with the reason elsewhere."""
    try:
        npm_ci()
    except ToolMissing as e:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(str(e), pytrace=False)
        pytest.skip(str(e))
