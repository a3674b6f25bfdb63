"""The evaluation budget: a bound on the work one condition may do in one decision.

The compiler refuses a condition whose estimated worst-case cost exceeds ``limits.cost`` (at most
:data:`EVAL_BUDGET`), and its estimate is an upper bound of what is charged here, so a bundle
from a Strata compiler never reaches the budget. The budget is the runtime's own guard for the
rest: a bundle from another compiler, an estimate that is wrong, a bound the server does not
enforce. A condition that would exceed it stops with an evaluation error (``BudgetExceeded``, a
``CelError``): false for this request, skipped, counted, like any other evaluation error.

What is charged (docs/runtime.md "Evaluation budget" is the contract a second runtime follows):

- entering a comprehension whose range has ``n`` elements charges ``n * w``, where ``w`` is the
  comprehension's *weight*: the number of IR nodes of its body and filter, a nested comprehension
  counting as one node plus the nodes of its range (its own body is charged when it is entered);
- the growth functions charge the size of their result, computed *before* it is built:
  a string or bytes result ``ceil(length / ALLOC_CHUNK)`` (length in code points or bytes), a list
  result one unit per item (:func:`alloc_units` has the formula of each).

Units are counted per condition and decision: a segment is a condition of its own (evaluated once
per decision and memoised), so a condition's count does not include the segments it reads. A
charge that would take the count over :data:`EVAL_BUDGET` fails without being added.

Cost for ordinary conditions: none. Only conditions whose IR has a comprehension or a growth call
charge (:func:`metered_ir`), and only when they reach a charge. When a generated function
raises, the exact evaluator re-evaluates the condition with its count reset (:func:`metered_exact`),
so the count is always the exact evaluator's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .format import ALLOC_CHUNK as ALLOC_CHUNK
from .format import EVAL_BUDGET as EVAL_BUDGET
from .format import GROWTH_COSTS, Op
from .stdlib import CATALOGUE
from .values import CelError

#: The budget's constants are the format's (runtime/format.json, "runtime"): EVAL_BUDGET work units
#: per condition and decision, ALLOC_CHUNK characters of a result per unit, and the growth cost
#: classes (GROWTH_COSTS of runtime/stdlib.json) whose result can be larger than their arguments.

#: Functions whose result can be larger than their arguments, charged by :func:`alloc_units`:
#: the catalogue's functions of a growth cost class (``_+_``, ``join``, ``split``, ``replace``).
GROWTH = frozenset(name for name, f in CATALOGUE.items() if f.cost in GROWTH_COSTS)

#: The counts live in the decision's memo dict, beside the segment results (keys ``i`` and ``~i``
#: for segment ``i``): condition ``cid``'s count under the key ``COUNT + cid``. Plain int keys
#: written into the generated code, so a charge is two dict operations and conditions that charge
#: nothing never touch them. (No bundle has 2**40 segments.)
COUNT = 1 << 40


class BudgetExceeded(CelError):
    """A condition would exceed the evaluation budget."""


def over(work: int) -> BudgetExceeded:
    return BudgetExceeded(f"evaluation budget exceeded: {work:,} work units, more than {EVAL_BUDGET:,} (a comprehension or a growing string too large)")


def charge(m: dict[Any, Any], key: int, units: int) -> None:
    """Charge ``units`` to the condition whose count is under ``key`` (``COUNT + cid``); raise
    (without charging) if that takes it over the budget."""
    w = m.get(key, 0) + units
    if w > EVAL_BUDGET:
        raise over(w)
    m[key] = w


def work(m: dict[Any, Any]) -> int:
    """The largest count of any condition in the decision of memo ``m``."""
    return max((v for k, v in m.items() if k >= COUNT), default=0)


def _chunks(n: int) -> int:
    return -(-n // ALLOC_CHUNK)


def alloc_units(name: str, args: tuple[Any, ...]) -> int:
    """The units a growth call charges, from its arguments (0 when they are of the wrong types:
    the function then raises its own error).

    - ``a + b``: strings or bytes ``ceil((len(a) + len(b)) / 16)``; lists ``len(a) + len(b)``;
    - ``s.replace(old, new[, n])``: ``k`` = occurrences of ``old`` in ``s`` (``len(s) + 1`` for
      an empty ``old``), at most ``n`` when ``n >= 0``; ``ceil((len(s) + k * (len(new) - len(old))) / 16)``;
    - ``s.split(sep[, n])``: the number of items of the result;
    - ``list.join([sep])``: ``ceil((sum of the items' lengths + len(sep) * (items - 1)) / 16)``.
    """
    if name == "_+_":
        a, b = args
        ta, tb = type(a), type(b)
        if (ta is str and tb is str) or (ta is bytes and tb is bytes):
            return _chunks(len(a) + len(b))
        if ta in (list, tuple) and tb in (list, tuple):
            return len(a) + len(b)
        return 0
    if name == "replace":
        s, old, new = args[0], args[1], args[2]
        n = args[3] if len(args) > 3 else None
        if type(s) is not str or type(old) is not str or type(new) is not str or (n is not None and type(n) is not int):
            return 0
        k = s.count(old)
        if n is not None and n >= 0:
            k = min(k, n)
        return _chunks(len(s) + k * (len(new) - len(old)))
    if name == "split":
        s, sep = args[0], args[1]
        n = args[2] if len(args) > 2 else None
        if type(s) is not str or type(sep) is not str or (n is not None and type(n) is not int):
            return 0
        items = len(s) if sep == "" else s.count(sep) + 1
        if n is not None:
            if n == 0:
                return 0
            if n > 0:
                items = min(items, n)
        return items
    if name == "join":
        items = args[0]
        sep = args[1] if len(args) > 1 else ""
        if type(items) not in (list, tuple) or type(sep) is not str or not all(type(x) is str for x in items):
            return 0
        return _chunks(sum(len(x) for x in items) + len(sep) * max(0, len(items) - 1))
    return 0


def grow(m: dict[Any, Any], key: int, name: str, f: Callable[..., Any], *args: Any) -> Any:
    """Call growth function ``f`` after charging its result's size (see :func:`charge`)."""
    units = alloc_units(name, args)
    if units:
        charge(m, key, units)
    return f(*args)


def weight(node: Any) -> int:
    """The weight of a comprehension node: IR nodes of its body and filter (see the module doc)."""
    return sum(_nodes(x) for x in node[3:])


def _nodes(node: Any) -> int:
    op = node[0]
    if op in (Op.COMP, Op.COMP2):
        return 1 + _nodes(node[2])
    if op in (Op.SEL, Op.HAS, Op.NOT):
        return 1 + _nodes(node[1])
    if op == Op.CALL:
        return 1 + sum(_nodes(x) for x in node[3:])
    if op in (Op.AND, Op.OR, Op.COND, Op.LIST, Op.MAP):
        return 1 + sum(_nodes(x) for x in node[1:])
    return 1  # LIT, ULIT, SIG, SEG, VAR, TYPE, SIGHAS


def metered_ir(node: Any) -> bool:
    """Whether a condition's IR charges anything (has a comprehension or a growth call)."""
    op = node[0]
    if op in (Op.COMP, Op.COMP2):
        return True
    if op == Op.CALL:
        return node[1] in GROWTH or any(metered_ir(x) for x in node[3:])
    if op in (Op.SEL, Op.HAS, Op.NOT):
        return metered_ir(node[1])
    if op in (Op.AND, Op.OR, Op.COND, Op.LIST, Op.MAP):
        return any(metered_ir(x) for x in node[1:])
    return False


def metered_exact(ev: Callable[[dict[str, Any], dict[Any, Any], tuple[Any, ...]], Any], cid: int) -> Callable[[dict[str, Any], dict[Any, Any], tuple[Any, ...]], Any]:
    """Wrap the exact closure of condition ``cid``: its count starts from zero. The exact evaluator
    runs after the generated function raised (or alone); what that attempt charged is void."""

    key = COUNT + cid

    def run(s: dict[str, Any], m: dict[Any, Any], vs: tuple[Any, ...]) -> Any:
        m.pop(key, None)
        return ev(s, m, vs)

    return run
