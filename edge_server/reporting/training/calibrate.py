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
3. the knots are ``[z of the group (its visit-weighted mean bucket centre), fitted rate]``; the
   runtimes interpolate linearly in ``z`` between knots and hold the end values beyond them
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
P_DECIMALS = 6


class TooLittle(ValueError):
    """Too few visits or conversions in the fit's buckets to calibrate (the message says what there
    is, what is needed and what to do)."""


@dataclass(frozen=True)
class BucketRow:
    lo: float  # the bucket's log-odds range [lo, hi)
    hi: float
    visits: int
    converted: int
    deployed: float  # the score the deployed map gives the bucket's centre
    calibrated: float | None  # the new map's, None when no calibration was fitted
    low: float  # 95% Wilson interval of the observed rate
    high: float

    @property
    def observed(self) -> float:
        return self.converted / self.visits if self.visits else 0.0


@dataclass(frozen=True)
class Reliability:
    arm: str
    fit: str
    rows: tuple[BucketRow, ...]
    knots: tuple[tuple[float, float], ...] | None  # the new calibration, None when refused
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


def fit_knots(rows: list[tuple[float, float, int, int]], min_group: int) -> tuple[tuple[float, float], ...]:
    """Pool, isotonic-regress, and return the knots (z strictly ascending, p non-decreasing in [0, 1])."""
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
    for z, p in zip(zs, fitted):
        z_r = round(z, Z_DECIMALS) + 0.0
        p_r = round(min(max(float(p), 0.0), 1.0), P_DECIMALS) + 0.0
        if knots and p_r < knots[-1][1]:
            p_r = knots[-1][1]  # rounding kept monotone
        if knots and z_r <= knots[-1][0]:
            continue  # (groups are a bucket apart; never at 4 decimals)
        knots.append((z_r, p_r))
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
                min_conversions: int, min_group: int, model: str) -> Reliability:
    """The reliability table of a deployed fit's arm, and the new calibration; raises
    :class:`TooLittle` (with the table in ``.args[1]``) when the buckets hold too little."""
    rows = bucket_rows(table)
    visits = sum(r[2] for r in rows)
    conv = sum(r[3] for r in rows)
    enough = visits >= min_visits and conv >= min_conversions
    knots = fit_knots(rows, min_group) if enough and rows else None
    new = calibration([list(k) for k in knots]) if knots else None
    out_rows = tuple(BucketRow(lo, hi, n, c, deployed((lo + hi) / 2), new((lo + hi) / 2) if new else None, *_wilson(c, n))
                     for lo, hi, n, c in rows)
    before = _brier_ece(rows, deployed) if rows else (math.nan, math.nan)
    after = _brier_ece(rows, new) if new and rows else (None, None)
    rel = Reliability(arm, fit, out_rows, knots, visits, conv, before[0], before[1], after[0], after[1])
    if not enough:
        arm_s = f" in arm {arm}" if arm else ""
        raise TooLittle(f"{model}: the deployed fit {fit} has {visits:,} visits and {conv:,} converting visits{arm_s} in its score buckets; "
                        f"calibration needs at least {min_visits:,} visits and {min_conversions:,} converting visits "
                        "(--min-calibration-visits, --min-calibration-conversions). Let the fleet count more visits under this fit "
                        "and run strata train again; the weights are not refitted meanwhile unless you pass --refit.", rel)
    return rel


def render(rel: Reliability, model: str) -> list[str]:
    """The reliability table: per bucket the visits, predicted (deployed, and new), observed with
    its interval; then Brier score and calibration error before and after."""
    arm = f" arm {rel.arm}," if rel.arm else ""
    step = 1.0 / SCORE_BUCKETS.per_unit
    out = [f"  reliability of the deployed fit {rel.fit},{arm} {rel.visits:,} visits, {rel.conversions:,} converting "
           f"(score buckets of {step:g} in log-odds; predicted at each bucket's centre):",
           f"    {'log-odds':<17} {'visits':>9} {'deployed':>9} {'new':>8} {'observed':>9}   95% interval"]
    for r in rel.rows:
        new = "-" if r.calibrated is None else f"{r.calibrated:.4f}"
        out.append(f"    [{r.lo:+.3f},{r.hi:+.3f}) {r.visits:>9,} {r.deployed:>9.4f} {new:>8} {r.observed:>9.4f}   [{r.low:.4f}, {r.high:.4f}]")
    out.append(f"    Brier score {rel.brier_before:.5f}, calibration error {rel.ece_before:.4f} (deployed)"
               + ("" if rel.brier_after is None else f"; {rel.brier_after:.5f}, {rel.ece_after:.4f} with the new calibration (in-sample)"))
    return out
