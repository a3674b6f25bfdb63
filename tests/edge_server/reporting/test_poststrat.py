"""Post-stratification (edge_server/reporting/poststrat.py, sequential.post_stratified): narrower
always-valid intervals where strata known at assignment explain conversion, no wider where they do
not, still valid when read daily; read from the uplift models' per-arm × level counters; a feature
that changes within a visit is refused."""

from __future__ import annotations

import math
import random

import pytest

from edge_server.harness.daily_counts import binomial
from edge_server.reporting import sequential as sq
from edge_server.reporting.counters import Data
from edge_server.reporting.poststrat import post_stratify
from edge_server.reporting.report import text

# (share of visits, conversion rate) per stratum
EXPLAINS = [(0.10, 0.60), (0.90, 0.01)]  # visitors with a cart at assignment vs the rest
UNRELATED = [(0.40, 0.05), (0.60, 0.05)]


def draw(rng: random.Random, visits: int, strata: list[tuple[float, float]], lift: float = 0.0) -> list[tuple[int, int, int, int]]:
    out = []
    for share, rate in strata:
        n1, n0 = binomial(rng, visits, share / 2), binomial(rng, visits, share / 2)
        out.append((binomial(rng, n1, min(1.0, rate * (1 + lift))), n1, binomial(rng, n0, rate), n0))
    return out


def pooled(strata: list[tuple[int, int, int, int]]) -> sq.Sequential:
    return sq.rates(*(sum(s[i] for s in strata) for i in range(4)))


@pytest.mark.parametrize(("strata", "bound"), [(EXPLAINS, 0.80), (UNRELATED, 1.01)])
def test_poststrat_interval_is_narrower_where_strata_explain_conversion_and_no_wider_otherwise(strata, bound):
    rng = random.Random(str(strata))
    ratios = []
    for _ in range(100):
        cells = draw(rng, 40_000, strata)
        ps, un = sq.post_stratified(cells), pooled(cells)
        ratios.append((ps.high - ps.low) / (un.high - un.low))
    mean = sum(ratios) / len(ratios)
    assert mean <= bound, mean
    if strata is EXPLAINS:  # the theory: sqrt(1 - R^2), R^2 the share of variance between strata
        p = sum(s * r for s, r in strata)
        within = sum(s * r * (1 - r) for s, r in strata)
        assert mean == pytest.approx(math.sqrt(within / (p * (1 - p))), abs=0.05)


def test_poststrat_aa_read_daily_stays_valid_and_finds_a_true_lift():
    rng = random.Random("ps-aa")
    ever = found = 0
    runs = 200
    for _ in range(runs):
        totals = [(0, 0, 0, 0)] * 2
        hit = False
        for _day in range(30):
            totals = [tuple(a + b for a, b in zip(t, c)) for t, c in zip(totals, draw(rng, 1_000, EXPLAINS))]
            hit = hit or sq.post_stratified(totals).significant
        ever += hit
    assert ever / runs <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs), ever
    for _ in range(50):
        found += sq.post_stratified(draw(rng, 60_000, EXPLAINS, lift=0.15)).significant
    assert found >= 40


def model_data(rows: dict[tuple[str, str, str], tuple[int, int, int]]) -> Data:
    """An uplift model ``m`` over experiment ``e`` with feature ``cart`` (levels yes/no) and
    ``pages`` (levels 1/2); rows ``(arm, feature, level) -> (entered, left, converted)``."""
    d = Data(experiments={"e": {"slot": "s", "variants": [["control", 5000], ["treatment", 5000]], "period": "5000/5000"}})
    d.model_specs = {"m": {"spec": "abc", "fit": "f", "goal": "purchase", "uplift": {"experiment": "e", "treatment": "treatment", "control": "control"},
                           "features": {"cart": ["yes", "no"], "pages": ["1", "2"]}}}
    for (arm, feature, level), (entered, left, converted) in rows.items():
        for event, n in (("entered", entered), ("left", left), ("converted", converted)):
            if n:
                d.models[("m", "abc", arm, feature, level, event)] = n
    for arm in ("treatment", "control"):
        n = rows[(arm, "*", "*")][0]
        x = rows[(arm, "*", "*")][2]
        d.exposures[("s", f"e/{arm}", "broad", "personalized")] = n
        d.conversions[("purchase", "s", f"e/{arm}", "broad", "personalized")] = x
    return d


def test_poststrat_reads_the_uplift_models_counters_and_refuses_a_feature_that_moves():
    rows = {}
    for arm, cart_conv, rest_conv in (("treatment", 1_500, 230), ("control", 1_500, 220)):
        rows[(arm, "*", "*")] = (25_000, 0, cart_conv + rest_conv)
        rows[(arm, "cart", "yes")] = (2_500, 0, cart_conv)
        rows[(arm, "cart", "no")] = (22_500, 0, rest_conv)
        rows[(arm, "pages", "1")] = (25_000, 4_000, 900)  # 4,000 visits moved on to page 2 within the visit
        rows[(arm, "pages", "2")] = (4_000, 0, cart_conv + rest_conv - 900)
    d = model_data(rows)
    got = {p.feature: p for p in post_stratify(d, "e", "purchase")}
    assert got["cart"].reason == "" and got["cart"].width_ratio is not None and got["cart"].width_ratio < 0.8
    assert got["cart"].unstratified == sq.rates(1_730, 25_000, 1_720, 25_000)
    assert "changed level within the visit" in got["pages"].reason
    assert post_stratify(d, "other", "purchase") == [] and post_stratify(d, "e", "signup") == []
    out = text(d, "purchase")
    assert "post-stratified by cart (uplift model m, 2 levels): treatment vs control" in out and "narrower than the same visits unstratified" in out
    assert "post-stratified by pages (uplift model m, 2 levels): not used — 8,000 visits changed level" in out
