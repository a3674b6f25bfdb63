"""Planning on its own (runtime/plan.py): what a verified bundle is turned into — signal
tables, compiled conditions with memoised segments, candidates in precedence order with their
prebuilt decisions, experiments — without going through decide(); and preparation on first use:
a slot is prepared once, under concurrent first decides too, deciding as an eager plan decides,
and a condition whose preparation fails decides as an evaluation error."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from typing import Any

import pytest

import runtime.plan as plan_module
from compiler.harness.bundles import make_bundle
from compiler.harness.fixtures import CREATED
from runtime import Runtime, key_id, load_public_key
from runtime.decide import Prepared
from runtime.errors import PrepareFailed
from runtime.interp import Err
from runtime.plan import Plan
from runtime.verify import verify_bundle
from tests.runtime.test_decide import RULES
from tests.vectors import generate as vectors

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


def test_plan_keeps_its_attributes_in_a_shared_key_dict(signing_key) -> None:
    """CPython shares an instance dict's keys up to 30 of them; past that every attribute read on
    the decide path slows (5% of a decide, measured). Preparation state lives in ``_prep``."""
    p = fresh_plan(signing_key).warm()
    assert len(vars(p)) < 30, sorted(vars(p))


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


# ------------------------------------------------------------------ preparation on first use
def fresh_plan(signing_key) -> Prepared:
    keys = {key_id(signing_key.public_key()): signing_key.public_key()}
    return Prepared(verify_bundle(make_bundle(RULES, signing_key), keys, now=NOW))


def test_plan_prepares_a_slot_on_its_first_use_only(signing_key) -> None:
    p = fresh_plan(signing_key)
    assert p._ready == {} and len(p.slots) == 5 and "err" in p.slots and list(p.slots) == list(p.slot_ids)
    p.decide({"tier": "gold"}, ["err"], now=NOW)
    assert list(p._ready) == ["err"]
    p.rule_matches("capped", "once", {"tier": "gold"})
    assert list(p._ready) == ["err", "capped"]
    assert p.warm() is p and set(p._ready) == set(p.slot_ids) and all(p._prep.segment_ready)


def test_plan_slot_prepared_once_under_concurrent_first_decides(signing_key, monkeypatch) -> None:
    """Threads deciding every slot at once, each in its own order, on a fresh plan: each slot is
    prepared once, each condition compiled once, and every thread gets the same decisions."""
    prepared: Counter[str] = Counter()
    compiled: Counter[int] = Counter()
    real_slot, real_compile = Plan._build_slot, Plan._compile

    def slow_slot(self: Plan, sid: str, *args: Any) -> Any:
        prepared[sid] += 1
        time.sleep(0.002)  # widens the window in which other threads ask for the same slot
        return real_slot(self, sid, *args)

    def counted_compile(self: Plan, irs: list[Any], targets: list[Any], ids: list[int]) -> None:
        compiled.update(id(t) for t in targets)
        real_compile(self, irs, targets, ids)

    monkeypatch.setattr(Plan, "_build_slot", slow_slot)
    monkeypatch.setattr(Plan, "_compile", counted_compile)
    signals = {"tier": "gold", "points": 20, "tags": {"x": 2}}
    want = fresh_plan(signing_key).warm().decide(signals, session_id="s-1", now=NOW).to_dict()
    for round_ in range(5):
        prepared.clear()
        compiled.clear()
        p = fresh_plan(signing_key)
        n = 8
        barrier = threading.Barrier(n)
        results: list[Any] = [None] * n

        def first_decide(k: int, p: Prepared = p, barrier: threading.Barrier = barrier, results: list[Any] = results,
                         seed: int = round_ * n) -> None:
            order = list(p.slot_ids)
            random.Random(seed + k).shuffle(order)
            barrier.wait()
            results[k] = p.decide(signals, order, session_id="s-1", now=NOW)

        threads = [threading.Thread(target=first_decide, args=(k,)) for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert prepared == Counter(p.slot_ids), round_
        assert compiled and set(compiled.values()) == {1}, round_
        for out in results:
            assert out is not None
            assert {sid: d.to_dict() for sid, d in out.decisions.items()} == want["slots"], round_
            assert all(out.decisions[sid] is results[0].decisions[sid] for sid in p.slot_ids), round_


def test_plan_decisions_identical_eager_and_lazy_over_the_shared_vectors() -> None:
    """Every decision case of tests/vectors/decisions.json on a plan prepared up front (warm) and
    on one whose slots are prepared as the cases first ask for them: the same outcome, trace,
    counts and work."""
    spec = json.loads((vectors.HERE / "decisions.json").read_text())
    pub = load_public_key(vectors.HERE / spec["key"])
    eager, lazy = {}, {}
    for name, rel in spec["bundles"].items():
        data = (vectors.HERE / rel).read_bytes()
        eager[name] = Runtime({key_id(pub): pub}).prepare(data, now=spec["now"]).warm()
        lazy[name] = Runtime({key_id(pub): pub}).prepare(data, now=spec["now"])
        assert lazy[name]._ready == {}
    for c in spec["cases"]:
        kw = {"session_id": c["session_id"], "caps": c["caps"], "consent": c["consent"], "now": c["now"], "assignments": c.get("assignments")}
        for explain in (True, False):
            a = lazy[c["bundle"]].decide(c["signals"], c["slots"], explain=explain, **kw)
            b = eager[c["bundle"]].decide(c["signals"], c["slots"], explain=explain, **kw)
            assert a.to_dict() == b.to_dict(), c["name"]
            assert (a.cap_hits, a.exposures, a.errors, a.budget_exceeded, a.holdout, a.work, a.scores, a.signals) == (
                b.cap_hits, b.exposures, b.errors, b.budget_exceeded, b.holdout, b.work, b.scores, b.signals), c["name"]
    assert any(p._ready for p in lazy.values())
    assert all(not p.prepare_failures for p in (*eager.values(), *lazy.values()))


def test_plan_condition_failing_preparation_decides_as_an_error_once(signing_key, monkeypatch) -> None:
    """An exception while preparing a condition (none is known once validation passes: this one is
    injected) is never a crash: that condition evaluates as an error, its neighbours are prepared
    and decide, and the failure is reported once with where it happened and what to do."""
    p = fresh_plan(signing_key)
    raw = next(s for s in p.payload["slots"] if s["id"] == "err")
    bad = next(c for c in raw["candidates"] if c["id"] == "absorbed")["when"]
    real = plan_module.generate

    def generate(irs: list[Any], *args: Any, **kw: Any) -> Any:
        if any(ir is bad for ir in irs):
            raise RecursionError("maximum recursion depth exceeded")
        return real(irs, *args, **kw)

    monkeypatch.setattr(plan_module, "generate", generate)
    for _ in range(3):
        out = p.decide({"tier": "gold"}, ["err", "capped"], now=NOW, explain=True)
        d = out.decisions["err"]
        assert d.reason == "error" and out.errors == 2
        assert d.trace is not None and "preparing rule err/absorbed" in d.trace[1]["message"]
        assert out.decisions["capped"].rule == "once"
    assert len(p.prepare_failures) == 1
    f = p.prepare_failures[0]
    assert isinstance(f, PrepareFailed) and "RecursionError" in str(f) and "recompile" in str(f)
    monkeypatch.setattr(plan_module, "generate", real)
    healthy = fresh_plan(signing_key).decide({"tier": "gold"}, ["err"], now=NOW)
    assert healthy.decisions["err"].rule == "absorbed"
