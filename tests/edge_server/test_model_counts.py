"""Model training counters (edge_server/model_counts.py): the arithmetic of entered / left /
converted over visits, with small stand-in models (the runtime's Model has the same surface)."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_server.model_counts import (
    CONVERTED,
    ENTERED,
    LEFT,
    SCORE,
    UPLIFT,
    VISIT,
    Key,
    ModelCounter,
    rows,
)
from edge_server.session import MAX_SESSION_MODELS, ModelEntry, Session
from runtime.format import SCORE_BUCKETS
from runtime.score import bucket_name, uplift_bucket, uplift_bucket_name, uplift_label
from runtime.score import score_bucket as bucket


@dataclass(frozen=True)
class FakeFeature:
    id: str
    signal: str
    values: tuple[str, ...]

    @property
    def levels(self) -> tuple[str, ...]:
        return (*self.values, "(other)", "(absent)")

    def level(self, s: dict[str, Any]) -> int:
        if self.signal not in s:
            return len(self.values) + 1
        v = s[self.signal]
        return self.values.index(v) if v in self.values else len(self.values)


@dataclass(frozen=True)
class FakeModel:
    id: str
    goal: str
    features: tuple[FakeFeature, ...]
    spec: str = "aaaaaaaa"
    fit: str = "ffffffff"
    uplift: dict[str, Any] | None = None
    weight: float = 1.0  # per level index: z = -2 + weight * sum(levels)
    calibration_tag: int = 0

    def levels(self, s: dict[str, Any]) -> bytes:
        return bytes(f.level(s) for f in self.features)

    def z_of(self, levels: bytes, arm: int = 0) -> float:
        return -2 + self.weight * sum(levels) - arm  # the control arm's log-odds one lower

    def score_of(self, levels: bytes) -> float:
        p = 1 / (1 + math.exp(-self.z_of(levels)))
        return p - 1 / (1 + math.exp(-self.z_of(levels, 1))) if self.uplift else p


@dataclass
class FakePrepared:
    models: tuple[FakeModel, ...]
    payload: dict[str, Any] = field(default_factory=lambda: {"experiments": [{"id": "starter-kit"}]})
    matches: bool = True

    def levels(self, signals: dict[str, Any]) -> list[bytes]:
        return [m.levels(signals) for m in self.models]

    def rule_holds(self, slot: str, rule: str, signals: dict[str, Any], memo: Any = None, *, consent: bool = True) -> bool:
        return self.matches


DEVICE = FakeFeature("device", "device.type", ("mobile", "desktop"))
SOURCE = FakeFeature("source", "utm.source", ("newsletter", "google"))
PLAIN = FakeModel("intent", "purchase", (DEVICE, SOURCE))


def test_model_counter_reads_the_map_the_decision_read_merged_once(monkeypatch):
    """A decision's signals are merged once: counting reads ``Outcome.signals`` (and its memo), so
    neither the levels nor a holdout visit's rule condition merge them again."""
    from runtime.decide import Prepared
    from tests.runtime.model_payloads import NOW, load, models_payload

    signals = {"tier": "x", "n": 9, "d": 3.0, "flag": True, "tags": ["tents"], "nums": [7], "anys": [1], "m": {"k": 1}, "u": 3, "beh": 2}

    payload = models_payload()
    payload["holdout"] = {"bp": 10_000, "salt": "all"}  # every visit held out: the uplift model asks its rule
    payload["models"][1]["uplift"] = {"slot": "side", "rule": "likely-too"}  # which holds for these signals
    p = load(payload).current
    merges: list[int] = []
    real = Prepared.checked_signals
    monkeypatch.setattr(Prepared, "checked_signals", lambda self, *a, **k: merges.append(1) or real(self, *a, **k))
    s = visit()
    out = p.decide(signals, session_id=s.sid, now=NOW, checked=True)
    assert out.holdout and out.signals is not None
    ModelCounter(Counter()).decided(p, s, out.signals, out.holdout, True, out.memo)
    assert len(merges) == 1
    assert set(s.models) == {"intent", "lift"} and s.models["lift"][5] == "control"
    assert [e[2] for e in s.models.values()] == p.model_levels(signals)


