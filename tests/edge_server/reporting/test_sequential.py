"""Always-valid inference (edge_server/reporting/sequential.py): the mixture SPRT's confidence
sequences stay valid however often they are read — the A/A property on simulated cumulative counters
read every day — while a fixed-horizon test read as often is not; power on true effects; the
power and duration figures; Benjamini-Hochberg."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_server.harness.daily_counts import binomial, daily_reads
from edge_server.reporting import sequential as sq
from edge_server.reporting import stats

# A/A classes: (rate, visits per day, treatment share). Small rates, a high one, unequal splits.
AA_CLASSES = [(0.02, 400, 0.5), (0.05, 300, 0.5), (0.30, 100, 0.5), (0.05, 400, 0.2)]


def _ever(reads, significant) -> bool:
    return any(significant(arms) for arms in reads)


@pytest.mark.parametrize(("rate", "per_day", "share"), AA_CLASSES)
def test_sequential_aa_read_daily_is_ever_significant_at_most_alpha(rate, per_day, share):
    """400 A/A experiments read every day for 30 days: the share ever declared significant by the
    always-valid p-value stays at most alpha (within 3 standard errors of the binomial share),
    while the fixed-horizon z-test read as often exceeds alpha clearly."""
    rng = random.Random(f"aa-{rate}-{per_day}-{share}")
    runs, alpha = 400, 0.05
    ever_seq = ever_fixed = 0
    for _ in range(runs):
        reads = list(daily_reads(rng, 30, per_day, [rate, rate], [1 - share, share]))
        ever_seq += _ever(reads, lambda a: sq.rates(a[1][0], a[1][1], a[0][0], a[0][1]).p_value < alpha)
        ever_fixed += _ever(reads, lambda a: (stats.compare(a[1][0], a[1][1], a[0][0], a[0][1]).p_value or 1.0) < alpha)
    bound = alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)
    assert ever_seq / runs <= bound, (ever_seq, runs)
    assert ever_fixed / runs > alpha + 2 * math.sqrt(alpha * (1 - alpha) / runs), (ever_fixed, runs)


def test_sequential_confidence_sequence_covers_the_true_difference_at_every_read():
    """Time-uniform coverage: the interval at every one of 30 daily reads holds the true difference
    (4% vs 5%) in at least 95% of 300 experiments (minus 3 standard errors), and the lift's interval
    the true +25%."""
    rng = random.Random("coverage")
    runs, miss_d, miss_l = 300, 0, 0
    for _ in range(runs):
        reads = list(daily_reads(rng, 30, 1000, [0.04, 0.05], [0.5, 0.5]))
        res = [sq.rates(a[1][0], a[1][1], a[0][0], a[0][1]) for a in reads]
        miss_d += any(r.low is not None and not r.low <= 0.01 <= r.high for r in res)
        miss_l += any(r.lift_low is not None and not r.lift_low <= 0.25 <= r.lift_high for r in res)
    bound = 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs)
    assert miss_d / runs <= bound and miss_l / runs <= bound, (miss_d, miss_l)


def test_sequential_detects_a_true_effect_and_the_stratified_test_undoes_simpsons_paradox():
    rng = random.Random("power")
    found = 0
    for _ in range(100):
        *_, last = daily_reads(rng, 30, 2000, [0.04, 0.052], [0.5, 0.5])
        found += sq.rates(last[1][0], last[1][1], last[0][0], last[0][1]).significant
    assert found >= 80  # +30% at 30,000 visits per arm: the MDE there is about 19%
    # two periods: 50/50 at a 3% base rate, then 10/90 at 9%, no true effect: pooling flags a false
    # winner, the per-period (stratified) test does not
    strata = [(1500, 50_000, 1500, 50_000), (8100, 90_000, 900, 10_000)]
    pooled = sq.rates(sum(s[0] for s in strata), sum(s[1] for s in strata), sum(s[2] for s in strata), sum(s[3] for s in strata))
    strat = sq.stratified(strata)
    assert pooled.significant and pooled.lift > 0.5
    assert not strat.significant and abs(strat.diff) < 1e-12 and abs(strat.lift) < 1e-12
    one = sq.stratified([(60, 1000, 40, 1000)])
    assert one.diff == pytest.approx(sq.rates(60, 1000, 40, 1000).diff)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 5000), st.integers(1, 5000), st.integers(0, 5000), st.integers(1, 5000), st.floats(0.01, 1.0))
def test_sequential_always_valid_is_never_less_careful_than_fixed_horizon(x1, n1, x0, n0, lift):
    """At any counts: the always-valid interval contains the estimate and the fixed-horizon
    interval of the difference, its p-value is in [0, 1], and it cannot be significant where the
    fixed-horizon test is not."""
    x1, x0 = min(x1, n1), min(x0, n0)
    r = sq.rates(x1, n1, x0, n0, expected_lift=lift)
    assert 0.0 <= r.p_value <= 1.0
    if r.low is None:
        assert r.p_value == 1.0 and not r.significant
        return
    p1, p0 = x1 / n1, x0 / n0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    assert r.low <= p1 - p0 - stats.Z95 * se * 0.999 and r.high >= p1 - p0 + stats.Z95 * se * 0.999
    assert r.significant == (r.p_value < sq.ALPHA) or abs(r.p_value - sq.ALPHA) < 1e-9  # the interval inverts the test
    if r.lift is not None and r.lift_low is not None:
        assert r.lift_low <= r.lift <= r.lift_high


@pytest.mark.parametrize("bad", [(0, 0, 5, 10), (11, 10, 5, 10), (5, 10, 0, 0), (0, 10, 0, 10), (10, 10, 10, 10)])
def test_sequential_nothing_to_say_without_variance_or_with_impossible_counts(bad):
    r = sq.rates(*bad)
    assert r.p_value == 1.0 and r.low is None and not r.significant


def test_sequential_mde_and_visits_to_detect_agree_and_sequential_needs_more():
    n = sq.visits_to_detect(0.10, 0.04)
    assert sq.mde(n // 2, n - n // 2, 0.04) == pytest.approx(0.10, rel=0.01)
    fixed = sq.visits_to_detect(0.10, 0.04, sequential=False)
    # the textbook fixed-horizon size: 2 (z_.975 + z_.8)^2 p(1-p) / (0.1 p)^2 per arm
    assert fixed == pytest.approx(2 * 2 * (1.959964 + 0.841621) ** 2 * 0.04 * 0.96 / 0.004 ** 2, rel=0.01)
    assert fixed < n < 3 * fixed  # the price of reading every day
    assert sq.mde(0, 10, 0.04) == math.inf and sq.visits_to_detect(0.1, 0.0) == math.inf
    assert sq.mde(1000, 1000, 0.04) > sq.mde(4000, 4000, 0.04)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=40), st.floats(0.001, 0.5))
def test_sequential_benjamini_hochberg_matches_its_definition(p, q):
    got = sq.benjamini_hochberg(p, q)
    m = len(p)
    ranked = sorted(p)
    k = max((i for i in range(1, m + 1) if ranked[i - 1] <= i * q / m), default=0)
    assert sum(got) == k
    assert all(got[i] for i in range(m) if k and p[i] < ranked[k - 1]) and not any(got[i] for i in range(m) if k == 0 or p[i] > ranked[k - 1])


def test_sequential_values_per_visit_detects_a_richer_arm_and_not_an_equal_one():
    same = sq.values(40 * 80.0, 40, 1000, 40 * 80.0, 40, 1000)
    assert not same.significant and same.diff == 0.0
    richer = sq.values(600 * 120.0, 600, 10_000, 400 * 80.0, 400, 10_000)
    assert richer.significant and richer.lift == pytest.approx(1.25)
    assert sq.values(0.0, 0, 100, 10.0, 1, 100).p_value == 1.0  # no conversion in one arm: no mean order value


def test_sequential_binomial_sampler_has_binomial_moments():
    rng = random.Random(3)
    for n, p in ((1000, 0.03), (50, 0.8)):
        xs = [binomial(rng, n, p) for _ in range(4000)]
        mean = sum(xs) / len(xs)
        var = sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)
        assert abs(mean - n * p) < 4 * math.sqrt(n * p * (1 - p) / len(xs))
        assert abs(var / (n * p * (1 - p)) - 1) < 0.1
