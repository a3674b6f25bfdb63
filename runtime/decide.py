"""Deciding, per request: ``Prepared`` is a bundle's plan (``plan.py``) with the decision
procedure of docs/runtime.md — holdout, consent, candidates in precedence order, experiments,
frequency caps, evaluation errors — and the explain trace.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from typing import Any

from . import bucketing
from .budget import COUNT
from .decision import Decision, Outcome
from .plan import Plan, _Slot

__all__ = ["Prepared"]


class Prepared(Plan):
    """A verified bundle ready to decide. Safe to share across threads and to swap atomically:
    what a decision reads never changes once built, and a slot is built once, on its first use."""

    # ------------------------------------------------------------------ signals
    def prepare_signals(self, signals: Mapping[str, Any], consent: bool) -> tuple[dict[str, Any], list[str]]:
        """Defaults merged with the provided signals that conform to their declared types.

        Returns the signal dict and the names of provided signals that were dropped (undeclared,
        ill-typed, or needing consent the visitor did not give).
        """
        s = dict(self.defaults)
        dropped: list[str] = []
        checkers = self.checkers
        for k, v in signals.items():
            chk = checkers.get(k)
            if chk is not None and chk(v):
                s[k] = v
            else:
                dropped.append(k)
        if not consent:
            for k in self.consent_signals:
                if k in s:
                    del s[k]
        return s, dropped

    # ------------------------------------------------------------------ decide
    def in_holdout(self, session_id: str) -> bool:
        """Is this visitor in the bundle's global holdout? The one definition: ``decide`` and the
        server's goal attribution both ask here (docs/bucketing.md)."""
        return self.holdout_bp > 0 and bucketing.bucket(self.holdout_seed, session_id) < self.holdout_bp

    def decide(
        self,
        signals: Mapping[str, Any],
        slots: Iterable[str] | None = None,
        *,
        session_id: str | None = None,
        caps: Mapping[str, Any] | None = None,
        consent: bool = True,
        now: float | None = None,
        explain: bool = False,
        checked: bool = False,
        assignments: Mapping[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> Outcome:
        """Decide content for ``slots`` (all slots when None).

        ``session_id`` is the visitor's random session id (absent without consent: then there is
        no holdout assignment and no experiment). ``caps`` maps ``slot/rule`` to
        ``[count, last_shown_unix]`` from the session cookie. Unknown slot names are skipped.
        ``checked=True`` says every value already conforms to its declared type (the edge server
        builds its signals typed and validates client ones), so only defaults are merged in.
        ``assignments`` maps experiment id to the variant id recorded in the visitor's cookie: a
        recorded variant that still exists wins over the hash when the experiment matches and the
        visitor is in its traffic (sticky assignment, docs/runtime.md), whatever its weight now.
        ``values``: the signal map ``checked_signals`` made for ``signals`` with this consent, when
        the caller made it (``signals`` is then not read).
        """
        if values is not None:
            s = values
        elif checked:
            s = self.checked_signals(signals, consent)
        else:
            s, _ = self.prepare_signals(signals, consent)
        if not consent:
            session_id = None
        t = time.time() if now is None else now
        out = Outcome(self.name, self.version, {})
        memo: dict[int, Any] = {}  # segment results by index, and the budget's counts (budget.COUNT)
        in_holdout = session_id is not None and self.in_holdout(session_id)
        out.holdout = in_holdout
        decisions = out.decisions
        ready = self._ready
        for sid in self.slot_ids if slots is None else slots:
            slot = ready.get(sid)
            if slot is None:
                slot = self.slot(sid)  # its first use prepares it (plan.py)
                if slot is None:
                    continue
            if sid in decisions:  # a slot asked for twice is decided once
                continue
            if in_holdout:
                decisions[sid] = Decision(sid, slot.default, "holdout", trace=()) if explain else slot.fallback["holdout"]
                continue
            if not consent and self.defaults_without_consent:
                decisions[sid] = Decision(sid, slot.default, "no_consent", trace=()) if explain else slot.fallback["no_consent"]
                continue
            decisions[sid] = self._decide_slot(slot, s, memo, session_id, caps, consent, t, explain, out, assignments)
        out.memo = memo
        out.signals = s
        if self._score_keys:
            out.scores = {mid: memo[k] for mid, k in self._score_keys if k in memo}
        if explain:
            out.segments = {
                self.segments[i].id: (v if v is True or v is False else {"error": v.message})
                for i, v in ((i if i >= 0 else ~i, v) for i, v in memo.items() if -COUNT <= i < COUNT)
            }
        return out

    def checked_signals(self, signals: Mapping[str, Any], consent: bool = True, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The signal map conditions read, from signals that already conform to their types (what
        the server passes to ``decide(..., checked=True)``): defaults (or ``base``, a map this
        method made before) merged, consent-stripped."""
        s = {**(self.defaults if base is None else base), **signals}
        if not consent:
            for k in self.consent_signals.intersection(s):
                del s[k]
        return s

    #: Signal maps checked_of keeps (per bundle); beyond, it starts afresh.
    MAX_CHECKED = 4096

    def checked_of(self, signals: Mapping[str, Any]) -> dict[str, Any]:
        """``checked_signals(signals)`` of a map that never changes (a server's derived request
        signals, one map per request shape), made once per map: a request then checks only its own
        signals on top of it (``checked_signals``'s ``base``). The JavaScript port's ``preparedOf``."""
        made: dict[int, tuple[Mapping[str, Any], dict[str, Any]]] = self.__dict__.setdefault("_checked", {})
        hit = made.get(id(signals))
        if hit is not None and hit[0] is signals:  # the map itself kept alive beside it: its id is not reused
            return hit[1]
        if len(made) >= self.MAX_CHECKED:
            made.clear()
        out = self.checked_signals(signals)
        made[id(signals)] = (signals, out)
        return out

    # ------------------------------------------------------------------ models
    def model_levels(self, signals: Mapping[str, Any], consent: bool = True) -> list[bytes]:
        """Each model's level vector (one byte per feature) for the signals the server passes to
        ``decide(..., checked=True)``, in model order (the counters' input, docs/models.md)."""
        return self.levels(self.checked_signals(signals, consent))

    def levels(self, s: dict[str, Any]) -> list[bytes]:
        """Each model's level vector for a signal map as conditions read it (``Outcome.signals``)."""
        return [m.levels(s) for m in self.models]

    def rule_matches(self, slot: str, rule: str, signals: Mapping[str, Any], *, consent: bool = True,
                     memo: dict[int, Any] | None = None) -> bool:
        """Whether rule ``rule`` of ``slot`` has its condition true for these (checked) signals,
        holdout, caps and experiments ignored: a holdout visit's "would have been shown" for
        rule-vs-holdout uplift counting. False for an unknown slot or rule, or an evaluation error.
        ``memo``: the decision's memo (``Outcome.memo``) to reuse its segment results and scores."""
        return self.rule_holds(slot, rule, self.checked_signals(signals, consent), memo, consent=consent)

    def rule_holds(self, slot: str, rule: str, s: dict[str, Any], memo: dict[int, Any] | None = None, *,
                   consent: bool = True) -> bool:
        """``rule_matches`` for a signal map as conditions read it: a decision's ``Outcome.signals``
        with its ``Outcome.memo``, so nothing is merged or evaluated twice."""
        sl = self.slot(slot)
        c = sl.by_id.get(rule) if sl is not None else None
        if c is None or (not consent and c.consent):
            return False
        m: dict[int, Any] = {} if memo is None else memo
        if c.segment is not None:
            r = m.get(c.segment)
            if r is None:
                r = m.get(~c.segment)
                if r is None:
                    r = self.segment_value(c.segment, s, m)
        else:
            assert c.cond is not None
            r = self._cond_value(c.cond, s, m)
        return r is True

    def _decide_slot(
        self,
        slot: _Slot,
        s: dict[str, Any],
        memo: dict[int, Any],
        session_id: str | None,
        caps: Mapping[str, Any] | None,
        consent: bool,
        now: float,
        explain: bool,
        out: Outcome,
        assignments: Mapping[str, str] | None = None,
    ) -> Decision:
        fallback = "default"
        trace: list[dict[str, Any]] | None = [] if explain else None
        for c in slot.candidates:
            if not consent and (c.consent or c.experiment is not None):
                if fallback == "default":
                    fallback = "no_consent"
                if trace is not None:
                    trace.append({"candidate": c.id, "kind": c.kind, "layer": c.layer, "result": "no_consent"})
                continue
            if c.segment is not None:
                r = memo.get(c.segment)  # memo hit: most rules share their segments
                if r is None:
                    r = memo.get(~c.segment)  # a segment that ended in an error is memoised under ~i
                    if r is None:
                        r = self.segment_value(c.segment, s, memo)
            else:
                assert c.cond is not None
                r = self._cond_value(c.cond, s, memo)
            if r is not True:
                if r is not False:
                    out.errors += 1
                    if r.budget:
                        out.budget_exceeded += 1
                    if fallback == "default":
                        fallback = "error"
                    if trace is not None:
                        trace.append({"candidate": c.id, "kind": c.kind, "layer": c.layer, "result": "error", "message": r.message})
                elif trace is not None:
                    trace.append({"candidate": c.id, "kind": c.kind, "layer": c.layer, "result": "false"})
                continue
            if c.cap is not None and caps:
                state = caps.get(c.key)
                if state and _capped(c.cap, state, now):
                    if fallback == "default":
                        fallback = "capped"
                    if trace is not None:
                        trace.append({"candidate": c.id, "kind": c.kind, "layer": c.layer, "result": "capped"})
                    continue
            if c.experiment is not None:
                if session_id is None:
                    if fallback == "default":
                        fallback = "no_consent"
                    if trace is not None:
                        trace.append({"candidate": c.id, "kind": c.kind, "layer": c.layer, "result": "no_session"})
                    continue
                e = c.experiment
                if not e.in_traffic(session_id):
                    if trace is not None:
                        trace.append({"candidate": c.id, "kind": c.kind, "layer": c.layer, "result": "not_in_traffic"})
                    continue
                i = None
                if assignments:
                    recorded = assignments.get(e.id)
                    if recorded is not None:
                        i = e.index.get(recorded)  # a variant since removed: picked by hash again
                sticky = i is not None
                if i is None:
                    i = e.by_hash(session_id)
                vid, decision = c.variants[i]
                out.exposures.append((e.id, vid))
                if c.cap is not None:
                    out.cap_hits.append(c.key)
                if trace is None:
                    return decision
                step: dict[str, Any] = {"candidate": c.id, "kind": c.kind, "layer": c.layer, "result": "matched", "variant": vid}
                if sticky:
                    step["sticky"] = True
                trace.append(step)
                return dataclasses.replace(decision, trace=tuple(trace))
            if c.cap is not None:
                out.cap_hits.append(c.key)
            if trace is None:
                return c.decision
            trace.append({"candidate": c.id, "kind": c.kind, "layer": c.layer, "result": "matched"})
            return dataclasses.replace(c.decision, trace=tuple(trace))
        if trace is None:
            return slot.fallback[fallback]
        return Decision(slot.id, slot.default, fallback, trace=tuple(trace))


def _capped(cap: tuple[int, int], state: Any, now: float) -> bool:
    per_session, cooldown = cap
    try:
        count, last = int(state[0]), float(state[1])
    except (TypeError, ValueError, IndexError, KeyError):
        return False  # unreadable counter: treat as never shown (the server rewrites it)
    if per_session and count >= per_session:
        return True
    return bool(cooldown and now - last < cooldown)

