"""Post-stratification from the edge's counters (docs/measurement.md, "Variance reduction").

The strata are the feature levels of an **uplift model over the experiment** declared in the rule
set (``models: {m: {goal, uplift: {experiment, treatment, control}, features: {...}}}``): both
runtimes already count, per model, arm and feature level, the visits (entered − left) and the
visits that converted the model's goal (docs/models.md, "Counting") — exposures and conversions
per arm × stratum, bounded by the model limits, with nothing new at the edge. Per feature this
module compares the treatment with the control post-stratified on its levels
(``sequential.post_stratified``) and, from the same rows, unstratified (the model's visit row), so
the report can say how much narrower the interval is.

Only a feature fixed within a visit is a valid stratum: a level that changes after the visit was
exposed could be moved by the treatment itself. The counters show it — a visit moving between
levels counts ``left`` on the old one — so a feature with any ``left`` in either arm is not used,
and the report says why. Scrapes of ``/metrics`` and Prometheus carry no model description:
``strata report --ruleset`` fills it from the rule set (``Data.model_specs``).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import sequential as sq
from .counters import Data
from .models import group

#: Features that are not strata: the visit row and the score buckets.
NOT_STRATA = ("*", "@score")


@dataclass(frozen=True)
class PostStratified:
    model: str
    feature: str
    levels: int
    stratified: sq.Sequential
    unstratified: sq.Sequential
    reason: str = ""  # why the feature is not used ("" when it is)

    @property
    def width_ratio(self) -> float | None:
        """The post-stratified interval's width over the unstratified one's (of the difference)."""
        s, u = self.stratified, self.unstratified
        if s.low is None or s.high is None or u.low is None or u.high is None or u.high == u.low:
            return None
        return (s.high - s.low) / (u.high - u.low)


def post_stratify(d: Data, experiment: str, goal: str, *, alpha: float = sq.ALPHA,
                  expected_lift: float = sq.EXPECTED_LIFT) -> list[PostStratified]:
    """Per feature of each uplift model over ``experiment`` for ``goal`` (declaration order): the
    post-stratified and the unstratified comparison of its treatment against its control."""
    out = []
    kw = {"alpha": alpha, "expected_lift": expected_lift}
    for mid, m in group(d).items():
        u = m.get("uplift") or {}
        if u.get("experiment") != experiment or m.get("goal") != goal:
            continue
        rows = [r for r in m["rows"] if r["spec"] == m["spec"]]
        cell: dict[tuple[str, str, str], dict[str, int]] = {(r["arm"], r["feature"], r["level"]): r for r in rows}

        def counts(arm: str, feature: str, level: str, cell: dict[tuple[str, str, str], dict[str, int]] = cell) -> tuple[int, int]:
            r = cell.get((arm, feature, level))
            return (0, 0) if r is None else (r["converted"], max(r["entered"] - r["left"], 0))

        x1, n1 = counts("treatment", "*", "*")
        x0, n0 = counts("control", "*", "*")
        whole = sq.rates(x1, n1, x0, n0, **kw)
        for feature, levels in m["features"].items():
            if feature in NOT_STRATA:
                continue
            moved = sum(cell[(a, feature, lv)]["left"] for a in ("treatment", "control") for lv in levels if (a, feature, lv) in cell)
            if moved:
                out.append(PostStratified(mid, feature, len(levels), sq.NONE, whole,
                                          f"{moved:,} visits changed level within the visit: not fixed at assignment, not a stratum"))
                continue
            strata = [(*counts("treatment", feature, lv), *counts("control", feature, lv)) for lv in levels]
            out.append(PostStratified(mid, feature, len(levels), sq.post_stratified(strata, **kw), whole))
    return out
