"""Business counters are never public by default, in real workerd as on the Python server
(docs/security.md): without STRATA_STATS_TOKEN the worker's /metrics serves the operational families
only, and its log says so; the families it leaves out are exactly edge_server/metrics.py's BUSINESS,
the ones the Python server leaves out (tests/edge_server/test_metrics.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_server.metrics import BUSINESS
from tests.edge_server.test_metrics import _families
from tests.edge_worker.test_workerd import COOKIE_KEYS, FIRST, gzip_bundle
from tests.edge_worker.workerd import RunningWorkerd, StaticOrigin, require_node

TENT = {"sku": "TB-SUMMIT2", "category": "tents", "price": 249.0, "quantity": 1}


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str | None, RunningWorkerd]]:
    """Two workers of one bundle: without a stats token, and with one."""
    require_node()
    d: Path = tmp_path_factory.mktemp("workerd-metrics")
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    (d / "bundles").mkdir()
    (d / "bundles" / "trailblazer.bundle").write_bytes(gzip_bundle(key, FIRST))
    origin = StaticOrigin(d / "bundles")
    out: dict[str | None, RunningWorkerd] = {}
    try:
        for token in (None, "stats-token"):
            bindings = {"STRATA_BUNDLE": origin.url + "/trailblazer.bundle", "STRATA_PUB": pub, "STRATA_COOKIE_KEYS": COOKIE_KEYS,
                        "STRATA_COOKIE_SECURE": "0"} | ({"STRATA_STATS_TOKEN": token} if token else {})
            out[token] = RunningWorkerd(d / f"workerd-{token}", bindings)
        yield out
    finally:
        for w in out.values():
            w.stop()
        origin.stop()


def _shop_visit(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as c:
        for page in ({"url": "/tents.html", "category": "tents"}, {"url": "/cart.html"}):
            assert c.post("/v1/decide", json={"page": page, "signals": {"cart.items": [TENT], "cart.value": 249.0}}).status_code == 200
        assert c.post("/v1/events", json={"goal": "purchase", "value": 249.0}).status_code == 202


def test_workerd_metrics_without_a_stats_token_serve_operational_families_only(workers: dict[str | None, RunningWorkerd]) -> None:
    seen = {}
    for token, w in workers.items():
        _shop_visit(w.url)
        if token is None:
            r = httpx.get(w.url + "/metrics")
            assert r.status_code == 200 and httpx.get(w.url + "/v1/stats").status_code == 404
            assert "/metrics serves operational metrics only" in w.logs()
        else:
            assert httpx.get(w.url + "/metrics").status_code == 401
            r = httpx.get(w.url + "/metrics", headers={"Authorization": f"Bearer {token}"})
            assert "operational metrics only" not in w.logs()
        seen[token] = _families(r.text)
    assert not seen[None] & BUSINESS, seen[None] & BUSINESS
    assert {"strata_requests", "strata_decisions", "strata_rejected_requests"} <= seen[None]
    assert BUSINESS <= seen["stats-token"] and seen["stats-token"] == seen[None] | BUSINESS
