"""The cookie state one decision writes, at its largest, and the compiler's refusal beyond MAX_DECISION_STATE.

A decision writes into the visitor's cookie (edge_server/session.py), per slot it decides: the
experiment's exposure entry ``experiment -> [variant, visit, period]`` when an experiment wins (the
sticky assignment and its cohort), and a cap entry ``"slot/candidate" -> [shown, last_shown]`` when
the winner is capped. The cookie drops these last (``_shrink``); so that they always fit, this
stage bounds their msgpack bytes, summed over the slots with each slot's largest candidate, by
``MAX_DECISION_STATE`` (runtime/format.json; why that number:
tests/edge_server/test_limits.py measures it beside the state the cookie never drops). A rule set
beyond it is refused at the slot that crosses it. The decision's exposure keys (``Session.shown``,
at most MAX_SHOWN) are not bounded here: they are the first of its own state the cookie drops.
"""

from __future__ import annotations

from runtime.format import MAX_DECISION_STATE, period_length

from . import errors as E
from .errors import Diagnostic
from .ruleset import Rule, RuleSet, Slot
from .source import Locator

#: msgpack bytes of the integers an entry holds at their largest (a uint32: counts, visits, unix seconds).
_INT = 5


def str_bytes(text: str) -> int:
    """msgpack bytes of a string (fixstr, str8, str16 headers)."""
    n = len(text.encode())
    return n + (1 if n < 32 else 2 if n < 256 else 3)


def _candidate(slot: Slot, r: Rule) -> int:
    """The largest exposure and cap entries a decision won by ``r`` writes."""
    out = 0
    if r.experiment is not None:
        e = r.experiment
        longest = max((len(v[0].encode()) for v in e.variants), default=0)
        out += str_bytes(e.id) + 1 + str_bytes("x" * longest) + _INT + str_bytes("x" * period_length(len(e.variants)))
    if r.cap is not None:
        out += str_bytes(f"{slot.id}/{r.id}") + 1 + 2 * _INT
    return out


def slot_bytes(slot: Slot) -> int:
    """The largest exposure and cap entries one decision of ``slot`` writes (its default writes none)."""
    return max([0] + [_candidate(slot, r) for r in slot.rules])


def check(rs: RuleSet, loc: Locator) -> list[Diagnostic]:
    """An error at the first slot where one decision's state, summed over the slots so far, exceeds MAX_DECISION_STATE."""
    total = 0
    for slot in rs.slots:
        total += slot_bytes(slot)
        if total > MAX_DECISION_STATE:
            return [loc.diag(loc.pos(slot.path + ("id",)), E.decision_state(slot.id, total, MAX_DECISION_STATE))]
    return []
