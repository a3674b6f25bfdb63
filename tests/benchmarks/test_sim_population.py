"""The simulation's own measures and truth (benchmarks/sim_population.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from benchmarks.sim_population import CONTROL, PURCHASE, TREATMENT, auc, kind, visitors


@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=2, max_size=40).filter(lambda xs: len({o for _, o in xs}) == 2))
def test_sim_population_auc_is_the_pairwise_probability(pairs):
    """AUC = P(score of a positive > score of a negative) + ½ P(tie), over all pairs."""
    scores = [float(s) for s, _ in pairs]
    outcomes = [o for _, o in pairs]
    pos = [s for s, o in zip(scores, outcomes) if o]
    neg = [s for s, o in zip(scores, outcomes) if not o]
    pairwise = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
    assert abs(auc(scores, outcomes) - pairwise) < 1e-12


def test_sim_population_visitors_are_reproducible_and_levels_are_the_bundles_names():
    a, b = visitors(300, 5), visitors(300, 5)
    assert a == b and visitors(300, 6) != a
    names = {f: {v.level_names()[f] for v in a} for f in ("device", "source", "depth", "tents", "cart")}
    assert names["depth"] == {"<2", "[2,4)", "[4,6)", ">=6"}
    assert names["cart"] == {"<50.0", "[50.0,150.0)", ">=150.0"}
    assert names["source"] == {"newsletter", "google", "facebook", "(other)"}
    for v in a:  # the last page's signals carry the visit's features
        s = v.signals()
        assert s["session.page_views"] == v.pages and ("tents" in s["session.recent_categories"]) == v.tents
        assert s.get("cart.value", 0.0) == v.cart


def test_sim_population_has_every_kind_of_visitor_under_the_discount():
    vs = visitors(5000, 9)
    kinds = {kind(v) for v in vs}
    assert kinds == {"sure thing", "persuadable", "lost cause", "sleeping dog"}
    assert all(0 < PURCHASE.p(v) < 1 and 0 < CONTROL.p(v) < 1 and 0 < TREATMENT.p(v) < 1 for v in vs[:100])
