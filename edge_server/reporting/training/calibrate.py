"""Calibration from the live counters (docs/models.md, Calibration): a monotone map from a fit's
log-odds ``z`` to the observed conversion rate, fitted from the fit's score-bucket rows.

The edge counts, per deployed fit and arm, the visits and converting visits in each bucket of the
model's log-odds before calibration (``@logit`` rows: ``SCORE_BUCKETS`` of runtime/format.json). A
naive Bayes over correlated features ranks well but is over-confident (shared evidence counted once
per feature), so its sigmoid is no probability; the observed rate per bucket is. The map:

1. buckets in ``z`` order are pooled into consecutive groups of at least ``min_group`` visits (the
   last short group joins the one before), so no knot rests on a handful of visits;
2. each group's observed rate ``c / n`` is fitted by **isotonic regression** weighted by visits
   (``scipy.optimize.isotonic_regression``, pool-adjacent-violators: the closest non-decreasing
   sequence in weighted least squares), a monotone map without a parametric form — a Platt
   (logistic) recalibration could not bend where naive Bayes is over-confident on one side only;
3. each group's fitted rate ``p`` becomes a calibrated **log-odds** ``l``: ``logit(p)`` for a model
   without crosses (``p`` kept within half a visit of 0 and 1, so ``l`` is finite); for a model
   with crosses, the ``l`` whose mixture over the crosses' cells has rate ``p`` —
   ``sum over cells of share * sigmoid(l + cross weight) = p`` (``scipy.optimize.brentq``), the
   cells' shares from the crosses' own counters. The buckets count the log-odds *without* the
   crosses, so the calibration fixes what naive Bayes over-counts in the other features and leaves
   the crosses' cells their own effect (the score is ``sigmoid(l + cross weights)``);
4. the knots are ``[z of the group (its visit-weighted mean bucket centre), l]``; the runtimes
   interpolate linearly in ``z`` between knots and hold the end values beyond them
   (runtime/score.py ``calibration``, edge_worker/runtime/score.js, bit-identical).

Brier score and calibration error are computed from the buckets (every visit of a bucket predicted
the same: its centre's score), before (the deployed map: the set's current calibration, else the
sigmoid) and after (the new map; in-sample, so optimistic). The observed rate's 95% interval is
Wilson's (``scipy.stats.binomtest(...).proportion_ci``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from runtime.format import MAX_CALIBRATION_KNOTS, SCORE_BUCKETS
from runtime.score import bucket_range, calibration

from .counts import Cell

Z_DECIMALS = 4  # knots' log-odds, rounded for a reviewable diff (groups are >= 1/per_unit apart)
L_DECIMALS = 4
L_LIMIT = 36.0  # the sigmoid is 0 or 1 to double precision beyond

#: the crosses' cells of one arm: (share of visits, sum of the crosses' weights); [(1.0, 0.0)] without crosses
Cells = list[tuple[float, float]]
NO_CROSSES: Cells = [(1.0, 0.0)]


def mixture(cells: Cells) -> Callable[[float], float]:
    """The rate of visits at calibrated log-odds ``l``, over the crosses' cells: sum of share * sigmoid(l + g)."""
    from runtime.score import sigmoid

    return lambda lo: sum(w * sigmoid(lo + g) for w, g in cells)


def log_odds_for(p: float, cells: Cells) -> float:
    """The ``l`` whose mixture over ``cells`` has rate ``p`` (monotone in ``l``: bisection)."""
    if cells == NO_CROSSES:
        return max(-L_LIMIT, min(L_LIMIT, math.log(p / (1 - p))))
    from scipy.optimize import brentq

    m = mixture(cells)
    lo, hi = -L_LIMIT - 14.0, L_LIMIT + 14.0  # beyond the crosses' weights (|w| <= 50) enough for any p in (0, 1)
    if m(lo) >= p:
        return -50.0
    if m(hi) <= p:
        return 50.0
    return max(-50.0, min(50.0, float(brentq(lambda x: m(x) - p, lo, hi, xtol=1e-10))))


class TooLittle(ValueError):
    """Too few visits or conversions in the fit's buckets to calibrate (the message says what there
    is, what is needed and what to do)."""


