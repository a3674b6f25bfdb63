"""The report's verdicts: one line per experiment saying whether it may stop, from always-valid
comparisons (``sequential``), with the number of comparisons the report made and the
false-discovery rate controlled across them, guardrail goals flagged when harmed, and the power
and duration figures (docs/measurement.md, "Always-valid results" and "Many comparisons").

Comparisons: every experiment × non-control variant × goal against the control, and every
variant × goal against the holdout when the slot has one. Discoveries: Benjamini-Hochberg at
``alpha`` over all their p-values (``sequential.benjamini_hochberg``). A guardrail goal is harmed
when a variant's interval against the control lies wholly on the bad side — judged per comparison,
not after the FDR correction (flagging harm errs on the side of caution).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import sequential as sq
from .counters import Data
from .results import ExperimentResult

#: Guardrail directions (rule set ``guardrails:``; rulesets/schema.json).
MUST_NOT_DECREASE = "must_not_decrease"
MUST_NOT_INCREASE = "must_not_increase"
DAY = 86_400.0


@dataclass(frozen=True)
class Settings:
    alpha: float = sq.ALPHA
    expected_lift: float = sq.EXPECTED_LIFT
    mde: float | None = None  # the lift to size the duration for (strata report --mde)
    guardrails: dict[str, str] = field(default_factory=dict)
    fixed_horizon: bool = False


@dataclass(frozen=True)
class Effect:
    """One comparison's figures, whichever statistics made them: relative lift with its interval,
    the p-value, and the interval's side (significant below or above zero)."""

    lift: float | None
    low: float | None
    high: float | None
    p_value: float

    @property
    def above(self) -> bool:
        return self.low is not None and self.low > 0

    @property
    def below(self) -> bool:
        return self.high is not None and self.high < 0


@dataclass
class Tested:
    experiment: str
    variant: str
    against: str  # the control variant's id, or "holdout"
    goal: str
    effect: Effect
    discovery: bool = False

    def harms(self, direction: str | None) -> bool:
        if self.against == "holdout" or direction is None:
            return False
        return self.effect.below if direction == MUST_NOT_DECREASE else self.effect.above


@dataclass
class Verdict:
    experiment: str
    call: str  # STOP, CONTINUE or FIX
    reason: str
    mde: float | None = None  # relative, at the current sample (first variant against the control, the report's goal)
    days: float | None = None  # more days to detect Settings.mde at the observed traffic (None: unknown)
    per_day: float | None = None  # visits a day to the experiment, from the history of reads
    harmed: list[Tested] = field(default_factory=list)


@dataclass
class Review:
    tested: list[Tested]
    verdicts: list[Verdict]
    goals: list[str]
    settings: Settings

    @property
    def discoveries(self) -> list[Tested]:
        return [t for t in self.tested if t.discovery]

    @property
    def harmed(self) -> list[Tested]:
        return [t for v in self.verdicts for t in v.harmed]


def effect_of(row_seq: sq.Sequential | None, row_fixed: object, fixed: bool) -> Effect:
    """The figures of one comparison under the statistics in use."""
    if fixed:
        c = row_fixed
        if c is None or getattr(c, "lift", None) is None:
            return Effect(None, None, None, 1.0)
        return Effect(c.lift, c.low, c.high, c.p_value if c.p_value is not None else 1.0)  # type: ignore[attr-defined]
    s = row_seq or sq.NONE
    low, high = s.lift_low, s.lift_high
    if low is None and s.low is not None:  # no lift interval yet (no conversion in an arm): the difference's sign
        low, high = (0.0 if s.low > 0 else -math.inf), (0.0 if s.high is not None and s.high < 0 else math.inf)
    return Effect(s.lift, low, high, s.p_value)


def review(d: Data, goal: str, by_goal: dict[str, list[ExperimentResult]], settings: Settings) -> Review:
    """The comparisons over every goal in ``by_goal``, their discoveries, and a verdict per
    experiment for ``goal`` (the report's goal) and the guardrail goals."""
    tested: list[Tested] = []
    for g, results in by_goal.items():
        for e in results:
            if not e.rows:
                continue
            control = e.rows[0].label
            for r in e.rows[1:]:
                tested.append(Tested(e.id, r.label, control, g, effect_of(r.seq_control, r.vs_control, settings.fixed_horizon)))
            if e.holdout is not None:
                for r in e.rows:
                    tested.append(Tested(e.id, r.label, "holdout", g, effect_of(r.seq_holdout, r.vs_holdout, settings.fixed_horizon)))
    for t, found in zip(tested, sq.benjamini_hochberg([t.effect.p_value for t in tested], settings.alpha)):
        t.discovery = found
    verdicts = [] if settings.fixed_horizon else [_verdict(d, e, goal, tested, settings) for e in by_goal.get(goal, [])]
    return Review(tested, verdicts, list(by_goal), settings)


