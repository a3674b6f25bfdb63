"""The model training counters of a fleet, for ``strata train``: one call reads stats snapshots
(``GET /v1/stats``) or ``/metrics`` scrapes, keeps the latest snapshot per instance and adds up the
instances (the rule of ``strata report``: counters.load), and groups the rows by model.

>>> counts = model_counts(["edge-1.json", "edge-2.json"])            # doctest: +SKIP
>>> counts["purchase_intent"]["spec"], counts["purchase_intent"]["rows"][0]  # doctest: +SKIP
('3f2a9c1e', {'spec': '3f2a9c1e', 'arm': '', 'feature': '*', 'level': '*', 'entered': 1200, 'left': 0, 'converted': 61})
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .counters import Data, load


def model_counts(paths: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{model id: {"spec", "fit", "goal", "uplift", "features", "rows"}}`` summed over the fleet.

    ``rows``: every counter row of the model, all specs, sorted — ``{"spec", "arm", "feature",
    "level", "entered", "left", "converted"}`` (feature ``*`` level ``*``: the visits; feature
    ``@logit``: buckets of the log-odds, whose ``spec`` is the fit). Net visits of a level are entered − left.
    ``spec``, ``fit``, ``goal``, ``uplift`` (None, ``{"experiment": id, "treatment", "control"}`` or
    ``{"slot", "rule"}``) and ``features`` (feature id → level names) describe the model as the
    newest snapshot's bundle declares it; they are None (``features`` empty) when only ``/metrics``
    scrapes were read, which do not carry them: the caller knows the current spec from the rule set.
    Raises counters.ReportError for a file that cannot be read as a snapshot or scrape.
    """
    return group(load(list(paths)))


def group(d: Data) -> dict[str, dict[str, Any]]:
    """The model counters of loaded data (counters.Data), by model."""
    by_row: dict[tuple[str, ...], dict[str, Any]] = {}
    for (model, spec, arm, feature, level, event), n in d.models.items():
        r = by_row.get((model, spec, arm, feature, level))
        if r is None:
            r = by_row[(model, spec, arm, feature, level)] = {"spec": spec, "arm": arm, "feature": feature, "level": level,
                                                              "entered": 0, "left": 0, "converted": 0}
        r[event] += n
    out: dict[str, dict[str, Any]] = {}
    for mid in sorted({k[0] for k in by_row} | set(d.model_specs)):
        declared = d.model_specs.get(mid, {})
        out[mid] = {"spec": declared.get("spec"), "fit": declared.get("fit"), "goal": declared.get("goal"),
                    "uplift": declared.get("uplift"), "features": declared.get("features", {}),
                    "rows": [by_row[k] for k in sorted(by_row) if k[0] == mid]}
    return out