def visit() -> Session:
    s = Session.fresh()
    s.touch(1000, 1800, "", "", True)
    return s


def counted(c: Counter[Key], model: str = "intent", arm: str = "") -> dict[tuple[str, str, str, str], int]:
    """(spec, feature, level, event) -> count of one model and arm, zeros left out."""
    return {(k[1], k[3], k[4], k[5]): n for k, n in c.items() if k[0] == model and k[2] == arm and n}


def test_model_counter_counts_a_new_visit_once_on_every_row():
    c: Counter[Key] = Counter()
    mc, p, s = ModelCounter(c), FakePrepared((PLAIN,)), visit()
    sig = {"device.type": "mobile", "utm.source": "google"}
    mc.decided(p, s, sig, holdout=False)
    mc.decided(p, s, sig, holdout=False)  # the same levels again: nothing new
    b = bucket_name(bucket(PLAIN.z_of(bytes([0, 1]))))
    assert counted(c) == {("aaaaaaaa", VISIT, VISIT, ENTERED): 1, ("aaaaaaaa", "device", "mobile", ENTERED): 1,
                          ("aaaaaaaa", "source", "google", ENTERED): 1, ("ffffffff", SCORE, b, ENTERED): 1}
    assert s.models["intent"] == ModelEntry("aaaaaaaa", "ffffffff", bytes([0, 1]), bucket(PLAIN.z_of(bytes([0, 1]))), False, "")


def test_model_counter_moves_a_visit_between_levels_when_a_signal_changes():
    c: Counter[Key] = Counter()
    mc, p, s = ModelCounter(c), FakePrepared((PLAIN,)), visit()
    mc.decided(p, s, {"device.type": "mobile"}, holdout=False)
    mc.decided(p, s, {"device.type": "mobile", "utm.source": "newsletter"}, holdout=False)
    got = counted(c)
    assert got[("aaaaaaaa", "source", "(absent)", ENTERED)] == 1 and got[("aaaaaaaa", "source", "(absent)", LEFT)] == 1
    assert got[("aaaaaaaa", "source", "newsletter", ENTERED)] == 1
    assert ("aaaaaaaa", "device", "mobile", LEFT) not in got  # unchanged feature: untouched
    assert got[("aaaaaaaa", VISIT, VISIT, ENTERED)] == 1 and ("aaaaaaaa", VISIT, VISIT, LEFT) not in got


def test_model_counter_freezes_an_entry_at_its_goal_conversion():
    c: Counter[Key] = Counter()
    other = FakeModel("carts", "add_to_cart", (DEVICE,))
    mc, p, s = ModelCounter(c), FakePrepared((PLAIN, other)), visit()
    mc.decided(p, s, {"device.type": "desktop"}, holdout=False)
    mc.converted(p, s, "purchase")
    mc.converted(p, s, "purchase")  # a second call (the server never makes one) counts nothing more
    mc.decided(p, s, {"device.type": "mobile"}, holdout=False)  # after the conversion: not counted for intent
    got = counted(c)
    assert got[("aaaaaaaa", VISIT, VISIT, CONVERTED)] == 1 and got[("aaaaaaaa", "device", "desktop", CONVERTED)] == 1
    assert ("aaaaaaaa", "device", "desktop", LEFT) not in got and s.models["intent"].frozen is True
    carts = counted(c, "carts")  # another goal's model keeps counting
    assert carts[("aaaaaaaa", "device", "desktop", LEFT)] == 1 and carts[("aaaaaaaa", "device", "mobile", ENTERED)] == 1
    assert ("aaaaaaaa", VISIT, VISIT, CONVERTED) not in carts