def _verdict(d: Data, e: ExperimentResult, goal: str, tested: list[Tested], s: Settings) -> Verdict:
    mine = [t for t in tested if t.experiment == e.id and t.against != "holdout"]
    harmed = [t for t in mine if t.harms(s.guardrails.get(t.goal))]
    v = Verdict(e.id, "CONTINUE", "", harmed=harmed)
    _power(d, e, s, v)
    if e.srm_flag:
        v.call, v.reason = "FIX", "sample ratio mismatch: the split is not the configured one; find the cause before reading any result"
        return v
    if len(e.rows) < 2:
        v.reason = "one variant only: nothing to compare"
        return v
    on_goal = [t for t in mine if t.goal == goal]
    if harmed:
        v.call = "STOP"
        v.reason = "; ".join(f"{t.variant} harms guardrail '{t.goal}' ({lift_text(t.effect)} vs {t.against})" for t in harmed)
        return v
    found = [t for t in on_goal if t.discovery]
    if found:
        v.call = "STOP"
        v.reason = "; ".join(f"{t.variant} {'beats' if t.effect.above else 'loses to'} {t.against} on '{goal}': {lift_text(t.effect)}" for t in found)
        return v
    leading = [t for t in on_goal if t.effect.above or t.effect.below]
    if leading:  # its own interval excludes 0, but not after the correction for the report's other comparisons
        v.reason = "; ".join(f"{t.variant} {'leads' if t.effect.above else 'trails'} {t.against} on '{goal}' ({lift_text(t.effect)})" for t in leading)
        v.reason += f", not yet a discovery across the report's {len(tested)} comparisons (false-discovery control)"
        return v
    band = s.mde if s.mde is not None else s.expected_lift
    if on_goal and all(t.effect.low is not None and t.effect.high is not None and -band < t.effect.low and t.effect.high < band for t in on_goal):
        v.call = "STOP"
        v.reason = f"no effect of ±{band * 100:.0f}% or more on '{goal}': " + "; ".join(f"{t.variant} {lift_text(t.effect)}" for t in on_goal)
        return v
    shown = "; ".join(f"{t.variant} {lift_text(t.effect)}" for t in on_goal) or "no data yet"
    v.reason = f"no difference yet on '{goal}' ({shown})"
    return v


def pct(v: float | None, signed: bool = False) -> str:
    """A rate (``4.00%``) or, ``signed``, a lift (``+12.5%``) as the report prints it; a lift beyond
    +1000% (an interval that says "no information yet") as ``>+1000%``."""
    if v is None:
        return "-"
    if not signed:
        return f"{v * 100:.2f}%"
    if v > 10:
        return ">+1000%"
    return "-inf" if v == -math.inf else f"{v * 100:+.1f}%"


def lift_text(f: Effect) -> str:
    """A lift and its interval as the verdicts print them."""
    return f"{pct(f.lift, True)} [{pct(f.low, True)}, {pct(f.high, True)}]" if f.low is not None else pct(f.lift, True)


def _power(d: Data, e: ExperimentResult, s: Settings, v: Verdict) -> None:
    """MDE at the current sample and, with ``s.mde``, the days to detect it at the observed traffic."""
    if len(e.rows) < 2:
        return
    c, t = e.rows[0], e.rows[1]
    p0 = c.x / c.n if c.n and c.x else ((c.x + t.x) / (c.n + t.n) if c.n + t.n and c.x + t.x else 0.0)
    if not 0 < p0 < 1:
        return
    seq = not s.fixed_horizon
    v.mde = sq.mde(t.n, c.n, p0, alpha=s.alpha, expected_lift=s.expected_lift, sequential=seq)
    v.per_day = per_day(d, e.slot, [f"{e.id}/{r.label}" for r in e.rows[:2]])
    if s.mde is None:
        return
    share = t.n / (t.n + c.n)
    need = sq.visits_to_detect(s.mde, p0, share, alpha=s.alpha, expected_lift=s.expected_lift, sequential=seq)
    more = max(0.0, need - (t.n + c.n))
    if more == 0:
        v.days = 0.0
    elif v.per_day and math.isfinite(more):
        v.days = more / v.per_day


def per_day(d: Data, slot: str, arms: list[str]) -> float | None:
    """Visits a day exposed to ``arms`` (personalised), from the first and the last read of the
    history; None with one read, or reads less than an hour apart."""
    if len(d.history) < 2:
        return None
    (t0, first), (t1, last) = d.history[0], d.history[-1]
    if t1 - t0 < 3600:
        return None

    def n(x: Data) -> int:
        return sum(c for k, c in x.exposures.items() if k[0] == slot and k[1] in arms and k[3] == "personalized")

    return (n(last) - n(first)) / (t1 - t0) * DAY
