"""Calibration from the live counters (edge_server/reporting/training/calibrate.py; docs/models.md,
Calibration): strata train keeps a deployed, counted fit's weights and fits a monotone map from its
log-odds buckets to the observed rate; the compiler ships it, the runtime scores through it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_server.reporting.training.calibrate import fit_knots
from edge_server.reporting.training.model_info import models
from runtime.cli import main
from runtime.score import bucket_name, calibration, score_bucket, sigmoid

from .fleet import RULESET, snapshot, write_json
from .test_cli import _fleet, _plain_rows, _specs


@pytest.fixture
def ruleset(tmp_path: Path) -> Path:
    p = tmp_path / "shop.yaml"
    p.write_text(RULESET, encoding="utf-8")
    return p


def logit_rows(model: str, fit: str, seed: int, visits: int, true_of_z: Any, arm: str = "") -> list[dict[str, Any]]:
    """Visits spread over the log-odds -6..2, converting at ``true_of_z(z)``, counted in their buckets."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-3.0, 1.5, visits)
    counts: dict[str, list[int]] = {}
    for zi in z:
        name = bucket_name(score_bucket(float(zi)))
        assert name is not None
        c = counts.setdefault(name, [0, 0])
        c[0] += 1
        c[1] += int(rng.random() < true_of_z(float(zi)))
    return [{"model": model, "spec": fit, "arm": arm, "feature": "@logit", "level": k, "entered": n + 3, "left": 3, "converted": x}
            for k, (n, x) in sorted(counts.items())]


def over_confident(z: float) -> float:
    """The truth of an over-confident naive Bayes: the log-odds spread 2.5 times too wide."""
    return 1 / (1 + math.exp(-(z / 2.5 - 1.6)))


def trained(tmp_path: Path, ruleset: Path) -> str:
    """Train purchase_intent from feature rows (naive Bayes), return the fit the file now makes."""
    assert main(["train", str(ruleset), *_fleet(tmp_path, ruleset), "--model", "purchase_intent"]) == 0
    return next(m.fit for m in models(str(ruleset)) if m.id == "purchase_intent")


def test_calibrate_keeps_the_weights_writes_knots_for_the_fit_and_the_compiler_ships_them(
        tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fit = trained(tmp_path, ruleset)
    file = tmp_path / "purchase_intent.coefficients.yaml"
    before = yaml.safe_load(file.read_text())
    rows = _plain_rows(_specs(ruleset)["purchase_intent"], 1) + logit_rows("purchase_intent", fit, 3, 40_000, over_confident)
    stats = write_json(tmp_path / "live.json", snapshot(rows, specs={"purchase_intent": {"spec": "x", "fit": fit}}))
    capsys.readouterr()
    assert main(["train", str(ruleset), stats, "--model", "purchase_intent"]) == 0
    out = capsys.readouterr().out
    assert f"fit {fit} kept (weights unchanged) and calibrated" in out
    assert f"reliability of the deployed fit {fit}" in out and "Brier score" in out and "calibration error" in out
    assert "score.purchase_intent > 0.4" in out and "of visits, observed" in out  # the threshold of segment `likely`
    after = yaml.safe_load(file.read_text())
    assert (after["bias"], after["weights"]) == (before["bias"], before["weights"])
    cal = after["calibration"]
    assert cal["fit"] == fit and isinstance(cal["fit"], str)
    zs, ls = [k[0] for k in cal["knots"]], [k[1] for k in cal["knots"]]
    assert zs == sorted(set(zs)) and ls == sorted(ls) and all(abs(x) <= 50 for x in ls)
    # the calibrated map (a log-odds; no cross, so the score is its sigmoid) is close to the truth where the visits are
    m = calibration(cal["knots"])
    for z in (-4.0, -3.0, -2.0, -1.0):
        assert abs(sigmoid(m(z)) - over_confident(z)) < 0.03, (z, sigmoid(m(z)), over_confident(z))
    # the deployed Brier/ECE line reports an improvement
    line = next(x for x in out.splitlines() if "Brier score" in x)
    nums = [float(t.rstrip(",;")) for t in line.replace("(", " ").split() if t[0].isdigit()]
    assert nums[2] < nums[0] and nums[3] < nums[1]  # Brier and calibration error fall
    from compiler.pipeline import Options, run

    ctx = run(str(ruleset), Options())
    assert ctx.payload is not None
    model = next(x for x in ctx.payload["models"] if x["id"] == "purchase_intent")
    assert model["fit"] == fit and model["sets"][0]["calibration"] == cal["knots"]


def test_calibrate_refuses_thin_buckets_naming_counts_thresholds_and_remedy(
        tmp_path: Path, ruleset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fit = trained(tmp_path, ruleset)
    rows = _plain_rows(_specs(ruleset)["purchase_intent"], 1) + logit_rows("purchase_intent", fit, 3, 500, over_confident)
    stats = write_json(tmp_path / "thin.json", snapshot(rows))
    file = tmp_path / "purchase_intent.coefficients.yaml"
    text = file.read_text()
    capsys.readouterr()
    assert main(["train", str(ruleset), stats, "--model", "purchase_intent", "--calibrate"]) == 1
    err = capsys.readouterr().err
    assert f"the deployed fit {fit} has 500 visits" in err and "calibration needs at least 2,000 visits and 100 converting visits" in err
    assert "--min-calibration-visits" in err and "Let the fleet count more visits" in err
    assert file.read_text() == text  # nothing written
    # without --calibrate the weights are refitted instead, saying why it did not calibrate
    assert main(["train", str(ruleset), stats, "--model", "purchase_intent", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "not calibrated:" in out and f"reliability of the deployed fit {fit}" in out


def test_calibrate_refit_starts_over_and_drops_the_calibration(tmp_path: Path, ruleset: Path) -> None:
    fit = trained(tmp_path, ruleset)
    rows = _plain_rows(_specs(ruleset)["purchase_intent"], 1) + logit_rows("purchase_intent", fit, 3, 20_000, over_confident)
    stats = write_json(tmp_path / "live.json", snapshot(rows))
    assert main(["train", str(ruleset), stats, "--model", "purchase_intent"]) == 0
    assert "calibration" in yaml.safe_load((tmp_path / "purchase_intent.coefficients.yaml").read_text())
    assert main(["train", str(ruleset), stats, "--model", "purchase_intent", "--refit"]) == 0
    assert "calibration" not in yaml.safe_load((tmp_path / "purchase_intent.coefficients.yaml").read_text())


def test_calibrate_uplift_model_per_arm_from_each_arms_log_odds(tmp_path: Path, ruleset: Path) -> None:
    assert main(["train", str(ruleset), *_fleet(tmp_path, ruleset), "--model", "discount_uplift"]) == 0
    fit = next(m.fit for m in models(str(ruleset)) if m.id == "discount_uplift")
    rows = (logit_rows("discount_uplift", fit, 4, 20_000, lambda z: over_confident(z + 0.5), "treatment")
            + logit_rows("discount_uplift", fit, 5, 20_000, over_confident, "control"))
    stats = write_json(tmp_path / "live.json", snapshot(rows))
    assert main(["train", str(ruleset), stats, "--model", "discount_uplift"]) == 0
    written = yaml.safe_load((tmp_path / "discount_uplift.coefficients.yaml").read_text())
    t, c = calibration(written["treatment"]["calibration"]["knots"]), calibration(written["control"]["calibration"]["knots"])
    assert t(-3.0) > c(-3.0)  # the treatment arm converts more at the same log-odds


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 127), st.integers(1, 400), st.floats(0, 1)), min_size=1, max_size=60), st.integers(1, 300))
def test_calibrate_knots_are_a_valid_monotone_map_for_any_table(cells: list[tuple[int, int, float]], group: int) -> None:
    by: dict[int, tuple[int, int]] = {}
    for i, n, r in cells:
        by[i] = (n, int(n * r))
    rows = sorted((-8.0 + i / 8, -8.0 + (i + 1) / 8, n, c) for i, (n, c) in by.items())
    knots = fit_knots(rows, group)
    zs, ls = [k[0] for k in knots], [k[1] for k in knots]
    assert 1 <= len(knots) <= len(rows)
    assert all(a < b for a, b in zip(zs, zs[1:])) and all(a <= b for a, b in zip(ls, ls[1:]))
    assert all(abs(x) <= 36.0 for x in ls)  # finite log-odds: a group's rate is kept half a visit from 0 and 1
    # the map's visit-weighted mean rate equals the observed rate (isotonic regression preserves the total)
    total_n = sum(r[2] for r in rows)
    if group <= min(r[2] for r in rows) and len(rows) == len(knots) and all(0 < r[3] < r[2] for r in rows):
        assert abs(sum(sigmoid(x) * r[2] for x, r in zip(ls, rows)) / total_n - sum(r[3] for r in rows) / total_n) < 1e-4


