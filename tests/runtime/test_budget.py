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
from compiler.harness.adversarial import RUNAWAY_MAX_LENGTH, runaway_bundle
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
LITERALS = ('","', '"a"', '" "', '""', '"a,"')


@st.composite
def strings(draw, depth: int, scope: tuple[str, ...]) -> str:  # type: ignore[no-untyped-def]
    kinds = ["signal", "literal"] + (["var"] if scope else []) + (["concat", "replace", "lower", "join"] if depth > 0 else [])
    k = draw(st.sampled_from(kinds))
    if k == "signal":
        return draw(st.sampled_from(STRING_SIGNALS))
    if k == "literal":
        return draw(st.sampled_from(LITERALS))
    if k == "var":
        return draw(st.sampled_from(scope))
    if k == "concat":
        return f"({draw(strings(depth - 1, scope))} + {draw(strings(depth - 1, scope))})"
    if k == "replace":
        return f"{draw(strings(depth - 1, scope))}.replace({draw(st.sampled_from(LITERALS))}, {draw(strings(depth - 1, scope))})"
    if k == "lower":
        return f"{draw(strings(depth - 1, scope))}.lowerAscii()"
    return f"{draw(lists(depth - 1, scope))}.join({draw(st.sampled_from(LITERALS))})"


@st.composite
def lists(draw, depth: int, scope: tuple[str, ...]) -> str:  # type: ignore[no-untyped-def]
    kinds = ["signal", "split"] + (["map", "filter", "concat"] if depth > 0 else [])
    k = draw(st.sampled_from(kinds))
    if k == "signal":
        return draw(st.sampled_from(LIST_SIGNALS))
    if k == "split":
        return f"{draw(strings(max(depth - 1, 0), scope))}.split({draw(st.sampled_from(LITERALS))})"
    v = f"v{len(scope)}"
    inner = (*scope, v)
    if k == "map":
        return f"{draw(lists(depth - 1, scope))}.map({v}, {draw(strings(depth - 1, inner))})"
    if k == "filter":
        return f"{draw(lists(depth - 1, scope))}.filter({v}, {draw(bools(depth - 1, inner))})"
    return f"({draw(lists(depth - 1, scope))} + {draw(lists(depth - 1, scope))})"


@st.composite
def bools(draw, depth: int, scope: tuple[str, ...]) -> str:  # type: ignore[no-untyped-def]
    kinds = ["eq", "contains", "in", "size"] + (["exists", "all", "exists_one", "and", "or"] if depth > 0 else [])
    k = draw(st.sampled_from(kinds))
    if k == "eq":
        return f"{draw(strings(depth, scope))} == {draw(strings(depth, scope))}"
    if k == "contains":
        return f"{draw(strings(depth, scope))}.contains({draw(strings(depth, scope))})"
    if k == "in":
        return f"{draw(strings(depth, scope))} in {draw(lists(depth, scope))}"
    if k == "size":
        return f"size({draw(lists(depth, scope))}) > 3"
    if k in ("and", "or"):
        op = "&&" if k == "and" else "||"
        return f"({draw(bools(depth - 1, scope))} {op} {draw(bools(depth - 1, scope))})"
    v = f"v{len(scope)}"
    return f"{draw(lists(depth - 1, scope))}.{k}({v}, {draw(bools(depth - 1, (*scope, v)))})"


def ruleset(condition: str, max_length: int, max_items: int) -> str:
    return f"""\
strata: 1
name: adversarial
signals:
  q: {{type: string, category: contextual, max_length: {max_length}}}
  xs: {{type: 'list(string)', category: contextual, max_items: {max_items}, max_length: {max_length}}}
slots:
  - id: s
    default: {{v: default}}
    rules:
      - id: r
        when: '{condition}'
        content: {{v: matched}}
"""


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
    condition = data.draw(bools(3, ()), label="condition")
    try:
        ctx = run("adversarial.yaml", Options(key=signing_key, created=CREATED), text=ruleset(condition, max_length, max_items))
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