def test_model_counter_counts_each_visit_anew():
    c: Counter[Key] = Counter()
    mc, p, s = ModelCounter(c), FakePrepared((PLAIN,)), visit()
    mc.decided(p, s, {"device.type": "mobile"}, holdout=False)
    s.touch(1000 + 1801, 1800, "", "", True)  # idle past the timeout: a new visit
    assert s.models == {}
    mc.decided(p, s, {"device.type": "mobile"}, holdout=False)
    assert counted(c)[("aaaaaaaa", VISIT, VISIT, ENTERED)] == 2


def test_model_counter_replaces_an_entry_of_another_spec_as_a_new_visit():
    c: Counter[Key] = Counter()
    mc, s = ModelCounter(c), visit()
    mc.decided(FakePrepared((PLAIN,)), s, {"device.type": "mobile"}, holdout=False)
    changed = FakeModel("intent", "purchase", (DEVICE,), spec="bbbbbbbb", fit="eeeeeeee")
    mc.decided(FakePrepared((changed,)), s, {"device.type": "mobile"}, holdout=False)
    got = counted(c)
    assert got[("aaaaaaaa", VISIT, VISIT, ENTERED)] == 1 and got[("bbbbbbbb", VISIT, VISIT, ENTERED)] == 1
    assert not any(k[3] == LEFT for k in got)  # the old spec's rows are left as they were
    assert s.models["intent"][:3] == ("bbbbbbbb", "eeeeeeee", bytes([0]))  # spec, fit, levels


def test_model_counter_moves_the_score_bucket_to_a_new_fit():
    c: Counter[Key] = Counter()
    mc, s = ModelCounter(c), visit()
    mc.decided(FakePrepared((PLAIN,)), s, {"device.type": "mobile"}, holdout=False)
    refit = FakeModel("intent", "purchase", (DEVICE, SOURCE), fit="11111111", weight=2.0)
    mc.decided(FakePrepared((refit,)), s, {"device.type": "mobile"}, holdout=False)
    got = counted(c)
    old = bucket_name(bucket(PLAIN.z_of(bytes([0, 3]))))
    new = bucket_name(bucket(refit.z_of(bytes([0, 3]))))
    assert got[("ffffffff", SCORE, old, LEFT)] == 1 and got[("11111111", SCORE, new, ENTERED)] == 1
    assert got[("aaaaaaaa", VISIT, VISIT, ENTERED)] == 1 and ("aaaaaaaa", VISIT, VISIT, LEFT) not in got


def test_model_counter_counts_experiment_uplift_by_the_visit_s_exposed_arm():
    c: Counter[Key] = Counter()
    up = FakeModel("discount", "purchase", (DEVICE,), uplift={"experiment": 0, "treatment": "bundle-discount", "control": "free-shipping"})
    mc, p = ModelCounter(c), FakePrepared((up,))
    s = visit()
    mc.decided(p, s, {"device.type": "mobile"}, holdout=False)
    assert not c  # not exposed yet
    s.record([], [("starter-kit", "bundle-discount")], 1000)
    mc.decided(p, s, {"device.type": "mobile"}, holdout=False)
    assert counted(c, "discount", "treatment")[("aaaaaaaa", VISIT, VISIT, ENTERED)] == 1
    s2 = visit()
    s2.record([], [("starter-kit", "free-shipping")], 1000)
    mc.decided(p, s2, {}, holdout=False)
    mc.converted(p, s2, "purchase")
    ctrl = counted(c, "discount", "control")
    assert ctrl[("aaaaaaaa", "device", "(absent)", CONVERTED)] == 1
    assert ctrl[("ffffffff", SCORE, bucket_name(bucket(up.z_of(bytes([3]), 1))), CONVERTED)] == 1  # the control arm's log-odds
    s2.touch(1000 + 1801, 1800, "", "", True)  # next visit: the exposure belongs to the last visit
    mc.decided(p, s2, {}, holdout=False)
    assert counted(c, "discount", "control")[("aaaaaaaa", VISIT, VISIT, ENTERED)] == 1


