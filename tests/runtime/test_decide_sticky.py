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
