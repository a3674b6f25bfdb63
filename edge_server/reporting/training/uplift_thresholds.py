"""What a condition on an uplift score selects (docs/models.md, "Thresholds of an uplift score"):
for each ``score.<model> OP t`` of the rule set, the share of the deployed fit's live visits it
selects and their **observed uplift** — the treatment's conversion rate minus the control's among
the selected visits, with a 95% interval.

The edge counts each visit of an uplift model, in its arm, in the ``@uplift`` row of its uplift
score (the calibrated uplift ``score.<model>`` returns; ``UPLIFT_BUCKETS`` of runtime/format.json),
under the label ``fit`` or ``fit~tag`` (runtime/score.py ``uplift_label``: a recalibration keeps the
fit but changes every uplift score). The rows read here are those of the map the rule set holds
now: its fit and its calibrations' tag. A bucket ``[lo, hi)`` is selected when its centre passes the
condition: exact when ``t`` is a bucket edge (a multiple of 0.01), else the bucket holding ``t`` is
taken whole or not at all (the line says so). The interval is Wald's for a difference of two
proportions, as the uplift by level (summary.py).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from edge_server.contract import UPLIFT
from runtime.format import UPLIFT_BUCKETS
from runtime.score import calibration_tag, uplift_bucket_range, uplift_label

from .counts import Cell, Fleet
from .model_info import ModelInfo

Z95 = 1.959963984540054
COMPARISONS: dict[str, Callable[[float, float], bool]] = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class Selection:
    """What one condition selects: visits and converting visits per arm, and the arms' totals."""

    treated: tuple[int, int]  # (visits, converting) in the treatment arm
    control: tuple[int, int]
    total: int  # visits of both arms in the rows read
    predicted: float | None  # the visit-weighted mean bucket centre of the selected visits (the score's own claim)

    @property
    def share(self) -> float:
        return (self.treated[0] + self.control[0]) / self.total if self.total else 0.0

    def uplift(self) -> tuple[float, float, float] | None:
        """Observed uplift with its 95% interval, None when an arm has no selected visit."""
        (nt, ct), (nc, cc) = self.treated, self.control
        if nt <= 0 or nc <= 0:
            return None
        pt, pc = ct / nt, cc / nc
        half = Z95 * math.sqrt(pt * (1 - pt) / nt + pc * (1 - pc) / nc)
        return pt - pc, pt - pc - half, pt - pc + half


def label(model: ModelInfo) -> str:
    """The ``@uplift`` rows' label of the map the rule set holds: its fit and its calibrations' tag."""
    return uplift_label(model.fit, calibration_tag([c.knots for c in model.current]))


def _rows(table: dict[str, Cell]) -> list[tuple[float, float, int, int]]:
    out = []
    for name, c in table.items():
        try:
            lo, hi = uplift_bucket_range(name)
        except ValueError:
            continue
        if c.visits > 0:
            out.append((lo, hi, c.visits, max(min(c.converted, c.visits), 0)))
    return sorted(out)


def select(treated: dict[str, Cell], control: dict[str, Cell], op: str, t: float) -> Selection:
    """The visits of each arm whose uplift bucket's centre passes ``OP t``."""
    cmp = COMPARISONS[op]
    arms = []
    total = 0
    weighted = 0.0
    for table in (treated, control):
        n = c = 0
        for lo, hi, visits, conv in _rows(table):
            total += visits
            if cmp((lo + hi) / 2, t):
                n, c = n + visits, c + conv
                weighted += visits * (lo + hi) / 2
        arms.append((n, c))
    chosen = arms[0][0] + arms[1][0]
    return Selection(arms[0], arms[1], total, weighted / chosen if chosen else None)


def on_edge(t: float) -> bool:
    """Whether ``t`` is a bucket edge (then the selection is exact)."""
    i = (t - UPLIFT_BUCKETS.low) * UPLIFT_BUCKETS.per_unit
    return abs(i - round(i)) < 1e-9


def lines(model: ModelInfo, fleet: Fleet | None) -> Iterable[str]:
    """The thresholds section of an uplift model: one line per condition on its score."""
    if not model.thresholds:
        return
    name = label(model)
    treated = fleet.table(model.id, name, "treatment", UPLIFT) if fleet is not None else {}
    control = fleet.table(model.id, name, "control", UPLIFT) if fleet is not None else {}
    counted = sum(c.visits for c in treated.values()) + sum(c.visits for c in control.values())
    if not treated or not control or counted <= 0:
        others = sorted({s for (m, s, _a, f, _l) in (fleet.cells if fleet is not None else {}) if m == model.id and f == UPLIFT} - {name})
        note = f"; rows of other fits or calibrations: {', '.join(others)}" if others else ""
        yield (f"  thresholds: no {UPLIFT} rows of both arms under {name} (the rule set's fit and calibration) yet: "
               f"publish it and let the fleet count{note}")
        return
    step = 1 / UPLIFT_BUCKETS.per_unit
    yield (f"  thresholds (what each condition selects among the deployed fit's live visits, {name}: share of both arms' visits; "
           f"observed uplift = treatment rate - control rate among them, 95% interval; uplift buckets of {step:g}):")
    for t in model.thresholds:
        sel = select(treated, control, t.op, t.value)
        head = f"    score.{model.id} {t.op} {t.value:g} ({t.where}): "
        inside = "" if on_edge(t.value) else f" (the bucket holding {t.value:g} counted by its centre)"
        got = sel.uplift()
        if got is None:
            yield head + f"{sel.share:.1%} of visits; no visit of {'the treatment' if sel.treated[0] <= 0 else 'the control'} arm selected{inside}"
            continue
        u, lo, hi = got
        (nt, _), (nc, _) = sel.treated, sel.control
        yield (head + f"{sel.share:.1%} of visits ({nt:,} treated, {nc:,} control), observed uplift {u:+.2%} [{lo:+.2%}, {hi:+.2%}], "
               f"predicted {sel.predicted:+.2%}{inside}")
