"""What ``strata train`` needs to know about a rule set's models: per model its goal, features
with their level names (in bundle order), spec, uplift arms, and where its coefficients go.

The level names and the spec are the compiler's (contract: "the compiler computes the names");
this module only gathers them with the ``coefficients:`` entry's location.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CompileError
from ..source import Locator, load


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
    features: tuple[Feature, ...]
    uplift: dict[str, Any] | None
    #: the coefficient file ``coefficients:`` names (resolved next to the rule set), None when inline
    target: Path | None
    #: file:line:column of the ``coefficients:`` value (for messages)
    where: str

    @property
    def arms(self) -> tuple[str, ...]:
        return ("treatment", "control") if self.uplift is not None else ("",)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else repr(v)


def _levels(spec: dict[str, Any]) -> tuple[str, list[Any], tuple[str, ...]]:
    if "edges" in spec:
        e = list(spec["edges"])
        names = [f"<{_text(e[0])}"] + [f"[{_text(a)},{_text(b)})" for a, b in zip(e, e[1:])] + [f">={_text(e[-1])}", "(absent)"]
        return "edges", e, tuple(names)
    if "contains" in spec:
        return "contains", [spec["contains"]], ("no", "yes", "(absent)")
    vals = list(spec.get("values", [False, True]))
    return "values", vals, tuple([_text(v) for v in vals] + ["(other)", "(absent)"])


def spec_hash(goal: str, features: list[tuple[str, str, str, list[Any]]]) -> str:
    data = [goal, [list(f) for f in features]]
    return hashlib.sha256(json.dumps(data, separators=(",", ":"), sort_keys=False).encode()).hexdigest()[:8]


def models(path: str) -> list[ModelInfo]:
    try:
        doc, loc = load(path)
    except CompileError as e:
        raise RuleSetError("\n".join(d.display() for d in e.diagnostics)) from None
    block = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(block, dict) or not block:
        raise RuleSetError(f"{path}: declares no models (a 'models:' block; docs/models.md)")
    return [_model(path, loc, mid, m) for mid, m in block.items()]


def _model(path: str, loc: Locator, mid: str, m: dict[str, Any]) -> ModelInfo:
    feats: list[Feature] = []
    canon: list[tuple[str, str, str, list[Any]]] = []
    for fid, f in (m.get("features") or {}).items():
        kind, args, names = _levels(f)
        feats.append(Feature(fid, names))
        canon.append((fid, f["signal"], kind, args))
    coeff = m.get("coefficients")
    where = str(loc.pos(("models", mid, "coefficients")))
    target = (Path(path).parent / coeff) if isinstance(coeff, str) else None
    return ModelInfo(mid, str(m.get("goal")), spec_hash(str(m.get("goal")), canon), tuple(feats), m.get("uplift"), target, where)
