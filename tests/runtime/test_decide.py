"""decide(): every reason, precedence, caps, experiments and exclusion groups, holdout, consent."""

from __future__ import annotations

import collections

import pytest

from compiler.harness.bundles import make_bundle
from compiler.harness.fixtures import CREATED
from runtime import Runtime, key_id
from runtime.bucketing import bucket

NOW = CREATED + 3600

RULES = """\
strata: 1
name: decide
holdout: {percent: 10, salt: hs}
signals:
  tier: {type: string, category: contextual}
  points: {type: int, category: behavioral}
  tags: {type: 'map(string, int)', category: contextual}
segments:
  - {id: everyone, layer: broad, when: 'true'}
  - {id: gold, layer: mid, when: 'tier == "gold"'}
  - {id: vip, layer: specific, when: 'gold && points > 10'}
  - {id: scored, layer: mid, when: 'points > 0'}
slots:
  - id: s
    default: {v: default}
    rules:
      - {id: broad-rule, segment: everyone, content: {v: broad}}
      - {id: mid-low, segment: gold, content: {v: mid-low}}
      - {id: mid-high, segment: gold, priority: 5, content: {v: mid-high}}
      - {id: specific, segment: vip, content: {v: specific}}
  - id: capped
    default: {v: default}
    rules:
      - {id: once, when: 'tier == "gold"', cap: {per_session: 1}, content: {v: once}}
      - {id: cool, when: 'tier == "gold"', cap: {cooldown: 1h}, content: {v: cool}}
  - id: err
    default: {v: default}
    rules:
      - {id: missing-key, when: 'tags["x"] > 1', content: {v: x}}
      - {id: absorbed, when: 'tags["x"] > 1 || tier == "gold"', content: {v: absorbed}}
  - id: consent
    default: {v: default}
    rules:
      - {id: behavioral, segment: scored, content: {v: scored}}
      - {id: contextual, segment: gold, content: {v: gold}}
  - id: exp
    default: {v: default}
experiments:
  - id: e1
    slot: exp
    audience: everyone
    traffic: 30
    group: g
    variants: [{id: a, weight: 50, content: {v: e1a}}, {id: b, weight: 50, content: {v: e1b}}]
  - id: e2
    slot: exp
    audience: everyone
    traffic: 70
    group: g
    variants: [{id: a, weight: 20, content: {v: e2a}}, {id: b, weight: 80, content: {v: e2b}}]
"""


@pytest.fixture(scope="module")
def rt(signing_key):
    r = Runtime({key_id(signing_key.public_key()): signing_key.public_key()})
    r.load(make_bundle(RULES, signing_key), now=NOW)
    return r


def not_held_out(i: int = 0) -> str:
    """A session id outside the 10% holdout."""
    while True:
        sid = f"sess-{i}"
        if bucket("holdout:hs", sid) >= 1000:
            return sid
        i += 1


def held_out() -> str:
    i = 0
    while bucket("holdout:hs", f"sess-{i}") >= 1000:
        i += 1
    return f"sess-{i}"


def d(rt, signals, slot, **kw):
    kw.setdefault("session_id", not_held_out())
    kw.setdefault("now", NOW)
    return rt.decide(signals, [slot], **kw).decisions[slot]


def test_decide_most_specific_layer_wins(rt):
    x = d(rt, {"tier": "gold", "points": 50}, "s")
    assert (x.rule, x.layer, x.reason, x.segment, x.content) == ("specific", "specific", "rule", "vip", {"v": "specific"})


def test_decide_priority_orders_within_a_layer(rt):
    x = d(rt, {"tier": "gold", "points": 1}, "s")
    assert (x.rule, x.layer) == ("mid-high", "mid")


def test_decide_falls_through_to_broad(rt):
    assert d(rt, {"tier": "silver"}, "s").rule == "broad-rule"


def test_decide_default_when_nothing_matches(rt):
    x = d(rt, {"tier": "silver"}, "capped")
    assert (x.reason, x.rule, x.content) == ("default", None, {"v": "default"})


def test_decide_cap_per_session_skips_to_next_candidate(rt):
    x = d(rt, {"tier": "gold"}, "capped", caps={"capped/once": [1, NOW - 10]})
    assert x.rule == "cool"


def test_decide_cap_cooldown_then_reason_capped(rt):
    caps = {"capped/once": [1, NOW - 10], "capped/cool": [1, NOW - 60]}
    x = d(rt, {"tier": "gold"}, "capped", caps=caps)
    assert (x.reason, x.rule) == ("capped", None)
    caps["capped/cool"] = [1, NOW - 3601]
    assert d(rt, {"tier": "gold"}, "capped", caps=caps).rule == "cool"


def test_decide_reports_cap_hits_to_persist(rt):
    out = rt.decide({"tier": "gold"}, ["capped"], session_id=not_held_out(), now=NOW)
    assert out.cap_hits == ["capped/once"]


def test_decide_evaluation_error_is_false_and_counted(rt):
    out = rt.decide({"tier": "silver", "tags": {}}, ["err"], session_id=not_held_out(), now=NOW)
    x = out.decisions["err"]
    assert (x.reason, x.rule) == ("error", None)
    assert out.errors == 2


def test_decide_error_absorbed_by_or_true(rt):
    x = d(rt, {"tier": "gold", "tags": {}}, "err")
    assert (x.rule, x.reason) == ("absorbed", "rule")


def test_decide_explain_lists_every_candidate_with_its_result(rt):
    out = rt.decide({"tier": "gold", "tags": {}}, ["err", "capped"], session_id=not_held_out(), now=NOW, explain=True,
                    caps={"capped/once": [1, NOW]})
    assert [(t["candidate"], t["result"]) for t in out.decisions["err"].trace] == [("missing-key", "error"), ("absorbed", "matched")]
    assert "no such key" in out.decisions["err"].trace[0]["message"]
    assert [(t["candidate"], t["result"]) for t in out.decisions["capped"].trace] == [("once", "capped"), ("cool", "matched")]


