"""The fast path: IR -> Python source -> one compiled function per condition.

Contract with the exact evaluator (``interp.py``): a generated function either returns exactly the
value the exact evaluator would return, or raises. The caller catches the raise and asks the exact
evaluator, which handles every error case (absent signal, wrong run-time type, overflow...). So the
generated code may use native operators only where the checked types (the ``overload`` of a CALL,
the declared type of a signal) prove the native result equals CEL's, and must raise otherwise.

Safety: bundle strings and other constants never become source text. Every constant is a
parameter of a factory function (``_k0``, ``_k1``...) and reaches the generated code as a closure
cell, so a field named ``"]; import os"`` is just a dict key. Only opcodes, small integers and
names made here are written into the source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import functions as fn
from .budget import ALLOC_CHUNK, COUNT, EVAL_BUDGET, GROWTH, charge, grow, over, weight
from .format import Op
from .interp import iter_pairs, iter_range
from .regex import compile_regex
from .signals import split_args
from .stdlib import BOOL_RESULT, FUNCTIONS
from .values import CelError, CelType, UInt, check_int

Fast = Callable[[dict[str, Any], dict[int, Any]], Any]

_NUMERIC = {"int", "uint", "double"}
_ORDERED_SAME = {"string", "bytes", "bool"}
_NATIVE_CMP = {"_==_": "==", "_!=_": "!=", "_<_": "<", "_<=_": "<=", "_>_": ">", "_>=_": ">="}


def _bool(x: Any) -> bool:
    if x is True or x is False:
        return x
    raise CelError("no matching overload: expected bool")


def _fast_in_list(x: Any, c: Any) -> bool:
    if type(c) is not list and type(c) is not tuple:
        raise CelError("no matching overload for @in")
    return x in c


def _base(t: str | None) -> str | None:
    if t is None:
        return None
    return t.split("(", 1)[0]


def _elem(t: str) -> str | None:
    """'list(string)' -> 'string'; 'map(string, int)' -> 'string' (the key)."""
    if "(" not in t:
        return None
    inner = t[t.index("(") + 1 : -1]
    return split_args(inner)[0]


class _Gen:
    def __init__(self, signal_names: Sequence[str], signal_types: Sequence[str]):
        self.signal_names = signal_names
        self.signal_types = signal_types
        self.consts: list[Any] = []
        self._const_ids: dict[tuple[type, Any], str] = {}
        self.vars: list[str] = []
        self._nvar = 0
        self.cid = 0

    def const(self, value: Any) -> str:
        key = (type(value), value) if _hashable(value) else None
        if key is not None and key in self._const_ids:
            return self._const_ids[key]
        name = f"_k{len(self.consts)}"
        self.consts.append(value)
        if key is not None:
            self._const_ids[key] = name
        return name

    # -------------------------------------------------------------- static kinds
    def kind(self, node: Any) -> str | None:
        """The checked type of a node when the IR proves it, else None (dyn)."""
        op = node[0]
        if op == Op.LIT:
            v = node[1]
            return None if v is None else str(fn.type_name(v))
        if op == Op.ULIT:
            return "uint"
        if op == Op.SIG:
            return str(self.signal_types[node[1]])
        if op in (Op.SEG, Op.HAS, Op.SIGHAS, Op.AND, Op.OR, Op.NOT):
            return "bool"
        if op == Op.SCORE:
            return "double"
        if op == Op.COMP:
            return "bool" if node[1] in ("all", "exists", "exists_one") else "list"
        if op == Op.CALL:
            return "bool" if node[1] in BOOL_RESULT else None
        return None

    # -------------------------------------------------------------- expressions
    def boolexpr(self, node: Any) -> str:
        src = self.expr(node)
        k = self.kind(node)
        return src if k == "bool" else f"_bool({src})"

    def expr(self, node: Any) -> str:
        op = node[0]
        if op == Op.LIT:
            v = node[1]
            if v is None or type(v) is bool or type(v) is int:
                return repr(v)
            return self.const(v)
        if op == Op.ULIT:
            return self.const(UInt(node[1]))
        if op == Op.TYPE:
            return self.const(CelType(node[1]))
        if op == Op.SIG:
            return f"s[{self.const(self.signal_names[node[1]])}]"
        if op == Op.SIGHAS:
            return f"({self.const(self.signal_names[node[1]])} in s)"
        if op == Op.SEG:
            return f"_seg({int(node[1])}, s, m)"
        if op == Op.SCORE:
            return f"_score({int(node[1])}, s, m)"
        if op == Op.VAR:
            return self.vars[-1 - int(node[1])]
        if op == Op.SEL:
            return f"_sel({self.expr(node[1])}, {self.const(node[2])})"
        if op == Op.HAS:
            return f"_has({self.expr(node[1])}, {self.const(node[2])})"
        if op == Op.AND:
            return f"({self.boolexpr(node[1])} and {self.boolexpr(node[2])})"
        if op == Op.OR:
            return f"({self.boolexpr(node[1])} or {self.boolexpr(node[2])})"
        if op == Op.NOT:
            return f"(not {self.boolexpr(node[1])})"
        if op == Op.COND:
            return f"({self.expr(node[2])} if {self.boolexpr(node[1])} else {self.expr(node[3])})"
        if op == Op.LIST:
            if all(n[0] in (Op.LIT, Op.ULIT) for n in node[1:]):
                return self.const([UInt(n[1]) if n[0] == Op.ULIT else n[1] for n in node[1:]])
            return "[" + ", ".join(self.expr(n) for n in node[1:]) + "]"
        if op == Op.MAP:
            pairs = ", ".join(f"({self.expr(k)}, {self.expr(v)})" for k, v in zip(node[1::2], node[2::2]))
            return f"_mkmap([{pairs}])"
        if op == Op.CALL:
            return self.call(node)
        if op in (Op.COMP, Op.COMP2):
            return self.comp(node)
        raise ValueError(f"unknown opcode {op}")

    def call(self, node: Any) -> str:
        name, ov, args = node[1], node[2], node[3:]
        kinds = split_args(ov) if ov else None
        bases = [_base(k) for k in kinds] if kinds else None
        if bases and name in _NATIVE_CMP and len(args) == 2:
            a, b = bases
            # int/uint compare exactly in Python as in CEL; int vs double must go through the
            # helper (CEL converts the int to double first).
            if a == b and a in _NUMERIC | _ORDERED_SAME or {a, b} == {"int", "uint"}:
                return f"({self.expr(args[0])} {_NATIVE_CMP[name]} {self.expr(args[1])})"
        if bases and name == "@in" and kinds is not None:
            elem = _elem(kinds[1])
            if bases[1] == "list" and bases[0] in ("string", "int", "bool") and elem == kinds[0]:
                rhs = args[1]
                if rhs[0] == Op.LIST and all(n[0] == Op.LIT for n in rhs[1:]):
                    return f"({self.expr(args[0])} in {self.const(frozenset(n[1] for n in rhs[1:]))})"
                return f"_fast_in_list({self.expr(args[0])}, {self.expr(rhs)})"
        if bases and name in ("_+_", "_-_", "_*_") and len(args) == 2:
            sym = {"_+_": "+", "_-_": "-", "_*_": "*"}[name]
            if bases == ["int", "int"]:
                return f"_ci({self.expr(args[0])} {sym} {self.expr(args[1])})"
            if bases == ["double", "double"]:
                return f"({self.expr(args[0])} {sym} {self.expr(args[1])})"
            if name == "_+_" and bases == ["string", "string"]:
                return f"_cat(m, {COUNT + self.cid}, {self.expr(args[0])}, {self.expr(args[1])})"
        if bases and name in ("startsWith", "endsWith") and bases == ["string", "string"]:
            meth = "startswith" if name == "startsWith" else "endswith"
            return f"{self.expr(args[0])}.{meth}({self.expr(args[1])})"
        if bases and name == "contains" and bases == ["string", "string"]:
            return f"({self.expr(args[1])} in {self.expr(args[0])})"
        if name == "matches" and args[1][0] == Op.LIT and type(args[1][1]) is str:
            # The pattern is a literal (validate.py refuses any other): compiled once, here.
            # A non-string (dyn) target raises in Regex.search; the exact evaluator then reports it.
            return f"{self.const(compile_regex(args[1][1]))}.search({self.expr(args[0])})"
        if name == "size" and bases and bases[0] in ("string", "list", "map", "bytes"):
            return f"len({self.expr(args[0])})"
        f = self.const(FUNCTIONS[name])
        if name in GROWTH:  # charged before the result is built (budget.py)
            return f"_grow(m, {COUNT + self.cid}, {self.const(name)}, {f}, " + ", ".join(self.expr(a) for a in args) + ")"
        return f"{f}(" + ", ".join(self.expr(a) for a in args) + ")"

    def comp(self, node: Any) -> str:
        kind = node[1]
        two = node[0] == Op.COMP2
        rng = self.expr(node[2])
        level = self._nvar
        self._nvar += 1
        names = [f"_i{level}", f"_v{level}"] if two else [f"_v{level}"]
        self.vars.extend(names)
        try:
            target = ", ".join(names) if two else names[0]
            w = int(weight(node))
            it = f"_pairs(m, {COUNT + self.cid}, {w}, {rng})" if two else f"_range(m, {COUNT + self.cid}, {w}, {rng})"
            if kind == "exists":
                return f"any({self.boolexpr(node[3])} for {target} in {it})"
            if kind == "all":
                return f"all({self.boolexpr(node[3])} for {target} in {it})"
            if kind == "exists_one":
                return f"(sum(1 for {target} in {it} if {self.boolexpr(node[3])}) == 1)"
            if kind == "filter":
                return f"[{names[-1]} for {target} in {it} if {self.boolexpr(node[3])}]"
            cond = f" if {self.boolexpr(node[4])}" if len(node) > 4 else ""
            if kind == "transformMap":
                return f"{{{names[0]}: {self.expr(node[3])} for {target} in {it}{cond}}}"
            return f"[{self.expr(node[3])} for {target} in {it}{cond}]"
        finally:
            del self.vars[-len(names) :]


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def _sel(c: Any, field: str) -> Any:
    if type(c) is dict:
        return c[field]
    raise CelError("field selection on a non-map")


# Charging from generated code (see ``budget.py``): each charge site passes its condition's id
# (a small integer written into the source), so nothing happens when a condition starts or ends.
def _cat(m: dict[Any, Any], key: int, x: Any, y: Any) -> Any:
    """String concatenation (the overload says strings; a dyn operand goes the general way)."""
    if type(x) is str and type(y) is str:
        charge(m, key, -(-(len(x) + len(y)) // ALLOC_CHUNK))
        return x + y
    return grow(m, key, "_+_", fn.add, x, y)


def _charged_range(m: dict[Any, Any], key: int, w: int, r: Any) -> Any:
    """The elements of a comprehension's range, charged ``len * w``. ``iter_range`` and ``charge``
    inlined, and a list not copied (generated code only iterates it): this runs for every
    comprehension evaluated."""
    t = type(r)
    if t is not list and t is not tuple:
        r = iter_range(r)  # a map's keys, or the error
    n = m.get(key, 0) + len(r) * w
    if n > EVAL_BUDGET:
        raise over(n)
    m[key] = n
    return r


def _charged_pairs(m: dict[Any, Any], key: int, w: int, r: Any) -> list[tuple[Any, Any]]:
    items = iter_pairs(r)
    charge(m, key, len(items) * w)
    return items


def _no_score(i: int, s: dict[str, Any], m: dict[int, Any]) -> float:
    raise CelError("this bundle has no models")


#: Names every generated function may use, bound once.
_RUNTIME = {
    "_bool": _bool,
    "_ci": check_int,
    "_sel": _sel,
    "_has": fn.has_field,
    "_mkmap": fn.make_map,
    "_range": _charged_range,
    "_pairs": _charged_pairs,
    "_grow": grow,
    "_cat": _cat,
    "_fast_in_list": _fast_in_list,
}


def generate(
    conditions: Sequence[Any],
    signal_names: Sequence[str],
    signal_types: Sequence[str],
    segment: Callable[[int, dict[str, Any], dict[int, Any]], bool],
    score: Callable[[int, dict[str, Any], dict[int, Any]], float] | None = None,
    ids: Sequence[int] | None = None,
) -> list[Fast]:
    """Compile the IR of many conditions into fast functions ``f(s, m) -> value`` in one go.
    ``ids[k]`` is condition ``k``'s id for the evaluation budget (``budget.py``; default: its
    index in ``conditions``).
    ``segment(i, s, m)`` and ``score(i, s, m)`` give segment ``i``'s result and model ``i``'s
    score, memoised in ``m`` (``plan.py``).

    One ``compile()`` for all of them (``plan.py`` passes a slot's conditions and the segments they
    read): per-function overhead dominates for small conditions.
    """
    gen = _Gen(signal_names, signal_types)
    bodies = []
    for i, node in enumerate(conditions):
        gen._nvar = 0
        gen.cid = i if ids is None else ids[i]  # the condition's id for the evaluation budget
        bodies.append(gen.expr(node))
    params = ", ".join(f"_k{i}" for i in range(len(gen.consts)))
    lines = [f"def _factory({params}):" if params else "def _factory():"]
    lines.append("    return (")
    for body in bodies:
        lines.append(f"        lambda s, m: {body},")
    lines.append("    )")
    source = "\n".join(lines) + "\n"
    namespace: dict[str, Any] = dict(_RUNTIME)
    namespace["_seg"] = segment
    namespace["_score"] = score if score is not None else _no_score
    exec(compile(source, "<strata-conditions>", "exec"), namespace)  # noqa: S102 - source is built from opcodes only
    return list(namespace["_factory"](*gen.consts))
