"""Preparation (once per bundle) and decision (per request).

``Prepared`` turns a verified payload into: a signal table with value checkers and defaults, one
fast function and one exact closure per segment and per inline condition, candidate lists per slot
already in precedence order (the compiler sorts them), and experiment tables. ``decide`` then does
no parsing, no lookups by name beyond dict access, and no I/O.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from typing import Any

from . import bucketing
from .budget import COUNT, metered_exact, metered_ir
from .codegen import generate
from .decision import Decision, Outcome
from .errors import BundleError, PrepareFailed
from .format import LAYERS, Op
from .interp import Builder, Err
from .signals import make_checker, make_coercer
from .verify import VerifiedBundle


class _Segment:
    __slots__ = ("id", "layer", "consent", "fast", "exact")

    def __init__(self, sid: str, layer: str, consent: bool):
        self.id, self.layer, self.consent = sid, layer, consent
        self.fast: Any = None
        self.exact: Any = None


class _Experiment:
    __slots__ = ("id", "salt", "start", "end", "traffic_seed", "variant_seed", "variants")

    def __init__(self, e: Mapping[str, Any], content: list[Any]):
        self.id = e["id"]
        self.salt = e["salt"]
        self.start, self.end = e["start"], e["end"]
        self.traffic_seed = bucketing.traffic_seed(e.get("group") or e["salt"])
        self.variant_seed = bucketing.variant_seed(e["salt"])
        upper = 0
        self.variants = []
        for vid, weight, ci in e["variants"]:
            upper += weight
            self.variants.append((upper, vid, content[ci]))

    def pick(self, session_id: str) -> int | None:
        """The index of this session's variant, or None when outside the traffic range."""
        b = bucketing.bucket(self.traffic_seed, session_id)
        if not self.start <= b < self.end:
            return None
        v = bucketing.bucket(self.variant_seed, session_id)
        for i, (upper, _, _) in enumerate(self.variants):
            if v < upper:
                return i
        return None  # unreachable: weights sum to 10000 (validated)


class _Candidate:
    __slots__ = ("kind", "id", "key", "layer", "consent", "segment", "cond", "content", "experiment", "cap", "decision", "variants")

    kind: str
    id: str
    key: str
    layer: str
    consent: bool
    segment: int | None
    cond: _Cond | None
    content: Any
    experiment: _Experiment | None
    cap: tuple[int, int] | None
    decision: Decision  # what this rule decides (rules)
    variants: tuple[tuple[str, Decision], ...]  # (variant id, decision) by variant index (experiments)


class _Cond:
    __slots__ = ("fast", "exact")

    def __init__(self) -> None:
        self.fast: Any = None
        self.exact: Any = None


class _Slot:
    __slots__ = ("id", "default", "candidates", "fallback")

    def __init__(self, sid: str, default: Any, candidates: list[_Candidate]):
        self.id, self.default, self.candidates = sid, default, candidates
        #: the decision showing the default, by reason
        self.fallback = {r: Decision(sid, default, r) for r in ("default", "holdout", "no_consent", "capped", "error")}


