"""What ``strata train`` needs to know about a rule set's models: per model its goal, features
with their level names (in bundle order), spec, current fit, uplift arms, and where its
coefficients go — all as the compiler resolves them (``compiler/models.py`` names the levels and
computes the hashes; nobody else does).

Only the stages up to ``resolve`` run, and errors located in a coefficient file are set aside:
a stale file (``spec`` of other features) is exactly what training replaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.errors import CompileError
from compiler.pipeline import STAGES, Context, Options
from compiler.ruleset import ModelDecl


class RuleSetError(ValueError):
    """The rule set cannot be trained from (message with file:line:column where there is one)."""


@dataclass(frozen=True)
class Feature:
    id: str
    levels: tuple[str, ...]


@dataclass(frozen=True)
class ModelInfo:
    id: str
    goal: str
    spec: str
    fit: str  # of the coefficients the rule set holds now (what a bundle compiled from it serves)
    features: tuple[Feature, ...]
    uplift: dict[str, Any] | None
    #: the coefficient file ``coefficients:`` names (resolved next to the rule set), None when inline
    target: Path | None
    #: file:line:column of the model's ``coefficients:`` (for messages)
    where: str
    #: coefficients written in the rule set (hand-set); False for a file or none at all
    inline: bool = False

    @property
    def arms(self) -> tuple[str, ...]:
        return ("treatment", "control") if self.uplift is not None else ("",)


def _display(e: CompileError) -> str:
    return "\n".join(d.display() for d in e.diagnostics)


def models(path: str) -> list[ModelInfo]:
    ctx = Context(str(path), Options())
    try:
        for name, stage in STAGES:
            diags = stage(ctx)
            files = {m.coefficients_path for m in (ctx.ruleset.models if ctx.ruleset else [])} - {None}
            errors = [d for d in diags if d.severity == "error" and d.pos.path not in files]
            if errors:
                raise CompileError(errors)
            if name == "resolve":
                break
    except CompileError as e:
        raise RuleSetError(_display(e)) from None
    assert ctx.ruleset is not None and ctx.loc is not None
    if not ctx.ruleset.models:
        raise RuleSetError(f"{path}: declares no models (a 'models:' block; docs/models.md)")
    return [_info(m, str(ctx.loc.pos(m.path + ("coefficients",))), isinstance(ctx.doc["models"][m.id].get("coefficients"), dict))
            for m in ctx.ruleset.models]


def _info(m: ModelDecl, where: str, inline: bool) -> ModelInfo:
    target = Path(m.coefficients_path) if m.coefficients_path else None  # None: inline, or no coefficients yet
    return ModelInfo(m.id, m.goal, m.spec, m.fit, tuple(Feature(f.id, tuple(f.levels)) for f in m.features),
                     m.uplift, target, where, inline)
