"""runtime/score.py: feature levels, the deterministic sigmoid, scores, and how decide uses them."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.format import SCORE_BUCKETS
from runtime.score import SCORE_KEYS, Model, bucket_name, bucket_names, bucket_range, calibration, score_bucket, sigmoid, sigmoid_reference
from runtime.values import UInt
from tests.runtime.model_payloads import FEATURES, NOW, SIGNALS, load, model, models_payload, weights_for

RT = load(models_payload())
P = RT.current
assert P is not None
INTENT, LIFT = P.models
FEATURE = {f.id: f for f in INTENT.features}


def level_name(fid: str, s: dict[str, Any]) -> str:
    f = FEATURE[fid]
    return f.levels[f.level(s)]


# ------------------------------------------------------------------ levels per kind
def test_score_levels_absent_signal_is_the_last_level_of_every_kind() -> None:
    assert INTENT.levels({}) == bytes(len(f.levels) - 1 for f in INTENT.features)
    assert all(level_name(f.id, {}) == "(absent)" for f in INTENT.features)


@given(st.sampled_from(["gold", "silver", "bronze", "", "Gold", "gold "]))
def test_score_levels_values_string_matches_declared_or_other(v: str) -> None:
    assert level_name("tier", {"tier": v}) == (v if v in ("gold", "silver") else "(other)")


@given(st.one_of(st.integers(-20, 20), st.floats(-20, 20), st.sampled_from([math.nan, math.inf, -math.inf, 0.5, 2.5, 2.0, 4.0, 8.0])))
def test_score_levels_edges_count_the_edges_at_or_below(v: float) -> None:
    edges = [0.5, 2.5]
    want = 0 if v != v else sum(1 for e in edges if e <= v)
    assert FEATURE["d"].level({"d": v}) == want
    ints = [2, 4, 8]
    assert FEATURE["n"].level({"n": v}) == (0 if v != v else sum(1 for e in ints if e <= v))


@pytest.mark.parametrize(("v", "name"), [(1, "<2"), (2, "[2,4)"), (3, "[2,4)"), (4, "[4,8)"), (7, "[4,8)"), (8, ">=8"), (2**63 - 1, ">=8"),
                                         (-(2**63), "<2")])
def test_score_levels_edges_boundaries_belong_to_the_upper_bucket(v: int, name: str) -> None:
    assert level_name("n", {"n": v}) == name


def test_score_levels_edges_double_names_and_nan() -> None:
    assert [level_name("d", {"d": v}) for v in (0.4999, 0.5, 2.4, 2.5, math.inf, -math.inf, math.nan)] == [
        "<0.5", "[0.5,2.5)", "[0.5,2.5)", ">=2.5", ">=2.5", "<0.5", "<0.5"]


@given(st.lists(st.sampled_from(["tents", "boots", "Tents", "tent"]), max_size=5))
def test_score_levels_contains_list_of_strings(tags: list[str]) -> None:
    assert level_name("tents", {"tags": tags}) == ("yes" if "tents" in tags else "no")


@given(st.dictionaries(st.sampled_from(["k", "K", "x", ""]), st.integers(), max_size=4))
def test_score_levels_contains_map_key(m: dict[str, int]) -> None:
    assert level_name("key", {"m": m}) == ("yes" if "k" in m else "no")


# ------------------------------------------------------------------ type strictness
def test_score_levels_values_bool_is_not_int() -> None:
    assert level_name("nval", {"n": 1}) == "1"
    assert level_name("nval", {"n": True}) == "(other)"
    assert level_name("nval", {"n": 0}) == "0"
    assert level_name("nval", {"n": False}) == "(other)"
    assert level_name("flag", {"flag": 1}) == "(other)"
    assert level_name("flag", {"flag": True}) == "true"
    assert level_name("nval", {"n": 1.0}) == "(other)"


def test_score_levels_uint_signal_holds_plain_ints_or_uints() -> None:
    # make_checker accepts a plain int for a uint signal: both are the uint 3
    assert level_name("u", {"u": 3}) == "3"
    assert level_name("u", {"u": UInt(3)}) == "3"
    assert level_name("u", {"u": 3.0}) == "(other)"


@given(st.lists(st.one_of(st.just(1), st.just(True), st.just(1.0), st.just(UInt(1)), st.just("1"), st.integers(-3, 3)), max_size=5))
def test_score_levels_contains_same_cel_type_only(items: list[Any]) -> None:
    # list(dyn) contains the int literal 1: only an int 1 counts (not true, 1.0, 1u or "1")
    want = any(type(x) is int and x == 1 for x in items)
    assert level_name("one", {"anys": items}) == ("yes" if want else "no")
    ints = [x for x in items if type(x) is int]
    assert level_name("seven", {"nums": ints + [7]}) == "yes"


def test_score_levels_ill_typed_values_never_raise() -> None:
    weird: dict[str, Any] = {"tier": ["x"], "n": "3", "d": None, "flag": "true", "tags": "tents", "nums": {7: 1}, "anys": 1, "m": ["k"], "u": -1}
    assert len(INTENT.levels(weird)) == len(INTENT.features)
    assert 0 < INTENT.score(weird) < 1


# ------------------------------------------------------------------ sigmoid
def ulp_distance(a: float, b: float) -> int:
    ia, ib = (struct.unpack("<q", struct.pack("<d", x))[0] for x in (a, b))
    return abs(ia - ib)


@given(st.floats(min_value=-36.0, max_value=36.0))
def test_score_sigmoid_matches_math_within_1e_14(z: float) -> None:
    assert abs(sigmoid(z) - 1.0 / (1.0 + math.exp(-z))) < 1e-14


@given(st.one_of(st.floats(allow_nan=False), st.floats(-40.0, 40.0), st.integers(-53, 53).map(lambda k: (k + 0.5) * 0.6931471805599453)))
def test_score_sigmoid_is_bit_identical_to_the_contracts_loops(z: float) -> None:
    assert struct.pack("<d", sigmoid(z)) == struct.pack("<d", sigmoid_reference(z))


@given(st.floats(allow_nan=False), st.floats(allow_nan=False))
def test_score_sigmoid_is_monotone(a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    assert 0.0 < sigmoid(lo) <= sigmoid(hi) < 1.0


@given(st.floats(min_value=-36.0, max_value=36.0))
def test_score_sigmoid_is_symmetric(z: float) -> None:
    assert abs(sigmoid(-z) - (1.0 - sigmoid(z))) <= 2.0**-52


def test_score_sigmoid_clamps_and_centre() -> None:
    assert sigmoid(0.0) == 0.5
    assert sigmoid(36.0) == sigmoid(1e300) == sigmoid(math.inf)
    assert sigmoid(-36.0) == sigmoid(-1e300) == sigmoid(-math.inf)
    assert ulp_distance(sigmoid(1e-300), 0.5) <= 1


@given(st.floats(min_value=-4000.0, max_value=4000.0))
def test_score_bucket_is_the_log_odds_bucket_clamped(z: float) -> None:
    b = score_bucket(z)
    low, per_unit, count, first, legacy = SCORE_BUCKETS
    assert first <= b < first + count and first >= legacy
    name = bucket_name(b)
    assert name is not None
    lo, hi = bucket_range(name)
    if low <= z < low + count / per_unit:
        assert lo - 1e-12 <= z < hi  # the bucket holds z (up to the rounding of z - low, as the contract computes it)
    else:
        assert b == (first if z < low else first + count - 1)


def test_score_bucket_names_are_distinct_lower_bounds_and_legacy_has_none() -> None:
    names = bucket_names()
    assert len(set(names)) == SCORE_BUCKETS.buckets and [float(x) for x in names] == sorted(float(x) for x in names)
    assert all(bucket_name(i) is None for i in range(SCORE_BUCKETS.legacy))
    assert bucket_name(SCORE_BUCKETS.first + SCORE_BUCKETS.buckets) is None


# ------------------------------------------------------------------ scores
@given(st.fixed_dictionaries({}, optional={
    "tier": st.sampled_from(["gold", "silver", "x"]), "n": st.integers(-5, 10), "d": st.floats(allow_nan=True),
    "flag": st.booleans(), "tags": st.lists(st.sampled_from(["tents", "x"]), max_size=3), "nums": st.lists(st.integers(5, 8), max_size=3),
    "anys": st.lists(st.one_of(st.integers(0, 2), st.booleans()), max_size=3), "m": st.dictionaries(st.sampled_from(["k", "j"]), st.integers(), max_size=2),
    "u": st.integers(0, 5), "beh": st.integers(-2, 3)}))
def test_score_score_is_sigmoid_of_the_left_to_right_sum(s: dict[str, Any]) -> None:
    levels = INTENT.levels(s)
    bias, weights = INTENT.sets[0]
    z = bias
    for ws, lv in zip(weights, levels):
        z = z + ws[lv]
    assert INTENT.score(s) == INTENT.score_of(levels) == sigmoid(z)
    lift = LIFT.score_of(LIFT.levels(s))
    (bt, wt), (bc, wc) = LIFT.sets
    zt, zc = bt, bc
    for a, b, lv in zip(wt, wc, LIFT.levels(s)):
        zt, zc = zt + a[lv], zc + b[lv]
    assert lift == LIFT.score(s) == sigmoid(zt) - sigmoid(zc)
    assert -1.0 <= lift <= 1.0


SIGNAL_MAPS = st.fixed_dictionaries({}, optional={
    "tier": st.sampled_from(["gold", "silver", "x"]), "n": st.integers(-5, 10), "d": st.floats(allow_nan=True),
    "flag": st.booleans(), "tags": st.lists(st.sampled_from(["tents", "x"]), max_size=3), "nums": st.lists(st.integers(5, 8), max_size=3),
    "anys": st.lists(st.one_of(st.integers(0, 2), st.booleans()), max_size=3), "m": st.dictionaries(st.sampled_from(["k", "j"]), st.integers(), max_size=2),
    "u": st.integers(0, 5), "beh": st.integers(-2, 3)})


def _calibrated() -> tuple[Model, Model]:
    from tests.vectors.generate_scores import calibrated_models

    raws = calibrated_models(SIGNALS)
    types = [s["type"] for s in P.signals]
    return Model(0, raws[0], SIGNALS, types), Model(1, raws[1], SIGNALS, types)  # (and a third, intent_cal_flat, in the vectors)


CAL, CAL_LIFT = _calibrated()


@given(SIGNAL_MAPS)
def test_score_calibrated_model_with_a_cross_scores_its_calibration_of_the_left_to_right_sum(s: dict[str, Any]) -> None:
    """A calibrated set maps z (the log-odds without the crosses) through its knots to a calibrated
    log-odds, adds the crosses' weights (summed apart from 0.0) and takes the sigmoid; a cross's
    level is the mixed-radix number of its parts' levels; the generated code equals the slow path."""
    levels = CAL.levels(s)
    cross = CAL.features[-1]
    assert cross.kind == "cross" and levels[-1] == levels[0] * 3 + levels[4]
    assert cross.levels[levels[-1]] == f"{CAL.features[0].levels[levels[0]]}|{CAL.features[4].levels[levels[4]]}"
    bias, weights = CAL.sets[0]
    z = bias
    for ws, lv in list(zip(weights, levels))[:-1]:  # every feature but the cross, left to right
        z = z + ws[lv]
    assert CAL.z_of(levels) == z and CAL.cross_of(levels) == 0.0 + weights[-1][levels[-1]]
    assert CAL.score(s) == CAL.score_of(levels) == sigmoid(calibration(CAL_KNOTS)(z) + (0.0 + weights[-1][levels[-1]]))
    lv = CAL_LIFT.levels(s)
    t, c = calibration(CAL_LIFT_KNOTS[0]), calibration(CAL_LIFT_KNOTS[1])  # no cross: sigmoid(l(z)) per arm
    assert CAL_LIFT.score(s) == CAL_LIFT.score_of(lv) == sigmoid(t(CAL_LIFT.z_of(lv, 0))) - sigmoid(c(CAL_LIFT.z_of(lv, 1)))


