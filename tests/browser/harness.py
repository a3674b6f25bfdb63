"""The browser runtime's test harness: edge_server/harness/browser.py (shared with
benchmarks/browser_bench.py), and where the shared vectors are."""

from __future__ import annotations

from edge_server.harness.browser import ARGS, EDGE_WORKER, Request, StaticSite, build_browser, serve_site, static_site_tool

ROOT = EDGE_WORKER.parent
VECTORS = ROOT / "tests" / "vectors"

__all__ = ["ARGS", "EDGE_WORKER", "ROOT", "VECTORS", "Request", "StaticSite", "build_browser", "serve_site", "static_site_tool"]
