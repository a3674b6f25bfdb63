"""The model counters of a fleet, as training reads them.

Reading is ``strata report``'s (``edge_server/reporting``: ``counters.load`` keeps the latest
snapshot per instance and adds the instances up, from ``GET /v1/stats`` JSON or ``/metrics``
scrapes; ``models.group`` gathers the ``models`` rows by model). This module only indexes them for
fitting: a level's visits are its *net* visits (entered - left), its converting visits
``converted``. Feature ``*`` level ``*`` is the visit total; feature ``@logit`` rows (log-odds buckets) carry the fit
(not the spec) in their ``spec`` field.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge_server.contract import ALL, LEGACY_SCORE, MODEL_EVENTS, SCORE
from edge_server.reporting.counters import Data, ReportError, source_of
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

    def legacy_visits(self, model: str) -> int:
        """Visits in the old 0.05-wide ``@score`` rows (counted before the log-odds buckets; not read)."""
        return sum(c.visits for (m, _s, _a, f, _l), c in self.cells.items() if m == model and f == LEGACY_SCORE)


#: Rows and instances named in a refusal of impossible counts (the rest are counted, not listed).
SHOWN = 5


def impossible(data: Data) -> str:
    """Why the fleet's model counts cannot be a fleet's (every level's summed ``left`` <= ``entered``
    and ``converted`` <= ``entered - left``, the visit rows (``*``) being the arms' levels), naming
    the rows and, per row, the instances that count it; "" when they can.

    Per instance either may be exceeded honestly: a visit that entered a level at one instance may
    leave it, or convert, at another. Summed over every instance that counted the visit, neither
    can; over part of the fleet (an instance's file missing, a counter reset) the sums are not the
    fleet's either."""
    rows = []
    for (model, spec, arm, feature, level), r in _summed(data).items():
        entered, left, converted = r
        if left > entered:
            why = f"left {left:,} > entered {entered:,}"
        elif converted > entered - left:
            why = f"converted {converted:,} > its visits (entered - left) {entered - left:,}"
        else:
            continue
        rows.append(((model, spec, arm, feature, level), why))
    if not rows:
        return ""
    lines = [f"impossible model counts in {len(rows):,} row{'s' if len(rows) != 1 else ''} (summed over {data.sources:,} instance"
             f"{'s' if data.sources != 1 else ''}); nothing trained, nothing written:"]
    for (model, spec, arm, feature, level), why in rows[:SHOWN]:
        holders = [f"{source_of(inst, s)} (entered {r['entered']:,}, left {r['left']:,}, converted {r['converted']:,})"
                   for inst, s in data.instances.items() for r in s.get("models", ())
                   if (r["model"], r["spec"], r["arm"], r["feature"], r["level"]) == (model, spec, arm, feature, level)]
        more = f" and {len(holders) - SHOWN:,} more" if len(holders) > SHOWN else ""
        lines.append(f"  model {model} spec {spec} arm {arm!r} feature {feature} level {level}: {why}; "
                     f"instances: {', '.join(holders[:SHOWN])}{more}")
    if len(rows) > SHOWN:
        lines.append(f"  and {len(rows) - SHOWN:,} more rows")
    lines.append("A fleet's counters never do this: read every instance's latest snapshot (a missing instance, or a counter reset, "
                 "leaves the sums incomplete), and find who wrote the rows named above.")
    return "\n".join(lines)


def _summed(data: Data) -> dict[tuple[str, str, str, str, str], list[int]]:
    out: dict[tuple[str, str, str, str, str], list[int]] = {}
    for (model, spec, arm, feature, level, event), n in data.models.items():
        out.setdefault((model, spec, arm, feature, level), [0, 0, 0])[MODEL_EVENTS.index(event)] += n
    return out


def load(paths: list[str], reader: Callable[[list[str]], Data] = load_stats) -> Fleet:
    """The fleet of stats files ``paths`` (``reader``: how they are read; ``strata train --prometheus``
    passes one that asks Prometheus instead, edge_server/reporting/prometheus.py)."""
    try:
        data = reader(paths)
    except ReportError as e:
        raise CountsError(str(e)) from None
    except (KeyError, TypeError, ValueError, AttributeError) as e:  # a snapshot of the right format with a malformed row
        raise CountsError(f"malformed stats snapshot among {', '.join(paths)} ({type(e).__name__}: {e})") from None
    bad = impossible(data)
    if bad:
        raise CountsError(bad)
    fleet = Fleet(instances=data.sources, snapshots=len(paths) or data.sources, latest=max((t for t, _ in data.timeline), default=None))
    for mid, m in group(data).items():
        for r in m["rows"]:
            fleet.cells[(mid, r["spec"], r["arm"], r["feature"], r["level"])] = Cell(r["entered"] - r["left"], r["converted"])
        fleet.specs[mid] = {k: m[k] for k in ("spec", "fit", "goal", "uplift", "features")}
    return fleet
