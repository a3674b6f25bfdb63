"""The evaluation budget (runtime/budget.py): what is charged, that a runaway condition becomes an
evaluation error that skips its candidate and is counted, and -- over generated adversarial
conditions the compiler accepts and adversarial signals within their bounds -- that no accepted
condition ever reaches the budget, that the compiler's estimate bounds the work counted, and that
the generated fast path and the exact evaluator count the same work (the bit-for-bit contract a
second runtime follows)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from compiler import cost
from compiler.errors import CompileError
from compiler.harness.adversarial import RUNAWAY_MAX_LENGTH, CostlyConditions, costly_ruleset, runaway_bundle
from compiler.harness.fixtures import CREATED
from compiler.pipeline import Options, run
from runtime import Runtime, key_id
from runtime import functions as fn
from runtime.budget import ALLOC_CHUNK, EVAL_BUDGET, alloc_units, work

NOW = CREATED + 3600
TEXT = st.text(alphabet=",a b", max_size=40)


def _runtime(key) -> Runtime:  # type: ignore[no-untyped-def]
    return Runtime({key_id(key.public_key()): key.public_key()})


# ------------------------------------------------------------------ what one growth call charges
@given(s=TEXT, old=TEXT, new=TEXT, n=st.one_of(st.none(), st.integers(-2, 5)))
def test_budget_replace_charges_its_result_length(s: str, old: str, new: str, n: int | None) -> None:
    args = (s, old, new) if n is None else (s, old, new, n)
    assert alloc_units("replace", args) == math.ceil(len(fn.replace(*args)) / ALLOC_CHUNK)


@given(s=TEXT, sep=TEXT, n=st.one_of(st.none(), st.integers(-2, 5)))
def test_budget_split_charges_its_item_count(s: str, sep: str, n: int | None) -> None:
    args = (s, sep) if n is None else (s, sep, n)
    assert alloc_units("split", args) == len(fn.split(*args))


@given(items=st.lists(TEXT, max_size=8), sep=st.one_of(st.none(), TEXT))
def test_budget_join_charges_its_result_length(items: list[str], sep: str | None) -> None:
    args = (items,) if sep is None else (items, sep)
    assert alloc_units("join", args) == math.ceil(len(fn.join(*args)) / ALLOC_CHUNK)


@given(a=st.one_of(TEXT, st.lists(st.integers(), max_size=5)), b=st.one_of(TEXT, st.lists(st.integers(), max_size=5)))
def test_budget_concatenation_charges_its_result_size(a, b) -> None:  # type: ignore[no-untyped-def]
    units = alloc_units("_+_", (a, b))
    if type(a) is not type(b):
        assert units == 0  # no such overload: the function raises its own error
    elif isinstance(a, str):
        assert units == math.ceil(len(a + b) / ALLOC_CHUNK)
    else:
        assert units == len(a) + len(b)


# ------------------------------------------------------------------ a runaway condition
@pytest.fixture(scope="module")
def runaway(signing_key) -> Runtime:  # type: ignore[no-untyped-def]
    rt = _runtime(signing_key)
    rt.load(runaway_bundle(signing_key), now=NOW)
    return rt


def test_budget_runaway_condition_is_an_error_that_skips_its_candidate(runaway: Runtime) -> None:
    out = runaway.decide({"q": "," * RUNAWAY_MAX_LENGTH}, ["runaway", "plain"], explain=True)
    d = out.decisions["runaway"]
    assert (d.reason, d.content) == ("error", {"v": "default"})
    assert d.trace is not None and "evaluation budget exceeded" in d.trace[0]["message"]
    assert out.decisions["plain"].reason == "rule"  # the other slots decide as usual
    assert (out.errors, out.budget_exceeded) == (1, 1)
    assert out.work <= EVAL_BUDGET


def test_budget_error_is_absorbed_like_any_evaluation_error(runaway: Runtime) -> None:
    out = runaway.decide({"q": "," * RUNAWAY_MAX_LENGTH}, ["absorbed"])
    assert out.decisions["absorbed"].reason == "rule"  # error || true is true
    assert (out.errors, out.budget_exceeded) == (0, 0)


def test_budget_small_input_stays_within_budget(runaway: Runtime) -> None:
    out = runaway.decide({"q": "," * 8}, ["runaway"])
    assert out.decisions["runaway"].reason == "default"
    assert out.budget_exceeded == 0
    assert out.work == 9 + 9 * 4 + 9 * (9 + 9 * 5)  # split, outer range x weight, then per item: split + inner range x weight


# ------------------------------------------------------------------ adversarial conditions within the limits
STRING_SIGNALS = ("q", "search.query", "page.path", "utm.campaign")
LIST_SIGNALS = ("xs", "session.recent_categories", "request.languages")


@st.composite
def conditions(draw, depth: int) -> str:  # type: ignore[no-untyped-def]
    """The harness's costly conditions over these signals, every choice a draw (so a failure shrinks)."""
    return CostlyConditions(lambda options: draw(st.sampled_from(options)), STRING_SIGNALS, LIST_SIGNALS).bool(depth, ())