def test_model_counter_counts_rule_uplift_against_the_holdout():
    c: Counter[Key] = Counter()
    up = FakeModel("welcome", "purchase", (DEVICE,), uplift={"slot": "offer", "rule": "welcome-offer"})
    mc = ModelCounter(c)
    shown = visit()
    shown.first_exposure("offer|welcome-offer|mid")
    mc.decided(FakePrepared((up,)), shown, {}, holdout=False)
    other = visit()
    other.first_exposure("offer|another-rule|mid")
    mc.decided(FakePrepared((up,)), other, {}, holdout=False)
    held = visit()
    mc.decided(FakePrepared((up,), matches=True), held, {}, holdout=True)
    held_no = visit()
    mc.decided(FakePrepared((up,), matches=False), held_no, {}, holdout=True)
    assert counted(c, "welcome", "treatment")[("aaaaaaaa", VISIT, VISIT, ENTERED)] == 1
    assert counted(c, "welcome", "control")[("aaaaaaaa", VISIT, VISIT, ENTERED)] == 1
    assert "welcome" not in other.models and "welcome" not in held_no.models


def test_model_counter_does_not_enter_a_visit_that_already_converted_the_goal():
    c: Counter[Key] = Counter()
    up = FakeModel("discount", "purchase", (DEVICE,), uplift={"experiment": 0, "treatment": "bundle-discount", "control": "free-shipping"})
    mc, p, s = ModelCounter(c), FakePrepared((up,)), visit()
    s.first_conversion("purchase")
    s.record([], [("starter-kit", "bundle-discount")], 1000)
    mc.decided(p, s, {}, holdout=False)
    assert not c and s.models == {}


def test_model_counter_counts_only_the_first_models_a_cookie_holds():
    c: Counter[Key] = Counter()
    many = tuple(FakeModel(f"m{i}", "purchase", (DEVICE,)) for i in range(MAX_SESSION_MODELS + 2))
    mc, s = ModelCounter(c), visit()
    mc.decided(FakePrepared(many), s, {}, holdout=False)
    assert list(s.models) == [f"m{i}" for i in range(MAX_SESSION_MODELS)]
    assert {k[0] for k in c} == set(s.models)


def test_model_counter_drops_entries_of_models_no_longer_declared():
    c: Counter[Key] = Counter()
    mc, s = ModelCounter(c), visit()
    mc.decided(FakePrepared((PLAIN,)), s, {}, holdout=False)
    mc.decided(FakePrepared((FakeModel("other", "purchase", (DEVICE,)),)), s, {}, holdout=False)
    assert list(s.models) == ["other"]


SIGNALS = st.fixed_dictionaries({}, optional={"device.type": st.sampled_from(["mobile", "desktop", "tablet"]),
                                              "utm.source": st.sampled_from(["newsletter", "google"])})
STEP = st.one_of(st.tuples(st.just("decide"), SIGNALS), st.tuples(st.just("convert"), st.sampled_from(["purchase", "add_to_cart"])))


