"""Per-period analysis and suggested weights (edge_server/reporting/allocation.py and the
stats it uses): the sample ratio judged per period, the Mantel-Haenszel stratified lift and the
Thompson-sampling suggestion."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_server.reporting import stats
from edge_server.reporting.allocation import allocation
from edge_server.reporting.counters import Data
from edge_server.reporting.report import experiments, render_html, text

VARIANTS = ["control", "treatment"]


def data_with(periods: dict[str, dict[str, tuple[int, int, int]]], current: list[int] | None = None) -> Data:
    """Data of experiment ``e`` with cohorts ``{period: {variant: (assigned, exposed, converted)}}``."""
    now = current or [int(x) for x in list(periods)[-1].split("/")]
    d = Data(experiments={"e": {"slot": "s", "variants": [[v, bp] for v, bp in zip(VARIANTS, now)], "period": "/".join(map(str, now))}})
    for period, arms in periods.items():
        for v, (assigned, exposed, converted) in arms.items():
            d.cohorts[("e", v, period, "assigned", "")] += assigned
            d.cohorts[("e", v, period, "exposed", "")] += exposed
            d.cohorts[("e", v, period, "converted", "purchase")] += converted
            d.cohort_values[("e", v, period, "purchase")] += 10.0 * converted
            d.exposures[("s", f"e/{v}", "broad", "personalized")] += exposed
            d.conversions[("purchase", "s", f"e/{v}", "broad", "personalized")] += converted
    return d


def _split(n: int, bps: list[int]) -> list[int]:
    out = [round(n * bp / 10_000) for bp in bps[:-1]]
    return [*out, n - sum(out)]


@settings(deadline=None, max_examples=25)  # each example runs the suggestion's 20,000 Monte Carlo draws twice
@given(st.lists(st.tuples(st.integers(500, 9500), st.integers(2000, 50_000)), min_size=1, max_size=4, unique_by=lambda t: t[0]))
def test_allocation_reweighting_is_no_sample_ratio_mismatch(periods):
    """Assignments exactly as each period's weights: never flagged, however different the periods'
    weights (the pooled split against today's weights would be)."""
    cohorts = {}
    for bp, n in periods:
        a, b = _split(n, [bp, 10_000 - bp])
        cohorts[f"{bp}/{10_000 - bp}"] = {"control": (a, a, a // 20), "treatment": (b, b, b // 20)}
    d = data_with(cohorts)
    a = allocation(d, "e", "purchase")
    assert not a.srm_flag and all(p.srm_p > 0.5 for p in a.periods)
    e = experiments(d, "purchase")[0]
    assert not e.srm_flag
    assert e.per_period == (len(periods) > 1)


@settings(deadline=None)  # Monte Carlo draws: seconds on a busy machine, and no timing is asserted
@given(st.integers(1000, 9000).filter(lambda bp: bp != 5000), st.integers(5000, 40_000), st.floats(0.03, 0.2))
def test_allocation_true_mismatch_in_one_period_is_flagged(bp, n, shift):
    """A first period that is fine and a second whose assignments are off its weights by ``shift``
    of the traffic: flagged, named, and no suggestion."""
    first = _split(20_000, [5000, 5000])
    a, b = _split(n, [bp, 10_000 - bp])
    moved = int(n * shift)
    if a < moved:
        moved = a
    d = data_with({"5000/5000": {"control": (first[0], first[0], 50), "treatment": (first[1], first[1], 60)},
                   f"{bp}/{10_000 - bp}": {"control": (a - moved, a, 50), "treatment": (b + moved, b, 60)}})
    al = allocation(d, "e", "purchase")
    assert [p.srm_flag for p in al.periods] == [False, True]
    assert al.suggestion is None and "sample ratio mismatch" in al.reason and f"{bp}/{10_000 - bp}" in al.reason
    assert experiments(d, "purchase")[0].srm_flag


def test_allocation_per_period_false_alarm_rate_is_small():
    """Binomial assignments under two different weights: flagged in well under 1% of 1,000 runs
    (the threshold is p < 0.001 per period)."""
    rng = random.Random(7)
    flagged = 0
    for _ in range(1000):
        cohorts = {}
        for bp, n in ((5000, 2000), (8000, 3000)):
            a = sum(rng.random() < bp / 10_000 for _ in range(n))
            cohorts[f"{bp}/{10_000 - bp}"] = {"control": (a, a, 10), "treatment": (n - a, n - a, 10)}
        flagged += allocation(data_with(cohorts), "e", "purchase", draws=10).srm_flag
    assert flagged <= 10


def _binomial(rng: random.Random, n: int, p: float) -> int:
    return sum(rng.random() < p for _ in range(n))


def test_allocation_stratified_lift_recovers_known_lift_where_pooling_fails():
    """Two periods, different weights and different base rates, true risk ratio 1.3 in both: the
    Mantel-Haenszel interval covers +30% in about 95% of 1,500 binomial draws; pooling the periods
    (what a report blind to periods does) puts the lift far off, since the treatment had most of
    its traffic in the period of the higher base rate."""
    rng = random.Random(2026)
    true_lift = 0.3
    plan = [("5000/5000", 600, 600, 0.03), ("2000/8000", 480, 1920, 0.09)]
    covered = runs = 0
    pooled = []
    for _ in range(1500):
        cohorts = {}
        for period, n0, n1, base in plan:
            x0, x1 = _binomial(rng, n0, base), _binomial(rng, n1, base * (1 + true_lift))
            cohorts[period] = {"control": (n0, n0, x0), "treatment": (n1, n1, x1)}
        a = allocation(data_with(cohorts), "e", "purchase", draws=10)
        c = a.stratified[1]
        assert c is not None and c.low is not None and c.high is not None
        covered += c.low <= true_lift <= c.high
        runs += 1
        x0 = sum(v["control"][2] for v in cohorts.values())
        x1 = sum(v["treatment"][2] for v in cohorts.values())
        pooled.append(stats.compare(x1, 2400, x0, 1080).lift)
    assert 0.93 <= covered / runs <= 0.97
    assert sum(pooled) / len(pooled) > 0.6  # pooled: about +74%, not +30%


def test_stats_mantel_haenszel_one_stratum_is_the_plain_risk_ratio():
    c = stats.mantel_haenszel([(50, 1000, 40, 1000)])
    plain = stats.compare(50, 1000, 40, 1000)
    assert c.lift == plain.lift and math.isclose(c.low, plain.low, rel_tol=0.02) and math.isclose(c.high, plain.high, rel_tol=0.02)
    assert stats.mantel_haenszel([(0, 100, 0, 100)]).lift is None  # no conversion at all: no ratio
    assert stats.mantel_haenszel([(5, 100, 0, 0), (10, 100, 5, 100)]).lift == 1.0  # a one-arm stratum says nothing


@settings(deadline=None)  # Monte Carlo draws: seconds on a busy machine, and no timing is asserted
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 5000)), min_size=2, max_size=5), st.floats(0, 0.2), st.integers(0, 2**31))
def test_allocation_suggested_weights_respect_min_share_and_seed(arms, min_share, seed):
    arms = [(min(x, n), n) for x, n in arms]
    p = stats.prob_best(arms, 500, seed)
    assert p == stats.prob_best(arms, 500, seed)  # deterministic for a seed
    assert math.isclose(sum(p), 1.0)
    w = stats.floored_weights(p, min_share)
    assert sum(w) == 100 and all(x >= math.ceil(round(100 * min_share, 9)) for x in w)
    assert all(w[i] >= w[j] for i in range(len(p)) for j in range(len(p)) if p[i] > p[j] + 1e-12)  # more likely best, no less traffic


