"""Planning on its own (runtime/plan.py): what a verified bundle is turned into once — signal
tables, compiled conditions with memoised segments, candidates in precedence order with their
prebuilt decisions, experiments — without going through decide()."""

from __future__ import annotations

import pytest

from compiler.harness.bundles import make_bundle
from compiler.harness.fixtures import CREATED
from runtime import key_id
from runtime.decide import Prepared
from runtime.interp import Err
from runtime.plan import Plan
from runtime.verify import verify_bundle
from tests.runtime.test_decide import RULES

NOW = CREATED + 3600


@pytest.fixture(scope="module")
def plan(signing_key) -> Prepared:
    keys = {key_id(signing_key.public_key()): signing_key.public_key()}
    return Prepared(verify_bundle(make_bundle(RULES, signing_key), keys, now=NOW))


def test_plan_is_what_decide_works_on(plan: Prepared) -> None:
    assert isinstance(plan, Plan)
    assert plan.name == "decide" and plan.slot_ids == ("s", "capped", "err", "consent", "exp")


def test_plan_candidates_in_precedence_order(plan: Prepared) -> None:
    """The compiler sorts candidates (specific > mid > broad, then priority, then file order);
    the plan keeps that order."""
    assert [c.id for c in plan.slots["s"].candidates] == ["specific", "mid-high", "mid-low", "broad-rule"]


def test_plan_prebuilds_every_decision_once(plan: Prepared) -> None:
    slot = plan.slots["s"]
    top = slot.candidates[0]
    assert top.decision.rule == "specific" and top.decision.layer == "specific" and top.decision.reason == "rule"
    assert set(slot.fallback) == {"default", "holdout", "no_consent", "capped", "error"}
    assert all(d.content == {"v": "default"} for d in slot.fallback.values())
    exp = plan.slots["exp"].candidates
    assert [c.experiment.id for c in exp if c.experiment is not None] == ["e1", "e2"]
    assert {(vid, d.variant) for c in exp for vid, d in c.variants} == {("a", "a"), ("b", "b")}


def test_plan_signal_tables(plan: Prepared) -> None:
    assert plan.signal_types["tier"] == "string" and plan.signal_types["tags"] == "map(string, int)"
    assert "points" in plan.consent_signals and "tier" not in plan.consent_signals
    assert plan.checkers["points"](3) and not plan.checkers["points"]("3")


def test_plan_segments_are_memoised_per_request(plan: Prepared) -> None:
    memo: dict[int, object] = {}
    gold = next(i for i, s in enumerate(plan.segments) if s.id == "gold")
    signals = {**plan.defaults, "tier": "gold", "points": 0}
    assert plan.segment_value(gold, signals, memo) is True
    assert memo[gold] is True
    vip = next(i for i, s in enumerate(plan.segments) if s.id == "vip")
    assert plan.segment_value(vip, signals, memo) is False


def test_plan_segment_error_is_a_value(plan: Prepared) -> None:
    """An evaluation error in a segment is an Err value in the memo, not an exception."""
    scored = next(i for i, s in enumerate(plan.segments) if s.id == "scored")
    memo: dict[int, object] = {}
    r = plan.segment_value(scored, dict(plan.defaults), memo)  # points absent: an error
    assert type(r) is Err
