"""The fit: naive Bayes with Laplace smoothing, from per-feature level tables (closed form).

The counters give, per feature level, net visits and converting visits: marginals, no joint table.
Naive Bayes needs exactly those. Its log-odds is additive, which is the bundle's model form:

    z = bias + sum_f weight[f][level_f]
    bias          = log(C / N)                                    (prior log-odds)
    weight[f][l]  = log P(l | converted) - log P(l | not converted)
                  = log((c_l + a) / (C + a L)) - log((n_l + a) / (N + a L))   (Laplace, a = 1)

with C, N the converting and other visits, c_l, n_l those at level l, L the feature's number of
estimates. Levels seen in fewer than ``k`` visits are pooled: one estimate from their summed counts,
the same weight for each (the group's likelihood ratio). A pooled group still under ``k`` visits has
no estimate: weight 0 (Laplace's uniform prior would give an unseen level about log(N/C), the
inverse prior odds, when conversions are rare). Weights and bias are rounded to 4 decimals and
clamped to +-50 (the bundle's limit).

The interval per level is the 95% interval of its unsmoothed log likelihood ratio
log((c_l/C)/(n_l/N)), the log relative risk of "at this level" between converting and other visits
(``scipy.stats.contingency.relative_risk``, Katz's log interval).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .auc import auc
from .counts import Cell

ALPHA = 1.0  # Laplace: one pseudo-visit per level and class
LIMIT = 50.0  # |bias|, |weight| <= 50 (bundle validation)
DECIMALS = 4


@dataclass(frozen=True)
class LevelFit:
    level: str
    visits: int
    converted: int
    weight: float
    low: float | None  # 95% interval of the (unsmoothed) log likelihood ratio; None without data
    high: float | None
    pooled: bool


@dataclass(frozen=True)
class FeatureFit:
    id: str
    levels: tuple[LevelFit, ...]
    auc: float | None  # the feature alone, scored by its weights, on the training counts

    @property
    def pooled(self) -> tuple[str, ...]:
        return tuple(lv.level for lv in self.levels if lv.pooled)


@dataclass(frozen=True)
class ArmFit:
    arm: str
    visits: int
    conversions: int
    bias: float
    features: tuple[FeatureFit, ...]

    def weights(self) -> dict[str, dict[str, float]]:
        return {f.id: {lv.level: lv.weight for lv in f.levels} for f in self.features}


def tidy(x: float) -> float:
    """Round for a reviewable diff, clamp to the bundle's limit, no negative zero."""
    return round(min(max(x, -LIMIT), LIMIT), DECIMALS) + 0.0


def _interval(c: int, conv: int, n: int, other: int) -> tuple[float | None, float | None]:
    if c <= 0 or n <= 0 or c >= conv and n >= other:
        return None, None
    from scipy.stats.contingency import relative_risk

    ci = relative_risk(c, conv, n, other).confidence_interval(0.95)
    lo, hi = float(ci.low), float(ci.high)
    return (math.log(lo) if lo > 0 else None), (math.log(hi) if math.isfinite(hi) and hi > 0 else None)


def fit_feature(fid: str, levels: tuple[str, ...], table: dict[str, Cell], k: int) -> FeatureFit:
    counts = {lv: table.get(lv, Cell()) for lv in levels}
    pos = {lv: max(c.converted, 0) for lv, c in counts.items()}
    neg = {lv: max(c.visits - c.converted, 0) for lv, c in counts.items()}
    conv, other = sum(pos.values()), sum(neg.values())
    thin = [lv for lv in levels if pos[lv] + neg[lv] < k]
    kept = [lv for lv in levels if lv not in thin]
    units: dict[str, list[str]] = {lv: [lv] for lv in kept}
    pooled_n = sum(pos[lv] + neg[lv] for lv in thin)
    if thin and pooled_n >= k:
        units["(pooled)"] = thin
    n_units = len(units)
    weight: dict[str, float] = {lv: 0.0 for lv in thin}
    interval: dict[str, tuple[float | None, float | None]] = {lv: (None, None) for lv in thin}
    for members in units.values():
        c = sum(pos[lv] for lv in members)
        n = sum(neg[lv] for lv in members)
        w = math.log((c + ALPHA) / (conv + ALPHA * n_units)) - math.log((n + ALPHA) / (other + ALPHA * n_units))
        ci = _interval(c, conv, n, other)
        for lv in members:
            weight[lv] = tidy(w)
            interval[lv] = ci
    fitted = tuple(LevelFit(lv, pos[lv] + neg[lv], pos[lv], weight[lv], *interval[lv], lv in thin) for lv in levels)
    return FeatureFit(fid, fitted, auc((weight[lv], pos[lv], neg[lv]) for lv in levels))


def fit_arm(arm: str, total: Cell, levels: dict[str, tuple[str, ...]], tables: dict[str, dict[str, Cell]], k: int) -> ArmFit:
    """One naive Bayes from the visit total (feature ``*``) and one level table per feature."""
    conv = max(total.converted, 0)
    other = max(total.visits - total.converted, 0)
    if conv == 0 or other == 0:
        raise ValueError(f"arm {arm or '(plain)'}: {conv} conversions in {total.visits} visits: the prior log-odds is undefined")
    feats = tuple(fit_feature(fid, lv, tables.get(fid, {}), k) for fid, lv in levels.items())
    return ArmFit(arm, total.visits, conv, tidy(math.log(conv / other)), feats)