@settings(deadline=None)  # Monte Carlo draws: seconds on a busy machine, and no timing is asserted
@given(st.integers(0, 3), st.integers(2, 4), st.integers(0, 1000))
def test_allocation_best_arm_gets_most_with_clear_data(best, k, seed):
    best = best % k
    counts = {}
    variants = [f"v{i}" for i in range(k)]
    d = Data(experiments={"e": {"slot": "s", "variants": [[v, 10_000 // k + (10_000 % k if i == 0 else 0)] for i, v in enumerate(variants)]}})
    period = "/".join(str(v[1]) for v in d.experiments["e"]["variants"])
    for i, v in enumerate(variants):
        n = 4000
        x = 240 if i == best else 120  # 6% against 3%
        counts[v] = (n, x)
        d.cohorts[("e", v, period, "assigned", "")] = n
        d.cohorts[("e", v, period, "exposed", "")] = n
        d.cohorts[("e", v, period, "converted", "purchase")] = x
    a = allocation(d, "e", "purchase", seed=seed, draws=2000)
    assert a.suggestion is not None
    w = a.suggestion.weights
    assert w[best] == max(w) and w[best] == 100 - 5 * (k - 1) and all(x == 5 for i, x in enumerate(w) if i != best)
    assert allocation(d, "e", "purchase", seed=seed, draws=2000).suggestion == a.suggestion


def test_allocation_no_suggestion_on_thin_data_or_without_cohorts():
    thin = allocation(data_with({"5000/5000": {"control": (50, 50, 5), "treatment": (50, 50, 9)}}), "e", "purchase")
    assert thin.suggestion is None and "too little data" in thin.reason and "control, treatment" in thin.reason
    few = allocation(data_with({"5000/5000": {"control": (500, 500, 2), "treatment": (500, 500, 3)}}), "e", "purchase")
    assert few.suggestion is None and "5 converting visits" in few.reason
    none = Data(experiments={"e": {"slot": "s", "variants": [["control", 5000], ["treatment", 5000]]}})
    a = allocation(none, "e", "purchase")
    assert a.suggestion is None and "no cohort counters" in a.reason


def test_allocation_report_text_and_html_show_periods_lift_and_suggestion():
    d = data_with({"5000/5000": {"control": (2000, 2000, 60), "treatment": (2000, 2000, 110)},
                   "3000/7000": {"control": (900, 900, 30), "treatment": (2100, 2100, 120)}})
    out = text(d, "purchase")
    assert "sessions were assigned under 2 different weights" in out and "3000/7000 (now)" in out
    assert "stratified lift of treatment vs control (Mantel-Haenszel over periods)" in out
    assert "suggested weights (Thompson sampling): control 5 / treatment 95" in out
    page = render_html(d, "purchase")
    assert 'aria-label="assignment shares per period"' in page and 'aria-label="e per period"' in page and "<b>95</b>" in page


def test_allocation_switched_off_arm_stays_off():
    """A variant at weight 0 gets no share back from the suggestion, and its lack of data does
    not hold the others back."""
    d = Data(experiments={"e": {"slot": "s", "variants": [["a", 5000], ["b", 0], ["c", 5000]], "period": "5000/0/5000"}})
    for v, (n, x) in {"a": (3000, 90), "b": (0, 0), "c": (3000, 180)}.items():
        d.cohorts[("e", v, "5000/0/5000", "assigned", "")] = n
        d.cohorts[("e", v, "5000/0/5000", "exposed", "")] = n
        d.cohorts[("e", v, "5000/0/5000", "converted", "purchase")] = x
    a = allocation(d, "e", "purchase", draws=2000)
    assert a.suggestion is not None and a.suggestion.weights == [5, 0, 95] and a.suggestion.p_best[1] == 0.0
