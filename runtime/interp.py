"""The exact evaluator: IR -> closures with CEL's error-as-value semantics.

This is the reference semantics of the runtime. Each IR node becomes a closure
``ev(s, m, vs) -> value | Err`` (signals, segment memo, comprehension variables, innermost last).
Errors are values, so ``false && error`` is ``false`` and ``true || error`` is ``true`` (cel-go's
``evalAnd``). The generated fast path (``codegen.py``) falls back to these closures whenever it
raises, so they also produce every error message that ``explain`` shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import functions as fn
from .budget import COUNT, GROWTH, BudgetExceeded, charge, grow, weight
from .format import Op
from .stdlib import FUNCTIONS
from .values import CelError, CelType, UInt

Env = tuple[Any, ...]
Eval = Callable[[dict[str, Any], dict[int, Any], Env], Any]


class Err:
    """A CEL error value. ``budget`` is true when the evaluation budget ran out (``budget.py``)."""

    __slots__ = ("message", "budget")

    def __init__(self, message: str, budget: bool = False) -> None:
        self.message = message
        self.budget = budget

    def __repr__(self) -> str:
        return f"Err({self.message!r})"


def _call(f: Callable[..., Any], args: Sequence[Any]) -> Any:
    for a in args:
        if type(a) is Err:
            return a
    try:
        return f(*args)
    except BudgetExceeded as e:
        return Err(str(e), True)
    except CelError as e:
        return Err(str(e))
    except RecursionError:
        return Err("expression nested too deeply")
    except (TypeError, ValueError, ArithmeticError) as e:  # defensive: a value no check expected
        return Err(f"{type(e).__name__}: {e}")


def _call2(f: Callable[..., Any], x: Any, y: Any) -> Any:
    """``_call`` for the most common arity, without a tuple and a loop (comprehension bodies are
    mostly binary operators, and the exact evaluator runs them once per element)."""
    if type(x) is Err:
        return x
    if type(y) is Err:
        return y
    try:
        return f(x, y)
    except BudgetExceeded as e:
        return Err(str(e), True)
    except CelError as e:
        return Err(str(e))
    except RecursionError:
        return Err("expression nested too deeply")
    except (TypeError, ValueError, ArithmeticError) as e:  # defensive: a value no check expected
        return Err(f"{type(e).__name__}: {e}")


def iter_range(r: Any) -> list[Any]:
    t = type(r)
    if t is list or t is tuple:
        return list(r)
    if t is dict:
        return list(r.keys())
    raise CelError(f"expression of type '{fn._kind(r)}' cannot be the range of a comprehension")


def iter_pairs(r: Any) -> list[tuple[Any, Any]]:
    t = type(r)
    if t is list or t is tuple:
        return list(enumerate(r))
    if t is dict:
        return list(r.items())
    raise CelError("expression cannot be the range of a two-variable comprehension")


class Builder:
    """Builds exact closures for one bundle.

    ``signal_names`` maps SIG indexes to names; ``segment_eval`` is called for SEG nodes and
    ``score_eval`` for SCORE nodes, and they own memoisation (see ``plan.py``). ``build(node, cid)``
    builds condition ``cid`` (its id for the evaluation budget, as in ``codegen.generate``).
    """

    def __init__(
        self,
        signal_names: Sequence[str],
        segment_eval: Callable[[int, dict[str, Any], dict[int, Any]], Any],
        score_eval: Callable[[int, dict[str, Any], dict[int, Any]], float] | None = None,
    ):
        self.signal_names = signal_names
        self.segment_eval = segment_eval
        self.score_eval = score_eval
        self.cid = 0

    def build(self, node: Any, cid: int | None = None) -> Eval:
        if cid is not None:
            self.cid = cid
        op = node[0]
        method = _BUILDERS[op]
        return method(self, node)

    # ---------------------------------------------------------------- leaves
    def _lit(self, node: Any) -> Eval:
        v = node[1]
        return lambda s, m, vs: v

    def _ulit(self, node: Any) -> Eval:
        v = UInt(node[1])
        return lambda s, m, vs: v

    def _type(self, node: Any) -> Eval:
        v = CelType(node[1])
        return lambda s, m, vs: v

    def _sig(self, node: Any) -> Eval:
        name = self.signal_names[node[1]]
        missing = Err(f"no such attribute: signal '{name}' is absent")

        def ev(s: dict[str, Any], m: dict[int, Any], vs: Env) -> Any:
            return s.get(name, missing)

        return ev

    def _sighas(self, node: Any) -> Eval:
        name = self.signal_names[node[1]]
        return lambda s, m, vs: name in s

    def _seg(self, node: Any) -> Eval:
        i = node[1]
        seg = self.segment_eval
        return lambda s, m, vs: seg(i, s, m)

    def _score(self, node: Any) -> Eval:
        i = node[1]
        score = self.score_eval
        if score is None:
            missing = Err("this bundle has no models")
            return lambda s, m, vs: missing
        return lambda s, m, vs: score(i, s, m)  # a score never errs (runtime/score.py)

    def _var(self, node: Any) -> Eval:
        k = -1 - node[1]
        return lambda s, m, vs: vs[k]

    # ---------------------------------------------------------------- access
    def _sel(self, node: Any) -> Eval:
        e = self.build(node[1])
        field = node[2]
        return lambda s, m, vs: _call(fn.select, (e(s, m, vs), field))

    def _has(self, node: Any) -> Eval:
        e = self.build(node[1])
        field = node[2]
        return lambda s, m, vs: _call(fn.has_field, (e(s, m, vs), field))

    # ---------------------------------------------------------------- logic
    def _and(self, node: Any) -> Eval:
        a, b = self.build(node[1]), self.build(node[2])

        def ev(s: dict[str, Any], m: dict[int, Any], vs: Env) -> Any:
            x = a(s, m, vs)
            if x is False:
                return False
            y = b(s, m, vs)
            if y is False:
                return False
            if x is True and y is True:
                return True
            if type(x) is Err:
                return x
            if type(y) is Err:
                return y
            return Err("no matching overload for '_&&_'")

        return ev

    def _or(self, node: Any) -> Eval:
        a, b = self.build(node[1]), self.build(node[2])

        def ev(s: dict[str, Any], m: dict[int, Any], vs: Env) -> Any:
            x = a(s, m, vs)
            if x is True:
                return True
            y = b(s, m, vs)
            if y is True:
                return True
            if x is False and y is False:
                return False
            if type(x) is Err:
                return x
            if type(y) is Err:
                return y
            return Err("no matching overload for '_||_'")

        return ev

    def _not(self, node: Any) -> Eval:
        a = self.build(node[1])
        return lambda s, m, vs: _call(fn.logical_not, (a(s, m, vs),))

    def _cond(self, node: Any) -> Eval:
        c, t, f = self.build(node[1]), self.build(node[2]), self.build(node[3])

        def ev(s: dict[str, Any], m: dict[int, Any], vs: Env) -> Any:
            x = c(s, m, vs)
            if x is True:
                return t(s, m, vs)
            if x is False:
                return f(s, m, vs)
            if type(x) is Err:
                return x
            return Err("no matching overload for '_?_:_'")

        return ev

    # ---------------------------------------------------------------- calls and literals
    def _callnode(self, node: Any) -> Eval:
        name = node[1]
        f = FUNCTIONS[name]
        args = [self.build(a) for a in node[3:]]
        if name in GROWTH:  # charged before the result is built (budget.py)
            key = COUNT + self.cid
            if len(args) == 2:
                g0, g1 = args
                return lambda s, m, vs: _call(grow, (m, key, name, f, g0(s, m, vs), g1(s, m, vs)))
            if len(args) == 3:
                g0, g1, g2 = args
                return lambda s, m, vs: _call(grow, (m, key, name, f, g0(s, m, vs), g1(s, m, vs), g2(s, m, vs)))
            return lambda s, m, vs: _call(grow, [m, key, name, f, *[a(s, m, vs) for a in args]])
        if len(args) == 1:
            a0 = args[0]
            return lambda s, m, vs: _call(f, (a0(s, m, vs),))
        if len(args) == 2:
            a0, a1 = args
            return lambda s, m, vs: _call2(f, a0(s, m, vs), a1(s, m, vs))
        return lambda s, m, vs: _call(f, [a(s, m, vs) for a in args])

    def _list(self, node: Any) -> Eval:
        items = [self.build(a) for a in node[1:]]

        def ev(s: dict[str, Any], m: dict[int, Any], vs: Env) -> Any:
            out = [a(s, m, vs) for a in items]
            for x in out:
                if type(x) is Err:
                    return x
            return out

        return ev

    def _map(self, node: Any) -> Eval:
        parts = [self.build(a) for a in node[1:]]

        def ev(s: dict[str, Any], m: dict[int, Any], vs: Env) -> Any:
            vals = [p(s, m, vs) for p in parts]
            for x in vals:
                if type(x) is Err:
                    return x
            return _call(fn.make_map, (list(zip(vals[0::2], vals[1::2])),))

        return ev

    # ---------------------------------------------------------------- comprehensions
    def _comp(self, node: Any) -> Eval:
        kind = node[1]
        rng = self.build(node[2])
        body = self.build(node[3])
        filt = self.build(node[4]) if len(node) > 4 else None
        two = node[0] == Op.COMP2
        w = weight(node)
        key = COUNT + self.cid

        def ev(s: dict[str, Any], m: dict[int, Any], vs: Env) -> Any:
            r = rng(s, m, vs)
            if type(r) is Err:
                return r
            try:
                items: list[Any] = list(iter_pairs(r)) if two else iter_range(r)
            except CelError as e:
                return Err(str(e))
            try:
                charge(m, key, len(items) * w)
            except BudgetExceeded as e:
                return Err(str(e), True)
            envs = [vs + tuple(it) if two else vs + (it,) for it in items]
            if kind == "all" or kind == "exists":
                want = kind == "exists"
                err = None
                for env in envs:
                    x = body(s, m, env)
                    if x is want:
                        return want
                    if x is not (not want):
                        err = x if type(x) is Err else Err(f"no matching overload for '{kind}'")
                return err if err is not None else (not want)
            if kind == "exists_one":
                n = 0
                for env in envs:
                    x = body(s, m, env)
                    if x is True:
                        n += 1
                    elif x is not False:
                        return x if type(x) is Err else Err("no matching overload for 'exists_one'")
                return n == 1
            if kind == "filter":
                out = []
                for env, it in zip(envs, items):
                    x = body(s, m, env)
                    if type(x) is Err:
                        return x
                    if x is True:
                        out.append(it[1] if two else it)
                    elif x is not False:
                        return Err("no matching overload for 'filter'")
                return out
            # map / transformList / transformMap (optionally with a filter)
            res: list[Any] = []
            keys: list[Any] = []
            for env, it in zip(envs, items):
                if filt is not None:
                    c = filt(s, m, env)
                    if type(c) is Err:
                        return c
                    if c is not True:
                        if c is not False:
                            return Err("no matching overload for 'map' filter")
                        continue
                x = body(s, m, env)
                if type(x) is Err:
                    return x
                res.append(x)
                keys.append(it[0] if two else it)
            if kind == "transformMap":
                return dict(zip(keys, res))
            return res

        return ev


_BUILDERS: dict[int, Callable[[Builder, Any], Eval]] = {
    Op.LIT: Builder._lit,
    Op.ULIT: Builder._ulit,
    Op.TYPE: Builder._type,
    Op.SIG: Builder._sig,
    Op.SIGHAS: Builder._sighas,
    Op.SEG: Builder._seg,
    Op.SCORE: Builder._score,
    Op.VAR: Builder._var,
    Op.SEL: Builder._sel,
    Op.HAS: Builder._has,
    Op.AND: Builder._and,
    Op.OR: Builder._or,
    Op.NOT: Builder._not,
    Op.COND: Builder._cond,
    Op.CALL: Builder._callnode,
    Op.LIST: Builder._list,
    Op.MAP: Builder._map,
    Op.COMP: Builder._comp,
    Op.COMP2: Builder._comp,
}
