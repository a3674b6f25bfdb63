"""Model training counters (docs/models.md, "Counting"): per declared model, per feature level,
the visits that entered and left the level and the visits that converted the model's goal.

A visit's entry for a model lives in the visitor's own cookie (``Session.models``: spec, fit, one
level index per feature, the score bucket, frozen, arm, the uplift row) and only for that visit; the server keeps
only the sums, keyed ``(model, spec, arm, feature, level, event)``:

- at each decision of a consenting visit (the server calls :meth:`ModelCounter.decided` only when
  there is a session), for each model counted in this visit — a plain model always (arm ``""``);
  an uplift model over an experiment once the visit has been exposed to its treatment or control
  variant (arm ``treatment``/``control``); an uplift model over a rule: ``treatment`` when a
  personalised visit was shown that rule, ``control`` when a holdout visit's signals match the rule:
  - no entry yet: ``entered`` += 1 for the visit row (feature ``*``, level ``*``), each feature's
    level and the score bucket (feature ``@logit``, counted under the *fit* in the spec label);
  - an entry of the same spec, not frozen: for each feature whose level changed ``left`` += 1 on the
    old level and ``entered`` += 1 on the new one; likewise the score bucket (old bucket under the
    entry's fit, new bucket under the bundle's fit);
  - an entry of another spec (the bundle's features changed): replaced, counted as a new entry;
  - an entry of another arm (a variant changed within the visit): left everywhere under the old arm,
    entered under the new one;
  - no new entry once the visit has converted the model's goal (it could only count a converted
    visit as a visit that did not convert).
- at the visit's first conversion of a goal (:meth:`ModelCounter.converted`, called where the arms'
  conversions are counted, with the same once-per-visit checks): each unfrozen entry of a model of
  that goal counts ``converted`` += 1 on the visit row, its levels and its score bucket, and is
  frozen: later changes in this visit are not counted.

Which state a change is counted from (docs/security.md, "Measurement integrity"): a client can replay
an older cookie, or change what a decision reads (another User-Agent), as often as it likes, so the
cookie's entries alone cannot be the "from" state. This process's visit ledger
(edge_server/visit_ledger.py) keeps the state it counted last, with the random tag it gave that
state; the cookie carries the tags of the visit's last LINEAGE_STATES states (``Session.lineage``).
The cookie's entries are the "from" state only when this process has no state for the visit, or its
state's tag is among the cookie's earlier tags (the cookie descends from it: another process counted
the visit since, from this process's state or a later one); otherwise (an older cookie, another
branch of a replayed one, or this process's own) the ledger's state is, and the response's cookie
carries it. So every change this process counts starts from the state it counted last: on one
process any sequence of requests leaves the visit counted once, at one level per feature; across
processes an honest visit moving between them is counted exactly, and a replay reaching several
processes moves their sum by at most one visit per process (docs/security.md). Every counted
change gives the state a new tag. ``Session.entered`` says which models the visit entered: a model
whose entry the cookie's size shrink dropped is never entered again in the visit.

Net visits of a level = entered − left; converting visits = converted. Score buckets
(runtime.score.score_bucket) are buckets of the model's log-odds ``z`` without its crosses, before calibration (an
uplift model: the ``z`` of the visit's arm), ``SCORE_BUCKETS`` of runtime/format.json, named by
their lower bound (``"-3.125"``); the same IEEE operations in JavaScript give the same bucket. An
entry of a cookie written before the log-odds buckets holds a legacy bucket index: it has no name,
so its score row is neither left nor converted (its visit enters the new bucket at its next decision).

An uplift model also counts each visit, in its arm, in the ``@uplift`` row of its uplift score
(``score_of``: the calibrated uplift a rule compares, the same in both arms; ``UPLIFT_BUCKETS``),
labelled ``fit`` or ``fit~tag`` (runtime.score.uplift_label: a recalibration keeps the fit but
changes every uplift score). The entry stores ``tag * 128 + bucket`` (:func:`uplift_row`): a new
calibration or fit moves the visit at its next decision (left under the old label, entered under
the new one); an entry without one (0: a cookie written before the uplift rows) enters its row at
its next decision and leaves nothing (docs/models.md, "Uplift buckets").
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from runtime.format import SCORE_BUCKETS
from runtime.score import bucket_name, uplift_bucket, uplift_bucket_name, uplift_label
from runtime.score import score_bucket as bucket

from .contract import ALL, MODEL_EVENTS
from .contract import SCORE as SCORE
from .contract import UPLIFT as UPLIFT
from .random_source import RandomSource
from .session import LINEAGE_STATES, LINEAGE_TAG_BYTES, MAX_SESSION_MODELS, ModelEntry, Session, pack_models, unpack_models
from .visit_ledger import ModelState, VisitLedger, VisitRecord

#: A model state's random tag (random_source.py: read in batches, fork-safe).
_LINEAGE_TAG = RandomSource(LINEAGE_TAG_BYTES).take


VISIT = ALL  # feature and level of the visit rows
PLAIN, TREATMENT, CONTROL = "", "treatment", "control"
ENTERED, LEFT, CONVERTED = MODEL_EVENTS

_LEGACY = SCORE_BUCKETS.legacy  # bucket indexes below it: the old 0.05-wide buckets of the score

#: model, spec (fit for ``@logit`` rows), arm, feature, level, event
Key = tuple[str, str, str, str, str, str]


class FeatureLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def levels(self) -> Sequence[str]: ...


class ModelLike(Protocol):
    """What counting needs of ``runtime.score.Model`` (docs/runtime.md)."""

    @property
    def id(self) -> str: ...
    @property
    def goal(self) -> str: ...
    @property
    def spec(self) -> str: ...
    @property
    def fit(self) -> str: ...
    @property
    def uplift(self) -> Mapping[str, Any] | None: ...
    @property
    def features(self) -> Sequence[FeatureLike]: ...
    def score_of(self, levels: bytes) -> float: ...
    @property
    def levels(self) -> Callable[[Mapping[str, Any]], bytes]: ...  # the level vector of a signal map
    @property
    def calibration_tag(self) -> int: ...
    def z_of(self, levels: bytes, arm: int = 0) -> float: ...


@dataclass(frozen=True, slots=True)
class CountedModel:
    """One model of a bundle as it is counted (its index, and for an uplift model the arms it
    compares), resolved once per bundle."""

    model: ModelLike
    index: int  # in Prepared.models (and model_levels)
    uplift: bool
    experiment: str | None = None  # uplift over an experiment: its id and variants
    treatment: str = ""
    control: str = ""
    slot: str = ""  # uplift over a rule vs the holdout
    rule: str = ""

    @property
    def shown_prefix(self) -> str:
        return f"{self.slot}|{self.rule}|"  # the exposure key (measure.exposure_key) of that rule, any layer


def counted_models(prepared: Any) -> tuple[CountedModel, ...]:
    """The counted models of a bundle: its first MAX_SESSION_MODELS, in declaration order (the cookie holds
    no more; models declared after them are not counted)."""
    out = []
    experiments = prepared.payload.get("experiments", [])
    for i, m in enumerate(tuple(getattr(prepared, "models", ()))[:MAX_SESSION_MODELS]):
        u = m.uplift
        if not u:
            out.append(CountedModel(m, i, False))
        elif "experiment" in u:
            e = u["experiment"]
            eid = experiments[e]["id"] if isinstance(e, int) else str(e)
            out.append(CountedModel(m, i, True, experiment=eid, treatment=u["treatment"], control=u["control"]))
        else:
            out.append(CountedModel(m, i, True, slot=u["slot"], rule=u["rule"]))
    return tuple(out)


class ModelCounter:
    """Counts into ``counts`` (``Measurement.models``); its counted models cached for the current bundle.
    ``ledger``: the process's visit ledger (None: the cookie's entries are always the "from" state)."""

    def __init__(self, counts: Counter[Key], ledger: VisitLedger | None = None):
        self.counts = counts
        self.ledger = ledger
        self._for: Any = None
        self._models: tuple[CountedModel, ...] = ()
        self._by_id: dict[str, CountedModel] = {}
        self._entering: dict[tuple[int, str, bytes], tuple[int, int, tuple[Key, ...]]] = {}

    def models(self, prepared: Any) -> tuple[CountedModel, ...]:
        if self._for is not prepared:
            self._models = counted_models(prepared)
            self._by_id = {p.model.id: p for p in self._models}
            self._entering = {}
            self._for = prepared
        return self._models

    #: Level vectors whose entering rows are kept (per bundle); beyond, the cache starts afresh.
    MAX_ENTERING = 4096

    def _entering_rows(self, p: CountedModel, arm: str, levels: bytes) -> tuple[int, int, tuple[Key, ...]]:
        """(score bucket, uplift row, the rows a new entry enters) of a visit entering model ``p`` in
        ``arm`` at ``levels`` under the bundle's spec and fit: the same for every visit of those levels,
        so computed once per bundle."""
        key = (p.index, arm, levels)
        hit = self._entering.get(key)
        if hit is None:
            m = p.model
            b = bucket(m.z_of(levels, 1 if arm == CONTROL else 0))  # the log-odds of the visit's arm
            u = uplift_row(m, levels) if p.uplift else 0  # its uplift score (the same in both arms)
            if len(self._entering) >= self.MAX_ENTERING:
                self._entering.clear()
            hit = self._entering[key] = (b, u, self._rows(p, m.spec, m.fit, arm, levels, b, u, ENTERED))
        return hit

    # ------------------------------------------------------------------ at a decision
    # ------------------------------------------------------------------ the state counted from
    def _from_state(self, session: Session, now: float | None, visit: VisitRecord | None = None) -> tuple[VisitRecord | None, bool]:
        """Make ``session``'s model fields the state to count from (the module's docstring); the
        visit's ledger record (None without a ledger), and whether the cookie's state is a later one
        than this process's (it then becomes this process's latest, counted or not). ``visit``: the
        record this request already touched at ``now`` (the server's counting did), else it is looked up."""
        if self.ledger is None:
            return None, False
        if visit is None:
            visit = self.ledger.record(session.visit_nonce, time.time() if now is None else now)
        own = visit.models
        if own is None:
            return visit, False
        if _descends(session.lineage, own.lineage):
            return visit, True
        t = LINEAGE_TAG_BYTES
        if session.lineage[-t:] != own.lineage[-t:] or len(session.models) != own.entry_count:  # not this process's latest state, whole
            session.models = unpack_models(own.entries)
        session.entered, session.lineage = own.entered, own.lineage
        return visit, False

    @staticmethod
    def _counted(visit: VisitRecord | None, session: Session, before: tuple[dict[str, ModelEntry], int], later: bool) -> None:
        """After counting: a state that changed gets a new tag, and the ledger keeps it; so does a later
        state taken from the cookie (this process's latest then follows the visit: an honest visit
        that changed elsewhere is recognised as long as its lineage reaches back to it)."""
        if (session.models, session.entered) != before:
            session.lineage = (session.lineage + _LINEAGE_TAG())[-LINEAGE_STATES * LINEAGE_TAG_BYTES:]
        elif not later:
            return
        if visit is not None:
            visit.models = ModelState(session.lineage, pack_models(session.models), len(session.models), session.entered)

    def decided(self, prepared: Any, session: Session, signals: Mapping[str, Any], holdout: bool, consent: bool = True,
                memo: dict[int, Any] | None = None, now: float | None = None, visit: VisitRecord | None = None) -> None:
        """Count one decision of a consenting visit: ``signals``, ``holdout``, ``memo`` are the
        Outcome's (``Outcome.signals`` is the map the conditions read, so levels and a rule's
        condition read what the decision read, without merging it again, and reuse its segment
        results). Call it after the session recorded the decision's exposures and shown keys.
        ``visit``: the visit's ledger record as this request touched it at ``now``, when the caller has it."""
        counted = self.models(prepared)
        visit, later = self._from_state(session, now, visit)
        before = (dict(session.models), session.entered)
        self._decided(prepared, counted, session, signals, holdout, consent, memo)
        self._counted(visit, session, before, later)

    def _decided(self, prepared: Any, counted: tuple[CountedModel, ...], session: Session, signals: Mapping[str, Any], holdout: bool,
                 consent: bool, memo: dict[int, Any] | None) -> None:
        entries = session.models
        stale = [k for k in entries if k not in self._by_id]
        if stale:  # models the bundle no longer counts: ``entered`` was written for another bundle's models
            for k in stale:
                del entries[k]
            session.entered = sum(1 << self._by_id[k].index for k in entries)
        if not counted:
            return
        for p in counted:
            m = p.model
            entry = entries.get(m.id)
            if entry is not None and entry.spec != m.spec:
                del entries[m.id]  # the features changed: a new entry
                entry = None
            elif entry is None and session.entered >> p.index & 1:
                continue  # entered in this visit, its entry dropped by the cookie's size shrink: not entered again
            if entry is not None and entry.frozen:
                continue  # frozen: the visit converted
            arm = self._arm(p, prepared, session, signals, holdout, consent, memo) if p.uplift else PLAIN
            if arm is None:
                if entry is None:
                    continue  # not counted in this visit (yet)
                arm = entry.arm  # counted since earlier in the visit: keep following it
            levels = m.levels(signals)  # prepared.levels(signals)[p.index]: this model's alone
            if entry is not None:
                if (entry.levels == levels and entry.fit == m.fit and entry.arm == arm and entry.bucket >= _LEGACY
                        and (not p.uplift or entry.uplift >> 7 == m.calibration_tag and entry.uplift)):
                    continue  # nothing changed (the usual case: no score to compute)
                if not _valid(entry, p):
                    del entries[m.id]  # not this model's shape (a cookie of another bundle): a new entry
                    entry = None
            if entry is None and m.goal in session.converted:
                continue  # converted before being counted: would count as a visit that did not
            b, u, rows = self._entering_rows(p, arm, levels)  # the log-odds bucket of the visit's arm; the uplift row
            if entry is None:
                counts = self.counts
                for row in rows:
                    counts[row] += 1
                entries[m.id] = ModelEntry(m.spec, m.fit, levels, b, False, arm, u)
                session.entered |= 1 << p.index
            elif entry.arm != arm:
                self._all(p, entry.spec, entry.fit, entry.arm, entry.levels, entry.bucket, entry.uplift, LEFT)
                self._all(p, m.spec, m.fit, arm, levels, b, u, ENTERED)
                entries[m.id] = ModelEntry(m.spec, m.fit, levels, b, False, arm, u)
            else:
                entries[m.id] = self._changes(p, entry, arm, levels, b, u)

    def _arm(self, p: CountedModel, prepared: Any, session: Session, signals: Mapping[str, Any], holdout: bool, consent: bool,
             memo: dict[int, Any] | None) -> str | None:
        if not p.uplift:
            return PLAIN
        if p.experiment is not None:
            x = session.exposures.get(p.experiment)
            if x is None or x.visit != session.visit_count:
                return None  # not exposed in this visit
            return TREATMENT if x.variant == p.treatment else CONTROL if x.variant == p.control else None
        if not holdout:
            prefix = p.shown_prefix
            return TREATMENT if any(k.startswith(prefix) for k in session.shown) else None
        return CONTROL if prepared.rule_holds(p.slot, p.rule, signals, memo, consent=consent) else None

    def _changes(self, p: CountedModel, entry: ModelEntry, arm: str, levels: bytes, b: int, u: int) -> ModelEntry:
        """Count the levels, the score bucket and the uplift row that moved since ``entry``; the entry as it is now."""
        m, counts, old = p.model, self.counts, entry.levels
        if old != levels:
            for f, (was, now) in zip(m.features, zip(old, levels)):
                if was != now:
                    counts[(m.id, m.spec, arm, f.id, f.levels[was], LEFT)] += 1
                    counts[(m.id, m.spec, arm, f.id, f.levels[now], ENTERED)] += 1
        if entry.bucket != b or entry.fit != m.fit:
            old_name = bucket_name(entry.bucket)
            if old_name is not None:  # a legacy bucket was counted under the old naming: nothing to leave
                counts[(m.id, entry.fit, arm, SCORE, old_name, LEFT)] += 1
            counts[(m.id, m.fit, arm, SCORE, str(bucket_name(b)), ENTERED)] += 1
        if entry.uplift != u or entry.fit != m.fit:
            if entry.uplift:  # none in an entry written before the uplift buckets: nothing to leave
                counts[(m.id, uplift_label(entry.fit, entry.uplift >> 7), arm, UPLIFT, str(uplift_bucket_name(entry.uplift & 127)), LEFT)] += 1
            if u:
                counts[(m.id, uplift_label(m.fit, u >> 7), arm, UPLIFT, str(uplift_bucket_name(u & 127)), ENTERED)] += 1
        return entry._replace(fit=m.fit, levels=levels, bucket=b, uplift=u)

    def _all(self, p: CountedModel, spec: str, fit: str, arm: str, levels: bytes, b: int, u: int, event: str) -> None:
        """``event`` += 1 on the visit row, every feature's level, the score bucket and the uplift row."""
        counts = self.counts
        for k in self._rows(p, spec, fit, arm, levels, b, u, event):
            counts[k] += 1

    @staticmethod
    def _rows(p: CountedModel, spec: str, fit: str, arm: str, levels: bytes, b: int, u: int, event: str) -> tuple[Key, ...]:
        """The keys ``_all`` counts: the visit row, every feature's level, the score bucket and the uplift row."""
        m = p.model
        out: list[Key] = [(m.id, spec, arm, VISIT, VISIT, event)]
        out += [(m.id, spec, arm, f.id, f.levels[i], event) for f, i in zip(m.features, levels)]
        name = bucket_name(b)
        if name is not None:  # a legacy bucket (an entry of a cookie from before the log-odds buckets): no row
            out.append((m.id, fit, arm, SCORE, name, event))
        if u:  # an uplift model's (none in an entry written before the uplift buckets)
            out.append((m.id, uplift_label(fit, u >> 7), arm, UPLIFT, str(uplift_bucket_name(u & 127)), event))
        return tuple(out)

    # ------------------------------------------------------------------ at a conversion
    def converted(self, prepared: Any, session: Session, goal: str, now: float | None = None, into: Counter[Key] | None = None) -> None:
        """The visit's first conversion of ``goal``: each unfrozen entry of a model of that goal
        counts as converted, and is frozen. ``into``: count the rows there instead (a conversion
        counted once its fleet-wide claim is answered: fleet_ledger.py); the entries freeze now."""
        self.models(prepared)
        visit, later = self._from_state(session, now)
        before = (dict(session.models), session.entered)
        counts = self.counts
        if into is not None:
            self.counts = into
        try:
            self._converted(session, goal)
        finally:
            self.counts = counts
        self._counted(visit, session, before, later)

    def _converted(self, session: Session, goal: str) -> None:
        entries = session.models
        for mid, entry in entries.items():
            p = self._by_id.get(mid)
            if p is None or entry.frozen or p.model.goal != goal:
                continue
            entries[mid] = entry._replace(frozen=True)
            if entry.spec == p.model.spec and _valid(entry, p):
                self._all(p, entry.spec, entry.fit, entry.arm, entry.levels, entry.bucket, entry.uplift, CONVERTED)


def _descends(lineage: bytes, own: bytes) -> bool:
    """Whether a cookie's ``lineage`` descends from the state tagged last in ``own``: that tag is among
    its earlier tags (so the cookie's state is a later one). An equal last tag is the same state."""
    t = LINEAGE_TAG_BYTES
    tag = own[-t:]
    if tag not in lineage[:-t]:  # the usual answer, by one substring search
        return False
    for i in range(0, len(lineage) - t, t):  # only at a tag's boundary
        if lineage[i:i + t] == tag:
            return True
    return False


def _valid(entry: ModelEntry, p: CountedModel) -> bool:
    """Whether an entry of this model's spec fits it (one level index per feature, in range; a
    bucket of the model's kind) — a cookie written for another bundle might not."""
    features = p.model.features
    levels = entry.levels
    if len(levels) != len(features) or any(i >= len(f.levels) for f, i in zip(features, levels)):
        return False
    plain = entry.arm == PLAIN
    return (plain != p.uplift and (entry.bucket < SCORE_BUCKETS.legacy or bucket_name(entry.bucket) is not None)
            and (entry.uplift == 0 or p.uplift and uplift_bucket_name(entry.uplift & 127) is not None))


def uplift_row(m: ModelLike, levels: bytes) -> int:
    """An uplift model's uplift row for a level vector, as an entry stores it: its calibration tag *
    128 + the bucket of its uplift score (``score_of``: the calibrated uplift a rule compares)."""
    return m.calibration_tag << 7 | uplift_bucket(m.score_of(levels))


def rows(counts: Mapping[Key, float]) -> list[dict[str, Any]]:
    """The counters as ``/v1/stats`` rows: one per (model, spec, arm, feature, level) with its
    three events."""
    by: dict[tuple[str, ...], dict[str, Any]] = {}
    for (model, spec, arm, feature, level, event), n in counts.items():
        r = by.get((model, spec, arm, feature, level))
        if r is None:
            r = by[(model, spec, arm, feature, level)] = {"model": model, "spec": spec, "arm": arm, "feature": feature, "level": level,
                                                          ENTERED: 0, LEFT: 0, CONVERTED: 0}
        r[event] += int(n)
    return [by[k] for k in sorted(by)]


def specs(prepared: Any) -> dict[str, Any]:
    """``model_specs`` of a snapshot: what the rows of the current bundle's models mean."""
    out: dict[str, Any] = {}
    if prepared is None:
        return out
    experiments = prepared.payload.get("experiments", [])
    for m in getattr(prepared, "models", ()):
        u = dict(m.uplift) if m.uplift else None
        if u is not None and isinstance(u.get("experiment"), int):
            u["experiment"] = experiments[u["experiment"]]["id"]
        out[m.id] = {"spec": m.spec, "fit": m.fit, "goal": m.goal, "uplift": u,
                     "features": {f.id: list(f.levels) for f in m.features}}
    return out
