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
