"""Adaptive allocation from the experiment cohort counters (docs/measurement.md, "Adaptive allocation").

A visitor's **cohort** is the *period* (the experiment's weights in basis points, ``"5000/5000"``)
in force when the session was assigned its variant; the session keeps that variant (and cohort)
after a reweighting. Per experiment this module gives:

- per period: new assignments, exposed and converting visits per variant, and the sample-ratio
  check of that period's *assignments* against that period's weights (a reweighting moves
  traffic between arms on purpose: only within a period can a split be compared with weights);
- a **cohort-stratified lift** of each variant against the control (the first variant): the
  Mantel-Haenszel risk ratio over periods (``stats.mantel_haenszel``), which a change of weights
  over time cannot bias as pooling the periods' counts can;
- **suggested weights**: Thompson sampling over Beta(1 + conversions, 1 + visits − conversions)
  per arm (probability each arm is best, Monte Carlo with a fixed seed), at least ``min_share``
  per arm, as integer percentages; an arm at weight 0 (switched off) stays at 0. No suggestion,
  with the reason, while any period's sample ratio is flagged or an arm has too little data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import stats
from .counters import Data

#: Thin data: no suggestion before every arm has this many exposed visits ...
MIN_VISITS = 100
#: ... and the experiment this many converting visits in all.
MIN_CONVERSIONS = 10
#: Monte Carlo draws for the probability of being best (standard error below 0.004).
DRAWS = 20_000
#: Label of the cohort of sessions assigned before periods were recorded.
NO_PERIOD = "(before periods)"


@dataclass
class Period:
    period: str  # "5000/5000", or "" for sessions assigned before periods were recorded
    weights: list[int] | None  # basis points per variant; None when the period does not fit the variants
    assigned: list[int]
    exposed: list[int]
    converted: list[int]
    value: list[float]
    current: bool = False
    srm_chi2: float = 0.0
    srm_p: float = 1.0

    @property
    def srm_flag(self) -> bool:
        return self.srm_p < stats.SRM_ALPHA

    @property
    def label(self) -> str:
        return self.period or NO_PERIOD


@dataclass
class Suggestion:
    p_best: list[float]
    weights: list[int]  # integer percentages summing to 100, in variant order


@dataclass
class Allocation:
    experiment: str
    variants: list[str]
    current: list[int]  # the weights served now, in basis points
    periods: list[Period]
    exposed: list[int]  # pooled over periods
    converted: list[int]
    stratified: list[stats.Comparison | None] = field(default_factory=list)  # per variant vs the control; None for the control
    suggestion: Suggestion | None = None
    reason: str = ""  # why there is no suggestion

    @property
    def srm_flag(self) -> bool:
        return any(p.srm_flag for p in self.periods)

    @property
    def has_cohorts(self) -> bool:
        return bool(self.periods)

    @property
    def live(self) -> list[int]:
        """Indexes of the variants served now (weight above 0): the ones a suggestion shares traffic between."""
        return [i for i, w in enumerate(self.current) if w > 0]


def parse_period(period: str, n: int) -> list[int] | None:
    """Basis points per variant of a period string, or None when it does not have ``n`` parts.

    >>> parse_period("7300/2700", 2), parse_period("5000/5000", 3), parse_period("", 2)
    ([7300, 2700], None, None)
    """
    parts = period.split("/") if period else []
    if len(parts) != n or not all(p.isdigit() for p in parts):
        return None
    return [int(p) for p in parts]


def allocation(d: Data, eid: str, goal: str, *, min_share: float = 0.05, seed: int = 0, draws: int = DRAWS,
               min_visits: int = MIN_VISITS, min_conversions: int = MIN_CONVERSIONS) -> Allocation:
    """The per-period analysis and weight suggestion of experiment ``eid`` for ``goal``."""
    e = d.experiments[eid]
    variants = [v[0] for v in e["variants"]]
    current = [int(v[1]) for v in e["variants"]]
    index = {v: i for i, v in enumerate(variants)}
    k = len(variants)
    by_period: dict[str, Period] = {}
    for (exp, variant, period, event, g), n in d.cohorts.items():
        if exp != eid or variant not in index:
            continue
        p = by_period.get(period)
        if p is None:
            p = by_period[period] = Period(period, parse_period(period, k), [0] * k, [0] * k, [0] * k, [0.0] * k)
        i = index[variant]
        if event == "assigned":
            p.assigned[i] += n
        elif event == "exposed":
            p.exposed[i] += n
        elif event == "converted" and g == goal:
            p.converted[i] += n
            p.value[i] += d.cohort_values.get((exp, variant, period, g), 0.0)
    now = e.get("period") or "/".join(map(str, current))
    periods = sorted(by_period.values(), key=lambda p: (p.period == now, p.period != "", p.period))  # current last
    for p in periods:
        p.current = p.period == now
        if p.weights is not None and sum(p.assigned) > 0:
            p.srm_chi2, p.srm_p = stats.srm(p.assigned, [float(w) for w in p.weights])
    a = Allocation(eid, variants, current, periods,
                   [sum(p.exposed[i] for p in periods) for i in range(k)], [sum(p.converted[i] for p in periods) for i in range(k)])
    a.stratified = [None] + [stats.mantel_haenszel([(p.converted[i], p.exposed[i], p.converted[0], p.exposed[0]) for p in periods])
                             for i in range(1, k)]
    a.reason = _refusal(a, min_visits, min_conversions)
    if not a.reason:
        live = a.live  # an arm switched off (weight 0) stays off: reopening it is a decision for a person
        p_live = stats.prob_best([(a.converted[i], a.exposed[i]) for i in live], draws, seed)
        try:
            w_live = stats.floored_weights(p_live, min_share)
        except ValueError as err:
            a.reason = str(err)
        else:
            p_best, weights = [0.0] * k, [0] * k
            for j, i in enumerate(live):
                p_best[i], weights[i] = p_live[j], w_live[j]
            a.suggestion = Suggestion(p_best, weights)
    return a


def _refusal(a: Allocation, min_visits: int, min_conversions: int) -> str:
    """Why no weights can be suggested for ``a`` ("" when they can)."""
    if not a.periods:
        return "no cohort counters for this experiment (servers older than adaptive allocation, or no exposure yet)"
    if len(a.live) < 2:
        return "fewer than two variants with a weight above 0"
    flagged = [p.label for p in a.periods if p.srm_flag]
    if flagged:
        return f"sample ratio mismatch in period(s) {', '.join(flagged)}: find the cause before moving traffic"
    thin = [a.variants[i] for i in a.live if a.exposed[i] < min_visits]
    if thin:
        return f"too little data: variant(s) {', '.join(thin)} have fewer than {min_visits:,} exposed visits"
    converted = sum(a.converted[i] for i in a.live)
    if converted < min_conversions:
        return f"too little data: {converted:,} converting visits, fewer than {min_conversions:,}"
    return ""


def allocations(d: Data, goal: str, *, min_share: float = 0.05, seed: int = 0) -> list[Allocation]:
    """:func:`allocation` of every experiment in ``d``, by id."""
    return [allocation(d, eid, goal, min_share=min_share, seed=seed) for eid in sorted(d.experiments)]