@settings(deadline=None)
@given(st.lists(st.lists(STEP, min_size=1, max_size=8), min_size=1, max_size=12))
def test_model_counter_net_visits_per_level_are_each_visit_s_last_counted_levels(visits: list[list[tuple[str, Any]]]):
    """Over any sequence of visits, decisions and conversions: per feature, entered − left on each
    level equals the number of visits whose last counted level it is (the level at conversion for a
    converting visit), converted equals the converting visits at their levels, and the visit row
    agrees with every feature."""
    c: Counter[Key] = Counter()
    mc, p = ModelCounter(c), FakePrepared((PLAIN,))
    expect_net: Counter[tuple[str, str]] = Counter()
    expect_conv: Counter[tuple[str, str]] = Counter()
    for steps in visits:
        s = visit()
        last: bytes | None = None  # the entry's levels
        frozen = purchased = False
        for kind, arg in steps:
            if kind == "decide":
                mc.decided(p, s, arg, holdout=False)
                if not frozen and not (last is None and purchased):
                    last = PLAIN.levels(arg)
            elif s.first_conversion(arg):
                mc.converted(p, s, arg)
                if arg == "purchase":
                    purchased = True
                    if last is not None and not frozen:
                        frozen = True
                        expect_conv[(VISIT, VISIT)] += 1
                        for f, i in zip(PLAIN.features, last):
                            expect_conv[(f.id, f.levels[i])] += 1
        if last is not None:
            expect_net[(VISIT, VISIT)] += 1
            for f, i in zip(PLAIN.features, last):
                expect_net[(f.id, f.levels[i])] += 1
    net: Counter[tuple[str, str]] = Counter()
    conv: Counter[tuple[str, str]] = Counter()
    for r in rows(c):
        if r["feature"] != SCORE:
            net[(r["feature"], r["level"])] += r[ENTERED] - r[LEFT]
            conv[(r["feature"], r["level"])] += r[CONVERTED]
        assert r[ENTERED] >= r[LEFT] >= 0
    assert +net == expect_net and +conv == expect_conv
    score_net = sum(r[ENTERED] - r[LEFT] for r in rows(c) if r["feature"] == SCORE)
    assert score_net == expect_net[(VISIT, VISIT)]


def test_model_counter_legacy_bucket_of_an_old_cookie_is_left_nowhere_and_enters_the_log_odds_bucket():
    """A cookie written before the log-odds buckets holds a 0.05-wide bucket index (below
    SCORE_BUCKETS.legacy): its visit is not counted again, no old-named row is left, and the
    score row it moves to is entered once; a conversion before that counts no score row."""
    c: Counter[Key] = Counter()
    mc, p, s = ModelCounter(c), FakePrepared((PLAIN,)), visit()
    s.models["intent"] = ModelEntry("aaaaaaaa", "ffffffff", bytes([0, 3]), 7, False, "")  # an old 0.05-wide bucket
    mc.decided(p, s, {"device.type": "mobile"}, holdout=False)
    got = counted(c)
    assert got == {("ffffffff", SCORE, bucket_name(bucket(PLAIN.z_of(bytes([0, 3])))), ENTERED): 1}
    assert all(n >= 0 for n in got.values())
    c2: Counter[Key] = Counter()
    s2 = visit()
    s2.models["intent"] = ModelEntry("aaaaaaaa", "ffffffff", bytes([0, 3]), 7, False, "")
    ModelCounter(c2).converted(p, s2, "purchase")
    assert counted(c2) == {("aaaaaaaa", VISIT, VISIT, CONVERTED): 1, ("aaaaaaaa", "device", "mobile", CONVERTED): 1,
                           ("aaaaaaaa", "source", "(absent)", CONVERTED): 1}
    assert SCORE_BUCKETS.legacy <= SCORE_BUCKETS.first


def test_model_counter_rows_add_up_across_worker_processes():
    """Measurement.state/merged (the --workers path): each worker's model rows are summed."""
    from edge_server.measure import Measurement

    a, b = Measurement(), Measurement()
    k1: Key = ("intent", "aaaaaaaa", "", "device", "mobile", ENTERED)
    k2: Key = ("intent", "ffffffff", "", SCORE, "0.35", CONVERTED)
    a.models.update({k1: 3, k2: 1})
    b.models.update({k1: 4})
    merged = a.merged([json.loads(json.dumps(b.state()))])  # through JSON, as the share directory holds it
    assert merged.models == Counter({k1: 7, k2: 1})
    assert {(r["feature"], r[ENTERED], r[CONVERTED]) for r in merged.snapshot(None)["models"]} == {("device", 7, 0), (SCORE, 0, 1)}