def _knots_of(m: Model) -> list[Any]:
    from tests.vectors.generate_scores import calibrated_models

    raw = next(r for r in calibrated_models(SIGNALS) if r["id"] == m.id)
    return [st_["calibration"] for st_ in raw["sets"]]


CAL_KNOTS = _knots_of(CAL)[0]
CAL_LIFT_KNOTS = _knots_of(CAL_LIFT)


@given(st.lists(st.tuples(st.floats(0.001, 2.0), st.floats(0.0, 0.2)), min_size=1, max_size=40),
       st.floats(-20.0, 20.0), st.floats(-20.0, 20.0), st.floats(-10.0, 0.0))
def test_score_calibration_is_monotone_exact_at_knots_and_flat_beyond(steps: list[tuple[float, float]], a: float, b: float, z0: float) -> None:
    knots, z, p = [], z0, 0.0
    for dz, dp in steps:
        knots.append([z, p])
        z, p = z + dz, min(p + dp, 1.0)
    m = calibration(knots)
    lo, hi = min(a, b), max(a, b)
    assert m(lo) <= m(hi)  # monotone
    assert all(m(kz) == kp for kz, kp in knots)  # exact at every knot
    assert m(knots[0][0] - 1.0) == knots[0][1] and m(knots[-1][0] + 1.0) == knots[-1][1]
    for (za, pa), (zb, pb) in zip(knots, knots[1:]):
        mid = (za + zb) / 2
        assert pa <= m(mid) <= pb  # never past the next knot


