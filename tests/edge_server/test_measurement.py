"""Measurement end to end: synthetic visitors with known conversion rates through two real server
processes; the report, summing both nodes' counters, must recover the truth within its intervals
and flag an induced sample-ratio mismatch. (A larger run: benchmarks/measurement_sim.py.)"""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from compiler.harness.fixtures import AB_MEASUREMENT, ROOT
from edge_server.harness.server import RunningServer
from edge_server.harness.visitors import TRUE_RATES, cookie_keys_env, simulate, snapshots
from edge_server.reporting.counters import load
from edge_server.reporting.report import experiments, overall, render_html
from edge_server.reporting.stats import SRM_ALPHA, compare, srm, wilson

TOKEN = "test-token"


@pytest.fixture
def fleet(tmp_path):
    rs = tmp_path / "sim.yaml"
    rs.write_text(AB_MEASUREMENT)
    env = {"STRATA_COOKIE_KEYS": cookie_keys_env(), "STRATA_STATS_TOKEN": TOKEN}
    servers = [RunningServer([str(rs), "--insecure-cookie"], env=env) for _ in range(2)]
    yield servers
    for s in servers:
        s.stop()


def test_measurement_report_counts_exactly_what_happened(fleet, tmp_path):
    urls = [s.url for s in fleet]
    paths: list[str] = []
    counts = simulate(urls, 3000, seed=11, every=1000, on_batch=lambda: paths.extend(snapshots(urls, TOKEN, tmp_path)))
    paths += snapshots(urls, TOKEN, tmp_path)
    data = load(paths)
    assert data.sources == 2 and len(paths) == 6  # two nodes, three rounds: latest per node counts
    assert [n for _, n in data.timeline][-1] == sum(data.exposures.values())  # exposures over the window
    assert len(data.timeline) == 6 and all(a[1] <= b[1] for a, b in zip(data.timeline, data.timeline[1:]))
    e = experiments(data, "purchase")[0]
    control, treatment = e.rows
    # exposures once per visit and conversions once per visit, summed over both nodes
    assert (control.n, treatment.n, e.holdout.n) == (counts["control"], counts["treatment"], counts["holdout"])
    assert (control.x, treatment.x, e.holdout.x) == (counts["control_converted"], counts["treatment_converted"], counts["holdout_converted"])
    assert not e.srm_flag
    pops = {r.label: r for r in overall(data, "purchase")}
    assert pops["holdout"].n == counts["holdout"]
    page = render_html(data, "purchase")
    # the experiment's bars, its always-valid lift over the reads, its per-period shares and rates (one period here), and the timeline
    assert page.count("<svg") == 5 and 'aria-label="exposures over time"' in page and 'aria-label="assignment shares per period"' in page
    assert 'aria-label="checkout-offer: always-valid lift over time"' in page and "3 reads over" in page


def test_measurement_flags_induced_sample_ratio_mismatch(fleet, tmp_path):
    simulate([s.url for s in fleet], 3000, seed=12, srm_drop=0.3)
    e = experiments(load(snapshots([s.url for s in fleet], TOKEN, tmp_path)), "purchase")[0]
    assert e.srm_flag and e.srm_p < SRM_ALPHA


