"""Analysis stages.

``order_segments``: cycles between segments are errors; otherwise segments are put in dependency
order (the runtime requires a segment to use only earlier ones) and each learns whether it needs
consent (it reads, directly or through other segments, a signal of a category that needs it).

``lower_rules``: conditions become IR; a slot's candidates are sorted by precedence (most specific
layer, then priority, then file order, with a slot's rules before its experiments).

``warnings``: rules that can never win, segments nobody uses. (Conditions over the cost limit
are errors: ``cost.check``.)
"""

from __future__ import annotations

from typing import Any

from runtime.format import Op

from . import errors as E
from .errors import Diagnostic
from .lower import FALSE, TRUE, Lowerer, fold_and
from .model import RuleSet, layer_rank
from .source import Locator
from .types import BOOL


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
        s.consent = any(rs.signals[n].category in needs for n in s.when.signals) or any(by_id[d].consent for d in s.when.segments)
    for s in ordered:
        if s.requires_consent is False and s.consent:
            sig, cat = _consent_signal(rs, s.when.signals, s.when.segments, needs)
            diags.append(loc.diag(loc.pos(s.when.path), E.consent_violation(f"segment '{s.id}'", sig, cat)))
    return diags


def _consent_signal(rs: RuleSet, signals: set[str], segments: set[str], needs: set[str]) -> tuple[str, str]:
    for n in sorted(signals):
        if rs.signals[n].category in needs:
            return n, rs.signals[n].category
    by_id = {s.id: s for s in rs.segments}
    for sid in sorted(segments):
        seg = by_id[sid]
        if seg.consent:
            return _consent_signal(rs, seg.when.signals, seg.when.segments, needs)
    return "?", "?"


def lower_rules(rs: RuleSet, loc: Locator) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    sig_index = {n: i for i, n in enumerate(rs.signals)}
    seg_index = {s.id: s.index for s in rs.segments}
    seg_by_id = {s.id: s for s in rs.segments}
    lowerer = Lowerer(sig_index, seg_index)
    needs = set(rs.consent_requires)
    for s in rs.segments:
        s.when.ir = lowerer.lower(s.when.ast)
    for slot in rs.slots:
        for r in slot.rules:
            parts: list[Any] = []
            types = []
            if r.segment is not None:
                parts.append([Op.SEG, seg_index[r.segment]])
                types.append(BOOL)
            if r.when is not None:
                r.when.ir = lowerer.lower(r.when.ast)
                parts.append(r.when.ir)
                types.append(r.when.ast.type)
            r.ir = parts[0] if len(parts) == 1 else fold_and(parts[0], parts[1], types)
            r.consent = (r.segment is not None and seg_by_id[r.segment].consent) or (
                r.when is not None
                and (any(rs.signals[n].category in needs for n in r.when.signals) or any(seg_by_id[d].consent for d in r.when.segments))
            )
            if r.requires_consent is False and r.consent:
                sig, cat = _consent_signal(
                    rs, r.when.signals if r.when else set(), (r.when.segments if r.when else set()) | ({r.segment} if r.segment else set()), needs
                )
                diags.append(loc.diag(loc.pos(r.path + ("requires_consent",)), E.consent_violation(f"rule '{r.id}'", sig, cat)))
        slot.rules.sort(key=lambda r: (-layer_rank(r.layer), -r.priority, r.order))
    return diags


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

