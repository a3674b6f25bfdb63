"""Prometheus for tests: :func:`require_prometheus` turns a missing binary into a skip (a failure on
CI). Running Prometheus lives in the shared harness, ``edge_server/harness/prometheus.py``."""

from __future__ import annotations

import os

import pytest

from edge_server.harness.prometheus import MISSING, prometheus_binary


def require_prometheus() -> str:
    """The binary, or: a failed test on CI (CI=true: Prometheus must run there), a skip elsewhere."""
    found = prometheus_binary()
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(MISSING, pytrace=False)
        pytest.skip(MISSING)
    return found