def test_calibrate_with_crosses_the_mixture_over_cells_has_the_groups_rate() -> None:
    """With crosses the knot's log-odds l is the one whose mixture over the cells has the group's
    rate: the crosses keep their own effect on top of the calibration."""
    from edge_server.reporting.training.calibrate import log_odds_for, mixture

    cells = [(0.5, -1.0), (0.3, 0.4), (0.2, 1.8)]
    for p in (0.001, 0.05, 0.3, 0.7, 0.99):
        lo = log_odds_for(p, cells)
        assert abs(mixture(cells)(lo) - p) < 1e-8
    assert log_odds_for(0.2, [(1.0, 0.0)]) == pytest.approx(math.log(0.25))


def test_calibrate_log_odds_buckets_make_the_printed_auc_accurate_where_score_buckets_understated() -> None:
    """The deployed fit's AUC is computed from its bucket table (ties within a bucket count half):
    on the log-odds buckets it is within 0.003 of the continuous score's AUC for a shop whose
    scores crowd under 0.05, where the old 0.05-wide buckets of the score understated it."""
    from edge_server.reporting.training.auc import auc

    rng = np.random.default_rng(23)
    z = rng.normal(-4.0, 1.2, 60_000)
    y = rng.random(z.size) < 1 / (1 + np.exp(-z))
    exact = auc((float(zi), int(yi), int(not yi)) for zi, yi in zip(z, y))
    assert exact is not None
    by_logit: dict[float, list[int]] = {}
    by_score: dict[float, list[int]] = {}
    for zi, yi in zip(z, y):
        for table, key in ((by_logit, float(bucket_name(score_bucket(float(zi))) or 0)), (by_score, min(int(sigmoid(float(zi)) * 20), 19))):
            cell = table.setdefault(key, [0, 0])
            cell[0 if yi else 1] += 1
    logit_auc = auc((k, c[0], c[1]) for k, c in by_logit.items())
    score_auc = auc((k, c[0], c[1]) for k, c in by_score.items())
    assert logit_auc is not None and score_auc is not None
    assert abs(logit_auc - exact) < 0.003
    assert exact - score_auc > 0.01  # the old buckets lumped most visits in one