def test_score_model_without_features_is_its_bias() -> None:
    m = Model(0, model("bare", [], [{"bias": 1.5, "weights": []}], SIGNALS), SIGNALS, [s["type"] for s in P.signals])
    assert m.score({}) == sigmoid(1.5) and m.levels({}) == b""


# ------------------------------------------------------------------ in decide
SIGNALS_X = {"tier": "x", "n": 9, "d": 3.0, "flag": True, "tags": ["tents"], "nums": [7], "anys": [1], "m": {"k": 1}, "u": 3, "beh": 2}


def counting(prepared: Any) -> list[int]:
    calls: list[int] = []
    scores = prepared._model_scores

    def wrap(i: int) -> Any:
        def f(s: Any) -> float:
            calls.append(i)
            return float(scores[i](s))
        return f

    prepared._model_scores = tuple(wrap(i) for i in range(len(scores)))
    return calls


def test_score_computed_once_per_decision_for_many_readers() -> None:
    rt = load(models_payload())
    calls = counting(rt.current)
    # three conditions read score.intent (two rules, one segment); the lift model is read by none
    out = rt.decide({**SIGNALS_X, "tier": "gold"}, session_id="s", now=NOW)
    assert calls == [0]
    assert out.scores == {"intent": INTENT.score({**SIGNALS_X, "tier": "gold"})}
    rt.decide(SIGNALS_X, ["offer"], session_id="s", now=NOW)
    assert calls == [0], "a decision whose candidates read no score computes none"


