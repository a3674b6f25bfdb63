from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_server.reporting.training.counts import Cell
from edge_server.reporting.training.naive_bayes import ALPHA, fit_arm, fit_feature

from .fleet import LEVELS, log_ratio, logistic_counts, nb_counts


def _cells(levels: tuple[str, ...], cells: list[tuple[int, int]]) -> dict[str, Cell]:
    return {lv: Cell(n, x) for lv, (n, x) in zip(levels, cells)}


def _dist(raw: list[int]) -> list[float]:
    return [r / sum(raw) for r in raw]


@st.composite
def nb_truths(draw: st.DrawFn) -> tuple[int, float, dict[str, list[float]], dict[str, list[float]]]:
    """A naive Bayes truth: a seed, the conversion rate, P(level | converted), P(level | not)."""
    given_conv, given_other = {}, {}
    for f, levels in LEVELS.items():
        given_conv[f] = _dist(draw(st.lists(st.integers(1, 10), min_size=len(levels), max_size=len(levels))))
        given_other[f] = _dist(draw(st.lists(st.integers(1, 10), min_size=len(levels), max_size=len(levels))))
    return draw(st.integers(0, 2**32 - 1)), draw(st.floats(0.02, 0.3)), given_conv, given_other


@settings(deadline=None, max_examples=30)
@given(nb_truths())
def test_fit_arm_recovers_naive_bayes_weights(truth: tuple[int, float, dict[str, list[float]], dict[str, list[float]]]) -> None:
    seed, rate, given_conv, given_other = truth
    visits = 1_000_000
    conv, tables = nb_counts(np.random.default_rng(seed), visits, rate, given_conv, given_other)
    fit = fit_arm("", Cell(visits, conv), LEVELS, {f: _cells(LEVELS[f], t) for f, t in tables.items()}, k=20)
    assert fit.bias == pytest.approx(math.log(rate / (1 - rate)), abs=0.05)
    for f in fit.features:
        truth_w = log_ratio(given_conv[f.id], given_other[f.id])
        assert [lv.weight for lv in f.levels] == pytest.approx(truth_w, abs=0.25), f.id
        for lv, w in zip(f.levels, truth_w):
            assert lv.low is not None and lv.high is not None and lv.low - 0.1 < w < lv.high + 0.1, (f.id, lv)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fit_arm_recovers_logistic_level_differences_when_conversions_are_rare(seed: int) -> None:
    # Independent features, rare conversions: the naive Bayes weights differ from the logistic ones
    # by one constant per feature (absorbed in the bias), so differences between levels match.
    weights = {"device": [0.8, 0.0, -0.5, 0.3, 0.0], "depth": [-0.7, 0.0, 0.5, 1.0, 0.0], "tents": [0.0, 1.2, -0.2]}
    shares = {"device": [0.4, 0.35, 0.15, 0.05, 0.05], "depth": [0.3, 0.3, 0.2, 0.15, 0.05], "tents": [0.7, 0.2, 0.1]}
    visits = 400_000
    conv, tables = logistic_counts(np.random.default_rng(seed), visits, -4.5, weights, shares)
    fit = fit_arm("", Cell(visits, conv), LEVELS, {f: _cells(LEVELS[f], t) for f, t in tables.items()}, k=20)
    for f in fit.features:
        got = [lv.weight - f.levels[0].weight for lv in f.levels]
        want = [w - weights[f.id][0] for w in weights[f.id]]
        assert got == pytest.approx(want, abs=0.2), f.id


def test_fit_feature_pools_levels_under_k_into_one_estimate() -> None:
    levels = ("a", "b", "c", "d", "(absent)")
    table = _cells(levels, [(5000, 500), (4000, 200), (12, 3), (10, 0), (3, 1)])
    f = fit_feature("x", levels, table, k=20)
    by = {lv.level: lv for lv in f.levels}
    assert f.pooled == ("c", "d", "(absent)")
    assert by["c"].weight == by["d"].weight == by["(absent)"].weight
    conv, other, units = 704, 8321, 3  # a, b and the pooled group
    pooled = math.log((4 + ALPHA) / (conv + ALPHA * units)) - math.log((21 + ALPHA) / (other + ALPHA * units))
    assert by["c"].weight == round(pooled, 4)
    assert by["a"].weight == round(math.log(501 / 707) - math.log(4501 / 8324), 4)
    assert not by["a"].pooled and by["c"].pooled


def test_fit_feature_gives_weight_zero_when_the_pooled_group_is_still_under_k() -> None:
    levels = ("a", "b", "(absent)")
    f = fit_feature("x", levels, _cells(levels, [(5000, 500), (3, 0), (0, 0)]), k=20)
    assert [lv.weight for lv in f.levels][1:] == [0.0, 0.0]
    assert f.levels[1].low is None and f.pooled == ("b", "(absent)")


def test_fit_feature_weights_are_rounded_and_clamped() -> None:
    levels = ("a", "b")
    f = fit_feature("x", levels, _cells(levels, [(10**9, 10**9 - 1), (10**9, 0)]), k=1)
    for lv in f.levels:
        assert abs(lv.weight) <= 50 and round(lv.weight, 4) == lv.weight


def test_fit_feature_auc_of_a_perfect_feature_is_one() -> None:
    levels = ("yes", "no")
    f = fit_feature("x", levels, _cells(levels, [(100, 100), (900, 0)]), k=20)
    assert f.auc == 1.0


def test_fit_arm_refuses_without_conversions() -> None:
    with pytest.raises(ValueError, match="0 conversions"):
        fit_arm("", Cell(1000, 0), {}, {}, k=20)
