"""The checker on its own (compiler/check.py): name resolution, typing and its error messages,
without YAML, positions in files or lowering."""

from __future__ import annotations

import pytest

from compiler.cel_ast import Node, Present, SegmentRef, SignalRef
from compiler.cel_parse import parse
from compiler.check import Checker, Env
from compiler.types import parse_type

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
