"""The lower stage: typed AST -> the language-neutral IR of docs/bundle-format.md, with constants
folded (``Lowerer``); then every rule's condition (its segment and its own ``when``) and its
consent need, and each slot's candidates sorted by precedence (most specific layer, then
priority, then file order, with a slot's rules before its experiments): ``lower_rules``.

Folding uses the runtime's own function implementations, so a folded constant is by construction
what the runtime would have computed. A call that would fail at run time (``1 / 0``) is left
unfolded: the error is the runtime's to produce.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.format import Op
from runtime.stdlib import CATALOGUE, accepts
from runtime.values import CelError, UInt

from . import errors as E
from .cel_ast import (
    Bind,
    Call,
    Comprehension,
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
from .errors import Diagnostic
from .order import consent_signal, reads
from .ruleset import RuleSet, layer_rank
from .source import Locator
from .types import BOOL

IR = list[Any]

TRUE: IR = [Op.LIT, True]
FALSE: IR = [Op.LIT, False]


def is_lit(ir: IR) -> bool:
    return ir[0] in (Op.LIT, Op.ULIT)


def lit_value(ir: IR) -> Any:
    return UInt(ir[1]) if ir[0] == Op.ULIT else ir[1]


def make_lit(v: Any) -> IR | None:
    if type(v) is UInt:
        return [Op.ULIT, int(v)]
    if v is None or type(v) in (bool, int, float, str, bytes):
        return [Op.LIT, v]
    return None


class Lowerer:
    def __init__(self, signals: Mapping[str, int], segments: Mapping[str, int], bool_segments: bool = True,
                 models: Mapping[str, int] | None = None):
        self.signals = signals
        self.segments = segments
        self.models = models or {}
        self.scopes: list[str] = []  # comprehension variables, innermost last
        self.binds: list[tuple[str, IR]] = []

    def lower(self, n: Node) -> IR:
        if isinstance(n, Lit):
            if n.kind == "uint":
                return [Op.ULIT, n.value]
            return [Op.LIT, n.value]
        if isinstance(n, SignalRef):
            return [Op.SIG, self.signals[n.name]]
        if isinstance(n, Present):
            return [Op.SIGHAS, self.signals[n.name]]
        if isinstance(n, SegmentRef):
            return [Op.SEG, self.segments[n.name]]
        if isinstance(n, TypeLit):
            return [Op.TYPE, n.name]
        if isinstance(n, ScoreRef):
            return [Op.SCORE, self.models[n.model]]
        if isinstance(n, VarRef):
            for i in range(len(self.scopes) - 1, -1, -1):
                if self.scopes[i] == n.name:
                    return [Op.VAR, len(self.scopes) - 1 - i]
            for name, ir in reversed(self.binds):
                if name == n.name:
                    return ir
            raise AssertionError(f"unbound variable {n.name}")
        if isinstance(n, Select):
            op = Op.HAS if n.test_only else Op.SEL
            return [op, self.lower(n.operand), n.field]
        if isinstance(n, ListLit):
            return [Op.LIST, *(self.lower(x) for x in n.items)]
        if isinstance(n, MapLit):
            out: IR = [Op.MAP]
            for k, v in n.entries:
                out += [self.lower(k), self.lower(v)]
            return out
        if isinstance(n, Comprehension):
            rng = self.lower(n.range)
            names = [n.var, n.var2] if n.var2 else [n.var]
            self.scopes.extend(names)
            try:
                body = self.lower(n.body)
                filt = self.lower(n.filter) if n.filter is not None else None
            finally:
                del self.scopes[-len(names) :]
            node: IR = [Op.COMP2 if n.var2 else Op.COMP, n.macro, rng, body]
            if filt is not None:
                node.append(filt)
            return node
        if isinstance(n, Bind):
            init = self.lower(n.init)
            # A bound variable may be shadowed by a comprehension variable of the same name.
            saved = self.scopes
            self.scopes = [s for s in saved]
            self.binds.append((n.var, init))
            try:
                if n.var in self.scopes:
                    self.scopes = [s if s != n.var else "\0shadowed" for s in self.scopes]
                return self.lower(n.body)
            finally:
                self.binds.pop()
                self.scopes = saved
        if isinstance(n, Call):
            return self.call(n)
        raise AssertionError(f"cannot lower {type(n).__name__}")

    def call(self, n: Call) -> IR:
        fn = n.fn
        args = [self.lower(a) for a in n.args]
        if fn == "_&&_":
            return fold_and(args[0], args[1], [a.type for a in n.args])
        if fn == "_||_":
            return fold_or(args[0], args[1], [a.type for a in n.args])
        if fn == "!_":
            a = args[0]
            if a[0] == Op.LIT and type(a[1]) is bool:
                return [Op.LIT, not a[1]]
            return [Op.NOT, a]
        if fn == "_?_:_":
            c = args[0]
            if c[0] == Op.LIT and type(c[1]) is bool:
                return args[1] if c[1] else args[2]
            return [Op.COND, *args]
        entry = CATALOGUE.get(fn)
        if entry is not None and entry.fold and all(is_lit(a) for a in args):
            try:
                folded = make_lit(entry.impl(*(lit_value(a) for a in args)))
            except (CelError, TypeError, ValueError, ArithmeticError):
                folded = None  # fails at run time too; the runtime reports it
            if folded is not None:
                return folded
        if fn.startswith("@unknown:"):
            # Only produced in unchecked mode: a call that fails when evaluated.
            return [Op.CALL, "@unknown", None, [Op.LIT, fn[9:]], *args]
        return [Op.CALL, fn, overload_id(fn, n.args), *args]


def overload_id(fn: str, args: list[Node]) -> str | None:
    """The checked argument types for the IR, or None (dispatch at run time) when any top-level
    argument is dyn or, in unchecked mode, the types fit no overload of the catalogue."""
    if any(a.type is None or a.type.is_dyn for a in args):
        return None
    ov = ",".join(str(a.type) for a in args)
    return ov if accepts(fn, ov, len(args)) else None


def _is_bool(t: Any) -> bool:
    return t is not None and t.kind == "bool"


def fold_and(a: IR, b: IR, types: list[Any]) -> IR:
    if a == FALSE or b == FALSE:
        return list(FALSE)
    if a == TRUE and _is_bool(types[1]):
        return b
    if b == TRUE and _is_bool(types[0]):
        return a
    return [Op.AND, a, b]


def fold_or(a: IR, b: IR, types: list[Any]) -> IR:
    if a == TRUE or b == TRUE:
        return list(TRUE)
    if a == FALSE and _is_bool(types[1]):
        return b
    if b == FALSE and _is_bool(types[0]):
        return a
    return [Op.OR, a, b]


def references(ir: Any, op: int) -> set[int]:
    """Indexes of all SEG (or SIG) nodes in an IR tree."""
    out: set[int] = set()
    stack = [ir]
    while stack:
        node = stack.pop()
        if isinstance(node, list) and node and type(node[0]) is int:
            if node[0] == op or (op == Op.SIG and node[0] == Op.SIGHAS):
                out.add(node[1])
            elif node[0] not in (Op.LIT, Op.ULIT, Op.TYPE, Op.VAR):
                stack.extend(x for x in node[1:] if isinstance(x, list))
    return out


def lower_rules(rs: RuleSet, loc: Locator) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    sig_index = {n: i for i, n in enumerate(rs.signals)}
    seg_index = {s.id: s.index for s in rs.segments}
    seg_by_id = {s.id: s for s in rs.segments}
    lowerer = Lowerer(sig_index, seg_index, models={m.id: m.index for m in rs.models})
    needs = set(rs.consent_requires)
    for s in rs.segments:
        s.when.ir = lowerer.lower(s.when.ast)
    for slot in rs.slots:
        for r in slot.rules:
            parts: list[Any] = []
            types = []
            if r.segment is not None:
                parts.append([Op.SEG, seg_index[r.segment]])
                types.append(BOOL)
            if r.when is not None:
                r.when.ir = lowerer.lower(r.when.ast)
                parts.append(r.when.ir)
                types.append(r.when.ast.type)
            r.ir = parts[0] if len(parts) == 1 else fold_and(parts[0], parts[1], types)
            r.consent = (r.segment is not None and seg_by_id[r.segment].consent) or (
                r.when is not None
                and (any(rs.signals[n].category in needs for n in reads(rs, r.when)) or any(seg_by_id[d].consent for d in r.when.segments))
            )
            if r.requires_consent is False and r.consent:
                sig, cat = consent_signal(
                    rs, reads(rs, r.when) if r.when else set(), (r.when.segments if r.when else set()) | ({r.segment} if r.segment else set()), needs
                )
                diags.append(loc.diag(loc.pos(r.path + ("requires_consent",)), E.consent_violation(f"rule '{r.id}'", sig, cat)))
        slot.rules.sort(key=lambda r: (-layer_rank(r.layer), -r.priority, r.order))
    return diags
