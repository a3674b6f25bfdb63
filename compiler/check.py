"""The CEL type checker: resolves names against the declared signals and segments, checks every
operator and function against its overloads, and returns a typed AST.

Name resolution follows CEL: the longest declared qualified name wins (``a.b.c`` is the signal
``a.b.c`` if declared, else field ``c`` of signal ``a.b``...), names are looked up relative to the
container first, a leading dot makes a name absolute, and comprehension variables shadow
everything. Numeric types compare with each other (``1 == 1.0``), as CEL's heterogeneous equality
allows; any other mix of types is an error unless one side is ``dyn``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from runtime.regex import regex_error
from runtime.stdlib import CATALOGUE

from . import errors as E
from .cel_ast import (
    Bind,
    Call,
    Comprehension,
    Ident,
    Index,
    ListLit,
    Lit,
    MapLit,
    Node,
    Present,
    ScoreRef,
    SegmentRef,
    Select,
    SignalRef,
    TypeLit,
    VarRef,
)
from .types import (
    BOOL,
    BYTES,
    DOUBLE,
    DYN,
    INT,
    NULL,
    NUMERIC,
    STRING,
    TYPE,
    UINT,
    Type,
    assignable,
    join,
    list_of,
    map_of,
    parse_type,
)

Report = Callable[[int, tuple[str, str, str | None]], None]

#: The namespace of model scores (compiler/models.py).
SCORE = "score"


@dataclass
class Env:
    """What names a condition may use."""

    signals: Mapping[str, Type]
    segments: Mapping[str, int] = field(default_factory=dict)
    records: Mapping[str, Mapping[str, Type]] = field(default_factory=dict)
    container: str = ""
    #: declared models (id -> index): ``score.<model>`` is a double. None: no ``score`` namespace
    #: (CEL outside a rule set, e.g. the conformance corpus).
    models: Mapping[str, int] | None = None


class CheckFailed(Exception):
    """Raised internally to abandon a subtree after its error has been reported."""


# ------------------------------------------------------------------------- overloads
# fn -> list of (receiver style?, parameter types, result). Params A, B, K, V are type variables.
_P = {n: Type("param", (), n) for n in ("A", "B", "K", "V")}


def _t(s: str) -> Type:
    if s in _P:
        return _P[s]
    if s.startswith("list(") and s.endswith(")"):
        return list_of(_t(s[5:-1]))
    if s.startswith("map(") and s.endswith(")"):
        k, v = s[4:-1].split(",", 1)
        return map_of(_t(k.strip()), _t(v.strip()))
    return parse_type(s)


def _overloads() -> dict[str, list[tuple[bool, tuple[Type, ...], Type]]]:
    """The overloads of every function the catalogue types by its overload list."""
    out: dict[str, list[tuple[bool, tuple[Type, ...], Type]]] = {}
    for f in CATALOGUE.values():
        if f.typing == "overloads":
            out[f.name] = [(o.receiver, tuple(_t(p) for p in o.params), _t(o.result)) for o in f.overloads]
    return out


OVERLOADS = _overloads()


def _typing(fn: str) -> str | None:
    """How the catalogue says a call to ``fn`` is typed (None: not in the catalogue)."""
    f = CATALOGUE.get(fn)
    return f.typing if f is not None else None


_ORDERED = {"int", "uint", "double", "string", "bytes", "bool"}
_EXT_NAMESPACES = {"math"}
_NOT_SUPPORTED_HINTS = {
    "timestamp": "use the int signal time.epoch (Unix seconds) and compare numbers",
    "duration": "express durations as seconds, e.g. time.epoch - session.last_seen > 1800",
    "format": None,
    "quote": None,
}


def _bind(param: Type, actual: Type, env: dict[str, Type]) -> bool:
    if param.kind == "param":
        prev = env.get(param.name)
        if prev is None:
            env[param.name] = actual
            return True
        if prev.is_dyn or actual.is_dyn:
            return True
        if assignable(prev, actual) and assignable(actual, prev):
            return True
        if prev.kind in NUMERIC and actual.kind in NUMERIC:
            return False
        return False
    if actual.is_dyn:
        return True
    if param.kind != actual.kind:
        return False
    if param.kind == "record":
        return param.name == actual.name
    return all(_bind(p, a, env) for p, a in zip(param.params, actual.params))


def _subst(t: Type, env: dict[str, Type]) -> Type:
    if t.kind == "param":
        return env.get(t.name, DYN)
    if t.params:
        return Type(t.kind, tuple(_subst(p, env) for p in t.params), t.name)
    return t


def _has_dyn(t: Type) -> bool:
    return t.is_dyn or any(_has_dyn(p) for p in t.params)


class Checker:
    """``lenient=True`` is CEL's unchecked mode (the conformance corpus's ``disable_check``): type
    mismatches, unknown names and unknown functions become run-time errors instead of compile
    errors. Rule sets are always checked strictly."""

    def __init__(self, env: Env, report: Report, *, lenient: bool = False):
        self.env = env
        self.report = report
        self.lenient = lenient
        self.undeclared: set[str] = set()
        self.locals: list[tuple[str, Type]] = []
        self.signals_used: set[str] = set()
        self.segments_used: set[str] = set()
        self.models_used: set[str] = set()

    # ------------------------------------------------------------------ entry
    def check(self, node: Node) -> Node | None:
        try:
            return self.visit(node)
        except CheckFailed:
            return None

    def fail(self, pos: int, parts: tuple[str, str, str | None]) -> CheckFailed:
        self.report(pos, parts)
        return CheckFailed()

    # ------------------------------------------------------------------ dispatch
    def visit(self, n: Node) -> Node:
        if isinstance(n, Lit):
            if n.kind == "int" and n.value == 2**63:
                raise self.fail(n.pos, E.type_mismatch("integer literal 9223372036854775808 is out of the int64 range"))
            n.type = {"int": INT, "uint": UINT, "double": DOUBLE, "string": STRING, "bytes": BYTES, "bool": BOOL, "null": NULL}[n.kind]
            return n
        if isinstance(n, (Ident, Select)) and not (isinstance(n, Select) and n.test_only):
            resolved = self.resolve(n)
            if resolved is not None:
                return resolved
            if isinstance(n, Ident):
                raise self.unknown(n.pos, n.name)
            return self.select(n)
        if isinstance(n, Select):  # has()
            return self.has(n)
        if isinstance(n, Index):
            return self.call(Call(n.pos, "_[_]", [n.operand, n.index]))
        if isinstance(n, Call):
            return self.call(n)
        if isinstance(n, ListLit):
            items = [self.visit(x) for x in n.items]
            elem = items[0].type if items else DYN
            for x in items[1:]:
                elem = join(elem, x.type)
            n.items = items
            n.type = list_of(elem)
            return n
        if isinstance(n, MapLit):
            entries = []
            kt: Type | None = None
            vt: Type | None = None
            for k, v in n.entries:
                k2, v2 = self.visit(k), self.visit(v)
                if k2.type.kind not in ("string", "int", "uint", "bool", "dyn"):
                    raise self.fail(k.pos, E.type_mismatch(f"map keys must be string, int, uint or bool, not {k2.type}"))
                kt = k2.type if kt is None else join(kt, k2.type)
                vt = v2.type if vt is None else join(vt, v2.type)
                entries.append((k2, v2))
            n.entries = entries
            n.type = map_of(kt or DYN, vt or DYN)
            return n
        if isinstance(n, Comprehension):
            return self.comprehension(n)
        if isinstance(n, Bind):
            init = self.visit(n.init)
            n.init = init
            self.locals.append((n.var, init.type))
            try:
                n.body = self.visit(n.body)
            finally:
                self.locals.pop()
            n.type = n.body.type
            return n
        raise self.fail(n.pos, E.unsupported(type(n).__name__))

    # ------------------------------------------------------------------ names
    def _qualified(self, n: Node) -> list[str] | None:
        parts: list[str] = []
        self._field_pos: list[int] = []
        while isinstance(n, Select) and not n.test_only:
            parts.append(n.field)
            self._field_pos.append(n.pos)
            n = n.operand
        self._field_pos.reverse()
        if isinstance(n, Ident):
            parts.append(n.name)
            parts.reverse()
            return parts
        return None

    def _local(self, name: str) -> Type | None:
        for lname, t in reversed(self.locals):
            if lname == name:
                return t
        return None

    def _candidates(self, name: str, absolute: bool) -> list[str]:
        if absolute or not self.env.container:
            return [name]
        parts = self.env.container.split(".")
        out = [".".join(parts[:i] + [name]) for i in range(len(parts), 0, -1)]
        out.append(name)
        return out

    def resolve(self, n: Node) -> Node | None:
        """Resolve an identifier or a select chain to a local, signal, segment or type."""
        parts = self._qualified(n)
        if parts is None:
            return None
        root = n
        while isinstance(root, Select):
            root = root.operand
        assert isinstance(root, Ident)
        absolute = root.absolute
        field_pos = self._field_pos
        if not absolute:
            t = self._local(parts[0])
            if t is not None:
                out: Node = VarRef(root.pos, parts[0])
                out.type = t
                return self._fields(out, parts[1:], field_pos[0:])
        for k in range(len(parts), 0, -1):
            name = ".".join(parts[:k])
            for cand in self._candidates(name, absolute):
                if cand in self.env.signals:
                    self.signals_used.add(cand)
                    ref: Node = SignalRef(root.pos, cand)
                    ref.type = self.env.signals[cand]
                    return self._fields(ref, parts[k:], field_pos[k - 1 :])
        if parts[0] == SCORE and self.env.models is not None and not (len(parts) == 1 and SCORE in self.env.segments):
            # (a segment named score exists only in rule sets without models: it keeps its meaning)
            return self.score(root, parts, field_pos)
        if len(parts) == 1 and parts[0] in self.env.segments:
            self.segments_used.add(parts[0])
            seg = SegmentRef(root.pos, parts[0])
            seg.type = BOOL
            return seg
        if len(parts) == 1 and parts[0] in ("int", "uint", "double", "string", "bool", "bytes", "list", "map", "null_type", "type", "dyn"):
            if parts[0] == "dyn":
                raise self.fail(root.pos, E.unsupported("the type identifier dyn as a value"))
            tl = TypeLit(root.pos, parts[0])
            tl.type = TYPE
            return tl
        if self.lenient:
            name = parts[0] if not absolute else parts[0]
            self.undeclared.add(name)
            ref2: Node = SignalRef(root.pos, name)
            ref2.type = DYN
            return self._fields(ref2, parts[1:], field_pos[0:])
        raise self.unknown(root.pos, ".".join(parts))

    def score(self, root: Ident, parts: list[str], field_pos: list[int]) -> Node:
        """``score.<model>``: a double; ``score`` alone or an undeclared model is an error."""
        assert self.env.models is not None
        if len(parts) == 1:
            raise self.fail(root.pos, E.score_alone(self.env.models))
        if parts[1] not in self.env.models:
            raise self.fail(field_pos[0], E.unknown_model(parts[1], self.env.models))
        self.models_used.add(parts[1])
        ref: Node = ScoreRef(root.pos, parts[1])
        ref.type = DOUBLE
        return self._fields(ref, parts[2:], field_pos[1:])

    def unknown(self, pos: int, name: str) -> CheckFailed:
        known = list(self.env.signals) + list(self.env.segments) + [x for x, _ in self.locals]
        return self.fail(pos, E.unknown_signal(name, known))

    def _fields(self, node: Node, fields: list[str], positions: list[int]) -> Node:
        for f, pos in zip(fields, positions):
            node = self._select_type(Select(pos, node, f), node)
        return node

    def _select_type(self, sel: Select, operand: Node) -> Node:
        t = operand.type
        sel.operand = operand
        if t.is_dyn:
            sel.type = DYN
        elif t.kind == "map":
            if t.params[0].kind not in ("string", "dyn"):
                raise self.fail(sel.pos, E.type_mismatch(f"field selection needs a map with string keys, not {t}"))
            sel.type = t.params[1]
        elif t.kind == "record":
            fields = self.env.records[t.name]
            if sel.field not in fields:
                raise self.fail(sel.pos, E.unknown_field(sel.field, t.name, fields))
            sel.type = fields[sel.field]
        elif self.lenient:
            sel.type = DYN
        else:
            raise self.fail(sel.pos, E.type_mismatch(f"'{sel.field}' cannot be selected from a value of type {t}", "only maps and records have fields"))
        return sel

    def select(self, n: Select) -> Node:
        operand = self.visit(n.operand)
        return self._select_type(n, operand)

    def has(self, n: Select) -> Node:
        parts = self._qualified(Select(n.pos, n.operand, n.field))
        if parts is not None and not (isinstance(n.operand, Ident) and self._local(parts[0]) is not None):
            name = ".".join(parts)
            for cand in self._candidates(name, False):
                if cand in self.env.signals:
                    self.signals_used.add(cand)
                    p = Present(n.pos, cand)
                    p.type = BOOL
                    return p
        operand = self.visit(n.operand)
        self._select_type(Select(n.pos, operand, n.field), operand)
        n.operand = operand
        n.type = BOOL
        return n

    # ------------------------------------------------------------------ calls
    def call(self, n: Call) -> Node:
        fn = n.fn
        if fn in ("_&&_", "_||_"):
            args = [self.visit(a) for a in n.args]
            for a in args:
                if not assignable(BOOL, a.type) and not self.lenient:
                    raise self.fail(start(a), E.not_bool(f"each side of '{fn[1:-1]}'", str(a.type)))
            n.args = args
            n.type = BOOL
            return n
        if fn == "_?_:_":
            c, a, b = (self.visit(x) for x in n.args)
            if not assignable(BOOL, c.type) and not self.lenient:
                raise self.fail(start(c), E.not_bool("the condition of '?:'", str(c.type)))
            n.args = [c, a, b]
            n.type = join(a.type, b.type)
            return n
        # math.greatest(...) etc. parse as a method call on the identifier 'math'
        if n.target is not None and isinstance(n.target, Ident) and n.target.name in _EXT_NAMESPACES and self._local(n.target.name) is None and n.target.name not in self.env.signals:
            fn = f"{n.target.name}.{fn}"
            n = Call(n.pos, fn, n.args)
        if n.target is not None and isinstance(n.target, Ident) and n.target.name in ("base64", "strings", "sets", "optional", "proto", "cel") and self._local(n.target.name) is None:
            raise self.fail(n.pos, E.unsupported(f"the function {n.target.name}.{fn}()"))
        args = ([self.visit(n.target)] if n.target is not None else []) + [self.visit(a) for a in n.args]
        types = [a.type for a in args]
        if fn == "matches" and len(args) == 2:
            self._check_pattern(fn, args[1])
        if self.lenient:
            return self._lenient_call(n, fn, args)
        typing = _typing(fn)
        if typing == "equality":
            a, b = types
            if not self._comparable(a, b, equality=True):
                raise self.fail(n.pos, E.type_mismatch(f"cannot compare {a} with {b} using '{fn[1:-1]}'", "both sides must have the same type (numbers may mix)"))
            return self._typed_call(n, fn, args, BOOL)
        if typing == "ordering":
            a, b = types
            if not self._comparable(a, b, equality=False):
                raise self.fail(n.pos, E.type_mismatch(f"cannot order {a} and {b} with '{fn[1:-1]}'", "compare numbers with numbers, strings with strings"))
            return self._typed_call(n, fn, args, BOOL)
        if typing == "membership":
            a, c = types
            if c.kind == "list":
                ok = self._comparable(a, c.params[0], equality=True)
            elif c.kind == "map":
                ok = self._comparable(a, c.params[0], equality=True)
            else:
                ok = c.is_dyn
            if not ok:
                raise self.fail(n.pos, E.type_mismatch(f"'in' needs a list or map of {a}, got {c}"))
            return self._typed_call(n, fn, args, BOOL)
        if typing == "numeric_variadic":
            flat = types[0].params[0] if len(types) == 1 and types[0].kind == "list" else None
            elems = [flat] if flat is not None else types
            if not types or not all(t.is_dyn or t.kind in NUMERIC for t in elems):
                raise self.fail(n.pos, E.type_mismatch(f"{fn}() takes numbers or a list of numbers"))
            kinds = {t.kind for t in elems}
            res = elems[0] if len(kinds) == 1 else DYN
            return self._typed_call(n, fn, args, res)
        overloads = OVERLOADS.get(fn)
        if overloads is None:
            if fn in _NOT_SUPPORTED_HINTS or fn.startswith("math."):
                raise self.fail(n.pos, E.unsupported(f"the function {fn}()", _NOT_SUPPORTED_HINTS.get(fn)))
            raise self.fail(n.pos, E.unsupported(f"the function {fn}()", E.did_you_mean(fn, OVERLOADS)))
        receiver = n.target is not None
        results: list[Type] = []
        for recv, params, res in overloads:
            if recv != receiver or len(params) != len(types):
                continue
            env: dict[str, Type] = {}
            if all(_bind(p, t, env) for p, t in zip(params, types)):
                results.append(_subst(res, env))
        if not results:
            shown = ", ".join(str(t) for t in types)
            name = f"{types[0]}.{fn}({', '.join(str(t) for t in types[1:])})" if receiver else f"{fn}({shown})"
            raise self.fail(n.pos, E.type_mismatch(f"no overload of {fn} accepts these arguments: {name}"))
        res = results[0] if all(r == results[0] for r in results) else DYN
        return self._typed_call(n, fn, args, res)

    def _check_pattern(self, fn: str, pattern: Node) -> None:
        """A ``matches`` pattern is a string literal RE2 accepts (runtime/regex.py): checked here,
        once, so evaluation never compiles a pattern and no visitor can supply one."""
        if not isinstance(pattern, Lit):
            raise self.fail(start(pattern), E.regex_not_constant(fn))
        if pattern.kind == "string":
            reason = regex_error(pattern.value)
            if reason is not None:
                raise self.fail(pattern.pos, E.invalid_regex(pattern.value, reason))

    def _lenient_call(self, n: Call, fn: str, args: list[Node]) -> Node:
        """Unchecked mode: keep the call, result dyn unless exactly one overload fits."""
        types = [a.type for a in args]
        typing = _typing(fn)
        if typing in ("equality", "ordering", "membership"):
            return self._typed_call(n, fn, args, BOOL)
        if fn not in OVERLOADS and typing != "numeric_variadic":
            return self._typed_call(n, "@unknown:" + fn, args, DYN)
        results = []
        for recv, params, res in OVERLOADS.get(fn, []):
            env: dict[str, Type] = {}
            if recv == (n.target is not None) and len(params) == len(types) and all(_bind(p, t, env) for p, t in zip(params, types)):
                results.append(_subst(res, env))
        res = results[0] if results and all(r == results[0] for r in results) else DYN
        return self._typed_call(n, fn, args, res)

    def _typed_call(self, n: Call, fn: str, args: list[Node], res: Type) -> Node:
        out = Call(n.pos, fn, args)
        out.type = res
        return out

    @staticmethod
    def _comparable(a: Type, b: Type, *, equality: bool) -> bool:
        if a.is_dyn or b.is_dyn:
            return True
        if a.kind in NUMERIC and b.kind in NUMERIC:
            return True
        if not equality:
            return a.kind == b.kind and a.kind in _ORDERED
        if a.kind == "null_type" or b.kind == "null_type":
            return a.kind == b.kind or a.kind in ("map", "list", "record") or b.kind in ("map", "list", "record")
        if a.kind != b.kind:
            return False
        if a.kind == "record":
            return a.name == b.name
        # Containers of different element types compare (unequal) at run time, as in CEL.
        return True

    # ------------------------------------------------------------------ comprehensions
    def comprehension(self, n: Comprehension) -> Node:
        rng = self.visit(n.range)
        t = rng.type
        if t.kind == "list":
            v1, v2 = (INT, t.params[0]) if n.var2 else (t.params[0], None)
        elif t.kind == "map":
            v1, v2 = (t.params[0], t.params[1]) if n.var2 else (t.params[0], None)
        elif t.is_dyn or self.lenient:
            v1, v2 = DYN, (DYN if n.var2 else None)
        else:
            raise self.fail(n.range.pos, E.type_mismatch(f"{n.macro}() needs a list or map, not {t}"))
        n.range = rng
        self.locals.append((n.var, v1))
        if n.var2:
            self.locals.append((n.var2, v2 or DYN))
        try:
            if n.filter is not None:
                n.filter = self.visit(n.filter)
                if not assignable(BOOL, n.filter.type):
                    raise self.fail(start(n.filter), E.not_bool(f"the filter of {n.macro}()", str(n.filter.type)))
            n.body = self.visit(n.body)
        finally:
            self.locals.pop()
            if n.var2:
                self.locals.pop()
        bt = n.body.type
        if n.macro in ("all", "exists", "exists_one"):
            if not assignable(BOOL, bt) and not self.lenient:
                raise self.fail(start(n.body), E.not_bool(f"the predicate of {n.macro}()", str(bt)))
            n.type = BOOL
        elif n.macro == "filter":
            if not assignable(BOOL, bt):
                raise self.fail(start(n.body), E.not_bool("the predicate of filter()", str(bt)))
            n.type = list_of(v2 if n.var2 and v2 is not None else v1)
        elif n.macro in ("map", "transformList"):
            n.type = list_of(bt)
        elif n.macro == "transformMap":
            n.type = map_of(v1, bt)
        return n


def start(node: Node) -> int:
    """Offset of the first character of an expression (its leftmost descendant)."""
    best = node.pos
    for v in vars(node).values():
        kids = v if isinstance(v, list) else [v]
        for k in kids:
            if isinstance(k, tuple):
                for x in k:
                    if isinstance(x, Node):
                        best = min(best, start(x))
            elif isinstance(k, Node):
                best = min(best, start(k))
    return best


__all__ = ["Checker", "Env", "OVERLOADS", "_has_dyn", "DYN"]
