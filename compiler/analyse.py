"""The analyse stage: warnings over the IR — rules that can never win, segments nobody uses.
(Conditions over the cost limit are errors: the cost stage, ``cost.py``.)
"""

from __future__ import annotations

from . import errors as E
from .errors import Diagnostic
from .lower import FALSE, TRUE
from .ruleset import RuleSet
from .source import Locator


def warnings(rs: RuleSet, loc: Locator) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for slot in rs.slots:
        for j, r in enumerate(slot.rules):
            where = loc.pos(r.path + ("when",) if r.when is not None else r.path + (("segment",) if r.kind == "rule" else ("audience",)))
            if r.ir == FALSE:
                out.append(loc.diag(where, E.unreachable(r.id, "its condition is always false"), "warning"))
                continue
            for earlier in slot.rules[:j]:
                if earlier.layer != r.layer or earlier.kind != "rule" or earlier.cap is not None:
                    continue
                if earlier.consent and not r.consent:
                    continue  # r can still win for visitors without consent
                if earlier.ir == TRUE:
                    out.append(loc.diag(where, E.unreachable(r.id, f"earlier rule '{earlier.id}' in the same layer always matches"), "warning"))
                    break
                if earlier.ir == r.ir:
                    out.append(loc.diag(where, E.unreachable(r.id, f"earlier rule '{earlier.id}' in the same layer has the same condition"), "warning"))
                    break
    used: set[str] = set()
    by_id = {s.id: s for s in rs.segments}

    def use(sid: str) -> None:
        if sid in used or sid not in by_id:
            return
        used.add(sid)
        for d in by_id[sid].when.segments:
            use(d)

    for slot in rs.slots:
        for r in slot.rules:
            if r.segment:
                use(r.segment)
            if r.when is not None:
                for d in r.when.segments:
                    use(d)
    for s in rs.segments:
        if s.id not in used:
            out.append(loc.diag(loc.pos(s.path + ("id",)), E.unused_segment(s.id), "warning"))
    return out

