"""What the report computes per experiment: one :class:`Row` per arm and one :class:`ExperimentResult`
per experiment, read by the report's text and HTML and by the verdicts."""

from __future__ import annotations

from dataclasses import dataclass

from . import sequential as sq
from . import stats
from .allocation import Allocation


@dataclass
class Row:
    label: str
    n: int
    x: int
    value: float
    rate: float
    low: float
    high: float
    vs_control: stats.Comparison | None = None
    vs_holdout: stats.Comparison | None = None
    seq_control: sq.Sequential | None = None  # always-valid (sequential.py); per period once weights changed
    seq_holdout: sq.Sequential | None = None
    seq_value: sq.Sequential | None = None  # value per visit against the control


@dataclass
class ExperimentResult:
    id: str
    slot: str
    rows: list[Row]
    holdout: Row | None
    srm_chi2: float
    srm_p: float
    expected: list[float]
    allocation: Allocation | None = None

    @property
    def per_period(self) -> bool:
        """Whether the split must be judged per period: sessions were assigned under other weights
        than today's (the pooled exposures are then no sample of the current weights)."""
        a = self.allocation
        return a is not None and a.has_cohorts and not (len(a.periods) == 1 and a.periods[0].current)

    @property
    def srm_flag(self) -> bool:
        """Sample-ratio mismatch: in any period's assignments, and, while all sessions were assigned
        under today's weights, in the pooled exposures too."""
        a = self.allocation
        return (a is not None and a.srm_flag) or (not self.per_period and self.srm_p < stats.SRM_ALPHA)
