"""The rule set: the typed declarations a rule set is made of (signals, segments,
experiments, slots, rules), as the resolve stage (``resolve.py``) builds them from a schema-valid
document. Models (``models:``) are
resolved by ``models.py``. Conditions stay as CEL source here; ``conditions.py`` checks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runtime.budget import EVAL_BUDGET
from runtime.format import LAYERS

from .types import Type

DEFAULT_EXPIRES_AFTER = 30 * 86400
#: ``limits.cost`` by default, and at most (the schema's maximum): the runtime's budget per condition.
DEFAULT_COST_LIMIT = EVAL_BUDGET

YPath = tuple[Any, ...]


@dataclass
class SignalDecl:
    name: str
    type: Type
    category: str
    max_items: int | None = None
    max_length: int | None = None
    default: Any = None
    description: str = ""
    source: str = "client"
    builtin: bool = False


@dataclass
class Condition:
    """A CEL condition with where it came from; filled in by later stages."""

    source: str
    path: YPath  # where the CEL string sits in the YAML document
    ast: Any = None
    ir: Any = None
    signals: set[str] = field(default_factory=set)
    segments: set[str] = field(default_factory=set)
    models: set[str] = field(default_factory=set)  # score.<model> read


@dataclass
class Segment:
    id: str
    layer: str
    when: Condition
    path: YPath
    requires_consent: bool | None = None
    description: str = ""
    consent: bool = False  # computed: reads (transitively) a signal needing consent
    index: int = -1


@dataclass
class Experiment:
    id: str
    slot: str
    audience: str
    traffic: float
    salt: str
    group: str | None
    priority: int
    variants: list[tuple[str, float, dict[str, Any], YPath]]
    cap: tuple[int, int] | None
    path: YPath
    start: int = 0
    end: int = 0
    index: int = -1


@dataclass
class Rule:
    slot: str
    id: str
    kind: str  # rule | experiment
    segment: str | None
    when: Condition | None
    layer: str
    priority: int
    order: int
    content: dict[str, Any] | None
    cap: tuple[int, int] | None
    path: YPath
    requires_consent: bool | None = None
    experiment: Experiment | None = None
    ir: Any = None
    consent: bool = False


@dataclass
class Slot:
    id: str
    default: dict[str, Any]
    rules: list[Rule]
    path: YPath


@dataclass
class Feature:
    """One feature of a model (docs/models.md "Declaring a model"): a signal read as one of a
    fixed list of levels. ``args`` is what the bundle carries (values, edges, or the one contains
    literal, typed as the signal); ``levels`` the level names, the last one ``(absent)``."""

    id: str
    signal: str
    kind: str  # values | edges | contains | cross (signal "", args the parts' feature ids)
    args: list[Any]
    levels: list[str]
    path: YPath


@dataclass
class CoefficientSet:
    """``bias`` and one weight per level of each feature (in feature and level order)."""

    bias: float
    weights: list[list[float]]
    #: knots [[z, p], ...] fitted by strata train for these weights, or None (the sigmoid)
    calibration: list[list[float]] | None = None


@dataclass
class ModelDecl:
    id: str
    goal: str
    description: str
    features: list[Feature]
    #: one set; an uplift model: [treatment, control]
    sets: list[CoefficientSet]
    #: None | {"experiment": id, "treatment": variant, "control": variant} | {"slot": id, "rule": id}
    uplift: dict[str, str] | None
    #: the coefficient file named by ``coefficients:`` (absolute), None when inline or absent
    coefficients_path: str | None
    spec: str
    fit: str
    path: YPath
    index: int = -1
    consent: bool = False  # a feature reads a signal of a category that needs consent


@dataclass
class RuleSet:
    name: str
    version: int | None
    expires_after: int
    cost_limit: int
    records: dict[str, dict[str, Type]]
    signals: dict[str, SignalDecl]
    consent_requires: list[str]
    consent_without: str
    holdout_bp: int
    holdout_salt: str
    goals: list[str]
    segments: list[Segment]
    slots: list[Slot]
    experiments: list[Experiment]
    tests: list[dict[str, Any]]
    doc: dict[str, Any]
    models: list[ModelDecl] = field(default_factory=list)
    #: goal -> must_not_decrease | must_not_increase (read by strata report, not in the bundle)
    guardrails: dict[str, str] = field(default_factory=dict)


def layer_rank(layer: str) -> int:
    return LAYERS.index(layer)
