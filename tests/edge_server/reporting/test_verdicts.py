"""The report's verdicts (edge_server/reporting/verdicts.py, report.py): one line per experiment
before the tables, the number of comparisons and their false-discovery control, guardrails flagged
when harmed, the MDE and days to detect, ``--fixed-horizon``, and the HTML picture of the
confidence sequence over time (escaped)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from compiler.harness.fixtures import ROOT
from edge_server.reporting.counters import Data
from edge_server.reporting.report import analyse, render_html, text
from edge_server.reporting.verdicts import Settings

DAY = 86_400.0


def data(arms: dict[str, dict[str, tuple[int, int]]], *, holdout: dict[str, tuple[int, int]] | None = None, eid: str = "e",
         weights: list[int] | None = None) -> Data:
    """Experiment ``eid`` on slot ``s``: ``{variant: {goal: (conversions, exposed)}}`` (exposed the same for every goal)."""
    variants = list(arms)
    bps = weights or [10_000 // len(variants)] * len(variants)
    d = Data(experiments={eid: {"slot": "s", "variants": [[v, bp] for v, bp in zip(variants, bps)], "period": "/".join(map(str, bps))}})
    for v, goals in arms.items():
        n = next(iter(goals.values()))[1]
        d.exposures[("s", f"{eid}/{v}", "broad", "personalized")] += n
        for g, (x, _) in goals.items():
            d.conversions[(g, "s", f"{eid}/{v}", "broad", "personalized")] += x
            d.values[(g, "s", f"{eid}/{v}", "broad", "personalized")] += 50.0 * x
    for g, (x, n) in (holdout or {}).items():
        d.exposures[("s", "default", "broad", "holdout")] = n
        d.conversions[(g, "s", "default", "broad", "holdout")] += x
    return d


def test_verdicts_winner_stops_and_the_verdict_comes_before_the_tables():
    d = data({"control": {"purchase": (400, 10_000), "returns": (100, 10_000)},
              "treatment": {"purchase": (600, 10_000), "returns": (100, 10_000)}}, holdout={"purchase": (80, 2_000), "returns": (20, 2_000)})
    out = text(d, "purchase")
    verdict = next(line for line in out.splitlines() if line.strip().startswith("e "))
    assert "STOP" in verdict and "treatment beats control on 'purchase'" in verdict
    assert out.index("Verdicts") < out.index("Experiment e (slot s)")
    # 2 goals x (1 variant vs control + 2 arms vs holdout) = 6 comparisons
    assert "Comparisons: 6 (2 against a control, 4 against the holdout, over 2 goals)" in out
    assert "discovery: e treatment vs control on 'purchase'" in out


def test_verdicts_null_continues_with_mde_and_days_from_the_history():
    d = data({"control": {"purchase": (200, 5_000)}, "treatment": {"purchase": (205, 5_000)}})
    half = data({"control": {"purchase": (100, 2_500)}, "treatment": {"purchase": (102, 2_500)}})
    d.history = [(0.0, half), (DAY, d)]  # 5,000 visits a day
    _, rv = analyse(d, "purchase", settings=Settings(mde=0.10))
    v = rv.verdicts[0]
    assert v.call == "CONTINUE" and v.per_day == pytest.approx(5_000)
    assert 0.2 < v.mde < 0.5  # at 5,000 visits per arm and a 4% rate
    assert v.days is not None and 10 < v.days < 60
    out = text(d, "purchase", settings=Settings(mde=0.10))
    assert "detectable now: a lift of ±" in out and "±10%: about" in out and "visits a day" in out
    # without a history the traffic is unknown, and the report says what to do
    d.history = []
    assert "traffic unknown (give snapshots taken at least an hour apart)" in text(d, "purchase", settings=Settings(mde=0.10))


def test_verdicts_futility_stop_when_the_interval_excludes_the_expected_effect():
    d = data({"control": {"purchase": (20_000, 500_000)}, "treatment": {"purchase": (20_100, 500_000)}})
    v = analyse(d, "purchase")[1].verdicts[0]
    assert v.call == "STOP" and "no effect of ±10% or more" in v.reason


def test_verdicts_guardrail_harmed_is_flagged_and_stops():
    d = data({"control": {"purchase": (400, 10_000), "returns": (100, 10_000)},
              "treatment": {"purchase": (410, 10_000), "returns": (200, 10_000)}})
    s = Settings(guardrails={"returns": "must_not_increase"})
    v = analyse(d, "purchase", settings=s)[1].verdicts[0]
    assert v.call == "STOP" and "treatment harms guardrail 'returns'" in v.reason
    assert "GUARDRAIL HARMED: e treatment vs control on 'returns' (must_not_increase)" in text(d, "purchase", settings=s)
    # the same rise on a goal marked must_not_decrease is no harm
    ok = analyse(d, "purchase", settings=Settings(guardrails={"returns": "must_not_decrease"}))[1].verdicts[0]
    assert not ok.harmed


def test_verdicts_sample_ratio_mismatch_says_fix():
    d = data({"control": {"purchase": (400, 10_000)}, "treatment": {"purchase": (600, 8_000)}})
    v = analyse(d, "purchase")[1].verdicts[0]
    assert v.call == "FIX" and "sample ratio mismatch" in v.reason


def test_verdicts_fixed_horizon_keeps_todays_statistics():
    d = data({"control": {"purchase": (400, 10_000)}, "treatment": {"purchase": (460, 10_000)}})
    fixed = text(d, "purchase", settings=Settings(fixed_horizon=True))
    default = text(d, "purchase")
    assert "Verdicts" not in fixed and "fixed-horizon p-values" in fixed and "always-valid" not in fixed
    # p = 0.036 by the z-test read once; the always-valid p-value of the same counts is far larger
    assert "p=0.036" in fixed and "p=0.036" not in default and "Verdicts" in default


def test_verdicts_many_comparisons_control_the_false_discovery_rate():
    """Twenty null comparisons with one spurious fixed-horizon 'win' and two real effects: BH keeps
    the real ones and drops the spurious one, the count says 22."""
    arms = {"control": {}, "a": {}, "b": {}}
    for i in range(10):
        g = f"g{i}"
        arms["control"][g] = (400, 10_000)
        arms["a"][g] = (460 if i == 0 else 400, 10_000)  # g0: p = 0.036 by the z-test, noise
        arms["b"][g] = (400, 10_000)
    arms["control"]["purchase"], arms["a"]["purchase"], arms["b"]["purchase"] = (400, 10_000), (700, 10_000), (650, 10_000)
    _, rv = analyse(data(arms), "purchase")
    assert len(rv.tested) == 22
    assert {(t.variant, t.goal) for t in rv.discoveries} == {("a", "purchase"), ("b", "purchase")}


def test_verdicts_html_draws_the_confidence_sequence_over_time_escaped():
    bad = '<img src=x onerror=alert(1)>'
    reads = [data({"control": {"purchase": (40 * k, 1_000 * k)}, bad: {"purchase": (52 * k, 1_000 * k)}}) for k in range(1, 6)]
    d = reads[-1]
    d.history = [(DAY * k, r) for k, r in enumerate(reads)]
    page = render_html(d, "purchase")
    assert 'aria-label="e: always-valid lift over time"' in page and "<polygon" in page and "5 reads over 4.0 days" in page
    assert bad not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<h2>Verdicts</h2>" in page and page.index("<h2>Verdicts</h2>") < page.index("<h2>Experiment e")
    fixed = render_html(d, "purchase", settings=Settings(fixed_horizon=True))
    assert "always-valid lift over time" not in fixed and "<h2>Verdicts</h2>" not in fixed


def test_verdicts_cli_reads_guardrails_from_the_ruleset_with_located_errors(tmp_path):
    from compiler.harness.fixtures import BASE

    rs = tmp_path / "site.yaml"
    rs.write_text(BASE + "goals: [purchase, returns]\nguardrails: {retruns: must_not_increase}\n")
    snap = tmp_path / "s.json"
    snap.write_text('{"format": "strata-stats/1", "exposures": [{"slot": "s", "arm": "default", "layer": "broad", "population": "personalized", "count": 3}]}')
    p = subprocess.run([sys.executable, "-m", "runtime.cli", "report", str(snap), "--ruleset", str(rs)], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode != 0 and f"{rs}:15:14" in p.stderr and "did you mean returns?" in p.stderr
    p = subprocess.run([sys.executable, "-m", "runtime.cli", "report", str(snap), "--mde", "ten"], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 2 and "--mde 'ten': give a percentage such as 10%" in p.stderr


def test_verdicts_after_a_reweighting_compare_within_periods_not_pooled():
    """No true effect; weights moved from 50/50 at a 3% base rate to 10/90 at 9%: pooled, the
    treatment looks far better (Simpson's paradox); the report's always-valid comparison is made
    within the periods and finds nothing, and the verdict does not stop for a winner."""
    from tests.edge_server.reporting.test_allocation import data_with

    d = data_with({"5000/5000": {"control": (50_000, 50_000, 1_500), "treatment": (50_000, 50_000, 1_500)},
                   "1000/9000": {"control": (10_000, 10_000, 900), "treatment": (90_000, 90_000, 8_100)}})
    exps, rv = analyse(d, "purchase")
    t = exps[0].rows[1]
    assert exps[0].per_period and t.vs_control.lift > 0.5  # the pooled fixed-horizon lift
    assert abs(t.seq_control.diff) < 1e-12 and not t.seq_control.significant
    assert "beats" not in rv.verdicts[0].reason and not rv.discoveries


def test_verdicts_an_interval_off_zero_that_is_no_discovery_says_so():
    """One comparison's always-valid interval excludes 0 (p = 0.022) but Benjamini-Hochberg over the
    report's three comparisons does not declare it (0.022 > 0.05 / 3): the verdict continues and says
    why, rather than 'no difference'."""
    d = data({"control": {"purchase": (740, 17_912)}, "treatment": {"purchase": (883, 18_110)}}, holdout={"purchase": (166, 3_978)})
    exps, rv = analyse(d, "purchase")
    assert exps[0].rows[1].seq_control.significant and not rv.discoveries
    v = rv.verdicts[0]
    assert v.call == "CONTINUE" and "treatment leads control on 'purchase'" in v.reason and "not yet a discovery across the report's 3 comparisons" in v.reason


def test_verdicts_html_over_time_survives_a_variant_added_midway():
    early = data({"control": {"purchase": (40, 1_000)}, "treatment": {"purchase": (45, 1_000)}})
    late = data({"control": {"purchase": (80, 2_000)}, "treatment": {"purchase": (95, 2_000)}, "third": {"purchase": (10, 300)}})
    late.history = [(0.0, early), (DAY, late)]
    page = render_html(late, "purchase")
    assert "always-valid lift over time" in page and page.count("<path d=") >= 1
