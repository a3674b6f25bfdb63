"""Differential test: Strata (compiler + generated fast path + exact fallback) against cel-python's
interpreter on random well-typed expressions and random signal values.

Each hypothesis example carries a batch of expressions; the suite checks at least 10,000
expressions per run. Generated expressions stay out of the classes where cel-python deviates from
the CEL spec (the conformance corpus is the judge there, see ``tests/conformance``): no mixed-type
comparisons (``1 == 1.0``), no NaN (so no double division or subtraction), no string escapes, no
extension functions cel-python lacks, no negative list index (cel-python counts from the end; CEL
says "index out of range"), no method call on a string concatenation (cel-python's ``+`` returns a
plain ``str`` without CEL methods), no ``int()`` of a double at the int64 boundary (corpus case
conversions/int/double_int_min_range: a range error, which cel-python misses), no ``map``/``filter``
macro inside an operand of ``&&``/``||`` (an error raised in the macro's body escapes cel-python's
logical operators: ``true || size([0].map(y, 1/0)) == 1`` is ``true`` by the CEL language
definition's commutative error absorption, an error in cel-python).

Examples are drawn from a fixed seed by default (the same on every run, so the suite's verdict
depends only on the code); ``pytest --hypothesis-profile=explore`` draws new ones each run.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conformance import corpus

celpy = pytest.importorskip("celpy")

corpus._setup()  # puts the conformance helpers and the engine on sys.path

BATCH = 10
EXAMPLES = 1000  # x BATCH = 10,000 expressions per run

TYPE_ENV = {
    "i1": "int", "i2": "int", "s1": "string", "s2": "string", "b1": "bool", "d1": "double",
    "l1": "list(int)", "sl": "list(string)", "m": "map(string, int)",
}

INT_LITS = st.sampled_from([0, 1, 2, 3, -1, -2, 7, 10, 100, 9223372036854775807, -9223372036854775807])
STR_LITS = st.sampled_from(["", "a", "ab", "b", "tent", "Tent", "é", "☺x", "a b"])
DBL_LITS = st.sampled_from([0.0, 0.5, -2.25, 1.0, 3.5, 1e10, -0.0])


def lit(t: str, draw: Any) -> str:
    if t == "int":
        v = draw(INT_LITS)
        return str(v) if v >= 0 else f"({v})"
    if t == "string":
        return '"' + draw(STR_LITS) + '"'
    if t == "double":
        v = draw(DBL_LITS)
        return repr(v) if v >= 0 and repr(v) != "-0.0" else f"({v!r})"
    if t == "bool":
        return draw(st.sampled_from(["true", "false"]))
    if t == "list(int)":
        return "[" + ", ".join(str(draw(st.integers(-3, 5))) for _ in range(draw(st.integers(0, 3)))) + "]"
    raise AssertionError(t)


def gen(draw: Any, t: str, depth: int, scope: list[tuple[str, str]], logical: bool = False) -> str:
    """An expression of CEL type ``t``; ``logical``: inside an operand of ``&&``/``||``."""
    vars_t = [n for n, vt in list(TYPE_ENV.items()) + scope if vt == t]
    if t in ("list(string)", "map(string, int)"):
        return draw(st.sampled_from(vars_t))
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        if vars_t and draw(st.booleans()):
            return draw(st.sampled_from(vars_t))
        return lit(t, draw)
    g = lambda tt, sc=scope, lg=logical: gen(draw, tt, depth - 1, sc, lg)  # noqa: E731
    if t == "int":
        k = draw(st.integers(0, 7))
        if k == 0:
            return f"({g('int')} {draw(st.sampled_from(['+', '-', '*', '/', '%']))} {g('int')})"
        if k == 1:
            return f"(-{g('int')})"
        if k == 2:
            return f"size({g(draw(st.sampled_from(['string', 'list(int)', 'list(string)', 'map(string, int)'])))})"
        if k == 3:
            # Non-negative index: cel-python indexes from the end with a negative index, where the
            # CEL language definition (and cel-go) say "index out of range".
            return f"{g('list(int)')}[{draw(st.integers(0, 4))}]"
        if k == 4:
            return f"m[{g('string')}]"
        if k == 5:
            return f"({g('bool')} ? {g('int')} : {g('int')})"
        if k == 6:
            # int() of a leaf double only: int(double(-2^63+1)) is a range error by the corpus
            # (conversions/int/double_int_min_range) where cel-python returns int64 min.
            return f"int({gen(draw, 'double', 0, scope) if draw(st.booleans()) else g('string')})"
        return f"({g('int')} + {g('int')})"
    if t == "bool":
        k = draw(st.integers(0, 9))
        if k == 0:
            a = draw(st.sampled_from(["int", "string", "double", "bool"]))
            op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
            return f"({g(a)} {op} {g(a)})"
        if k == 1:
            return f"({g('bool', lg=True)} {draw(st.sampled_from(['&&', '||']))} {g('bool', lg=True)})"
        if k == 2:
            return f"!{g('bool')}"
        if k == 3:
            # The receiver is a variable or literal: cel-python's string '+' returns a plain str
            # without CEL methods (a cel-python defect, not a CEL rule).
            recv = gen(draw, "string", 0, scope)
            return f"{recv}.{draw(st.sampled_from(['startsWith', 'endsWith', 'contains']))}({g('string')})"
        if k == 4:
            return f"({g('int')} in {g('list(int)')})"
        if k == 5:
            v = f"x{depth}"
            body = gen(draw, "bool", depth - 1, scope + [(v, "int")], logical)
            return f"{g('list(int)')}.{draw(st.sampled_from(['exists', 'all', 'exists_one']))}({v}, {body})"
        if k == 6:
            return f"has(m.{draw(st.sampled_from(['a', 'b', 'tent']))})"
        if k == 7:
            return f"({g('string')} in m)"
        if k == 8:
            return f"({g('string')} in sl)"
        return f"({g('bool')} ? {g('bool')} : {g('bool')})"
    if t == "string":
        k = draw(st.integers(0, 3))
        if k == 0:
            return f"({g('string')} + {g('string')})"
        if k == 1:
            return f"string({g('int')})"
        if k == 2:
            return f"sl[{draw(st.integers(0, 3))}]"
        return f"({g('bool')} ? {g('string')} : {g('string')})"
    if t == "double":
        k = draw(st.integers(0, 2))
        if k == 0:
            return f"({g('double')} {draw(st.sampled_from(['+', '*']))} {g('double')})"
        if k == 1:
            return f"double({g('int')})"
        return f"({g('bool')} ? {g('double')} : {g('double')})"
    if t == "list(int)":
        k = 2 if logical else draw(st.integers(0, 2))  # see the module docstring
        v = f"y{depth}"
        if k == 0:
            return f"{g('list(int)')}.map({v}, {gen(draw, 'int', depth - 1, scope + [(v, 'int')])})"
        if k == 1:
            return f"{g('list(int)')}.filter({v}, {gen(draw, 'bool', depth - 1, scope + [(v, 'int')])})"
        return f"({g('list(int)')} + {g('list(int)')})"
    raise AssertionError(t)


@st.composite
def case(draw: Any) -> tuple[str, dict[str, Any]]:
    t = draw(st.sampled_from(["bool", "bool", "int", "string", "double", "list(int)"]))
    expr = gen(draw, t, draw(st.integers(1, 4)), [])
    bindings = {
        "i1": draw(st.integers(-5, 5) | st.sampled_from([9223372036854775807, -9223372036854775808])),
        "i2": draw(st.integers(-3, 3)),
        "s1": draw(STR_LITS),
        "s2": draw(STR_LITS),
        "b1": draw(st.booleans()),
        "d1": draw(st.sampled_from([0.0, 1.5, -3.0, 2.0])),
        "l1": draw(st.lists(st.integers(-3, 5), max_size=4)),
        "sl": draw(st.lists(STR_LITS, max_size=3)),
        "m": draw(st.dictionaries(st.sampled_from(["a", "b", "tent"]), st.integers(-2, 9), max_size=3)),
    }
    return expr, bindings


def run_strata(expr: str, bindings: dict[str, Any]) -> tuple[str, Any]:
    import cel_engine

    try:
        return "value", cel_engine.evaluate(expr, bindings, type_env=TYPE_ENV)
    except cel_engine.EvalError as e:
        return "error", str(e)


def run_celpy(expr: str, bindings: dict[str, Any]) -> tuple[str, Any]:
    import run_celpy as rc
    from celpy.evaluation import CELEvalError

    try:
        return "value", rc.celpy_evaluate(expr, bindings)
    except CELEvalError as e:
        return "error", str(e)


CHECKED = {"n": 0}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(case(), min_size=BATCH, max_size=BATCH))
def test_differential_strata_matches_cel_python(batch: list[tuple[str, dict[str, Any]]]) -> None:
    from celconf_types import tagged_equal, to_tagged

    for expr, bindings in batch:
        mine = run_strata(expr, bindings)
        theirs = run_celpy(expr, bindings)
        CHECKED["n"] += 1
        assert mine[0] == theirs[0], f"{expr} with {bindings}: strata {mine}, cel-python {theirs}"
        if mine[0] == "value":
            assert tagged_equal(to_tagged(mine[1]), to_tagged(theirs[1])), f"{expr} with {bindings}: strata {mine[1]!r}, cel-python {theirs[1]!r}"


def test_differential_errors_in_macros_are_absorbed_by_logical_operators() -> None:
    # The class left out of the generator (see the module docstring): CEL's && and || absorb an
    # error from either side when the other side decides, also an error raised in a macro's body.
    assert run_strata("true || size([0].map(y, 1/0)) == 1", {}) == ("value", True)
    assert run_strata("[0].filter(y, 1/0 == 1) == [] && false", {}) == ("value", False)
    assert run_strata("true && size([0].map(y, 1/0)) == 1", {})[0] == "error"


def test_differential_checked_at_least_10000_expressions() -> None:
    # Runs after the property test in file order; guards against a silently shrunken run.
    if CHECKED["n"] == 0:
        pytest.skip("run together with test_differential_strata_matches_cel_python")
    assert CHECKED["n"] >= 10_000, CHECKED["n"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
