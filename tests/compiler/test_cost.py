"""The cost estimate (compiler/cost.py): over the limit is a compile error with location and remedy;
the estimate follows string growth, split() sizes, nested comprehensions and the real bounds of
signals; the demo and benchmark rule sets stay within it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.cost import CLIENT_BODY_BYTES, Bound, estimate, signal_bound
from compiler.errors import CompileError
from compiler.harness.fixtures import ROOT, TRAILBLAZER
from compiler.harness.generated import dump, ruleset
from compiler.ruleset import DEFAULT_COST_LIMIT, SignalDecl
from compiler.types import STRING, list_of
from edge_server.config import Config
from runtime.budget import EVAL_BUDGET
from tests.compiler.helpers import compile_text, errors_of


def rules(when: str, signals: str = "  q: {type: string, category: contextual}\n", limits: str = "") -> str:
    return f"""\
strata: 1
name: shop
{limits}signals:
{signals}slots:
  - id: hero
    default: {{headline: Hi}}
    rules:
      - id: r
        when: '{when}'
        content: {{headline: X}}
"""


def cost_of(when: str, signals: str = "  q: {type: string, category: contextual}\n") -> int:
    ctx = compile_text(rules(when, signals, "limits: {cost: 10000}\n"))
    assert ctx.ruleset is not None
    return estimate(ctx.ruleset.slots[0].rules[0].ir, ctx.ruleset).cost


def test_cost_nested_comprehension_over_split_of_a_1k_signal_is_an_error() -> None:
    # q has no declared bound: 1,024 characters, so split(",") has up to 1,025 items
    (d,) = errors_of(rules('q.split(",").exists(a, q.split(",").exists(b, a == b))'))
    assert str(d).startswith("rs.yaml:10:15: cost: estimated evaluation cost ")
    assert "exceeds the limit of 10,000 (a comprehension ranges over up to 1,025 items)" in str(d)
    assert "max_length" in (d.hint or "") and "split()" in (d.hint or "")


def test_cost_chained_replace_growth_is_an_error() -> None:
    (d,) = errors_of(rules('q.replace("a", q).replace("a", q) == ""'))
    assert d.code == "cost"
    assert "a string can grow to" in d.message


@given(length=st.integers(1, 1024), depth=st.integers(1, 4))
def test_cost_replace_chain_grows_geometrically(length: int, depth: int) -> None:
    """A chain of replace(x, q) multiplies the bound by q's length each time; the estimate follows
    (while it is under the limit), so it can never under-estimate the growth."""
    expr = "q"
    for _ in range(depth):
        expr = f'{expr}.replace("a", q)'
    signals = f"  q: {{type: string, category: contextual, max_length: {length}}}\n"
    chars = length
    for _ in range(depth):
        chars = chars * length  # every character may be an "a", each replaced by all of q
    try:
        c = cost_of(f'{expr} == ""', signals)
    except CompileError as e:
        assert [d.code for d in e.diagnostics] == ["cost"]
        assert chars // 16 > 300  # refused only when the string really can grow large
        return
    assert c >= chars // 16


def test_cost_declared_bounds_make_the_same_condition_cheap() -> None:
    cond = 'q.split(",").exists(a, q.split(",").exists(b, a == b))'
    assert cost_of(cond, "  q: {type: string, category: contextual, max_length: 20}\n") < DEFAULT_COST_LIMIT


def test_cost_nested_comprehensions_multiply() -> None:
    one = cost_of("cart.items.exists(i, i.price > 1.0)")
    two = cost_of("session.recent_categories.exists(c, cart.items.exists(i, i.category == c))")
    assert one >= 50 and two >= 10 * 50 * 3  # 10 categories x 50 items x (==, select, variable)


def test_cost_client_signals_are_bounded_by_the_request_body() -> None:
    big = SignalDecl("q", STRING, "contextual", max_length=65536, max_items=65536)
    assert signal_bound(big, {}) == Bound(CLIENT_BODY_BYTES, 0)
    big.type = list_of(STRING)
    assert signal_bound(big, {}) == Bound(0, CLIENT_BODY_BYTES // 2, Bound(CLIENT_BODY_BYTES, 0))  # '"",' per item at least
    big.source = "request"  # built by the server, which enforces the declared bounds
    assert signal_bound(big, {}) == Bound(0, 65536, Bound(65536, 0))
    assert CLIENT_BODY_BYTES == Config().max_body_bytes  # the server's default --max-body


def test_cost_dyn_strings_are_bounded_by_the_request_body_only() -> None:
    # the dyn checker bounds no string length, whatever max_length says
    (d,) = errors_of(rules('string(d).split(",").exists(x, x == "a")', "  d: {type: dyn, category: contextual, max_length: 4}\n"))
    assert f"a comprehension ranges over up to {CLIENT_BODY_BYTES + 1:,} items" in d.message


def test_cost_limit_cannot_exceed_the_runtime_budget() -> None:
    assert DEFAULT_COST_LIMIT == EVAL_BUDGET
    schema = json.loads((ROOT / "rulesets" / "schema.json").read_text())
    assert schema["properties"]["limits"]["properties"]["cost"]["maximum"] == EVAL_BUDGET
    (d,) = errors_of(rules('q == "x"', limits=f"limits: {{cost: {EVAL_BUDGET + 1}}}\n"))
    assert d.code == "schema" and "limits.cost" in str(d)


def test_cost_lower_limit_refuses_what_the_default_accepts() -> None:
    cond = "cart.items.exists(i, i.price > 1.0)"
    compile_text(rules(cond))
    with pytest.raises(CompileError, match=r"rs.yaml:11:15: cost: estimated evaluation cost [\d,]+ exceeds the limit of 100\b"):
        compile_text(rules(cond, limits="limits: {cost: 100}\n"))


@pytest.mark.parametrize("name", ["trailblazer", "bench-100", "bench-1000"])
def test_cost_demo_and_benchmark_rule_sets_compile(name: str) -> None:
    text = TRAILBLAZER.read_text() if name == "trailblazer" else dump(ruleset(int(name.split("-")[1])))
    ctx = compile_text(text, path=str(Path(name + ".yaml")))
    assert ctx.bundle is None and ctx.payload is not None
