"""Conversions already counted by this process: (visit nonce, goal) pairs, forgotten after the
visit timeout.

The visitor's cookie remembers the goals its visit converted, but a client can replay an older
copy of its cookie (one that does not know yet) as often as it likes. Each visit carries a random
nonce (edge_server/session.py); this ledger remembers, per process, which (nonce, goal) pairs have
converted, so a replayed cookie converts once per goal and visit on each process.

Why forgetting after the visit timeout is enough: the events endpoint treats a cookie whose last
request is older than the visit timeout as a new visit with a new nonce, so a nonce can only be
presented within ``visit_timeout`` of the last cookie that carried it. Every cookie of a visit that
was written before a conversion was recorded is at most as recent as that conversion, so its pair
is still remembered; cookies written after it list the goal themselves.

Nothing personal is kept: the nonce is random (not the session id) and lives at most one visit
timeout. Memory is bounded by ``capacity``: when full, the oldest pair is forgotten early (counted
in ``evicted``), which reopens that one pair to a replay; docs/measurement.md sizes it.
"""

from __future__ import annotations

from collections import OrderedDict

from .contract import LEDGER_CAPACITY

# Pairs kept at most: LEDGER_CAPACITY (edge_contract.json). An entry costs about 175 bytes (measured
# with tracemalloc: a 16-character nonce and a goal name as one string key, the float, the
# ordered-dict links), so the default is ~46 MB at its fullest; with the default 30-minute visit
# timeout it holds ~145 conversions per second per process before anything is forgotten early.


class ConversionLedger:
    """``first(nonce, goal, now)`` is True once per pair within ``ttl`` seconds."""

    def __init__(self, ttl: float, capacity: int = LEDGER_CAPACITY):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.ttl = ttl
        self.capacity = capacity
        self.evicted = 0  # pairs forgotten before their time because the ledger was full
        self._seen: OrderedDict[str, float] = OrderedDict()  # "nonce goal" -> when recorded, oldest first

    def __len__(self) -> int:
        return len(self._seen)

    def first(self, nonce: str, goal: str, now: float) -> bool:
        """True when (nonce, goal) has not converted in the last ``ttl`` seconds (it is then
        recorded); False for a repeat. ``now`` must not go backwards by more than clock jitter."""
        self._expire(now)
        key = f"{nonce} {goal}"  # a nonce is base64url: it never contains a space
        if key in self._seen:
            return False
        self._seen[key] = now
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
            self.evicted += 1
        return True

    def _expire(self, now: float) -> None:
        seen, limit = self._seen, now - self.ttl
        while seen:
            key, t = next(iter(seen.items()))
            if t >= limit:
                return
            del seen[key]
