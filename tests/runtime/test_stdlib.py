"""The CEL catalogue (runtime/stdlib.json) is the one list of functions: every consumer must agree.

Each test takes one consumer — the checker, lowering, IR validation, code generation, the docs —
and derives its behaviour from the catalogue alone, so a function added to, removed from or
retyped in only one place fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compiler.cel_parse import parse
from compiler.check import OVERLOADS, Checker, Env
from compiler.lower import Lowerer
from compiler.types import parse_type
from runtime import stdlib
from runtime.errors import InvalidIR
from runtime.format import Op
from runtime.stdlib import BOOL_RESULT, CATALOGUE, FUNCTIONS, accepts
from runtime.validate import _check_ir
from runtime.values import UInt

ROOT = Path(__file__).resolve().parents[2]

#: A concrete type for each type letter, and a sample value of each concrete type.
CONCRETE = {"A": "int", "K": "string", "V": "int"}
SAMPLE: dict[str, Any] = {"int": 2, "uint": UInt(2), "double": 2.5, "string": "ab", "bytes": b"ab", "bool": True}


#: How each operator is written, over arguments a0 and a1.
OPERATORS = {"-_": "-a0", "!_": "!a0", "_[_]": "a0[a1]", **{f"_{op}_": f"a0 {op} a1" for op in "+-*/%"}}


def concrete(t: str) -> str:
    for letter, c in CONCRETE.items():
        t = t.replace(f"({letter})", f"({c})").replace(f"({letter},", f"({c},").replace(f", {letter})", f", {c})")
    return CONCRETE.get(t, t)


def plain_overloads() -> list[tuple[str, stdlib.Overload]]:
    return [(f.name, o) for f in CATALOGUE.values() if f.typing == "overloads" for o in f.overloads]


def test_stdlib_every_entry_has_an_implementation_and_declared_classes() -> None:
    raw = json.loads(stdlib.PATH.read_text())
    assert [f["name"] for f in raw["functions"]] == list(CATALOGUE)
    assert set(FUNCTIONS) == set(CATALOGUE)
    for f in CATALOGUE.values():
        assert callable(f.impl) and f.overloads
        assert f.typing in raw["typings"] and f.cost in raw["costs"]


def test_stdlib_checker_reads_the_catalogue_overloads() -> None:
    assert set(OVERLOADS) == {f.name for f in CATALOGUE.values() if f.typing == "overloads"}


@pytest.mark.parametrize(("name", "overload"), plain_overloads(), ids=lambda x: str(x))
def test_stdlib_checker_types_each_overload_as_the_catalogue_says(name: str, overload: stdlib.Overload) -> None:
    params = [concrete(p) for p in overload.params]
    signals = {f"a{i}": parse_type(p) for i, p in enumerate(params)}
    names = list(signals)
    if overload.receiver:
        expr = f"a0.{name}({', '.join(names[1:])})"
    elif name in OPERATORS:
        expr = OPERATORS[name]
    else:
        expr = f"{name}({', '.join(names)})"
    errors: list[str] = []
    typed = Checker(Env(signals=signals), lambda pos, parts: errors.append(parts[1])).check(parse(expr))
    assert not errors and typed is not None, (expr, errors)
    assert str(typed.type) == concrete(overload.result), expr
    ir = Lowerer({n: i for i, n in enumerate(names)}, {}).lower(typed)
    if name == "!_":
        assert ir[0] == Op.NOT, ir  # lowered to its own opcode
        return
    assert ir[0] == Op.CALL and ir[1] == name and accepts(name, ir[2], len(params)), ir


@pytest.mark.parametrize(("name", "overload"), plain_overloads(), ids=lambda x: str(x))
def test_stdlib_validation_refuses_type_confused_overloads(name: str, overload: stdlib.Overload) -> None:
    """Replace one argument type by each other base type: IR validation accepts the result only
    where another overload of the catalogue does (the checker would have chosen it)."""
    params = [concrete(p) for p in overload.params]
    assert accepts(name, ",".join(params), len(params))
    assert not accepts(name, ",".join(params), len(params) + 1)
    for i in range(len(params)):
        if overload.params[i] in CONCRETE:
            continue  # a type letter alone accepts every type
        for other in ("int", "uint", "double", "string", "bytes", "bool", "list(int)", "map(string, int)"):
            confused = params[:i] + [other] + params[i + 1 :]
            legal = any(
                len(o.params) == len(confused) and [concrete(p) for p in o.params] == confused for o in CATALOGUE[name].overloads
            )
            if not legal and other != params[i]:
                assert not accepts(name, ",".join(confused), len(confused)), (name, confused)
                node = [Op.CALL, name, ",".join(confused), *([Op.LIT, None] for _ in confused)]
                with pytest.raises(InvalidIR, match="has no overload"):
                    _check_ir(node, "x", 0, 0, 0, 0)


def test_stdlib_validation_knows_exactly_the_catalogue_names() -> None:
    for name in CATALOGUE:
        _check_ir([Op.CALL, name, None, [Op.LIT, 1]], "x", 0, 0, 0, 0)
    with pytest.raises(InvalidIR, match="unknown function"):
        _check_ir([Op.CALL, "shout", None, [Op.LIT, 1]], "x", 0, 0, 0, 0)


@pytest.mark.parametrize("name", sorted(BOOL_RESULT))
def test_stdlib_bool_results_are_bools(name: str) -> None:
    """Code generation trusts BOOL_RESULT to skip its bool check: every overload must deliver one."""
    f = CATALOGUE[name]
    tried = 0
    for o in f.overloads:
        params = [concrete(p) for p in o.params]
        if any(p not in SAMPLE for p in params) or "..." in params:
            continue
        args = [SAMPLE[p] for p in params]
        if name == "matches":
            args = ["abc", "b+"]
        if name == "bool" and params == ["string"]:
            args = ["true"]
        assert type(f.impl(*args)) is bool, (name, params)
        tried += 1
    assert tried or name in ("@in",), name


def test_stdlib_lowering_folds_only_foldable_functions() -> None:
    for name, f in CATALOGUE.items():
        if f.typing != "overloads" or not f.overloads[0].params or name in OPERATORS:
            continue
        o = f.overloads[0]
        params = [concrete(p) for p in o.params]
        if any(p not in SAMPLE for p in params):
            continue
        lits = {"int": "2", "uint": "2u", "double": "2.5", "string": "'ab'", "bytes": "b'ab'", "bool": "true"}
        args = [lits[p] for p in params]
        expr = f"{args[0]}.{name}({', '.join(args[1:])})" if o.receiver else f"{name}({', '.join(args)})"
        typed = Checker(Env(signals={}), lambda pos, parts: None).check(parse(expr))
        assert typed is not None, expr
        ir = Lowerer({}, {}).lower(typed)
        assert (ir[0] in (Op.LIT, Op.ULIT)) == f.fold or ir[0] == Op.CALL and f.fold, (expr, ir)
        if not f.fold:
            assert ir[0] == Op.CALL, expr


def test_stdlib_docs_page_is_generated_from_the_catalogue() -> None:
    page = (ROOT / "docs" / "cel-functions.md").read_text()
    assert page == stdlib.markdown(), "regenerate: python -m runtime.stdlib > docs/cel-functions.md"
