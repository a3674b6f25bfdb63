"""Counters for training tests: ``/v1/stats`` snapshots (the contract's ``models`` rows) generated
from a known truth, and a small rule set with models."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

RULESET = """\
strata: 1
name: shop
goals: [purchase]
experiments:
  - id: starter-kit
    slot: hero
    audience: mobile
    traffic: 100
    salt: starter-kit
    variants:
      - {id: bundle-discount, weight: 50, content: {headline: Save 10%}}
      - {id: free-shipping, weight: 50, content: {headline: Free shipping}}
models:
  purchase_intent:
    goal: purchase
    features:
      device: {signal: device.type, values: [mobile, desktop, tablet]}
      depth: {signal: session.page_views, edges: [2, 4, 8]}
      tents: {signal: session.recent_categories, contains: tents}
    coefficients: purchase_intent.coefficients.yaml
  discount_uplift:
    goal: purchase
    uplift: {experiment: starter-kit, treatment: bundle-discount, control: free-shipping}
    features:
      device: {signal: device.type, values: [mobile, desktop, tablet]}
      tents: {signal: session.recent_categories, contains: tents}
    coefficients: discount_uplift.coefficients.yaml
  handmade:
    goal: purchase
    features:
      tents: {signal: session.recent_categories, contains: tents}
    coefficients: {bias: -3.0, weights: {tents: {"yes": 1.0}}}
segments:
  - id: mobile
    layer: broad
    when: device.type == "mobile"
  - id: likely
    layer: mid
    when: score.purchase_intent > 0.4
slots:
  - id: hero
    default: {headline: Hi}
    rules:
      - id: likely
        segment: likely
        content: {headline: Welcome back}
"""

LEVELS = {
    "device": ("mobile", "desktop", "tablet", "(other)", "(absent)"),
    "depth": ("<2", "[2,4)", "[4,8)", ">=8", "(absent)"),
    "tents": ("no", "yes", "(absent)"),
}


def nb_counts(rng: np.random.Generator, visits: int, rate: float, given_conv: dict[str, list[float]], given_other: dict[str, list[float]]) -> tuple[int, dict[str, list[tuple[int, int]]]]:
    """Marginal level tables drawn from a naive Bayes truth: (conversions, feature -> [(visits, converted)])."""
    conv = int(rng.binomial(visits, rate))
    tables = {}
    for f in given_conv:
        pos = rng.multinomial(conv, given_conv[f])
        neg = rng.multinomial(visits - conv, given_other[f])
        tables[f] = [(int(p + n), int(p)) for p, n in zip(pos, neg)]
    return conv, tables


def logistic_counts(rng: np.random.Generator, visits: int, bias: float, weights: dict[str, list[float]], shares: dict[str, list[float]]) -> tuple[int, dict[str, list[tuple[int, int]]]]:
    """Visitors with independent features converting with probability sigmoid(bias + sum of weights)."""
    z = np.full(visits, bias)
    drawn = {}
    for f, w in weights.items():
        lv = rng.choice(len(w), size=visits, p=shares[f])
        drawn[f] = lv
        z = z + np.asarray(w)[lv]
    y = rng.random(visits) < 1 / (1 + np.exp(-z))
    tables = {f: [(int((lv == i).sum()), int(((lv == i) & y).sum())) for i in range(len(weights[f]))] for f, lv in drawn.items()}
    return int(y.sum()), tables


def rows(model: str, spec: str, visits: int, conv: int, tables: dict[str, list[tuple[int, int]]], *, arm: str = "", churn: int = 0) -> list[dict[str, Any]]:
    """The contract's ``models`` rows; ``churn`` visits per level enter and leave again (net 0)."""
    out = [{"model": model, "spec": spec, "arm": arm, "feature": "*", "level": "*", "entered": visits, "left": 0, "converted": conv}]
    for f, cells in tables.items():
        for level, (n, x) in zip(LEVELS[f], cells):
            out.append({"model": model, "spec": spec, "arm": arm, "feature": f, "level": level, "entered": n + churn, "left": churn, "converted": x})
    return out


def snapshot(models_rows: list[dict[str, Any]], *, instance: str = "edge-1", generated: float = 1_796_000_000.0, specs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"format": "strata-stats/1", "instance": instance, "generated": generated, "exposures": [], "conversions": [], "experiments": {},
            "models": models_rows, "model_specs": specs or {}}


def write_json(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def log_ratio(p: list[float], q: list[float]) -> list[float]:
    return [math.log(a) - math.log(b) for a, b in zip(p, q)]
