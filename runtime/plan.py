"""Planning: ``Plan`` turns a verified payload into a signal table with value checkers and
defaults, one fast function and one exact closure per segment and per inline condition (with the
memoised segment evaluation they call), candidate lists per slot already in precedence order (the
compiler sorts them), every decision the bundle can make, and experiment tables. The tables are
built at load; a slot's candidates, decisions and compiled conditions on its first use, once
(docs/runtime.md, "Preparation"), as the JavaScript runtime does. Deciding from a plan is
``decide.py``; it does no parsing, no lookups by name beyond dict access, and no I/O.
"""
from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
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


@contextlib.contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Loading (and ``warm()``) builds a few hundred thousand long-lived objects and no garbage
    cycles; the cyclic collector would walk them again and again while they are built (a third of a
    large bundle's load time). Its size is already bounded before anything is built (``bounds.py``)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
    __slots__ = ("key", "fast", "exact")

    def __init__(self, key: str) -> None:
        self.key = key  # slot/candidate, for a preparation failure's message
        self.fast: Any = None
        self.exact: Any = None


class _Slot:
    """A slot as decided: its candidates (conditions compiled) and its prebuilt fallbacks. Built on
    the slot's first use (``Plan.slot``) and immutable from then on."""

    __slots__ = ("id", "default", "candidates", "fallback", "by_id")

    def __init__(self, sid: str, default: Any, candidates: list[_Candidate]):
        self.id, self.default, self.candidates = sid, default, candidates
        #: the decision showing the default, by reason
        self.fallback = {r: Decision(sid, default, r) for r in ("default", "holdout", "no_consent", "capped", "error")}
        #: candidate id -> candidate (the first of that id), for ``rule_matches``
        self.by_id: dict[str, _Candidate] = {}
        for c in candidates:
            self.by_id.setdefault(c.id, c)


class _Slots(Mapping[str, _Slot]):
    """Slot id -> slot, in bundle order; a slot is prepared when first looked up (``Plan.slot``),
    so ``len``, iteration and ``in`` prepare nothing."""

    __slots__ = ("_plan",)

    def __init__(self, plan: Plan):
        self._plan = plan

    def __getitem__(self, sid: str) -> _Slot:
        slot = self._plan.slot(sid)
        if slot is None:
            raise KeyError(sid)
        return slot

    def __contains__(self, sid: object) -> bool:
        return sid in self._plan._prep.raw_slots

    def __iter__(self) -> Iterator[str]:
        return iter(self._plan.slot_ids)

    def __len__(self) -> int:
        return len(self._plan.slot_ids)


class _Preparation:
    """What preparing on first use needs, kept apart from the plan's hot attributes."""

    __slots__ = ("names", "types", "builder", "raw_slots", "segment_ready", "failures", "lock")

    def __init__(self, names: list[str], types: list[str], builder: Builder, segments: int):
        self.names, self.types, self.builder = names, types, builder
        #: slot id -> (its payload, the condition id of its first inline condition)
        self.raw_slots: dict[str, tuple[Any, int]] = {}
        self.segment_ready = [False] * segments
        self.failures: list[PrepareFailed] = []
        self.lock = threading.Lock()  # serialises preparation; a prepared slot is read without it


def segments_read(ir: Any, out: set[int]) -> set[int]:
    """Add to ``out`` the segments condition ``ir`` reads directly (its ``SEG`` nodes)."""
    op = ir[0]
    if op == Op.SEG:
        out.add(ir[1])
    elif op != Op.LIT:  # a literal's value is data, not IR
        for x in ir[1:]:
            if type(x) is list:
                segments_read(x, out)
    return out


class Plan:
    """What a verified bundle is planned into: signals with checkers and defaults, slots with their
    candidates and prebuilt decisions, every condition compiled (a fast function and an exact
    closure), experiments.

    The tables are built at load; a slot's candidates and conditions, and the segments they read,
    are prepared on the slot's first use (``slot``), once, under a lock (docs/runtime.md,
    "Preparation"): a 10,000-rule bundle loads in a fraction of the time, and a page asking for a few
    slots prepares only those. ``warm()`` prepares everything now. Immutable once prepared."""

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

        # Condition ids (the evaluation budget's keys, budget.py) are fixed here, whatever order
        # slots are first used in: segment i is condition i, then each candidate whose condition is
        # not a bare segment reference, in bundle order.
        # (Keep a plan's instance attributes under 30: CPython shares the keys of an instance dict
        # of at most 30, and attribute reads on the decide path are measurably slower beyond.)
        prep = self._prep = _Preparation(names, types, Builder(names, self._segment_exact, self._score), len(self.segments))
        cid = len(self.segments)
        for raw_slot in p["slots"]:
            prep.raw_slots[raw_slot["id"]] = (raw_slot, cid)  # a slot id given twice: the last (as ever)
            cid += sum(1 for c in raw_slot["candidates"] if c["when"][0] != Op.SEG)
        self.slot_ids = tuple(prep.raw_slots)
        #: the slots prepared so far (``decide`` looks here first: a plain dict lookup)
        self._ready: dict[str, _Slot] = {}
        self._fasts: list[Any] = []
        for i, seg in enumerate(self.segments):
            seg.fast, seg.exact = self._segment_on_first_use(i)
            self._fasts.append(seg.fast)

    # ------------------------------------------------------------------ preparation
    @property
    def slots(self) -> Mapping[str, _Slot]:
        """Slot id -> slot, in bundle order, each prepared on first lookup."""
        return _Slots(self)

    @property
    def prepare_failures(self) -> list[PrepareFailed]:
        """Conditions whose preparation failed: each evaluates as an error (docs/runtime.md, "Preparation")."""
        return self._prep.failures

    def slot(self, sid: str) -> _Slot | None:
        """Slot ``sid``, prepared on first use (None for a slot the bundle does not have)."""
        slot = self._ready.get(sid)
        if slot is None and sid in self._prep.raw_slots:
            with self._prep.lock:
                slot = self._ready.get(sid)  # another thread may have prepared it meanwhile
                if slot is None:
                    self._prepare_slots((sid,))
                    slot = self._ready[sid]
        return slot

    def warm(self) -> Plan:
        """Prepare every slot and segment now, with one ``compile()`` (otherwise each slot is
        prepared on first use)."""
        with self._prep.lock, no_cycle_collection():
            self._prepare_slots([sid for sid in self.slot_ids if sid not in self._ready])
            self._prepare_segments(range(len(self.segments)))
        return self

    def _prepare_slots(self, slot_ids: Iterable[str]) -> None:
        """Build these slots, compile their conditions and the segments they read in one go, then
        publish each slot whole (readers never see one half-built). The caller holds the lock."""
        irs: list[Any] = []
        targets: list[Any] = []
        ids: list[int] = []
        read: set[int] = set()
        built = [self._build_slot(sid, irs, targets, ids, read) for sid in slot_ids]
        self._prepare_segments(read, irs, targets, ids)
        for slot in built:
            self._ready[slot.id] = slot

    def _build_slot(self, slot_id: str, irs: list[Any], targets: list[Any], ids: list[int], read: set[int]) -> _Slot:
        """Slot ``slot_id`` with its candidates and decisions; its conditions to compile are added
        to ``irs`` (with their ``targets`` and ``ids``), the segments they read to ``read``."""
        raw_slot, cid = self._prep.raw_slots[slot_id]
        cands: list[_Candidate] = []
        for c in raw_slot["candidates"]:
            cand = _Candidate()
            cand.kind = "experiment" if c.get("experiment") is not None else "rule"
            cand.id = c["id"]
            cand.key = f"{slot_id}/{c['id']}"
            cand.layer = LAYERS[c["layer"]]
            cand.consent = c["consent"]
            w = c["when"]
            # A condition that is just a segment reference uses the segment's memo directly.
            cand.segment = w[1] if w[0] == Op.SEG else None
            cand.cond = None
            if cand.segment is None:
                cand.cond = _Cond(cand.key)
                irs.append(w)
                targets.append(cand.cond)
                ids.append(cid)
                cid += 1
            segments_read(w, read)
            cand.content = self.content[c["content"]] if c.get("content") is not None else None
            cand.experiment = self.experiments[c["experiment"]] if c.get("experiment") is not None else None
            cand.cap = tuple(c["cap"]) if c.get("cap") else None
            seg_id = self.segments[cand.segment].id if cand.segment is not None else None
            cand.decision = Decision(slot_id, cand.content, "rule", cand.id, None, None, cand.layer, seg_id)
            cand.variants = ()
            if cand.experiment is not None:
                e = cand.experiment
                cand.variants = tuple((vid, Decision(slot_id, content, "experiment", cand.id, e.id, vid, cand.layer, seg_id))
                                      for _, vid, content in e.variants)
            cands.append(cand)
        return _Slot(slot_id, self.content[raw_slot["default"]], cands)

    def _prepare_segments(self, wanted: Iterable[int], irs: list[Any] | None = None, targets: list[Any] | None = None,
                          ids: list[int] | None = None) -> None:
        """Compile, with the conditions ``irs`` (if any), the segments in ``wanted`` and those they
        read, directly or through others, that are not prepared yet. The caller holds the lock."""
        irs, targets, ids = irs or [], targets or [], ids or []
        ready = self._prep.segment_ready
        todo = [i for i in wanted if not ready[i]]
        seen = set(todo)
        while todo:
            i = todo.pop()
            seg = self.segments[i]
            ir = self.payload["segments"][i]["when"]
            irs.append(ir)
            targets.append(seg)
            ids.append(i)
            for j in segments_read(ir, set()):
                if j not in seen and not ready[j]:
                    seen.add(j)
                    todo.append(j)
        if irs:
            self._compile(irs, targets, ids)
        for i in seen:
            ready[i] = True
            self._fasts[i] = self.segments[i].fast

    def _compile(self, irs: list[Any], targets: list[Any], ids: list[int]) -> None:
        """Set each target's fast function and exact closure. A condition whose preparation fails
        (an exception validation did not foresee) evaluates as an error, and is reported in
        ``prepare_failures``."""
        try:
            fasts = generate(irs, self._prep.names, self._prep.types, self._segment_fast, self._score, ids)
        except Exception:  # noqa: BLE001 - find the condition that fails: compile each alone
            if len(irs) > 1:
                for one in zip(irs, targets, ids):
                    self._compile([one[0]], [one[1]], [one[2]])
                return
            self._failed(targets[0], sys.exc_info()[1])
            return
        for target, ir, cid, fast in zip(targets, irs, ids, fasts):
            try:
                exact = self._prep.builder.build(ir, cid)
            except Exception as e:  # noqa: BLE001 - see above
                self._failed(target, e)
                continue
            target.fast = fast
            target.exact = metered_exact(exact, cid) if metered_ir(ir) else exact

    def _failed(self, target: Any, e: BaseException | None) -> None:
        where = f"segment {target.id}" if isinstance(target, _Segment) else f"rule {target.key}"
        failure = PrepareFailed(f"preparing {where} of bundle {self.name} v{self.version} failed ({type(e).__name__}: {str(e)[:200]}); "
                                "it decides as an evaluation error; recompile the bundle with this version of strata")
        self._prep.failures.append(failure)
        err = Err(str(failure))

        def fast(s: dict[str, Any], m: dict[int, Any]) -> Any:
            raise RuntimeError(err.message)  # the exact closure answers

        target.fast = fast
        target.exact = lambda s, m, vs: err

    def _segment_on_first_use(self, i: int) -> tuple[Any, Any]:
        """Segment ``i``'s fast function and exact closure until it is prepared: each prepares it
        (and the segments it reads), then runs the real one. A slot prepares the segments its
        conditions read, so these run only for a segment evaluated on its own (``segment_value``)."""

        def prepare() -> None:
            with self._prep.lock:
                self._prepare_segments((i,))

        def fast(s: dict[str, Any], m: dict[int, Any]) -> Any:
            prepare()
            return self._fasts[i](s, m)

        def exact(s: dict[str, Any], m: dict[int, Any], vs: tuple[Any, ...]) -> Any:
            prepare()
            return self.segments[i].exact(s, m, vs)

        return fast, exact

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