DISCOUNT = FakeModel("discount", "purchase", (DEVICE, SOURCE), uplift={"experiment": 0, "treatment": "bundle-discount", "control": "free-shipping"})


def _uplift_rows(c: Counter[Key], arm: str) -> dict[tuple[str, str, str], int]:
    """(label, bucket, event) -> count of the discount model's @uplift rows in one arm."""
    return {(k[1], k[4], k[5]): n for k, n in c.items() if k[0] == "discount" and k[2] == arm and k[3] == UPLIFT and n}


def _exposed(variant: str) -> Session:
    s = visit()
    s.record([], [("starter-kit", variant)], 1000)
    return s


def test_model_counter_counts_the_uplift_score_of_each_visit_in_both_arms() -> None:
    """An uplift model's visit enters the @uplift row of its uplift score (score_of: the same in both
    arms) under the fit, moves with its levels, converts there; a plain model has no such row."""
    c: Counter[Key] = Counter()
    mc, p = ModelCounter(c), FakePrepared((DISCOUNT, PLAIN))
    mob, news = {"device.type": "mobile"}, {"device.type": "mobile", "utm.source": "newsletter"}
    u_mob = uplift_bucket_name(uplift_bucket(DISCOUNT.score_of(bytes([0, 3]))))
    u_news = uplift_bucket_name(uplift_bucket(DISCOUNT.score_of(bytes([0, 0]))))
    assert u_mob != u_news
    t, k = _exposed("bundle-discount"), _exposed("free-shipping")
    for s in (t, k):
        mc.decided(p, s, mob, holdout=False)
    assert _uplift_rows(c, "treatment") == _uplift_rows(c, "control") == {("ffffffff", u_mob, ENTERED): 1}
    mc.decided(p, t, news, holdout=False)  # the treatment visit's source changes: its uplift row moves
    mc.converted(p, t, "purchase")
    assert _uplift_rows(c, "treatment") == {("ffffffff", u_mob, ENTERED): 1, ("ffffffff", u_mob, LEFT): 1,
                                            ("ffffffff", u_news, ENTERED): 1, ("ffffffff", u_news, CONVERTED): 1}
    assert t.models["discount"].uplift == uplift_bucket(DISCOUNT.score_of(bytes([0, 0])))  # tag 0: uncalibrated
    assert t.models["intent"].uplift == 0 and not any(k[3] == UPLIFT for k in c if k[0] == "intent")


def test_model_counter_moves_the_uplift_row_to_a_new_calibration_or_fit() -> None:
    """A recalibration keeps the fit but changes every uplift score: the visit leaves the row of the
    old calibration (fit~tag) and enters the new one's at its next decision; a new fit likewise. An
    entry of a cookie written before the uplift rows (uplift 0) enters without leaving anything."""
    from dataclasses import replace

    c: Counter[Key] = Counter()
    mc, s = ModelCounter(c), _exposed("bundle-discount")
    mc.decided(FakePrepared((DISCOUNT,)), s, {}, holdout=False)
    u = uplift_bucket_name(uplift_bucket(DISCOUNT.score_of(bytes([3, 3]))))
    recal = replace(DISCOUNT, calibration_tag=0x2930)
    mc.decided(FakePrepared((recal,)), s, {}, holdout=False)
    refit = replace(recal, fit="12345678")
    mc.decided(FakePrepared((refit,)), s, {}, holdout=False)
    assert _uplift_rows(c, "treatment") == {("ffffffff", u, ENTERED): 1, ("ffffffff", u, LEFT): 1,
                                            (uplift_label("ffffffff", 0x2930), u, ENTERED): 1, ("ffffffff~2930", u, LEFT): 1,
                                            ("12345678~2930", u, ENTERED): 1}
    assert s.models["discount"].uplift >> 7 == 0x2930
    c2: Counter[Key] = Counter()
    old = _exposed("bundle-discount")
    ModelCounter(c2).decided(FakePrepared((DISCOUNT,)), old, {}, holdout=False)
    old.models["discount"] = old.models["discount"]._replace(uplift=0)  # as a six-field entry reads
    c2.clear()
    ModelCounter(c2).decided(FakePrepared((DISCOUNT,)), old, {}, holdout=False)
    assert _uplift_rows(c2, "treatment") == {("ffffffff", u, ENTERED): 1} and len(c2) == 1


