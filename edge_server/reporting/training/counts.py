"""The model counters of a fleet, as training reads them.

Reading is ``strata report``'s (``edge_server/reporting``: ``counters.load`` keeps the latest
snapshot per instance and adds the instances up, from ``GET /v1/stats`` JSON or ``/metrics``
scrapes; ``models.group`` gathers the ``models`` rows by model). This module only indexes them for
fitting: a level's visits are its *net* visits (entered - left), its converting visits
``converted``. Feature ``*`` level ``*`` is the visit total; feature ``@score`` rows carry the fit
(not the spec) in their ``spec`` field.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge_server.contract import ALL, SCORE
from edge_server.reporting.counters import Data, ReportError
from edge_server.reporting.counters import load as load_stats
from edge_server.reporting.models import group


class CountsError(ValueError):
    """Stats files that cannot be read as Strata counters (the message names the file)."""


@dataclass
class Cell:
    visits: int = 0  # net: entered - left
    converted: int = 0


@dataclass
class Fleet:
    #: (model, spec-or-fit, arm, feature, level) -> counts, summed over instances
    cells: dict[tuple[str, str, str, str, str], Cell] = field(default_factory=dict)
    #: model id -> the model as the newest snapshot's bundle declares it (spec, fit, goal, uplift, features)
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    instances: int = 0
    snapshots: int = 0
    latest: float | None = None  # newest ``generated`` time (s since the epoch) among the inputs

    def table(self, model: str, spec: str, arm: str | None, feature: str) -> dict[str, Cell]:
        """level -> counts for one feature (``arm`` None: every arm summed)."""
        out: dict[str, Cell] = defaultdict(Cell)
        for (m, s, a, f, level), c in self.cells.items():
            if m == model and s == spec and f == feature and (arm is None or a == arm):
                out[level].visits += c.visits
                out[level].converted += c.converted
        return dict(out)

    def specs_seen(self, model: str) -> dict[str, int]:
        """spec -> visits counted under it (for notes about rows of other specs)."""
        seen: dict[str, int] = defaultdict(int)
        for (m, s, _a, f, _l), c in self.cells.items():
            if m == model and f == ALL:
                seen[s] += c.visits
        return dict(seen)

    def score_fits(self, model: str) -> list[str]:
        return sorted({s for (m, s, _a, f, _l) in self.cells if m == model and f == SCORE})


def load(paths: list[str], reader: Callable[[list[str]], Data] = load_stats) -> Fleet:
    """The fleet of stats files ``paths`` (``reader``: how they are read; ``strata train --prometheus``
    passes one that asks Prometheus instead, edge_server/reporting/prometheus.py)."""
    try:
        data = reader(paths)
    except ReportError as e:
        raise CountsError(str(e)) from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:  # a snapshot of the right format with a malformed row
        raise CountsError(f"malformed stats snapshot among {', '.join(paths)} ({type(e).__name__}: {e})") from None
    fleet = Fleet(instances=data.sources, snapshots=len(paths) or data.sources, latest=max((t for t, _ in data.timeline), default=None))
    for mid, m in group(data).items():
        for r in m["rows"]:
            fleet.cells[(mid, r["spec"], r["arm"], r["feature"], r["level"])] = Cell(r["entered"] - r["left"], r["converted"])
        fleet.specs[mid] = {k: m[k] for k in ("spec", "fit", "goal", "uplift", "features")}
    return fleet
