"""The cost estimate: a sound upper bound of the work one condition can do in one decision.

An abstract evaluation of the IR: every node gets a worst-case *cost* and a *bound* of its value
(longest string, most items, and the bound of its elements). Bounds start at the signals, with the
bounds the runtime enforces (declared ``max_length``/``max_items``, else 1,024 characters / 100
items; client signals also by the server's 16 KiB body limit), and follow every function that
builds a value: ``split`` of a 1 KiB string has up to 1,025 items; ``s.replace("a", s)`` is up to
1 KiB x 1 KiB long, and a second ``replace`` multiplies again.

Cost (docs/rulesets.md "limits"), in the runtime's budget units (``runtime/budget.py``):
- each IR node evaluated: 1; reading ``score.<model>``: 1 + the model's number of features;
- a comprehension: its range, plus ``n x (body + filter)`` for a range of at most ``n`` items
  (nested comprehensions multiply);
- a growth function (``+``, ``replace``, ``split``, ``join``): the units the runtime charges for
  its largest possible result (``ceil(length / 16)`` for strings, one per list item);
- copying, matching or searching a string (``lowerAscii``, ``trim``, ``substring``, ``string``,
  ``matches``, ``contains``, ``startsWith``, ``indexOf``...): ``ceil(length / 16)`` for each
  string read; comparing strings: nothing more (one memcmp);
- comparing lists and maps (``==``, nested too) or searching a list (``in``): one per item.
Everything the runtime charges is counted here with bounds at least as large, so a condition
within ``limits.cost`` (at most ``runtime.budget.EVAL_BUDGET``) never reaches the runtime budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runtime.budget import ALLOC_CHUNK
from runtime.format import Op
from runtime.signals import CLIENT_BODY_BYTES, DEFAULT_MAX_ITEMS, DEFAULT_MAX_LENGTH, split_args

from . import errors as E
from .errors import Diagnostic
from .ruleset import RuleSet, SignalDecl
from .source import Locator
from .types import Type


@dataclass(frozen=True)
class Bound:
    """Largest value an expression can have: ``chars`` code points (strings) or bytes, ``items``
    entries (lists, maps; fields of records), ``elem`` the bound of its elements (None: unknown,
    as large as a ``dyn`` client signal)."""

    chars: int
    items: int
    elem: Bound | None = None


#: A number, bool, null or type: ``string()`` of one is at most 32 characters.
SCALAR = Bound(32, 0)
#: A ``dyn`` value: the runtime bounds its lists and maps (100 items per level) but not its
#: strings, which only the request body limit bounds.
DYN = Bound(CLIENT_BODY_BYTES, DEFAULT_MAX_ITEMS)


def _elem(b: Bound) -> Bound:
    return b.elem if b.elem is not None else DYN


def _join(a: Bound, b: Bound) -> Bound:
    if a == b:
        return a
    elem = None if a.elem is None or b.elem is None else _join(a.elem, b.elem)
    if (a.elem is None) != (b.elem is None) and (a.items or b.items):
        elem = None
    return Bound(max(a.chars, b.chars), max(a.items, b.items), elem)


def _chunks(n: float) -> int:
    return math.ceil(n / ALLOC_CHUNK)


def signal_bound(decl: SignalDecl, records: dict[str, dict[str, Type]]) -> Bound:
    """The bound the runtime's value checker (``runtime.signals.make_checker``) enforces."""
    length = decl.max_length if decl.max_length is not None else DEFAULT_MAX_LENGTH
    items = decl.max_items if decl.max_items is not None else DEFAULT_MAX_ITEMS
    if decl.source == "client":  # sent in a request body: never larger than the body
        length, items = min(length, CLIENT_BODY_BYTES), min(items, CLIENT_BODY_BYTES // 2)
    return _type_bound(decl.type, records, length, items)


def _type_bound(t: Type, records: dict[str, dict[str, Type]], length: int, items: int) -> Bound:
    if t.kind in ("string", "bytes"):
        return Bound(length, 0)
    if t.kind == "list":
        return Bound(0, items, _type_bound(t.params[0], records, length, DEFAULT_MAX_ITEMS))
    if t.kind == "map":
        k = _type_bound(t.params[0], records, length, DEFAULT_MAX_ITEMS)
        v = _type_bound(t.params[1], records, length, DEFAULT_MAX_ITEMS)
        return Bound(0, items, _join(k, v))
    if t.kind == "record":
        fields = records.get(t.name, {})
        elem = SCALAR
        for ft in fields.values():
            elem = _join(elem, _type_bound(ft, records, length, DEFAULT_MAX_ITEMS))
        return Bound(0, len(fields), elem)
    if t.kind == "dyn":  # checked for shape only (runtime.signals._plain): no length bound of its own
        return DYN
    return SCALAR


@dataclass
class Estimate:
    cost: int
    #: the largest comprehension range met (items), for the error's hint
    widest_range: int = 0
    #: the longest string any growth function can build (characters), for the error's hint
    longest_string: int = 0


class _Estimator:
    def __init__(self, signals: Sequence[Bound], model_costs: Sequence[int] = ()):
        self.signals = signals
        self.model_costs = model_costs
        self.widest_range = 0
        self.longest_string = 0

    def visit(self, node: Any, env: tuple[Bound, ...]) -> tuple[float, Bound]:
        op = node[0]
        if op == Op.LIT:
            v = node[1]
            if isinstance(v, (str, bytes)):
                return 1, Bound(len(v), 0)
            return 1, SCALAR
        if op in (Op.ULIT, Op.TYPE, Op.SIGHAS, Op.SEG):
            return 1, SCALAR
        if op == Op.SIG:
            return 1, self.signals[node[1]]
        if op == Op.SCORE:  # a double; computing it reads one signal per feature
            return self.model_costs[node[1]], SCALAR
        if op == Op.VAR:
            return 1, env[-1 - node[1]]
        if op == Op.SEL:
            c, b = self.visit(node[1], env)
            return 1 + c, _elem(b)
        if op in (Op.HAS, Op.NOT):
            c, _ = self.visit(node[1], env)
            return 1 + c, SCALAR
        if op in (Op.AND, Op.OR):
            return 1 + self.visit(node[1], env)[0] + self.visit(node[2], env)[0], SCALAR
        if op == Op.COND:
            cc, _ = self.visit(node[1], env)
            ct, bt = self.visit(node[2], env)
            cf, bf = self.visit(node[3], env)
            return 1 + cc + max(ct, cf), _join(bt, bf)
        if op == Op.LIST:
            cost, elem = 1.0, None
            for x in node[1:]:
                c, b = self.visit(x, env)
                cost += c
                elem = b if elem is None else _join(elem, b)
            return cost, Bound(0, len(node) - 1, elem or SCALAR)
        if op == Op.MAP:
            cost, elem = 1.0, None
            for x in node[1:]:
                c, b = self.visit(x, env)
                cost += c
                elem = b if elem is None else _join(elem, b)
            return cost, Bound(0, (len(node) - 1) // 2, elem or SCALAR)
        if op in (Op.COMP, Op.COMP2):
            return self.comprehension(node, env)
        if op == Op.CALL:
            return self.call(node, env)
        return 1, DYN

    def comprehension(self, node: Any, env: tuple[Bound, ...]) -> tuple[float, Bound]:
        kind = node[1]
        cr, r = self.visit(node[2], env)
        n = r.items
        self.widest_range = max(self.widest_range, n)
        e = _elem(r)
        if node[0] == Op.COMP2:  # (index or key, value): an index is a number, a key an element
            inner = (*env, _join(SCALAR, e), e)
        else:
            inner = (*env, e)
        cb, bb = self.visit(node[3], inner)
        cf = self.visit(node[4], inner)[0] if len(node) > 4 else 0
        cost = 1 + cr + n * (cb + cf)
        if kind in ("map", "transformList"):
            return cost, Bound(0, n, bb)
        if kind == "filter":
            return cost, Bound(0, n, e)
        if kind == "transformMap":
            return cost, Bound(0, n, _join(e, bb))
        return cost, SCALAR

    def call(self, node: Any, env: tuple[Bound, ...]) -> tuple[float, Bound]:
        name, args = node[1], node[3:]
        cost = 1.0
        bs: list[Bound] = []
        for a in args:
            c, b = self.visit(a, env)
            cost += c
            bs.append(b)
        lits = [a[1] if a[0] == Op.LIT else None for a in args]
        ov = node[2]
        if ov and name in _SCALAR_OPS and not any(_base(k) in _SIZED for k in split_args(ov)):
            return cost, SCALAR  # numbers or bools, as the checker proved
        extra, result = self.function(name, bs, lits)
        self.longest_string = max(self.longest_string, result.chars if name in ("_+_", "replace", "join") else 0)
        return cost + extra, result

    @staticmethod
    def function(name: str, bs: list[Bound], lits: list[Any]) -> tuple[float, Bound]:
        """(cost beyond the arguments, bound of the result) of one call."""
        if name == "_+_" and len(bs) == 2:
            a, b = bs
            chars, items = a.chars + b.chars, a.items + b.items
            elem = _join(_elem(a), _elem(b)) if items else None
            return max(_chunks(chars), items), Bound(chars, items, elem)
        if name == "replace" and len(bs) >= 3:
            s, old, new = bs[0], lits[1], bs[2]
            if isinstance(old, str) and old:
                k, shrink = s.chars // len(old), len(old)
            else:
                k, shrink = s.chars + 1, 0
            if len(lits) > 3 and isinstance(lits[3], int) and lits[3] >= 0:
                k = min(k, lits[3])
            chars = s.chars + k * max(0, new.chars - shrink)
            return _chunks(s.chars) + _chunks(chars), Bound(chars, 0)
        if name == "split" and len(bs) >= 2:
            s, sep = bs[0], lits[1]
            if isinstance(sep, str) and sep:
                items = s.chars // len(sep) + 1
            else:
                items = s.chars + 1
            if len(lits) > 2 and isinstance(lits[2], int) and lits[2] >= 0:
                items = min(items, lits[2])
            return _chunks(s.chars) + items, Bound(0, items, Bound(s.chars, 0))
        if name == "join" and bs:
            lst = bs[0]
            sep = bs[1].chars if len(bs) > 1 else 0
            chars = lst.items * _elem(lst).chars + max(0, lst.items - 1) * sep
            return lst.items + _chunks(chars), Bound(chars, 0)
        if name in ("lowerAscii", "upperAscii", "trim", "reverse", "substring"):
            return _chunks(bs[0].chars), Bound(bs[0].chars, 0)
        if name == "charAt":
            return 1, Bound(1, 0)
        if name == "matches":
            return _chunks(bs[0].chars), SCALAR
        if name in ("contains", "startsWith", "endsWith", "indexOf", "lastIndexOf"):
            # CPython's search of a long needle (two-way) reads ~5 ns a character, as slow as a copy
            return _chunks(bs[0].chars) + _chunks(bs[1].chars if len(bs) > 1 else 0), SCALAR
        if name in ("_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_"):
            return _deep_items(bs[0], bs[1]), SCALAR  # strings compare as one memcmp
        if name == "@in" and len(bs) == 2:
            return bs[1].items * (1 + _deep_items(bs[0], _elem(bs[1]))), SCALAR
        if name == "_[_]":
            return 1, _elem(bs[0])
        if name == "string":
            return _chunks(bs[0].chars), Bound(bs[0].chars, 0)
        if name == "bytes":
            return _chunks(bs[0].chars), Bound(4 * bs[0].chars, 0)  # UTF-8: up to 4 bytes a code point
        if name == "dyn":
            return 0, bs[0]
        if name in ("math.greatest", "math.least"):
            return sum(b.items for b in bs), SCALAR
        return 0, SCALAR


def _deep_items(a: Bound, b: Bound) -> int:
    """Element comparisons of an equality between two containers (nested ones too)."""
    n = min(a.items, b.items)
    if n == 0:
        return 0
    if a.elem is None or b.elem is None:  # dyn: at most as many values as a request body holds
        return n + CLIENT_BODY_BYTES // 2
    return n * (1 + _deep_items(a.elem, b.elem))


#: Operators that cost one node when the checker proved scalar operands (the overload says so).
_SCALAR_OPS = frozenset({"_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_", "_+_", "@in"})
#: Base types whose values have a size.
_SIZED = frozenset({"string", "bytes", "list", "map", "dyn"})


def _base(t: str) -> str:
    b = t.split("(", 1)[0].strip()
    return b if b in _SIZED or b in ("int", "uint", "double", "bool", "null_type", "type") else "dyn"  # records: sized


def estimate(ir: Any, rs: RuleSet) -> Estimate:
    """The cost of one condition's IR (the signal table is the rule set's, in declaration order)."""
    bounds = [signal_bound(d, rs.records) for d in rs.signals.values()]
    return estimate_with(ir, bounds, model_costs(rs))


def model_costs(rs: RuleSet) -> list[int]:
    """What reading ``score.<model>`` costs, per model: 1 + its number of features."""
    return [1 + len(m.features) for m in rs.models]


def estimate_with(ir: Any, signal_bounds: Sequence[Bound], model_cost: Sequence[int] = ()) -> Estimate:
    est = _Estimator(signal_bounds, model_cost)
    cost, _ = est.visit(ir, ())
    return Estimate(math.ceil(cost), est.widest_range, est.longest_string)


def check(rs: RuleSet, loc: Locator) -> list[Diagnostic]:
    """An error for every condition whose estimated cost exceeds ``limits.cost``. A rule's
    condition is checked as the runtime evaluates it: together with the rule's segment."""
    bounds = [signal_bound(d, rs.records) for d in rs.signals.values()]
    conds = [(s.when.path, s.when.ir) for s in rs.segments]
    conds += [(r.when.path, r.ir) for slot in rs.slots for r in slot.rules if r.when is not None]
    out = []
    mcost = model_costs(rs)
    for path, ir in conds:
        est = estimate_with(ir, bounds, mcost)
        if est.cost > rs.cost_limit:
            out.append(loc.diag(loc.pos(path), E.cost(est.cost, rs.cost_limit, est.widest_range, est.longest_string)))
    return out
