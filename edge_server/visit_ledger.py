"""What this process counted for each visit it served: one record per visit nonce, forgotten after
the visit timeout (docs/security.md, "Measurement integrity").

The visitor's cookie says what its visit already counted (the exposure keys shown, the goals
converted, each model's entry), but a client can replay an older copy of its cookie, or alter what
a decision reads (another User-Agent, another page), as often as it likes. Each visit carries a
random nonce (edge_server/session.py); this ledger remembers, per process and nonce:

- the goals that converted (a conversion counts once per visit and goal);
- the exposure keys (``slot|arm|layer``) counted, and per experiment the variant whose exposure was
  counted (an arm's exposures and a cohort count once per visit);
- the visit's model state this process last counted (:class:`ModelState`: the entries, which models
  the visit entered, and the lineage tag of that state), which edge_server/model_counts.py takes as
  the state to count changes from unless the cookie descends from it.

So on one process any sequence of replays counts a visit once: never more exposures, conversions or
entered visits than one honest visit, and its model levels moved only from what was last counted.

Why forgetting after the visit timeout is enough: a cookie whose last request is older than the
visit timeout starts a new visit with a new nonce (``Session.touch``), so a nonce is only presented
within ``visit_timeout`` of the last cookie that carried it; every request of the visit that this
process serves touches its record, so a cookie this process wrote is always younger than its record.
(A visit kept alive on other processes can come back after its record here expired: then this process
counts it as it would a visit it never saw, at most once per visit timeout.)

Nothing personal is kept: the nonce is random (not the session id), the keys are the bundle's own
names and level indexes, and a record lives one visit timeout after the visit's last request here.
Memory is bounded by ``capacity`` visits: when full, the least recently served visit is forgotten
early (counted in ``evicted``, exported as ``strata_visit_ledger_evictions_total``), which lets a
replay of that one visit count once more; docs/measurement.md sizes it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from .contract import VISIT_LEDGER_CAPACITY


class ModelState(NamedTuple):
    """A visit's model state as this process last counted it (the cookie's fields 15 to 17)."""

    lineage: bytes  # the cookie's lineage when it was written: this state's tag last
    entries: bytes  # the model entries, packed as the cookie packs them (session.pack_models): ~4 times smaller than the objects
    entry_count: int  # how many entries
    entered: int  # bit i: the visit entered the bundle's i-th counted model


class VisitRecord:
    """What one process counted for one visit."""

    __slots__ = ("seen", "goals", "shown", "experiments", "models", "population")

    def __init__(self, seen: float):
        self.seen = seen  # the last request of the visit here
        # tuples rather than sets: a visit converts a few goals and is shown a few keys (MAX_SHOWN at
        # most a decision's), and an empty set alone takes 216 bytes
        self.goals: tuple[str, ...] = ()
        self.shown: tuple[str, ...] = ()
        self.experiments: tuple[tuple[str, str], ...] = ()  # (experiment, the variant whose exposure counted)
        self.models: ModelState | None = None
        self.population: str | None = None  # a browser's visit (beacons.py): the population its first counted exposure named

    def first_conversion(self, goal: str) -> bool:
        """True once per goal (it is then remembered)."""
        if goal in self.goals:
            return False
        self.goals += (goal,)
        return True

    def first_exposure(self, key: str) -> bool:
        """True once per exposure key (it is then remembered)."""
        if key in self.shown:
            return False
        self.shown += (key,)
        return True

    def first_cohort_exposure(self, experiment: str, variant: str) -> bool:
        """True once per experiment and variant in a row (a reassignment to another variant counts)."""
        if (experiment, variant) in self.experiments:
            return False
        self.experiments = tuple(x for x in self.experiments if x[0] != experiment) + ((experiment, variant),)
        return True


class VisitLedger:
    """``record(nonce, now)``: the visit's record, created or touched; forgotten ``ttl`` seconds after
    its last touch, or earliest-touched first beyond ``capacity`` visits."""

    def __init__(self, ttl: float, capacity: int = VISIT_LEDGER_CAPACITY, on_evict: Callable[[], Any] | None = None):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.ttl = ttl
        self.capacity = capacity
        self.evicted = 0  # visits forgotten before their time because the ledger was full
        self._on_evict = on_evict
        self._visits: OrderedDict[str, VisitRecord] = OrderedDict()  # nonce -> record, least recently touched first

    def __len__(self) -> int:
        return len(self._visits)

    def record(self, nonce: str, now: float) -> VisitRecord:
        """The record of ``nonce``, touched at ``now`` (new when this process has none). ``now`` must
        not go backwards by more than clock jitter."""
        self._expire(now)
        visits = self._visits
        rec = visits.get(nonce)
        if rec is None:
            rec = visits[nonce] = VisitRecord(now)
            if len(visits) > self.capacity:
                visits.popitem(last=False)
                self.evicted += 1
                if self._on_evict is not None:
                    self._on_evict()
        else:
            rec.seen = now
            visits.move_to_end(nonce)
        return rec

    def first_conversion(self, nonce: str, goal: str, now: float) -> bool:
        """True when (nonce, goal) has not converted here within the visit (it is then remembered)."""
        return self.record(nonce, now).first_conversion(goal)

    def _expire(self, now: float) -> None:
        visits, limit = self._visits, now - self.ttl
        while visits:
            rec = next(iter(visits.values()))
            if rec.seen >= limit:
                return
            visits.popitem(last=False)