@st.composite
def adversarial_signals(draw, max_length: int, max_items: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Every string at its bound, made of the delimiters and letters the conditions split and
    replace on; every list at its bound."""
    unit = draw(st.text(alphabet=",a ", min_size=1, max_size=3))

    def fill(n: int) -> str:
        return (unit * (n // len(unit) + 1))[:n]

    return {
        "q": fill(max_length), "xs": [fill(max_length)] * max_items,
        "search.query": fill(200), "page.path": "/" + fill(2047), "utm.campaign": fill(128),
        "session.recent_categories": [fill(1024)] * 10, "request.languages": [fill(1024)] * 16,
    }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), max_length=st.sampled_from([1, 16, 128, 1024]), max_items=st.sampled_from([1, 10, 100]))
def test_budget_never_reached_by_conditions_the_compiler_accepts(signing_key, data, max_length: int, max_items: int) -> None:  # type: ignore[no-untyped-def]
    condition = data.draw(conditions(3), label="condition")
    try:
        ctx = run("adversarial.yaml", Options(key=signing_key, created=CREATED), text=costly_ruleset(condition, max_length, max_items))
    except CompileError as e:
        assert {d.code for d in e.diagnostics} == {"cost"}, str(e)  # refused for its cost, nothing else
        event("refused for its cost")
        return
    assert ctx.bundle is not None and ctx.ruleset is not None
    rule = ctx.ruleset.slots[0].rules[0]
    estimated = cost.estimate(rule.ir, ctx.ruleset).cost
    signals = data.draw(adversarial_signals(max_length, max_items), label="signals")
    rt = _runtime(signing_key)
    prepared = rt.load(ctx.bundle, now=NOW)
    out = prepared.decide(signals, now=NOW)
    note(f"estimated {estimated}, counted {out.work}")
    event(f"accepted; counted work {'>= 1,000' if out.work >= 1000 else '>= 100' if out.work >= 100 else '< 100'}")
    assert set(out.decisions) == {"s"}
    assert out.budget_exceeded == 0
    assert out.work <= estimated <= EVAL_BUDGET

    # the generated function and the exact evaluator count the same work
    s, _ = prepared.prepare_signals(signals, True)
    cond = prepared.slots["s"].candidates[0].cond
    assert cond is not None
    exact_memo: dict[object, object] = {}
    exact = cond.exact(s, exact_memo, ())
    fast_memo: dict[object, object] = {}
    try:
        fast = cond.fast(s, fast_memo)
    except Exception:  # noqa: BLE001 - the fast path raises for every CEL error; decide then uses exact
        return
    assert fast == exact
    counted = [work(m) for m in (fast_memo, exact_memo)]
    assert counted[0] == counted[1]