def test_score_memoised_across_fast_and_exact_paths() -> None:
    p = models_payload()
    for slot in p["slots"]:
        for c in slot["candidates"]:
            if c["id"] == "likely":  # the fast path raises on the absent key; the exact path re-reads the score
                c["when"] = [8, c["when"], [12, "_>_", "int, int", [12, "_[_]", None, [2, SIGNALS.index("m")], [0, "absent"]], [0, 0]]]
    rt = load(p)
    calls = counting(rt.current)
    out = rt.decide({**SIGNALS_X, "tier": "x"}, explain=True, session_id="s", now=NOW)
    assert calls == [0]
    trace = out.decisions["hero"].trace
    assert trace is not None and any(t["candidate"] == "likely" and t["result"] == "error" for t in trace)


def test_score_decides_by_threshold() -> None:
    hi = {**SIGNALS_X, "tier": "x"}
    out = RT.decide(hi, ["hero"], now=NOW)
    want = "likely" if INTENT.score(hi) > 0.5 else None
    assert out.decisions["hero"].rule == want
    assert want == "likely", "the fixture's weights put this visitor above 0.5"


def test_score_consent_stripped_signals_are_absent() -> None:
    beh = next(i for i, f in enumerate(INTENT.features) if f.id == "beh")
    with_consent, without = P.model_levels({"beh": 5}), P.model_levels({"beh": 5}, consent=False)
    assert INTENT.features[beh].levels[with_consent[0][beh]] == ">=1"
    assert INTENT.features[beh].levels[without[0][beh]] == "(absent)"
    s = P.checked_signals({"beh": 5}, consent=False)
    out = RT.decide({**SIGNALS_X, "beh": 5}, ["side"], consent=False, now=NOW)
    assert out.scores == {"intent": INTENT.score({k: v for k, v in SIGNALS_X.items() if k != "beh"} | s)}


