"""What ``decide`` returns: one Decision per slot, plus the session state to persist."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .budget import work

#: Every reason a slot can end with (docs/runtime.md explains each).
REASONS = ("rule", "experiment", "default", "holdout", "no_consent", "capped", "error")


@dataclass(frozen=True, slots=True, eq=False)
class Decision:
    """One slot's decision. Immutable: ``Prepared`` builds every decision a bundle can make once,
    and ``decide`` returns those shared objects (only an explained decision, which carries its
    trace, is built per request). Compared and hashed by identity, so callers can key caches on a
    decision for the lifetime of its bundle."""

    slot: str
    content: Any
    reason: str
    rule: str | None = None
    experiment: str | None = None
    variant: str | None = None
    layer: str | None = None
    segment: str | None = None
    trace: tuple[dict[str, Any], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "rule": self.rule,
            "variant": self.variant,
            "experiment": self.experiment,
            "layer": self.layer,
            "segment": self.segment,
            "reason": self.reason,
            "content": self.content,
        }
        if self.trace is not None:
            d["trace"] = list(self.trace)
        return d


@dataclass(slots=True)
class Outcome:
    """Decisions for the slots asked for, and what the caller must write back to the session.

    ``cap_hits`` are cap keys (``slot/rule``) whose counter must grow by one at ``now``;
    ``exposures`` are (experiment, variant) pairs the visitor was shown; ``holdout`` says the
    visitor is in the bundle's global holdout (every slot shows its default). ``errors`` counts
    candidates skipped for an evaluation error, ``budget_exceeded`` those of them whose error was
    the evaluation budget running out, and ``work`` is the largest number of budget units one
    condition used in this decision (docs/runtime.md, "Evaluation budget"). ``scores`` maps the
    id of each model whose score a condition read in this decision to that score (None when the
    bundle has no models).
    """

    bundle: str
    version: int
    decisions: dict[str, Decision]
    cap_hits: list[str] = field(default_factory=list)
    exposures: list[tuple[str, str]] = field(default_factory=list)
    errors: int = 0
    budget_exceeded: int = 0
    segments: dict[str, Any] | None = None
    holdout: bool = False
    scores: dict[str, float] | None = None
    memo: dict[int, Any] | None = field(default=None, repr=False, compare=False)  # the decision's segment results and budget counts
    #: the signal map the conditions read (defaults merged, consent-stripped): what model counting reads
    signals: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def work(self) -> int:
        """The most budget units one condition used in this decision (for tests and benchmarks)."""
        return work(self.memo) if self.memo is not None else 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "bundle": {"name": self.bundle, "version": self.version},
            "slots": {k: d.to_dict() for k, d in self.decisions.items()},
        }
        if self.segments is not None:
            out["segments"] = self.segments
            if self.scores is not None:  # a bundle with models (so bundles without keep their old JSON)
                out["scores"] = self.scores
        return out