UPLIFT_STEP = st.one_of(st.tuples(st.just("decide"), SIGNALS), st.tuples(st.just("convert"), st.just("purchase")),
                        st.tuples(st.just("bundle"), st.sampled_from([(0, "ffffffff"), (0x2930, "ffffffff"), (0x2930, "12345678")])))


@settings(deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["bundle-discount", "free-shipping"]), st.lists(UPLIFT_STEP, min_size=1, max_size=8)),
                min_size=1, max_size=12))
def test_model_counter_uplift_rows_hold_each_visit_once_at_its_last_counted_uplift_score(visits: list[tuple[str, list[tuple[str, Any]]]]) -> None:
    """Generated visits of both arms, with decisions, conversions and new bundles (a recalibration,
    a new fit) between them: per arm, each visit is in exactly one @uplift row — the bucket of its
    last counted uplift score under the label of the bundle it was last counted with — converting
    ones converted there; no row is ever left more than entered."""
    from dataclasses import replace

    c: Counter[Key] = Counter()
    mc = ModelCounter(c)
    model = DISCOUNT
    expect_net: Counter[tuple[str, str, str]] = Counter()
    expect_conv: Counter[tuple[str, str, str]] = Counter()
    for variant, steps in visits:
        s = _exposed(variant)
        arm = "treatment" if variant == "bundle-discount" else "control"
        last: tuple[str, str] | None = None
        frozen = purchased = False
        for kind, arg in steps:
            if kind == "bundle":
                model = replace(DISCOUNT, calibration_tag=arg[0], fit=arg[1])
            elif kind == "decide":
                mc.decided(FakePrepared((model,)), s, arg, holdout=False)
                if not frozen and not (last is None and purchased):  # converted before it entered: never counted
                    last = (uplift_label(model.fit, model.calibration_tag), str(uplift_bucket_name(uplift_bucket(model.score_of(model.levels(arg))))))
            elif s.first_conversion(arg):
                mc.converted(FakePrepared((model,)), s, arg)
                purchased = True
                if last is not None and not frozen:
                    frozen = True
                    expect_conv[(arm, *last)] += 1
        if last is not None:
            expect_net[(arm, *last)] += 1
    net: Counter[tuple[str, str, str]] = Counter()
    conv: Counter[tuple[str, str, str]] = Counter()
    for r in rows(c):
        assert r[ENTERED] >= r[LEFT] >= 0
        if r["feature"] == UPLIFT:
            net[(r["arm"], r["spec"], r["level"])] += r[ENTERED] - r[LEFT]
            conv[(r["arm"], r["spec"], r["level"])] += r[CONVERTED]
    assert +net == expect_net and +conv == expect_conv


@given(st.integers(0, 6), st.integers(0, 6), st.data())
def test_descends_is_a_tag_of_own_at_a_tag_boundary_before_the_last(n: int, m: int, data: st.DataObject) -> None:
    # _descends prefilters with one substring search: over a two-byte alphabet (unaligned matches
    # everywhere) it answers as its definition, an aligned earlier tag equal to own's last
    from edge_server.model_counts import _descends
    from edge_server.session import LINEAGE_TAG_BYTES as t

    two = st.sampled_from([b"\x00", b"\x01"])
    lineage = b"".join(data.draw(st.lists(two, min_size=n * t, max_size=n * t)))
    own = b"".join(data.draw(st.lists(two, min_size=m * t, max_size=m * t)))
    tag = own[-t:]
    assert _descends(lineage, own) == any(lineage[i:i + t] == tag for i in range(0, len(lineage) - t, t))
