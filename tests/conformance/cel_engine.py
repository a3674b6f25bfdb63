"""Strata as a plug-in engine for the CEL conformance runner vendored in tests/conformance/data.

    python tests/conformance/data/run_celpy.py --engine tests/conformance/cel_engine.py:evaluate

Every expression goes through the real compiler (cel-python grammar, Strata's checker, lowering
with constant folding) and the real runtime (generated fast path, falling back to the exact
evaluator on any raise), exactly as a rule condition does. Declared variables become signals.
An expression outside Strata's subset is refused at compile time with ``Refused``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from compiler.cel_parse import ParseError, parse  # noqa: E402
from compiler.check import Checker, Env  # noqa: E402
from compiler.lower import Lowerer  # noqa: E402
from compiler.types import DYN, TypeSyntaxError, parse_type  # noqa: E402
from runtime import values as rv  # noqa: E402
from runtime.codegen import generate  # noqa: E402
from runtime.interp import Builder, Err  # noqa: E402


class Refused(Exception):
    """The compiler refused the expression (syntax, type error, or outside the supported subset)."""


class EvalError(Exception):
    """The expression evaluated to a CEL error."""


def _to_strata(v: Any) -> Any:
    name = type(v).__name__
    if name == "UInt":
        return rv.UInt(int(v))
    if name == "CelType":
        return rv.CelType(str(v))
    if isinstance(v, bool) or v is None or isinstance(v, (int, float, str, bytes)):
        return v
    if isinstance(v, (list, tuple)):
        return [_to_strata(x) for x in v]
    if isinstance(v, dict):
        return {_to_strata(k): _to_strata(x) for k, x in v.items()}
    raise Refused(f"binding of type {type(v).__name__} is not supported")


def _from_strata(v: Any) -> Any:
    from celconf_types import CelType, UInt  # the runner puts its folder on sys.path

    if type(v) is rv.UInt:
        return UInt(int(v))
    if type(v) is rv.CelType:
        return CelType(str(v))
    if isinstance(v, (list, tuple)):
        return [_from_strata(x) for x in v]
    if isinstance(v, dict):
        return {_from_strata(k): _from_strata(x) for k, x in v.items()}
    return v


def compile_expr(expr: str, type_env: dict[str, str] | None, container: str | None, disable_check: bool, names: list[str]) -> tuple[Any, list[str], list[str]]:
    decls: dict[str, Any] = {}
    for name in names:
        decls[name] = DYN
    for name, t in (type_env or {}).items():
        try:
            decls[name] = DYN if disable_check else parse_type(t)
        except TypeSyntaxError as e:
            raise Refused(str(e)) from None
    errors: list[str] = []
    try:
        ast = parse(expr)
    except ParseError as e:
        raise Refused(f"syntax: {e}") from None
    checker = Checker(Env(signals=decls, container=container or ""), lambda pos, parts: errors.append(f"{parts[0]}: {parts[1]}"), lenient=disable_check)
    typed = checker.check(ast)
    for name in sorted(checker.undeclared):
        decls[name] = DYN  # unchecked mode: an unbound name is an error when evaluated
    if typed is None or errors:
        raise Refused("; ".join(errors) or "check failed")
    sig_names = list(decls)
    sig_types = [str(decls[n]) for n in sig_names]
    ir = Lowerer({n: i for i, n in enumerate(sig_names)}, {}).lower(typed)
    return ir, sig_names, sig_types


def evaluate(expr: str, bindings: dict[str, Any], *, type_env: dict[str, str] | None = None, container: str | None = None, disable_check: bool = False) -> Any:
    ir, names, types = compile_expr(expr, type_env, container, disable_check, list(bindings))
    signals = {k: _to_strata(v) for k, v in bindings.items()}
    fast = generate([ir], names, types, lambda i, s, m: None)[0]
    exact = Builder(names, lambda i, s, m: None).build(ir)
    try:
        result = fast(signals, {})
    except Exception:  # noqa: BLE001 - same contract as the runtime: any raise -> exact evaluation
        result = exact(signals, {}, ())
    if type(result) is Err:
        raise EvalError(result.message)
    return _from_strata(result)
