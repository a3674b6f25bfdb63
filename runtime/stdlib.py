"""The CEL standard library Strata supports, as one catalogue (``stdlib.json`` beside this file).

Every consumer reads the catalogue instead of keeping its own list: the compiler's checker takes
its overloads from it, lowering its folding rule, IR validation its function names, code
generation the functions whose result is a bool, the JavaScript runtime its function table (a test
there compares), and ``docs/cel-functions.md`` is generated from it (a test compares). Only the
implementations live in code: ``impl`` names a function of ``functions.py``.

>>> FUNCTIONS["contains"]("tents", "ten")
True
>>> CATALOGUE["split"].cost
'split'
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import functions
from .signals import split_args

__all__ = ["CATALOGUE", "FUNCTIONS", "BOOL_RESULT", "Function", "Overload", "accepts", "arity", "markdown", "result_type"]

PATH = Path(__file__).with_name("stdlib.json")


@dataclass(frozen=True, slots=True)
class Overload:
    receiver: bool  # may be written as a receiver call, s.f(x)
    params: tuple[str, ...]  # type strings; "..." = more of the previous
    result: str


@dataclass(frozen=True, slots=True)
class Function:
    name: str  # as in the IR's CALL node
    impl: Callable[..., Any]
    typing: str  # how the checker types a call (the catalogue's "typings")
    cost: str  # cost class (the catalogue's "costs")
    fold: bool  # calls on constants are folded at compile time
    overloads: tuple[Overload, ...]

    @property
    def returns_bool(self) -> bool:
        return all(o.result == "bool" for o in self.overloads)


def _load(raw: dict[str, Any]) -> dict[str, Function]:
    out: dict[str, Function] = {}
    for f in raw["functions"]:
        impl = getattr(functions, f["impl"], None)
        if not callable(impl):
            raise ImportError(f"{PATH.name}: {f['name']} names the implementation {f['impl']!r}, which runtime/functions.py does not define")
        if f["typing"] not in raw["typings"] or f["cost"] not in raw["costs"]:
            raise ImportError(f"{PATH.name}: {f['name']} has an undeclared typing or cost class")
        ovs = tuple(Overload(o["receiver"], tuple(o["params"]), o["result"]) for o in f["overloads"])
        out[f["name"]] = Function(f["name"], impl, f["typing"], f["cost"], f["fold"], ovs)
    return out


RAW: dict[str, Any] = json.loads(PATH.read_text(encoding="utf-8"))

#: Function or operator name -> its catalogue entry.
CATALOGUE: dict[str, Function] = _load(RAW)

#: Name -> implementation, for dispatch from the IR. Receiver-style calls pass the receiver first.
FUNCTIONS: dict[str, Callable[..., Any]] = {name: f.impl for name, f in CATALOGUE.items()}

#: Functions that always return a bool (code generation uses them without a bool check).
BOOL_RESULT: frozenset[str] = frozenset(name for name, f in CATALOGUE.items() if f.returns_bool)


_NUMBERS = ("int", "uint", "double")


def _split(t: str) -> tuple[str, list[str]]:
    """'map(string, list(int))' -> ('map', ['string', 'list(int)'])."""
    i = t.find("(")
    if i < 0 or not t.endswith(")"):
        return t, []
    return t[:i], split_args(t[i + 1 : -1])


def _bind(param: str, actual: str, env: dict[str, str]) -> bool:
    """Does the concrete type string ``actual`` fit the parameter ``param`` (type letters bind once)?"""
    if len(param) == 1 and param.isupper():
        bound = env.setdefault(param, actual)
        return bound == actual or "dyn" in (bound, actual)
    if actual == "dyn":
        return True
    pb, pp = _split(param)
    ab, ap = _split(actual)
    return pb == ab and len(pp) == len(ap) and all(_bind(p, a, env) for p, a in zip(pp, ap))


@functools.lru_cache(maxsize=4096)  # a bundle repeats a few (name, overload) pairs thousands of times
def accepts(name: str, overload: str | None, nargs: int) -> bool:
    """Is ``overload`` (a CALL node's comma-separated argument types, None = dispatch at run
    time) a valid instantiation of ``name`` for ``nargs`` arguments? IR validation refuses a
    bundle whose calls fail this; lowering emits only overload ids that pass it.

    >>> accepts("size", "list(string)", 1), accepts("@in", "string,string", 2)
    (True, False)
    """
    f = CATALOGUE.get(name)
    if f is None:
        return False
    if overload is None:
        return True
    types = split_args(overload)
    if len(types) != nargs:
        return False
    if f.typing == "equality":
        return nargs == 2
    if f.typing == "membership":
        return nargs == 2 and _split(types[1])[0] in ("list", "map", "dyn")
    if f.typing == "numeric_variadic":
        return all(_split(t)[0] in (*_NUMBERS, "list", "dyn") for t in types)
    if f.typing == "unchecked":
        return True
    for o in f.overloads:  # "overloads" and "ordering" list every accepted combination
        env: dict[str, str] = {}
        if len(o.params) == nargs and all(_bind(p, a, env) for p, a in zip(o.params, types)):
            return True
    return False


def _subst(t: str, env: dict[str, str]) -> str | None:
    """``t`` with its type letters replaced from ``env``; None if a letter stays unbound."""
    if len(t) == 1 and t.isupper():
        return env.get(t)
    base, params = _split(t)
    if not params:
        return t
    subs = [_subst(p, env) for p in params]
    if any(x is None for x in subs):
        return None
    return f"{base}({', '.join(x for x in subs if x is not None)})"


def result_type(name: str, overload: str | None) -> str | None:
    """The result type of a call as the catalogue proves it: with an overload id, the matching
    overload's result with its type letters bound; without one, the result every overload shares.
    None when the catalogue cannot tell (then the result is only known at run time).

    >>> result_type("_+_", "int,int"), result_type("size", None), result_type("_[_]", "list(string),int")
    ('int', 'int', 'string')
    """
    f = CATALOGUE.get(name)
    if f is None:
        return None
    if overload is None or f.typing != "overloads":
        results = {o.result for o in f.overloads}
        only = results.pop() if len(results) == 1 else None
        return only if only is not None and _subst(only, {}) is not None else None
    types = split_args(overload)
    for o in f.overloads:
        env: dict[str, str] = {}
        if len(o.params) == len(types) and all(_bind(p, a, env) for p, a in zip(o.params, types)):
            return _subst(o.result, env)
    return None


def _arity(f: Function) -> tuple[int, int | None]:
    counts = [len(o.params) - ("..." in o.params) for o in f.overloads]
    variadic = any("..." in o.params for o in f.overloads)
    return min(counts), None if variadic else max(counts)


_ARITY = {name: _arity(f) for name, f in CATALOGUE.items()}


def arity(name: str) -> tuple[int, int | None]:
    """(fewest, most) arguments a call to ``name`` takes (most None: any number)."""
    return _ARITY[name]


def _signature(name: str, o: Overload) -> str:
    params = list(o.params)
    if o.receiver:
        recv = params.pop(0)
        return f"{recv}.{name}({', '.join(params)}) -> {o.result}"
    if name == "_[_]":
        return f"{params[0]}[{params[1]}] -> {o.result}"
    if name == "@in":
        return f"{params[0]} in {params[1]} -> {o.result}"
    if name.startswith("_") and name.endswith("_") and len(params) in (1, 2):
        op = name.strip("_")
        return f"{op}{params[0]} -> {o.result}" if len(params) == 1 else f"{params[0]} {op} {params[1]} -> {o.result}"
    return f"{name}({', '.join(params)}) -> {o.result}"


def markdown() -> str:
    """docs/cel-functions.md, generated from the catalogue (``python -m runtime.stdlib``)."""
    lines = [
        "# CEL functions and operators",
        "",
        "Generated from [`runtime/stdlib.json`](../runtime/stdlib.json) by `python -m runtime.stdlib > docs/cel-functions.md`;",
        "a test fails when this page and the catalogue differ. Both runtimes implement exactly these.",
        "",
        RAW["about"],
        "",
        "| name | signatures | typing | cost | folded |",
        "|---|---|---|---|---|",
    ]
    for name, f in CATALOGUE.items():
        if f.typing == "unchecked":
            continue
        sigs = "<br>".join(f"`{_signature(name, o)}`".replace("|", "\\|") for o in f.overloads)
        lines.append(f"| `{name}` | {sigs} | {f.typing} | {f.cost} | {'yes' if f.fold else 'no'} |")
    lines += ["", "## Typing rules", ""]
    lines += [f"- **{k}**: {v}" for k, v in RAW["typings"].items()]
    lines += ["", "## Cost classes", ""]
    lines += [f"- **{k}**: {v}" for k, v in RAW["costs"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