def test_score_model_levels_merge_defaults_and_order_models() -> None:
    levels = P.model_levels(SIGNALS_X)
    assert [len(x) for x in levels] == [len(m.features) for m in P.models]
    assert levels[0] == INTENT.levels(SIGNALS_X) and levels[1] == LIFT.levels(SIGNALS_X)


def test_score_explain_json_carries_scores() -> None:
    out = RT.decide(SIGNALS_X, explain=True, now=NOW).to_dict()
    assert set(out["scores"]) == {"intent"} and 0 < out["scores"]["intent"] < 1
    plain = RT.decide(SIGNALS_X, now=NOW).to_dict()
    assert "scores" not in plain


def test_score_memo_keys_do_not_collide_with_segments_or_budget() -> None:
    out = RT.decide({**SIGNALS_X, "tier": "gold"}, explain=True, now=NOW)
    assert out.memo is not None and SCORE_KEYS + 0 in out.memo
    assert out.segments == {"gold": True, "everyone": True}  # the score's memo entry is not read as a segment
    assert out.work == 0


# ------------------------------------------------------------------ rule_matches
@pytest.mark.parametrize("tier", ["x", "y", "gold"])
def test_score_rule_matches_follows_the_condition(tier: str) -> None:
    s = {**SIGNALS_X, "tier": tier}
    assert P.rule_matches("hero", "gold-rule", s) is (tier == "gold" and INTENT.score(s) > 0.0)
    assert P.rule_matches("hero", "likely", s) is (INTENT.score(s) > 0.5)
    assert P.rule_matches("hero", "nope", s) is False and P.rule_matches("nope", "likely", s) is False


def test_score_rule_matches_ignores_the_holdout() -> None:
    p = models_payload()
    p["holdout"] = {"bp": 10_000, "salt": "all"}
    rt = load(p)
    prepared = rt.current
    assert prepared is not None
    out = rt.decide(SIGNALS_X, session_id="s", now=NOW)
    assert out.holdout and out.decisions["hero"].reason == "holdout"
    assert prepared.rule_matches("side", "likely-too", SIGNALS_X, memo=out.memo) is (INTENT.score(SIGNALS_X) > 0.5) is True


