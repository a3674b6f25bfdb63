"""Lowering on its own (compiler/lower.py): typed AST -> the IR of docs/bundle-format.md, constant
folding with the runtime's own functions, overload ids, comprehension scopes and cel.bind."""

from __future__ import annotations

from typing import Any

import pytest

from compiler.cel_parse import parse
from compiler.check import Checker, Env
from compiler.lower import Lowerer
from compiler.types import parse_type
from runtime.format import Op

SIGNALS = {"device.type": "string", "n": "int", "cats": "list(string)", "d": "dyn", "m": "map(string, int)"}
INDEX = {name: i for i, name in enumerate(SIGNALS)}


def lower(expr: str) -> Any:
    errors: list[str] = []
    typed = Checker(Env(signals={k: parse_type(v) for k, v in SIGNALS.items()}), lambda pos, parts: errors.append(parts[1])).check(parse(expr))
    assert typed is not None and not errors, errors
    return Lowerer(INDEX, {"seg": 0}).lower(typed)


@pytest.mark.parametrize(
    ("expr", "ir"),
    [
        ("1 + 2 * 3", [Op.LIT, 7]),
        ("'a' + 'b'", [Op.LIT, "ab"]),
        ("'Tents'.lowerAscii()", [Op.LIT, "tents"]),
        ("size('abc')", [Op.LIT, 3]),
        ("2u", [Op.ULIT, 2]),
        ("!true", [Op.LIT, False]),
        ("true ? n : 0", [Op.SIG, INDEX["n"]]),
        ("false && n > 1", [Op.LIT, False]),
        ("true || n > 1", [Op.LIT, True]),
    ],
)
def test_lower_folds_constants(expr: str, ir: Any) -> None:
    assert lower(expr) == ir


def test_lower_leaves_a_failing_constant_call_to_the_runtime() -> None:
    assert lower("1 / 0 == 1")[0] == Op.CALL


def test_lower_does_not_fold_type_or_matches() -> None:
    assert lower("type(1) == int")[1] == "_==_"
    assert lower("'abc'.matches('b')")[0] == Op.CALL


def test_lower_call_carries_the_checked_overload_or_nil_for_dyn() -> None:
    assert lower("device.type.startsWith('m')") == [Op.CALL, "startsWith", "string,string", [Op.SIG, INDEX["device.type"]], [Op.LIT, "m"]]
    assert lower("d == 1")[2] is None  # a dyn operand: the runtime dispatches on run-time types
    assert lower("m['a'] > 1")[3][2] == "map(string, int),string"


def test_lower_comprehension_variables_are_de_bruijn_depths() -> None:
    ir = lower("cats.exists(c, cats.exists(x, x == c))")
    assert ir[0] == Op.COMP and ir[1] == "exists"
    inner = ir[3]
    assert inner[0] == Op.COMP
    eq = inner[3]
    assert eq[3] == [Op.VAR, 0] and eq[4] == [Op.VAR, 1]  # x innermost, c one out


def test_lower_two_variable_comprehension_puts_the_value_innermost() -> None:
    ir = lower("cats.all(i, v, i >= 0 && v != '')")
    assert ir[0] == Op.COMP2
    body = ir[3]
    assert body[0] == Op.AND
    assert body[1][3] == [Op.VAR, 1] and body[2][3] == [Op.VAR, 0]


def test_lower_bind_substitutes_its_value() -> None:
    assert lower("cel.bind(x, n + 1, x * x)") == lower("(n + 1) * (n + 1)")


def test_lower_signal_presence() -> None:
    assert lower("has(device.type)") == [Op.SIGHAS, INDEX["device.type"]]
