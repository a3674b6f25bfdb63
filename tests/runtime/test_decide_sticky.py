"""decide(..., assignments=): a variant recorded in the visitor's cookie wins over the hash while it
exists, whatever its weight now; the experiment's audience, caps and traffic still apply."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from runtime import Runtime
from tests.runtime.model_payloads import BASE_PAYLOAD, NOW, load


def reweighted(weights: list[int], traffic: tuple[int, int] = (0, 10_000)) -> Runtime:
    p = copy.deepcopy(BASE_PAYLOAD)
    e = next(e for e in p["experiments"] if e["id"] == "exp")
    e["variants"] = [[v[0], w, v[2]] for v, w in zip(e["variants"], weights)]
    e["start"], e["end"] = traffic
    return load(p)


EVEN = reweighted([5000, 5000])
ALL_B = reweighted([0, 10_000])
SESSIONS = st.text(alphabet="0123456789abcdef", min_size=8, max_size=32)


def variant(rt: Runtime, sid: str, **kw: Any) -> str | None:
    return rt.decide({}, ["offer"], session_id=sid, now=NOW, **kw).decisions["offer"].variant


@given(SESSIONS)
def test_decide_sticky_recorded_arm_survives_a_reweighting(sid: str) -> None:
    before = variant(EVEN, sid)
    assert before in ("a", "b")
    assert variant(ALL_B, sid) == "b"  # new visitors follow the new weights
    assert variant(ALL_B, sid, assignments={"exp": before}) == before  # the exposed keep their arm


@given(SESSIONS, st.text(max_size=6).filter(lambda v: v not in ("a", "b")))
def test_decide_sticky_unknown_recorded_variant_is_ignored(sid: str, recorded: str) -> None:
    assert variant(EVEN, sid, assignments={"exp": recorded}) == variant(EVEN, sid)
    assert variant(EVEN, sid, assignments={"other": "a"}) == variant(EVEN, sid)


@given(SESSIONS)
def test_decide_sticky_needs_the_visitor_in_traffic_and_a_session(sid: str) -> None:
    none = reweighted([5000, 5000], (0, 0))
    assert variant(none, sid, assignments={"exp": "a"}) is None
    out = EVEN.decide({}, ["offer"], session_id=sid, consent=False, now=NOW, assignments={"exp": "a"})
    assert out.decisions["offer"].variant is None and out.exposures == []


def test_decide_sticky_trace_and_exposure() -> None:
    out = ALL_B.decide({}, ["offer"], session_id="s1", now=NOW, explain=True, assignments={"exp": "a"})
    d = out.decisions["offer"]
    assert d.variant == "a" and out.exposures == [("exp", "a")]
    assert d.trace is not None and d.trace[-1]["sticky"] is True
    hashed = ALL_B.decide({}, ["offer"], session_id="s1", now=NOW, explain=True)
    trace = hashed.decisions["offer"].trace
    assert trace is not None and "sticky" not in trace[-1]


def test_decide_sticky_period_is_the_weights_in_basis_points() -> None:
    assert EVEN.current is not None and EVEN.current.periods == {"exp": "5000/5000"}
    assert ALL_B.current is not None and ALL_B.current.periods == {"exp": "0/10000"}


def test_decide_sticky_rebalanced_rule_set_keeps_exposed_visitors() -> None:
    # the same rule set compiled twice, as `strata rebalance` would leave it: 50/50, then 90/10
    from compiler.harness.bundles import make_bundle
    from runtime import key_id
    from tests.runtime.model_payloads import KEY, RULES

    assert "weight: 50, content: {v: a}}, {id: b, weight: 50," in RULES
    rts = []
    for version, (wa, wb) in enumerate([(50, 50), (90, 10)], start=1):
        rt = Runtime({key_id(KEY.public_key()): KEY.public_key()})
        text = RULES.replace("weight: 50, content: {v: a}}, {id: b, weight: 50,", f"weight: {wa}, content: {{v: a}}}}, {{id: b, weight: {wb},")
        rt.load(make_bundle(text, KEY, version=version), now=NOW)
        rts.append(rt)
    before = {f"v{i}": variant(rts[0], f"v{i}") for i in range(200)}
    after = {sid: variant(rts[1], sid, assignments={"exp": v}) for sid, v in before.items() if v is not None}
    fresh = [variant(rts[1], f"new{i}") for i in range(400)]
    assert after == {sid: v for sid, v in before.items() if v is not None}
    assert sum(v == "a" for v in fresh) > 300  # new visitors follow the new weights
    assert rts[1].current is not None and rts[1].current.periods == {"exp": "9000/1000"}