@pytest.mark.parametrize("consent", [True, False])
def test_score_outcome_carries_the_signals_its_conditions_read(consent: bool) -> None:
    """``Outcome.signals`` is the map the conditions read (defaults merged, consent-stripped), and
    levels and rule conditions read from it answer as from the signals given to decide."""
    given_ = {**SIGNALS_X, "tier": "gold", "beh": 5}
    out = RT.decide(given_, session_id="s", consent=consent, now=NOW, checked=True)
    assert out.signals == P.checked_signals(given_, consent) and ("beh" in out.signals) is consent
    assert P.levels(out.signals) == P.model_levels(given_, consent)
    for slot, rule in (("hero", "likely"), ("hero", "gold-rule"), ("side", "likely-too"), ("hero", "nope")):
        want = P.rule_matches(slot, rule, given_, consent=consent)
        assert P.rule_holds(slot, rule, out.signals, out.memo, consent=consent) is want, (slot, rule)
    unchecked = RT.decide({**given_, "n": "not an int"}, consent=consent, now=NOW)
    assert unchecked.signals == P.prepare_signals({**given_, "n": "not an int"}, consent)[0]


# ------------------------------------------------------------------ weights make a difference
def test_score_weights_fixture_differs_per_level() -> None:
    ws = weights_for(FEATURES, 0.0)
    assert all(len(set(w)) > 1 for w in ws)


JUNK = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(), st.text(max_size=3), st.sampled_from(["gold", "tents", "k"]),
                 st.lists(st.one_of(st.sampled_from(["tents", "k", 1, 7, True, 1.0]), st.integers(0, 9)), max_size=3),
                 st.tuples(st.sampled_from(["tents", 7, 1])), st.dictionaries(st.sampled_from(["k", 1, True]), st.none(), max_size=2),
                 st.just(UInt(3)), st.just(UInt(1)))


@given(st.dictionaries(st.sampled_from([s for s in SIGNALS if s in {f.signal for f in INTENT.features}]), JUNK))
def test_score_generated_score_equals_the_slow_path_on_any_values(s: dict[str, Any]) -> None:
    # the generated straight-line score (unchecked, ill-typed, unhashable values included)
    for m in (INTENT, LIFT):
        assert m.score(s) == m.score_slow(s) == m.score_of(m.levels(s))
        assert m.levels(s) == m.levels_slow(s)  # the generated level vector (runtime/score.py, _compile_levels)


# ------------------------------------------------------------------ end to end, from YAML
YAML_RULES = """\
strata: 1
name: yaml-models
holdout: {percent: 0, salt: hs}
goals: [purchase]
signals:
  tier: {type: string, category: contextual}
models:
  purchase_intent:
    goal: purchase
    features:
      device: {signal: device.type, values: [mobile, desktop, tablet]}
      depth: {signal: session.page_views, edges: [2, 4, 8]}
      tents: {signal: session.recent_categories, contains: tents}
      tier: {signal: tier, values: [gold]}
    coefficients:
      bias: -1.5
      weights:
        device: {mobile: 0.75, tablet: -0.25}
        depth: {"[2,4)": 0.5, "[4,8)": 1.0, ">=8": 1.5}
        tents: {"yes": 1.25, "(absent)": -2.0}
        tier: {gold: 0.5, "(absent)": -0.125}
  offer_lift:
    goal: purchase
    uplift: {experiment: kit, treatment: bundle, control: ship}
    features:
      device: {signal: device.type, values: [mobile]}
    coefficients:
      treatment: {bias: 0.5, weights: {device: {mobile: 1.0}}}
      control: {bias: 0.25, weights: {device: {mobile: -1.0}}}
segments:
  - {id: everyone, layer: broad, when: 'true'}
  - {id: likely, layer: mid, when: 'score.purchase_intent > 0.6'}
slots:
  - id: hero
    default: {v: default}
    rules:
      - {id: likely-hero, segment: likely, content: {v: likely}}
  - id: recs
    default: {v: default}
    rules:
      - {id: lift-recs, when: 'score.offer_lift > 0.0 && score.purchase_intent > 0.3', content: {v: lift}}
  - id: offer
    default: {v: default}
experiments:
  - id: kit
    slot: offer
    audience: everyone
    variants: [{id: bundle, weight: 50, content: {v: bundle}}, {id: ship, weight: 50, content: {v: ship}}]
"""


