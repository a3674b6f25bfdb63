"""Sticky assignments and experiment cohorts through a real server (edge_server/server.py,
session.py, measure.py, events.py): a session keeps its arm when the weights change, new sessions
follow the new weights, and ``/v1/stats`` and ``/metrics`` count assignments, exposed and
converting visits per variant and period."""

from __future__ import annotations

import httpx
import pytest

from edge_server.harness.ports import wait_for
from edge_server.harness.server import RunningServer
from edge_server.reporting.counters import load

TOKEN = "cohort-token"
KEYS = "t:" + "B" * 43 + "="  # 32 bytes of 0x04..., base64

RULESET = """\
strata: 1
name: cohorts
version: {version}
holdout: {{percent: 0, salt: cohorts-holdout}}
goals: [purchase]
segments:
  - {{id: everyone, layer: broad, when: 'true'}}
slots:
  - id: offer
    default: {{}}
experiments:
  - id: offer-test
    slot: offer
    audience: everyone
    salt: offer-test-1
    variants:
      - {{id: control, weight: {a}, content: {{headline: Free returns}}}}
      - {{id: treatment, weight: {b}, content: {{headline: 10% off today}}}}
"""


@pytest.fixture
def dev_server(tmp_path):
    rs = tmp_path / "cohorts.yaml"
    rs.write_text(RULESET.format(version=1, a=50, b=50))
    srv = RunningServer([str(rs), "--insecure-cookie"], env={"STRATA_STATS_TOKEN": TOKEN, "STRATA_COOKIE_KEYS": KEYS})
    yield srv, rs
    srv.stop()


def _visit(c: httpx.Client, cookie: str | None = None) -> tuple[str, str, int]:
    """(variant shown, the session cookie to send next, bundle version) of one decide."""
    r = c.post("/v1/decide", json={"page": {"url": "/"}, "slots": ["offer"]}, headers={"Cookie": f"strata_session={cookie}"} if cookie else {})
    c.cookies.clear()  # each visitor is its own browser: only the cookie given here is sent
    r.raise_for_status()
    body = r.json()
    set_cookie = r.headers.get("set-cookie", "")
    value = set_cookie.split(";", 1)[0].split("=", 1)[1] if set_cookie else (cookie or "")
    return body["slots"]["offer"]["variant"], value, body["bundle"]["version"]


def _cohorts(url: str) -> dict[tuple[str, str, str, str], int]:
    snap = httpx.get(url + "/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    return {(r["variant"], r["period"], r["event"], r["goal"]): r["count"] for r in snap["cohorts"] if r["experiment"] == "offer-test"}


def test_cohorts_count_assignments_exposures_and_conversions_per_period(dev_server, tmp_path):
    srv, _ = dev_server
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        visitors = [_visit(c) for _ in range(60)]
        for variant, cookie, _ in visitors:
            assert _visit(c, cookie)[0] == variant  # same visit: not exposed again, not assigned again
        buyers = [cookie for i, (_, cookie, _) in enumerate(visitors) if i % 3 == 0]
        for cookie in buyers:
            for _ in range(2):  # the second purchase of the visit converts nothing more
                r = c.post("/v1/events", json={"goal": "purchase", "value": 10}, headers={"Cookie": f"strata_session={cookie}"})
                c.cookies.clear()
                assert r.status_code == 202
    rows = _cohorts(srv.url)
    by_arm = {v: sum(1 for x, _, _ in visitors if x == v) for v in ("control", "treatment")}
    bought = {v: sum(1 for i, (x, _, _) in enumerate(visitors) if x == v and i % 3 == 0) for v in ("control", "treatment")}
    for v in ("control", "treatment"):
        assert rows.get((v, "5000/5000", "assigned", ""), 0) == by_arm[v]
        assert rows.get((v, "5000/5000", "exposed", ""), 0) == by_arm[v]
        assert rows.get((v, "5000/5000", "converted", "purchase"), 0) == bought[v]
    snap = httpx.get(srv.url + "/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    values = {r["variant"]: r["value"] for r in snap["cohorts"] if r["event"] == "converted"}
    assert values == {v: 10.0 * bought[v] for v in bought if bought[v]}
    assert snap["experiments"]["offer-test"]["period"] == "5000/5000"
    # the same counters in Prometheus text, read back by the report's loader
    scrape = tmp_path / "metrics.txt"
    scrape.write_text(httpx.get(srv.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text)
    data = load([str(scrape)])
    for v in ("control", "treatment"):
        assert data.cohorts[("offer-test", v, "5000/5000", "assigned", "")] == by_arm[v]
        assert data.cohorts[("offer-test", v, "5000/5000", "converted", "purchase")] == bought[v]
        assert data.cohort_values[("offer-test", v, "5000/5000", "purchase")] == 10.0 * bought[v]


def test_cohorts_nothing_counted_without_consent(dev_server):
    srv, _ = dev_server
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        for _ in range(5):
            r = c.post("/v1/decide", json={"page": {"url": "/"}}, headers={"Sec-GPC": "1"})
            assert r.status_code == 200 and r.json()["slots"]["offer"]["variant"] is None
    assert _cohorts(srv.url) == {}


def test_cohorts_sticky_arm_survives_reweighting_and_new_visitors_follow_new_weights(dev_server):
    srv, rs = dev_server
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        before = [_visit(c) for _ in range(300)]
        first = before[0][2]
        rs.write_text(RULESET.format(version=2, a=90, b=10))
        # the development server recompiles the changed file (its version: the file's mtime)
        wait_for(lambda: c.get("/readyz").json().get("bundle", {}).get("version") != first, timeout=30, interval=0.3)
        for variant, cookie, version in before:
            assert version == first
            assert _visit(c, cookie)[0] == variant  # assigned under 50/50: keeps its arm under 90/10
        after = [_visit(c) for _ in range(600)]
    rows = _cohorts(srv.url)
    # returning sessions stay in their cohort: no new assignment, and their exposures count under 5000/5000
    for v in ("control", "treatment"):
        n = sum(1 for x, _, _ in before if x == v)
        assert rows.get((v, "5000/5000", "assigned", ""), 0) == n
        assert rows.get((v, "5000/5000", "exposed", ""), 0) == n
        m = sum(1 for x, _, _ in after if x == v)
        assert rows.get((v, "9000/1000", "assigned", ""), 0) == m
    share = sum(1 for v, _, _ in after if v == "control") / len(after)
    # 600 draws at p = 0.9: sd 1.2%; the bounds are 5 sd away
    assert 0.84 <= share <= 0.96