def test_measurement_report_cli_text_html_and_scrapes_agree(fleet, tmp_path):
    simulate([s.url for s in fleet], 600, seed=13)
    snaps = snapshots([s.url for s in fleet], TOKEN, tmp_path)
    scrapes = []
    for i, s in enumerate(fleet):
        p = tmp_path / f"metrics{i}.txt"
        p.write_text(httpx.get(s.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text)
        scrapes.append(str(p))
    out_html = tmp_path / "report.html"
    a = subprocess.run([sys.executable, "-m", "runtime.cli", "report", *snaps, "--html", str(out_html)], cwd=ROOT, capture_output=True, text=True)
    b = subprocess.run([sys.executable, "-m", "runtime.cli", "report", *scrapes], cwd=ROOT, capture_output=True, text=True)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert "Experiment checkout-offer (slot offer)" in a.stdout and "sample ratio:" in a.stdout
    strip = lambda t: [line for line in t.splitlines()[1:] if not line.startswith("wrote ")]  # noqa: E731 - the header names the sources
    assert strip(a.stdout) == strip(b.stdout)
    assert out_html.read_text().count("<svg") >= 2


def test_measurement_stats_needs_the_bearer_token(fleet):
    s = fleet[0]
    assert httpx.get(s.url + "/v1/stats").status_code == 401
    r = httpx.get(s.url + "/v1/stats", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    snap = httpx.get(s.url + "/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert snap["format"] == "strata-stats/1" and snap["experiments"]["checkout-offer"]["slot"] == "offer"
    json.dumps(snap)


def test_measurement_no_consent_counted_in_aggregate_only(fleet):
    s = fleet[0]
    for _ in range(3):
        r = httpx.post(s.url + "/v1/decide", json={"page": {"url": "/"}}, headers={"Sec-GPC": "1"})
        assert "set-cookie" not in r.headers
    assert httpx.post(s.url + "/v1/events", json={"goal": "purchase", "value": 10}, headers={"Sec-GPC": "1"}).json()["population"] == "no_consent"
    snap = httpx.get(s.url + "/v1/stats", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    rows = [r for r in snap["exposures"] if r["population"] == "no_consent"]
    assert rows and all(r["count"] == 3 for r in rows)  # per page view: no cookie to count visits
    conv = [r for r in snap["conversions"] if r["population"] == "no_consent"]
    assert [(r["arm"], r["count"]) for r in conv] == [("*", 1)]


def test_stats_interval_coverage_is_about_95_percent():
    """The report's intervals, on binomial draws at the simulation's true rates and sizes: the
    true rate and the true lift fall inside about 95% of the time (fixed seed; 4,000 runs)."""
    import random

    from edge_server.reporting.counters import Data
    from edge_server.reporting.report import experiments as analyse

    rng = random.Random(2026)
    n0 = n1 = 1500
    covered_rate = covered_lift = runs = 0
    for _ in range(4000):
        x0 = sum(rng.random() < TRUE_RATES["control"] for _ in range(n0))
        x1 = sum(rng.random() < TRUE_RATES["treatment"] for _ in range(n1))
        d = Data(experiments={"e": {"slot": "s", "variants": [["control", 5000], ["treatment", 5000]]}})
        d.exposures.update({("s", "e/control", "broad", "personalized"): n0, ("s", "e/treatment", "broad", "personalized"): n1})
        d.conversions.update({("purchase", "s", "e/control", "broad", "personalized"): x0, ("purchase", "s", "e/treatment", "broad", "personalized"): x1})
        c, t = analyse(d, "purchase")[0].rows
        covered_rate += c.low <= TRUE_RATES["control"] <= c.high
        covered_lift += t.vs_control.low <= TRUE_RATES["treatment"] / TRUE_RATES["control"] - 1 <= t.vs_control.high
        runs += 1
    assert 0.93 <= covered_rate / runs <= 0.97
    assert 0.93 <= covered_lift / runs <= 0.97


def test_stats_methods_against_textbook_values():
    lo, hi = wilson(40, 1000)
    assert round(lo, 4) == 0.0295 and round(hi, 4) == 0.054
    c = compare(50, 1000, 40, 1000)
    assert c.lift == pytest.approx(0.25) and c.p_value == pytest.approx(0.2807, abs=1e-4)
    assert srm([5000, 5000], [1, 1])[1] == pytest.approx(1.0)
    assert srm([5100, 4900], [50, 50])[1] == pytest.approx(0.0455, abs=1e-3)  # chi2 = 4.0, df 1


def test_measure_cohorts_add_up_across_workers_and_reach_the_snapshot():
    """Cohort counters travel in a worker's shared state and add up with its siblings', as the
    other measurement counters do (``--workers N``)."""
    from edge_server.measure import Measurement

    a, b = Measurement(), Measurement()
    a.cohort_exposure("e", "control", "5000/5000", True)
    b.cohort_exposure("e", "control", "5000/5000", True)
    b.cohort_exposure("e", "control", "5000/5000", False)
    b.cohort_conversion("purchase", [("e", "control", "5000/5000")], 12.5)
    merged = a.merged([json.loads(json.dumps(b.state()))])
    assert merged.cohorts[("e", "control", "5000/5000", "assigned", "")] == 2
    assert merged.cohorts[("e", "control", "5000/5000", "exposed", "")] == 3
    rows = merged.snapshot(None)["cohorts"]
    assert {"experiment": "e", "variant": "control", "period": "5000/5000", "event": "converted", "goal": "purchase",
            "count": 1, "value": 12.5} in rows
