"""The coefficient file ``strata train`` writes: the contract's map (``model``, ``spec``, ``bias``,
``weights`` by feature and level name; uplift models ``treatment``/``control``), every level listed
in bundle order, behind a header saying what it was fitted from. Same input, same bytes: the header's
time is the newest snapshot's, not the clock's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from .model_info import ModelInfo
from .naive_bayes import ArmFit


def _set(fit: ArmFit) -> dict[str, Any]:
    return {"bias": fit.bias, "weights": fit.weights()}


def _population(fit: ArmFit) -> str:
    return f"{fit.visits:,} visits, {fit.conversions:,} converting"


def render(model: ModelInfo, fits: list[ArmFit], *, k: int, instances: int, snapshots: int, latest: float | None) -> str:
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(latest)) if latest is not None else "unknown time (scrapes carry none)"
    if model.uplift is None:
        population = _population(fits[0])
        body: dict[str, Any] = {"model": model.id, "spec": model.spec, **_set(fits[0])}
    else:
        population = "; ".join(f"{f.arm}: {_population(f)}" for f in fits)
        body = {"model": model.id, "spec": model.spec, **{f.arm: _set(f) for f in fits}}
    header = [
        f"# Fitted by strata train: naive Bayes (Laplace smoothing), levels under {k} visits pooled.",
        f"# From {population}; {instances} instance(s) (the latest snapshot of each; {snapshots} read), newest counters {when}.",
        "# Generated: change the rule set or the data and run strata train again (docs/models.md, Training).",
    ]
    return "\n".join(header) + "\n" + yaml.safe_dump(body, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)


def write(path: Path, text: str) -> None:
    """Replace ``path`` atomically (a compile or a watcher never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