class Prepared:
    """A verified bundle ready to decide. Immutable after construction; safe to share across
    threads and to swap atomically."""

    def __init__(self, verified: VerifiedBundle):
        try:
            self._build(verified)
        except BundleError:
            raise
        except Exception as e:  # noqa: BLE001 - MemoryError, RecursionError or a case validation missed: a refusal, never a crash
            raise PrepareFailed(f"preparing bundle {verified.name} v{verified.version} failed ({type(e).__name__}: {str(e)[:200]}); "
                                "the last good bundle keeps serving; recompile it with this version of strata") from e

    def _build(self, verified: VerifiedBundle) -> None:
        p = verified.payload
        self.key_id = verified.key_id
        self.size = verified.size
        self.name: str = p["name"]
        self.version: int = p["version"]
        self.created: int = p["created"]
        self.not_before: int = p["not_before"]
        self.expires: int = p["expires"]
        self.payload = p
        self.goals: tuple[str, ...] = tuple(p.get("goals", ()))
        records = p["types"]
        self.signals = p["signals"]
        names = [s["name"] for s in self.signals]
        types = [s["type"] for s in self.signals]
        self.signal_types = dict(zip(names, types))
        self.checkers = {
            s["name"]: make_checker(s["type"], records, s.get("max_items"), s.get("max_length")) for s in self.signals
        }
        self.coercers = {s["name"]: make_coercer(s["type"], records) for s in self.signals}
        self.defaults = {s["name"]: s["default"] for s in self.signals if s.get("default") is not None}
        needs = set(p["consent"]["requires"])
        self.defaults_without_consent = p["consent"].get("without") == "defaults"
        self.consent_signals = frozenset(s["name"] for s in self.signals if s["category"] in needs)
        self.content = p["content"]
        h = p.get("holdout")
        self.holdout_bp = h["bp"] if h else 0
        self.holdout_seed = bucketing.holdout_seed(h["salt"]) if h else ""

        self.segments = [_Segment(s["id"], LAYERS[s["layer"]], s["consent"]) for s in p["segments"]]
        self.experiments = [_Experiment(e, self.content) for e in p["experiments"]]

        builder = Builder(names, self._segment_exact)
        irs: list[Any] = []
        targets: list[Any] = []
        for seg, raw in zip(self.segments, p["segments"]):
            irs.append(raw["when"])
            targets.append(seg)
        self.slots: dict[str, _Slot] = {}
        for raw_slot in p["slots"]:
            cands = []
            for c in raw_slot["candidates"]:
                cand = _Candidate()
                cand.kind = "experiment" if c.get("experiment") is not None else "rule"
                cand.id = c["id"]
                cand.key = f"{raw_slot['id']}/{c['id']}"
                cand.layer = LAYERS[c["layer"]]
                cand.consent = c["consent"]
                w = c["when"]
                # A condition that is just a segment reference uses the segment's memo directly.
                cand.segment = w[1] if w[0] == Op.SEG else None
                cand.cond = None
                if cand.segment is None:
                    cand.cond = _Cond()
                    irs.append(w)
                    targets.append(cand.cond)
                cand.content = self.content[c["content"]] if c.get("content") is not None else None
                cand.experiment = self.experiments[c["experiment"]] if c.get("experiment") is not None else None
                cand.cap = tuple(c["cap"]) if c.get("cap") else None
                seg_id = self.segments[cand.segment].id if cand.segment is not None else None
                slot_id = raw_slot["id"]
                cand.decision = Decision(slot_id, cand.content, "rule", cand.id, None, None, cand.layer, seg_id)
                cand.variants = ()
                if cand.experiment is not None:
                    e = cand.experiment
                    cand.variants = tuple((vid, Decision(slot_id, content, "experiment", cand.id, e.id, vid, cand.layer, seg_id))
                                          for _, vid, content in e.variants)
                cands.append(cand)
            self.slots[raw_slot["id"]] = _Slot(raw_slot["id"], self.content[raw_slot["default"]], cands)
        self.slot_ids = tuple(self.slots)

        fasts = generate(irs, names, types, self._segment_fast)
        for cid, (target, ir, fast) in enumerate(zip(targets, irs, fasts)):
            target.fast = fast
            exact = builder.build(ir, cid)
            target.exact = metered_exact(exact, cid) if metered_ir(ir) else exact
        self._fasts = [seg.fast for seg in self.segments]

    # ------------------------------------------------------------------ segments
    def _segment_fast(self, i: int, s: dict[str, Any], m: dict[int, Any]) -> Any:
        r = m.get(i)
        if r is None:
            r = self._fasts[i](s, m)
            if r is not True and r is not False:
                raise TypeError("segment did not yield a bool")
            m[i] = r
        return r

    def _segment_exact(self, i: int, s: dict[str, Any], m: dict[int, Any]) -> Any:
        r = m.get(i)
        if r is None:
            r = m.get(~i)  # exact results (including errors) are memoised under ~i
            if r is None:
                r = self.segments[i].exact(s, m, ())
                if r is not True and r is not False and type(r) is not Err:
                    r = Err(f"segment {self.segments[i].id} did not yield a bool")
                m[~i] = r
        return r

    def segment_value(self, i: int, s: dict[str, Any], m: dict[int, Any]) -> Any:
        """True, False or an Err for segment ``i``, not yet in the memo ``m`` (it is then)."""
        try:
            r = self._fasts[i](s, m)
            if r is True or r is False:
                m[i] = r
                return r
        except Exception:  # noqa: BLE001 - the fast path raises for every CEL error; exact evaluation decides
            pass
        return self._segment_exact(i, s, m)

    def _cond_value(self, cond: _Cond, s: dict[str, Any], m: dict[int, Any]) -> Any:
        try:
            r = cond.fast(s, m)
            if r is True or r is False:
                return r
        except Exception:  # noqa: BLE001 - see segment_value
            pass
        r = cond.exact(s, m, ())
        if r is True or r is False or type(r) is Err:
            return r
        return Err("condition did not yield a bool")

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
    ) -> Outcome:
        """Decide content for ``slots`` (all slots when None).

        ``session_id`` is the visitor's random session id (absent without consent: then there is
        no holdout assignment and no experiment). ``caps`` maps ``slot/rule`` to
        ``[count, last_shown_unix]`` from the session cookie. Unknown slot names are skipped.
        ``checked=True`` says every value already conforms to its declared type (the edge server
        builds its signals typed and validates client ones), so only defaults are merged in.
        """
        if checked:
            s = {**self.defaults, **signals}
            if not consent:
                for k in self.consent_signals.intersection(s):
                    del s[k]
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
        for sid in self.slot_ids if slots is None else slots:
            slot = self.slots.get(sid)
            if slot is None or sid in decisions:  # a slot asked for twice is decided once
                continue
            if in_holdout:
                decisions[sid] = Decision(sid, slot.default, "holdout", trace=()) if explain else slot.fallback["holdout"]
                continue
            if not consent and self.defaults_without_consent:
                decisions[sid] = Decision(sid, slot.default, "no_consent", trace=()) if explain else slot.fallback["no_consent"]
                continue
            decisions[sid] = self._decide_slot(slot, s, memo, session_id, caps, consent, t, explain, out)
        out.memo = memo
        if explain:
            out.segments = {
                self.segments[i].id: (v if v is True or v is False else {"error": v.message})
                for i, v in ((i if i >= 0 else ~i, v) for i, v in memo.items() if i < COUNT)
            }
        return out

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
                i = c.experiment.pick(session_id)
                if i is None:
                    if trace is not None:
                        trace.append({"candidate": c.id, "kind": c.kind, "layer": c.layer, "result": "not_in_traffic"})
                    continue
                vid, decision = c.variants[i]
                out.exposures.append((c.experiment.id, vid))
                if c.cap is not None:
                    out.cap_hits.append(c.key)
                if trace is None:
                    return decision
                trace.append({"candidate": c.id, "kind": c.kind, "layer": c.layer, "result": "matched", "variant": vid})
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