@dataclass(frozen=True)
class BucketRow:
    lo: float  # the bucket's log-odds range [lo, hi)
    hi: float
    visits: int
    converted: int
    deployed: float  # the rate the deployed map predicts at the bucket's centre (over the crosses' cells)
    calibrated: float | None  # the new map's, None when no calibration was fitted
    low: float  # 95% Wilson interval of the observed rate
    high: float
    deployed_l: float = 0.0  # the calibrated log-odds (before the crosses) at the centre, deployed and new
    calibrated_l: float | None = None

    @property
    def observed(self) -> float:
        return self.converted / self.visits if self.visits else 0.0


@dataclass(frozen=True)
class Reliability:
    arm: str
    fit: str
    rows: tuple[BucketRow, ...]
    knots: tuple[tuple[float, float], ...] | None  # the new calibration, None when refused
    cells: Cells  # the crosses' cells of this arm (share, weight), NO_CROSSES without
    visits: int
    conversions: int
    brier_before: float
    ece_before: float
    brier_after: float | None
    ece_after: float | None


def centre(name: str) -> float:
    lo, hi = bucket_range(name)
    return (lo + hi) / 2


def bucket_rows(table: dict[str, Cell]) -> list[tuple[float, float, int, int]]:
    """(lo, hi, net visits, converted) per named bucket with visits, in ``z`` order."""
    out = []
    for name, c in table.items():
        try:
            lo, hi = bucket_range(name)
        except ValueError:
            continue
        if c.visits > 0:
            out.append((lo, hi, c.visits, max(min(c.converted, c.visits), 0)))
    return sorted(out)


def fit_knots(rows: list[tuple[float, float, int, int]], min_group: int, cells: Cells | None = None) -> tuple[tuple[float, float], ...]:
    """Pool, isotonic-regress, turn each group's rate into a calibrated log-odds (over the crosses'
    ``cells``), and return the knots (z strictly ascending, l non-decreasing, |l| <= 50)."""
    from scipy.optimize import isotonic_regression

    groups: list[list[tuple[float, float, int, int]]] = []
    current: list[tuple[float, float, int, int]] = []
    for r in rows:
        current.append(r)
        if sum(x[2] for x in current) >= min_group:
            groups.append(current)
            current = []
    if current:
        if groups:
            groups[-1].extend(current)
        else:
            groups.append(current)
    while len(groups) > MAX_CALIBRATION_KNOTS:  # never with the contract's buckets; merge the thinnest pair if it were
        i = min(range(len(groups) - 1), key=lambda j: sum(x[2] for x in groups[j] + groups[j + 1]))
        groups[i : i + 2] = [groups[i] + groups[i + 1]]
    zs, rates, weights = [], [], []
    for g in groups:
        n = sum(x[2] for x in g)
        zs.append(sum(((x[0] + x[1]) / 2) * x[2] for x in g) / n)
        rates.append(sum(x[3] for x in g) / n)
        weights.append(n)
    fitted = isotonic_regression(rates, weights=weights, increasing=True).x
    knots: list[tuple[float, float]] = []
    for z, p, n in zip(zs, fitted, weights):
        half = 0.5 / n  # a group's rate is at least half a visit from 0 and 1: a finite log-odds
        lo = log_odds_for(min(max(float(p), half), 1.0 - half), cells or NO_CROSSES)
        z_r = round(z, Z_DECIMALS) + 0.0
        l_r = round(lo, L_DECIMALS) + 0.0
        if knots and l_r < knots[-1][1]:
            l_r = knots[-1][1]  # kept monotone (rounding, or the floor of half a visit)
        if knots and z_r <= knots[-1][0]:
            continue  # (groups are a bucket apart; never at 4 decimals)
        knots.append((z_r, l_r))
    return tuple(knots)


def _wilson(c: int, n: int) -> tuple[float, float]:
    from scipy.stats import binomtest

    ci = binomtest(c, n).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def _brier_ece(rows: list[tuple[float, float, int, int]], p_of: Callable[[float], float]) -> tuple[float, float]:
    n_all = sum(r[2] for r in rows)
    brier = ece = 0.0
    for lo, hi, n, c in rows:
        p = p_of((lo + hi) / 2)
        brier += c * (1 - p) ** 2 + (n - c) * p * p
        ece += abs(c - n * p)
    return brier / n_all, ece / n_all