def test_decide_explain_shows_segments_evaluated_once(rt):
    out = rt.decide({"tier": "gold", "points": 50}, ["s"], session_id=not_held_out(), now=NOW, explain=True)
    assert out.segments == {"vip": True, "gold": True}


def test_decide_holdout_gets_defaults(rt):
    out = rt.decide({"tier": "gold", "points": 50}, session_id=held_out(), now=NOW)
    assert {x.reason for x in out.decisions.values()} == {"holdout"}
    assert all(x.content == {"v": "default"} for x in out.decisions.values())


def test_decide_holdout_share_is_ten_percent():
    held = sum(bucket("holdout:hs", f"v{i}") < 1000 for i in range(20000))
    assert 1800 < held < 2200


def test_decide_without_consent_skips_behavioral_rules(rt):
    x = d(rt, {"tier": "gold", "points": 5}, "consent", consent=False)
    assert (x.rule, x.reason) == ("contextual", "rule")
    y = d(rt, {"tier": "silver", "points": 5}, "consent", consent=False)
    assert (y.rule, y.reason) == (None, "no_consent")


def test_decide_without_consent_drops_behavioral_signals(rt):
    prepared = rt.current
    s, _ = prepared.prepare_signals({"tier": "gold", "points": 5}, consent=False)
    assert "points" not in s and s["tier"] == "gold"


def test_decide_without_consent_no_experiment_no_holdout(rt):
    out = rt.decide({}, ["exp", "s"], session_id=held_out(), consent=False, now=NOW)
    assert out.decisions["exp"].reason == "no_consent"
    assert out.decisions["s"].rule == "broad-rule"  # not held out: no session without consent
    assert out.exposures == []


def test_decide_experiment_is_sticky_and_reports_exposure(rt):
    sid = not_held_out(7)
    first = rt.decide({}, ["exp"], session_id=sid, now=NOW)
    again = rt.decide({}, ["exp"], session_id=sid, now=NOW + 999)
    assert first.decisions["exp"].variant == again.decisions["exp"].variant
    assert first.exposures == [(first.decisions["exp"].experiment, first.decisions["exp"].variant)]
    assert first.decisions["exp"].reason == "experiment"


def test_decide_exclusion_group_splits_traffic_without_overlap(rt):
    seen = collections.Counter()
    for i in range(6000):
        sid = f"g-{i}"
        if bucket("holdout:hs", sid) < 1000:
            continue
        x = rt.decide({}, ["exp"], session_id=sid, now=NOW).decisions["exp"]
        seen[(x.experiment, x.variant)] += 1
        t = bucket("traffic:g", sid)
        assert x.experiment == ("e1" if t < 3000 else "e2")
    total = sum(seen.values())
    e1 = seen[("e1", "a")] + seen[("e1", "b")]
    assert abs(e1 / total - 0.30) < 0.03
    assert abs(seen[("e2", "a")] / (total - e1) - 0.20) < 0.03


def test_decide_unknown_slots_are_skipped_and_ill_typed_signals_dropped(rt):
    out = rt.decide({"tier": 5, "nope": 1}, ["s", "nonexistent"], session_id=not_held_out(), now=NOW)
    assert list(out.decisions) == ["s"] and out.decisions["s"].rule == "broad-rule"
    _, dropped = rt.current.prepare_signals({"tier": 5, "nope": 1}, True)
    assert sorted(dropped) == ["nope", "tier"]


def test_decide_slot_asked_twice_is_decided_once(rt):
    out = rt.decide({"tier": "gold", "tags": {}}, ["capped", "err", "capped", "err"], session_id=not_held_out(), now=NOW)
    assert list(out.decisions) == ["capped", "err"]
    assert out.cap_hits == ["capped/once"]  # not counted twice
    assert out.errors == 1  # err's missing-key condition evaluated once


def test_decide_all_slots_when_none_given(rt):
    assert list(rt.decide({}, session_id=not_held_out(), now=NOW).decisions) == ["s", "capped", "err", "consent", "exp"]


def test_decide_returns_the_bundles_own_immutable_decisions(rt):
    """Decisions are built once per bundle: the same outcome is the same object, it cannot be
    changed, and an explained decision is a separate object carrying its trace."""
    import dataclasses

    first = d(rt, {"tier": "gold", "points": 50}, "s")
    again = d(rt, {"tier": "gold", "points": 50}, "s", session_id=not_held_out(7))
    assert first is again and first.trace is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.rule = "other"  # type: ignore[misc]
    explained = rt.decide({"tier": "gold", "points": 50}, ["s"], session_id=not_held_out(), now=NOW, explain=True).decisions["s"]
    assert explained is not first and explained.trace and (explained.rule, explained.content) == (first.rule, first.content)
    # experiment decisions are prebuilt per variant: two sessions in the same variant share one
    seen: dict[str, object] = {}
    for i in range(200):
        x = d(rt, {}, "exp", session_id=not_held_out(i))
        if x.variant:
            assert seen.setdefault(f"{x.experiment}/{x.variant}", x) is x


def test_decide_outcome_says_whether_the_visitor_is_held_out(rt):
    assert rt.decide({"tier": "gold"}, ["s"], session_id=held_out(), now=NOW).holdout is True
    assert rt.decide({"tier": "gold"}, ["s"], session_id=not_held_out(), now=NOW).holdout is False
    assert rt.decide({"tier": "gold"}, ["s"], now=NOW).holdout is False  # no session: never held out