@pytest.fixture(scope="module")
def yaml_rt():  # type: ignore[no-untyped-def]
    from compiler.harness.bundles import make_bundle
    from runtime import Runtime, key_id
    from tests.runtime.model_payloads import KEY

    rt = Runtime({key_id(KEY.public_key()): KEY.public_key()})
    rt.load(make_bundle(YAML_RULES, KEY), now=NOW)
    return rt


def by_hand(z: float) -> float:
    return sigmoid(z)


@given(st.sampled_from(["mobile", "desktop", "tablet", "bot"]), st.integers(0, 12), st.lists(st.sampled_from(["tents", "packs"]), max_size=2),
       st.one_of(st.none(), st.sampled_from(["gold", "silver"])), st.booleans())
def test_score_from_yaml_matches_the_declared_coefficients(yaml_rt, device: str, views: int, cats: list[str], tier: str | None, consent: bool) -> None:  # type: ignore[no-untyped-def]
    signals: dict[str, Any] = {"device.type": device, "session.page_views": views, "session.recent_categories": cats}
    if tier is not None:
        signals["tier"] = tier
    out = yaml_rt.decide(signals, session_id="s-1", consent=consent, now=NOW, explain=True)
    if not consent:
        # the model reads behavioral signals, so every condition reading it needs consent: no score
        assert out.scores == {} and out.decisions["hero"].reason == "no_consent"
        p = yaml_rt.current
        (levels, _) = p.model_levels(signals, consent=False)
        assert [p.models[0].features[i].levels[levels[i]] for i in (1, 2)] == ["(absent)", "(absent)"]
        return
    # by hand, from the YAML (defaults merged: tier has none)
    z = -1.5 + {"mobile": 0.75, "tablet": -0.25}.get(device, 0.0)
    z = z + (0.0 if views < 2 else 0.5 if views < 4 else 1.0 if views < 8 else 1.5)
    z = z + (1.25 if "tents" in cats else 0.0)
    z = z + (0.5 if tier == "gold" else -0.125 if tier is None else 0.0)
    intent = by_hand(z)
    lift = by_hand(0.5 + (1.0 if device == "mobile" else 0.0)) - by_hand(0.25 + (-1.0 if device == "mobile" else 0.0))
    assert out.scores is not None and out.scores["purchase_intent"] == intent
    assert out.decisions["hero"].rule == ("likely-hero" if intent > 0.6 else None)
    if intent > 0.3 or lift > 0.0:
        assert "offer_lift" in out.scores and out.scores["offer_lift"] == lift
    assert out.decisions["recs"].rule == ("lift-recs" if lift > 0.0 and intent > 0.3 else None)


def test_score_from_yaml_prepared_api(yaml_rt) -> None:  # type: ignore[no-untyped-def]
    p = yaml_rt.current
    intent, lift = p.models
    assert (intent.id, intent.goal, intent.uplift, lift.uplift) == ("purchase_intent", "purchase", None, {"experiment": 0, "treatment": "bundle", "control": "ship"})
    assert [f.id for f in intent.features] == ["device", "depth", "tents", "tier"]
    assert intent.features[1].levels == ("<2", "[2,4)", "[4,8)", ">=8", "(absent)")
    levels = p.model_levels({"device.type": "tablet", "session.page_views": 4})
    assert [intent.features[i].levels[lv] for i, lv in enumerate(levels[0])] == ["tablet", "[4,8)", "no", "(absent)"]
    assert intent.score_of(levels[0]) == sigmoid(-1.5 + -0.25 + 1.0 + 0.0 + -0.125)
    assert p.rule_matches("recs", "lift-recs", {"device.type": "mobile", "session.page_views": 9, "session.recent_categories": ["tents"]})
    assert not p.rule_matches("recs", "lift-recs", {"device.type": "desktop"})