def reliability(arm: str, fit: str, table: dict[str, Cell], deployed: Callable[[float], float], *, min_visits: int,
                min_conversions: int, min_group: int, model: str, cells: Cells | None = None) -> Reliability:
    """The reliability table of a deployed fit's arm, and the new calibration; raises
    :class:`TooLittle` (with the table in ``.args[1]``) when the buckets hold too little.
    ``deployed`` maps the log-odds without crosses to the deployed calibrated log-odds (the
    identity when the fit is not calibrated); ``cells``: the crosses' cells of this arm."""
    cells = cells or NO_CROSSES
    rows = bucket_rows(table)
    visits = sum(r[2] for r in rows)
    conv = sum(r[3] for r in rows)
    enough = visits >= min_visits and conv >= min_conversions
    knots = fit_knots(rows, min_group, cells) if enough and rows else None
    rate = mixture(cells)

    def dep(z: float) -> float:
        return rate(deployed(z))

    cal = calibration([list(k) for k in knots]) if knots else None

    def calibrated(z: float) -> float:
        assert cal is not None
        return rate(cal(z))

    new = calibrated if cal else None
    out_rows = tuple(BucketRow(lo, hi, n, c, dep((lo + hi) / 2), new((lo + hi) / 2) if new else None, *_wilson(c, n),
                               deployed((lo + hi) / 2), cal((lo + hi) / 2) if cal else None)
                     for lo, hi, n, c in rows)
    before = _brier_ece(rows, dep) if rows else (math.nan, math.nan)
    after = _brier_ece(rows, new) if new and rows else (None, None)
    rel = Reliability(arm, fit, out_rows, knots, cells, visits, conv, before[0], before[1], after[0], after[1])
    if not enough:
        arm_s = f" in arm {arm}" if arm else ""
        raise TooLittle(f"{model}: the deployed fit {fit} has {visits:,} visits and {conv:,} converting visits{arm_s} in its score buckets; "
                        f"calibration needs at least {min_visits:,} visits and {min_conversions:,} converting visits "
                        "(--min-calibration-visits, --min-calibration-conversions). Let the fleet count more visits under this fit "
                        "and run strata train again; the weights are not refitted meanwhile unless you pass --refit.", rel)
    return rel


def selected(rel: Reliability, op: Callable[[float], bool], new: bool) -> tuple[float, float]:
    """(visits, converting visits) a condition on the score selects among the table's visits: per
    bucket the cells whose score passes (every cell of it without crosses); a bucket's conversions
    are split over its cells in proportion to their predicted rates (exact without crosses)."""
    from runtime.score import sigmoid

    n_sel = c_sel = 0.0
    for r in rel.rows:
        lo = r.calibrated_l if new else r.deployed_l
        if lo is None:
            continue
        ps = [(w, sigmoid(lo + g)) for w, g in rel.cells]
        total = sum(w * p for w, p in ps)
        share = sum(w for w, p in ps if op(p))
        conv = sum(w * p for w, p in ps if op(p)) / total if total > 0 else share
        n_sel += r.visits * share
        c_sel += r.converted * conv
    return n_sel, c_sel


def render(rel: Reliability, model: str) -> list[str]:
    """The reliability table: per bucket the visits, predicted (deployed, and new), observed with
    its interval; then Brier score and calibration error before and after."""
    arm = f" arm {rel.arm}," if rel.arm else ""
    step = 1.0 / SCORE_BUCKETS.per_unit
    out = [f"  reliability of the deployed fit {rel.fit},{arm} {rel.visits:,} visits, {rel.conversions:,} converting "
           f"(buckets of {step:g} in the log-odds without crosses; predicted at each bucket's centre):",
           f"    {'log-odds':<17} {'visits':>9} {'deployed':>9} {'new':>8} {'observed':>9}   95% interval"]
    for r in rel.rows:
        new = "-" if r.calibrated is None else f"{r.calibrated:.4f}"
        out.append(f"    [{r.lo:+.3f},{r.hi:+.3f}) {r.visits:>9,} {r.deployed:>9.4f} {new:>8} {r.observed:>9.4f}   [{r.low:.4f}, {r.high:.4f}]")
    out.append(f"    Brier score {rel.brier_before:.5f}, calibration error {rel.ece_before:.4f} (deployed)"
               + ("" if rel.brier_after is None else f"; {rel.brier_after:.5f}, {rel.ece_after:.4f} with the new calibration (in-sample)"))
    return out
