"""Crosses in training (docs/models.md, Crosses): a cross is fitted like any categorical feature
(its cells' likelihood ratios), its parts are scored through it, and strata train says whether
its cells depart from the additive prediction — never adding or removing one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from edge_server.reporting.training.counts import Cell
from edge_server.reporting.training.crosses import assess
from edge_server.reporting.training.model_info import models
from runtime.cli import main

from .fleet import snapshot, write_json

RULESET = """\
strata: 1
name: crossed
goals: [purchase]
models:
  intent:
    goal: purchase
    features:
      device: {signal: device.type, values: [mobile, desktop]}
      source: {signal: session.utm_source, values: [newsletter, google]}
      device_source: {cross: [device, source]}
    coefficients: intent.coefficients.yaml
slots:
  - id: hero
    default: {headline: Hi}
"""
DEVICES = ("mobile", "desktop", "tablet", "(other)", "(absent)")[:2]
SOURCES = ("newsletter", "google", "(other)")


def visits(rng: np.random.Generator, n: int, interaction: float) -> list[tuple[str, str, bool]]:
    """Visitors over device x source; mobile newsletter readers get ``interaction`` added to their log-odds."""
    out = []
    for _ in range(n):
        d, s = DEVICES[rng.integers(2)], SOURCES[rng.integers(3)]
        z = -2.5 + (0.4 if d == "mobile" else 0.0) + (0.8 if s == "newsletter" else 0.0) + (interaction if (d, s) == ("mobile", "newsletter") else 0.0)
        out.append((d, s, bool(rng.random() < 1 / (1 + np.exp(-z)))))
    return out


def counter_rows(spec: str, vs: list[tuple[str, str, bool]]) -> list[dict[str, Any]]:
    cells: dict[tuple[str, str], list[int]] = {}
    for d, s, y in vs:
        for key in (("*", "*"), ("device", d), ("source", s), ("device_source", f"{d}|{s}")):
            c = cells.setdefault(key, [0, 0])
            c[0] += 1
            c[1] += y
    return [{"model": "intent", "spec": spec, "arm": "", "feature": f, "level": lv, "entered": n, "left": 0, "converted": x}
            for (f, lv), (n, x) in cells.items()]


@pytest.fixture
def ruleset(tmp_path: Path) -> Path:
    p = tmp_path / "crossed.yaml"
    p.write_text(RULESET)
    return p


@pytest.mark.parametrize(("interaction", "verdict"), [(1.5, "keep: its cells depart"), (-1.5, "keep: its cells depart"), (0.0, "drop suggested")])
def test_crosses_train_fits_the_cells_scores_the_parts_through_them_and_judges_the_interaction(
        tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str], interaction: float, verdict: str) -> None:
    (m,) = models(str(ruleset))
    vs = visits(np.random.default_rng(3), 30_000, interaction)
    stats = write_json(tmp_path / "s.json", snapshot(counter_rows(m.spec, vs)))
    assert main(["train", str(ruleset), stats, "--suggest-crosses"]) == 0
    out = capsys.readouterr().out
    assert f"cross device_source: {verdict}" in out and "crosses not declared cannot be assessed" in out
    written = yaml.safe_load((tmp_path / "intent.coefficients.yaml").read_text())
    assert set(written["weights"]["device"].values()) == {0.0} and set(written["weights"]["source"].values()) == {0.0}
    w = written["weights"]["device_source"]
    assert len(w) == 4 * 4  # every combination of the parts' levels, (other) and (absent) included
    # the cell's weight is its joint likelihood ratio: the score of a cell is its observed rate (one feature, exact)
    n = sum(1 for d, s, _ in vs if (d, s) == ("mobile", "newsletter"))
    c = sum(1 for d, s, y in vs if (d, s) == ("mobile", "newsletter") and y)
    z = written["bias"] + w["mobile|newsletter"]
    assert abs(1 / (1 + np.exp(-z)) - c / n) < 0.01


def test_crosses_assess_recovers_an_additive_table_and_flags_any_departure() -> None:
    rng = np.random.default_rng(5)
    table: dict[str, Cell] = {}
    for a, za in (("x", 0.0), ("y", 0.7), ("z", -0.4)):
        for b, zb in (("p", 0.0), ("q", 1.1)):
            n = 5000
            table[f"{a}|{b}"] = Cell(n, int(rng.binomial(n, 1 / (1 + np.exp(-(-2.0 + za + zb))))))
    v = assess("c", "", table, 2)
    assert v is not None and v.df == 2 and not v.interacts
    assert all(abs(c.observed - c.additive) < 0.02 for c in v.cells)
    table["z|q"] = Cell(5000, 2500)  # one cell far off
    w = assess("c", "", table, 2)
    assert w is not None and w.interacts and (big := w.largest(20)) is not None and big.level == "z|q"
    assert assess("c", "", {}, 2) is None
