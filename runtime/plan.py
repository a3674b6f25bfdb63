"""Planning, once per bundle: ``Plan`` turns a verified payload into a signal table with value
checkers and defaults, one fast function and one exact closure per segment and per inline
condition (with the memoised segment evaluation they call), candidate lists per slot already in
precedence order (the compiler sorts them), every decision the bundle can make, and experiment
tables. Deciding from a plan is ``decide.py``; it does no parsing, no lookups by name beyond dict
access, and no I/O.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import bucketing
from .budget import metered_exact, metered_ir
from .codegen import generate
from .decision import Decision
from .errors import BundleError, PrepareFailed
from .format import LAYERS, Op
from .interp import Builder, Err
from .score import SCORE_KEYS, Model, build_models
from .signals import make_checker, make_coercer
from .verify import VerifiedBundle


class _Segment:
    __slots__ = ("id", "layer", "consent", "fast", "exact")

    def __init__(self, sid: str, layer: str, consent: bool):
        self.id, self.layer, self.consent = sid, layer, consent
        self.fast: Any = None
        self.exact: Any = None


class _Experiment:
    __slots__ = ("id", "salt", "start", "end", "traffic_seed", "variant_seed", "variants", "index", "period")

    def __init__(self, e: Mapping[str, Any], content: list[Any]):
        self.id = e["id"]
        self.salt = e["salt"]
        self.start: int = e["start"]
        self.end: int = e["end"]
        self.traffic_seed = bucketing.traffic_seed(e.get("group") or e["salt"])
        self.variant_seed = bucketing.variant_seed(e["salt"])
        upper = 0
        self.variants = []
        for vid, weight, ci in e["variants"]:
            upper += weight
            self.variants.append((upper, vid, content[ci]))
        #: variant id -> index (a recorded assignment names its variant by id)
        self.index: dict[str, int] = {}
        for i, (vid, _, _) in enumerate(e["variants"]):
            self.index.setdefault(vid, i)
        #: the allocation's period: the weights in basis points joined by "/" (e.g. "7300/2700")
        self.period: str = "/".join(str(w) for _, w, _ in e["variants"])

    def in_traffic(self, session_id: str) -> bool:
        b: int = bucketing.bucket(self.traffic_seed, session_id)
        return self.start <= b < self.end

    def by_hash(self, session_id: str) -> int:
        """The index of this session's variant under the current weights."""
        v = bucketing.bucket(self.variant_seed, session_id)
        for i, (upper, _, _) in enumerate(self.variants):
            if v < upper:
                return i
        return len(self.variants) - 1  # unreachable: weights sum to 10000 (validated)

    def pick(self, session_id: str) -> int | None:
        """The index of this session's variant, or None when outside the traffic range."""
        if not self.in_traffic(session_id):
            return None
        return self.by_hash(session_id)


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


class Plan:
    """What a verified bundle is planned into, once: signals with checkers and defaults, every
    condition compiled (a fast function and an exact closure), slots with their candidates and
    prebuilt decisions, experiments. Immutable after construction."""

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
        #: experiment id -> its allocation period (docs/runtime.md, "Sticky assignments")
        self.periods: dict[str, str] = {e.id: e.period for e in self.experiments}
        self.models: tuple[Model, ...] = build_models(p.get("models", ()), names, types)
        self._model_scores = tuple(m.score for m in self.models)
        #: (model id, memo key) of each model, for the scores an outcome reports
        self._score_keys = tuple((m.id, SCORE_KEYS + m.index) for m in self.models)

        builder = Builder(names, self._segment_exact, self._score)
        irs: list[Any] = []
        targets: list[Any] = []
        for seg, raw in zip(self.segments, p["segments"]):
            irs.append(raw["when"])
            targets.append(seg)
        self.slots: dict[str, _Slot] = {}
        #: (slot id, candidate id) -> candidate, for ``rule_matches``
        self._candidates: dict[tuple[str, str], _Candidate] = {}
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
                self._candidates.setdefault((raw_slot["id"], cand.id), cand)
            self.slots[raw_slot["id"]] = _Slot(raw_slot["id"], self.content[raw_slot["default"]], cands)
        self.slot_ids = tuple(self.slots)

        fasts = generate(irs, names, types, self._segment_fast, self._score)
        for cid, (target, ir, fast) in enumerate(zip(targets, irs, fasts)):
            target.fast = fast
            exact = builder.build(ir, cid)
            target.exact = metered_exact(exact, cid) if metered_ir(ir) else exact
        self._fasts = [seg.fast for seg in self.segments]

    # ------------------------------------------------------------------ scores
    def _score(self, i: int, s: dict[str, Any], m: dict[int, Any]) -> float:
        """Model ``i``'s score for the signals ``s``, computed at most once per decision (memo ``m``)."""
        k = SCORE_KEYS + i
        r = m.get(k)
        if r is None:
            r = m[k] = self._model_scores[i](s)
        return r

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
