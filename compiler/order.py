"""The order stage: cycles between segments are errors; otherwise segments are put in dependency
order (the runtime requires a segment to use only earlier ones) and each learns whether it needs
consent (it reads, directly, through a score.<model> or through other segments, a signal of a
category that needs it).
"""

from __future__ import annotations

from . import errors as E
from .errors import Diagnostic
from .ruleset import Condition, RuleSet
from .source import Locator


def order_segments(rs: RuleSet, loc: Locator) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    by_id = {s.id: s for s in rs.segments}
    state: dict[str, int] = {}  # 0 visiting, 1 done
    ordered = []
    reported: set[frozenset[str]] = set()

    def visit(sid: str, stack: list[str]) -> None:
        st = state.get(sid)
        if st == 1:
            return
        if st == 0:
            cycle = stack[stack.index(sid):] + [sid]
            key = frozenset(cycle)
            if key not in reported:
                reported.add(key)
                seg = by_id[stack[-1]]
                diags.append(loc.diag(loc.pos(seg.when.path), E.segment_cycle(cycle)))
            return
        state[sid] = 0
        for dep in sorted(by_id[sid].when.segments):
            if dep in by_id:
                visit(dep, stack + [sid])
        state[sid] = 1
        ordered.append(by_id[sid])

    for s in rs.segments:
        visit(s.id, [])
    if diags:
        return diags
    rs.segments = ordered
    needs = set(rs.consent_requires)
    for i, s in enumerate(ordered):
        s.index = i
        s.consent = any(rs.signals[n].category in needs for n in reads(rs, s.when)) or any(by_id[d].consent for d in s.when.segments)
    for s in ordered:
        if s.requires_consent is False and s.consent:
            sig, cat = consent_signal(rs, reads(rs, s.when), s.when.segments, needs)
            diags.append(loc.diag(loc.pos(s.when.path), E.consent_violation(f"segment '{s.id}'", sig, cat)))
    return diags


def reads(rs: RuleSet, cond: Condition) -> set[str]:
    """The signals a condition reads: its own, and the features' of every score.<model> it reads
    (a score needs consent exactly when one of its model's signals does)."""
    if not cond.models:
        return cond.signals
    out = set(cond.signals)
    for m in rs.models:
        if m.id in cond.models:
            out.update(f.signal for f in m.features if f.kind != "cross")
    return out


def consent_signal(rs: RuleSet, signals: set[str], segments: set[str], needs: set[str]) -> tuple[str, str]:
    for n in sorted(signals):
        if rs.signals[n].category in needs:
            return n, rs.signals[n].category
    by_id = {s.id: s for s in rs.segments}
    for sid in sorted(segments):
        seg = by_id[sid]
        if seg.consent:
            return consent_signal(rs, reads(rs, seg.when), seg.when.segments, needs)
    return "?", "?"
