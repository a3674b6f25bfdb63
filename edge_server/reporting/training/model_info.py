"""What ``strata train`` needs to know about a rule set's models: per model its goal, features
with their level names (in bundle order), spec, current fit, uplift arms, and where its
coefficients go — all as the compiler resolves them (``compiler/models.py`` names the levels and
computes the hashes; nobody else does).

Only the stages up to ``resolve`` run, and errors located in a coefficient file are set aside:
a stale file (``spec`` of other features) is exactly what training replaces.
"""

from __future__ import annotations

import re
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
    parts: tuple[str, ...] = ()  # a cross: the features it combines


@dataclass(frozen=True)
class CurrentSet:
    """A coefficient set as the rule set holds it now (what a bundle compiled from it serves)."""

    arm: str
    bias: float
    weights: dict[str, dict[str, float]]  # feature -> level -> weight
    knots: tuple[tuple[float, float], ...] | None  # its calibration, None: the sigmoid
    visits: int = 0
    conversions: int = 0

    @property
    def trained(self) -> bool:
        return self.bias != 0.0 or any(w != 0.0 for ws in self.weights.values() for w in ws.values())


@dataclass(frozen=True)
class Threshold:
    """A condition ``score.<model> OP value`` in the rule set (where: file:line:column)."""

    model: str
    op: str
    value: float
    where: str


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
    #: the coefficient sets the rule set holds now, per arm
    current: tuple[CurrentSet, ...] = ()
    #: the rule set's conditions comparing this model's score with a number
    thresholds: tuple[Threshold, ...] = ()

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
    found = thresholds(ctx.doc, ctx.loc)
    return [_info(m, str(ctx.loc.pos(m.path + ("coefficients",))), isinstance(ctx.doc["models"][m.id].get("coefficients"), dict),
                  tuple(t for t in found if t.model == m.id))
            for m in ctx.ruleset.models]


_SCORE_CMP = re.compile(r"\bscore\.([a-z_][a-z0-9_]*)\s*(>=|>|<=|<)\s*(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


def thresholds(doc: dict[str, Any], loc: Any) -> list[Threshold]:
    """Every ``score.<model> OP number`` in the conditions of segments and rules (``when:``)."""
    out: list[Threshold] = []
    places: list[tuple[tuple[Any, ...], Any]] = [(("segments", i, "when"), s.get("when")) for i, s in enumerate(doc.get("segments") or [])]
    for i, slot in enumerate(doc.get("slots") or []):
        places += [(("slots", i, "rules", j, "when"), r.get("when")) for j, r in enumerate(slot.get("rules") or []) if isinstance(r, dict)]
    for path, when in places:
        if isinstance(when, str):
            for mt in _SCORE_CMP.finditer(when):
                out.append(Threshold(mt.group(1), mt.group(2), float(mt.group(3)), str(loc.pos(path))))
    return out


def _current(m: ModelDecl) -> tuple[CurrentSet, ...]:
    arms = ("treatment", "control") if m.uplift is not None else ("",)
    return tuple(CurrentSet(arm, st.bias, {f.id: dict(zip(f.levels, ws)) for f, ws in zip(m.features, st.weights)},
                            tuple((k[0], k[1]) for k in st.calibration) if st.calibration else None)
                 for arm, st in zip(arms, m.sets))


def _info(m: ModelDecl, where: str, inline: bool, found: tuple[Threshold, ...] = ()) -> ModelInfo:
    target = Path(m.coefficients_path) if m.coefficients_path else None  # None: inline, or no coefficients yet
    return ModelInfo(m.id, m.goal, m.spec, m.fit,
                     tuple(Feature(f.id, tuple(f.levels), tuple(f.args) if f.kind == "cross" else ()) for f in m.features),
                     m.uplift, target, where, inline, _current(m), found)
