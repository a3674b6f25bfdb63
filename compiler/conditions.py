"""The check stage: parse every CEL condition with cel-python's grammar and type-check it against
the declared signals and segments. Errors point at the exact character in the YAML file."""

from __future__ import annotations

from . import errors as E
from .cel_parse import ParseError, parse
from .check import Checker, Env, start
from .errors import Diagnostic
from .ruleset import Condition, RuleSet
from .source import Locator
from .types import BOOL, assignable


def check_condition(cond: Condition, env: Env, loc: Locator, what: str) -> list[Diagnostic]:
    diags: list[Diagnostic] = []

    def report(offset: int, parts: tuple[str, str, str | None]) -> None:
        diags.append(loc.diag(loc.expr_pos(cond.path, cond.source, offset), parts))

    try:
        ast = parse(cond.source)
    except ParseError as e:
        report(e.offset, E.cel_syntax(str(e)))
        return diags
    checker = Checker(env, report)
    typed = checker.check(ast)
    if typed is not None and not assignable(BOOL, typed.type):
        report(start(typed), E.not_bool(what, str(typed.type)))
        typed = None
    cond.ast = typed
    cond.signals = checker.signals_used
    cond.segments = checker.segments_used
    cond.models = checker.models_used
    return diags


def check_all(rs: RuleSet, loc: Locator) -> list[Diagnostic]:
    env = Env(
        signals={n: s.type for n, s in rs.signals.items()},
        segments={s.id: i for i, s in enumerate(rs.segments)},
        records=rs.records,
        models={m.id: m.index for m in rs.models},
    )
    diags: list[Diagnostic] = []
    for seg in rs.segments:
        diags += check_condition(seg.when, env, loc, f"segment '{seg.id}'")
    for slot in rs.slots:
        for r in slot.rules:
            if r.when is not None:
                diags += check_condition(r.when, env, loc, f"rule '{r.id}'")
    return diags
