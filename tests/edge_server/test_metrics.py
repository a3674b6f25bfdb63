"""/metrics against the real server: the evaluation-budget counter (edge_server/metrics.py)."""

from __future__ import annotations

import base64
import threading
import time

import httpx

from compiler.harness.adversarial import RUNAWAY_MAX_LENGTH, runaway_bundle
from edge_server.harness.server import RunningServer, metric

ENV = {"STRATA_COOKIE_KEYS": "k1:" + base64.b64encode(b"\x05" * 32).decode()}
#: The worst request for the runaway bundle: its client signal at the largest size the bundle allows.
WORST = {"page": {"url": "/"}, "slots": ["runaway", "plain"], "signals": {"q": "," * RUNAWAY_MAX_LENGTH}}


def test_metrics_budget_counted_while_healthz_answers_under_worst_case_decides(site_keys, tmp_path):
    key, pub = site_keys
    path = tmp_path / "runaway.bundle"
    path.write_bytes(runaway_bundle(key, created=int(time.time()) - 60))
    s = RunningServer(["--bundle", str(path), "--pub", str(pub)], env=ENV)
    stop = threading.Event()
    answers: list[dict] = []
    failures: list[str] = []

    def hammer() -> None:
        with httpx.Client(base_url=s.url, timeout=30) as c:
            while not stop.is_set():
                r = c.post("/v1/decide", json=WORST)
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                    return
                answers.append(r.json())

    try:
        senders = [threading.Thread(target=hammer) for _ in range(3)]
        for t in senders:
            t.start()
        health = []
        with httpx.Client(base_url=s.url, timeout=10) as c:  # generous: no timing assertion beyond it
            for _ in range(20):
                health.append(c.get("/healthz").status_code)
                time.sleep(0.05)
        stop.set()
        for t in senders:
            t.join()
        assert not failures, failures
        assert health == [200] * 20
        assert answers, "no decide request completed"
        for a in answers:
            assert a["slots"]["runaway"]["reason"] == "error"  # skipped, the default shown
            assert a["slots"]["plain"]["reason"] == "rule"  # the rest of the page decides as usual
        assert metric(s.url, "strata_eval_budget_exceeded_total") == len(answers)
        assert metric(s.url, "strata_evaluation_errors_total") == len(answers)
    finally:
        stop.set()
        s.stop()


# ---------------------------------------------------------------------------- who sees what
def _families(text: str) -> set[str]:
    """Family names of a Prometheus text (a counter's without its ``_total``)."""
    return {line.split()[2].removesuffix("_total") for line in text.splitlines() if line.startswith("# TYPE ")}


def _shop_visit(url: str) -> None:
    """A visit that moves every business family: a tent in the cart (the starter-kit experiment),
    a purchase with a value (conversions, revenue, cohorts, model counters)."""
    tent = {"sku": "TB-SUMMIT2", "category": "tents", "price": 249.0, "quantity": 1}
    with httpx.Client(base_url=url) as c:
        for page in ({"url": "/tents.html", "category": "tents"}, {"url": "/cart.html"}):
            assert c.post("/v1/decide", json={"page": page, "signals": {"cart.items": [tent], "cart.value": 249.0}}).status_code == 200
        assert c.post("/v1/events", json={"goal": "purchase", "value": 249.0}).status_code == 202


def test_metrics_without_a_stats_token_serve_operational_families_only(tmp_path):
    """Business counters are never public by default (docs/security.md): without a stats token,
    /metrics has no exposure, conversion, revenue, cohort, model or weight family, and the server
    says so at start; with one, /metrics needs it and carries them all."""
    from edge_server.metrics import BUSINESS
    from tests.conftest import trailblazer_without_holdout

    rs = tmp_path / "shop.yaml"
    rs.write_text(trailblazer_without_holdout())
    seen: dict[str | None, set[str]] = {}
    for token in (None, "stats-secret"):
        env = dict(ENV, **({"STRATA_STATS_TOKEN": token} if token else {}))
        s = RunningServer([str(rs)], env=env, log=tmp_path / f"server-{token}.log")
        try:
            _shop_visit(s.url)
            open_text = httpx.get(s.url + "/metrics")
            if token is None:
                assert open_text.status_code == 200
                seen[token] = _families(open_text.text)
                assert "/metrics serves operational metrics only" in s.logs()
                assert httpx.get(s.url + "/v1/stats").status_code == 404
            else:
                assert open_text.status_code == 401
                seen[token] = _families(httpx.get(s.url + "/metrics", headers={"Authorization": f"Bearer {token}"}).text)
                assert "operational metrics only" not in s.logs()
        finally:
            s.stop()
    assert not seen[None] & BUSINESS, seen[None] & BUSINESS
    assert {"strata_requests", "strata_decisions", "strata_request_duration_seconds", "strata_bundle_loaded"} <= seen[None]
    assert BUSINESS <= seen["stats-secret"] and seen["stats-secret"] == seen[None] | BUSINESS
