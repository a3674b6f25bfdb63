"""The checker on its own (compiler/check.py): name resolution, typing and its error messages,
without YAML, positions in files or lowering; and ``matches``: the pattern is a string literal RE2
accepts, checked at compile time with the pattern's file:line:column (generated classes;
tests/compiler/test_errors.py pins single examples to exact positions)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.cel_ast import Node, Present, SegmentRef, SignalRef
from compiler.cel_parse import parse
from compiler.check import Checker, Env
from compiler.errors import Diagnostic
from compiler.harness.fixtures import BASE
from compiler.types import parse_type
from runtime.format import Op
from runtime.regex import regex_error
from tests.compiler.helpers import compile_text, errors_of
from tests.regex_classes import invalid_patterns

SIGNALS = {
    "device.type": "string",
    "session.page_views": "int",
    "cart.value": "double",
    "cart.items": "list(map(string, dyn))",
    "session.recent_categories": "list(string)",
    "utm.source": "string",
    "flags": "map(string, bool)",
    "visits": "uint",
}


def check(expr: str, *, lenient: bool = False, segments: dict[str, int] | None = None) -> tuple[Node | None, list[tuple[int, str, str]], Checker]:
    errors: list[tuple[int, str, str]] = []
    env = Env(signals={k: parse_type(v) for k, v in SIGNALS.items()}, segments=segments or {})
    checker = Checker(env, lambda pos, parts: errors.append((pos, parts[0], f"{parts[1]} ({parts[2]})")), lenient=lenient)
    return checker.check(parse(expr)), errors, checker


@pytest.mark.parametrize(
    ("expr", "typ"),
    [
        ("session.page_views + 1", "int"),
        ("cart.value * 2.0", "double"),
        ("visits + 1u", "uint"),
        ("device.type.size()", "int"),
        ("session.recent_categories.map(c, c.upperAscii())", "list(string)"),
        ("session.recent_categories.filter(c, c.startsWith('t'))", "list(string)"),
        ("session.recent_categories.exists(c, c == 'tents')", "bool"),
        ("flags['newsletter']", "bool"),
        ("'tents' in session.recent_categories", "bool"),
        ("session.page_views == 1.0", "bool"),  # numbers compare across kinds
        ("cart.items[0].price", "dyn"),
        ("math.greatest(1, 2, 3)", "int"),
        ("device.type.split('-')", "list(string)"),
        ("true ? 1 : 2", "int"),
        ("dyn(1)", "dyn"),
    ],
)
def test_check_types(expr: str, typ: str) -> None:
    typed, errors, _ = check(expr)
    assert not errors and typed is not None
    assert str(typed.type) == typ


def test_check_resolves_the_longest_declared_name_and_records_what_it_uses() -> None:
    typed, errors, checker = check("device.type == 'mobile' && has(utm.source)")
    assert not errors and typed is not None
    assert checker.signals_used == {"device.type", "utm.source"}
    args = typed.args  # type: ignore[attr-defined]
    assert isinstance(args[0].args[0], SignalRef) and args[0].args[0].name == "device.type"
    assert isinstance(args[1], Present) and args[1].name == "utm.source"


def test_check_segment_references() -> None:
    typed, errors, checker = check("tent_browser && !bot", segments={"tent_browser": 0, "bot": 1})
    assert not errors and typed is not None
    assert checker.segments_used == {"tent_browser", "bot"}
    assert isinstance(typed.args[0], SegmentRef)  # type: ignore[attr-defined]


def test_check_comprehension_variables_shadow_signals() -> None:
    typed, errors, _ = check("session.recent_categories.all(device, device.size() > 0)")
    assert not errors and typed is not None and str(typed.type) == "bool"


@pytest.mark.parametrize(
    ("expr", "code", "fragment"),
    [
        ("session.pageviews > 3", "unknown-signal", "did you mean"),
        ("device.type + 1", "type-mismatch", "no overload of _+_"),
        ("device.type < 1", "type-mismatch", "cannot order string and int"),
        ("device.type == 1", "type-mismatch", "cannot compare string with int"),
        ("1 in device.type", "type-mismatch", "'in' needs a list or map"),
        ("device.type.shout()", "unsupported", "shout"),
        ("math.greatest('a')", "type-mismatch", "takes numbers"),
        ("9223372036854775808", "type-mismatch", "int64 range"),
        ("session.recent_categories.all(c, c)", "type-mismatch", "predicate of all() must be a bool"),
        ("device.type && true", "type-mismatch", "each side of '&&' must be a bool"),
        ("timestamp('2024-01-01T00:00:00Z')", "unsupported", "timestamp() is not supported"),
    ],
)
def test_check_errors_name_the_problem(expr: str, code: str, fragment: str) -> None:
    typed, errors, _ = check(expr)
    assert typed is None and errors, expr
    _, got_code, message = errors[0]
    assert got_code == code, errors
    assert fragment in message, message


def test_check_error_positions_point_into_the_expression() -> None:
    expr = "device.type == 'mobile' && session.pageviews >= 3"
    _, errors, _ = check(expr)
    assert errors and expr[errors[0][0] :].startswith("session.pageviews")


def test_check_unchecked_mode_defers_type_errors_to_run_time() -> None:
    typed, errors, checker = check("device.type + 1 == nope", lenient=True)
    assert not errors and typed is not None
    assert "nope" in checker.undeclared


#: String signals a visitor controls (URL, query, referrer, client-sent search) or that are
#: otherwise computed at run time.
STRING_SIGNALS = ["page.path", "page.url", "utm.term", "utm.source", "referrer.host", "search.query", "page.category"]
LINE = 6  # the segment's 'when:' line in BASE
PREFIX = "    when: '"  # the condition is a single-quoted YAML scalar: backslashes stay as written


def with_condition(expr: str) -> str:
    assert "'" not in expr
    return BASE.replace('    when: device.type == "mobile"', PREFIX + expr + "'")


def matches_call(form: str, target: str, pattern_src: str) -> tuple[str, int]:
    """The condition and the 0-based offset of the pattern argument in it."""
    if form == "receiver":
        head = f"{target}.matches("
        return head + pattern_src + ")", len(head)
    head = f"matches({target}, "
    return head + pattern_src + ")", len(head)


def only_error(text: str) -> Diagnostic:
    diags = [d for d in errors_of(text) if d.severity == "error"]
    assert len(diags) == 1, [str(d) for d in diags]
    return diags[0]


SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(SETTINGS, max_examples=120)
@given(pattern=invalid_patterns(), form=st.sampled_from(["receiver", "global"]), target=st.sampled_from(STRING_SIGNALS))
def test_check_pattern_re2_rejects_is_invalid_regex_at_the_pattern(pattern: str, form: str, target: str) -> None:
    expr, offset = matches_call(form, target, f'r"{pattern}"')
    d = only_error(with_condition(expr))
    assert d.code == "invalid-regex"
    assert (d.pos.line, d.pos.col) == (LINE, len(PREFIX) + offset + 1)
    reason = regex_error(pattern)
    assert reason is not None and reason in d.message
    assert d.hint is not None and "RE2 syntax" in d.hint


def pattern_expressions() -> st.SearchStrategy[str]:
    """String-valued CEL expressions that are not a literal: signals, and anything built on them."""
    base = st.sampled_from([*STRING_SIGNALS, 'page.query["q"]'])

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(lambda e: f'"^" + {e}', inner),
            st.builds(lambda e: f'{e} + "$"', inner),
            st.builds(lambda e: f"{e}.lowerAscii()", inner),
            st.builds(lambda e: f"{e}.trim()", inner),
            st.builds(lambda e: f'{e}.replace("-", "|")', inner),
            st.builds(lambda e: f"{e}.substring(1)", inner),
            st.builds(lambda e: f'(size({e}) > 3 ? {e} : "x")', inner),
        )

    return st.recursive(base, extend, max_leaves=3)


@settings(SETTINGS, max_examples=120)
@given(pattern=pattern_expressions(), form=st.sampled_from(["receiver", "global"]), target=st.sampled_from(STRING_SIGNALS))
def test_check_computed_pattern_is_regex_not_constant(pattern: str, form: str, target: str) -> None:
    """A pattern a visitor could influence (``page.path.matches(utm.term)``) never reaches RE2:
    the pattern must be written as a literal."""
    expr, offset = matches_call(form, target, pattern)
    d = only_error(with_condition(expr))
    assert d.code == "regex-not-constant"
    parens = len(pattern) - len(pattern.lstrip("("))  # the caret is on the expression's first token
    assert (d.pos.line, d.pos.col) == (LINE, len(PREFIX) + offset + parens + 1)
    assert d.hint is not None and "in quotes" in d.hint


@settings(SETTINGS, max_examples=30)
@given(target=st.sampled_from(STRING_SIGNALS), value=st.text(alphabet="abc-", min_size=1, max_size=5))
def test_check_pattern_bound_by_cel_bind_is_regex_not_constant(target: str, value: str) -> None:
    expr = f'cel.bind(p, "{value}", {target}.matches(p))'
    d = only_error(with_condition(expr))
    assert d.code == "regex-not-constant"
    assert d.pos.col == len(PREFIX) + expr.index(".matches(p)") + len(".matches(") + 1


def valid_patterns() -> st.SearchStrategy[str]:
    """RE2 patterns built from atoms, groups, alternation and quantifiers (never quotes)."""
    atom = st.sampled_from(["a", "b", "[a-z]", "[^/]", "\\d", "\\w", ".", "\\.", "\\/", "é", "\\pL", "(?i:x)"])

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(lambda a, b: a + b, inner, inner),
            st.builds(lambda a, b: f"({a}|{b})", inner, inner),
            st.builds(lambda a, q: f"(?:{a}){q}", inner, st.sampled_from(["*", "+", "?", "{2}", "{1,3}", "*?"])),
        )

    anchored = st.builds(lambda s, p, e: s + p + e, st.sampled_from(["", "^"]), st.recursive(atom, extend, max_leaves=6), st.sampled_from(["", "$"]))
    return anchored


@settings(SETTINGS, max_examples=40)
@given(pattern=valid_patterns(), form=st.sampled_from(["receiver", "global"]))
def test_check_valid_literal_pattern_compiles_into_the_ir(pattern: str, form: str) -> None:
    expr, _ = matches_call(form, "page.path", f'r"{pattern}"')
    ctx = compile_text(with_condition(expr))
    assert ctx.payload is not None
    when = ctx.payload["segments"][0]["when"]
    assert when[:2] == [Op.CALL, "matches"] and when[4] == [Op.LIT, pattern]
