"""Calibration and crosses end to end, small (benchmarks/sim_calibration.py): the correlated shop's
visits through two replicas; every model's counters (the cross's cells included, per arm for the
uplift model) equal the visits exactly; strata train fits the weights, then — the fit published and
counted in its log-odds buckets — keeps them and calibrates; the compiled bundle scores through the
calibration in this process. No statistical target here (the benchmark's full run has them)."""

from __future__ import annotations

import yaml

from benchmarks.sim_calibration import ADDITIVE, PLAIN, UPLIFT, ZERO, counted, expected, play, population, ruleset, score_rows
from benchmarks.sim_fleet import Fleet, drive, stats
from benchmarks.sim_models import scores

THIN = ["--min-visits", "50", "--min-conversions", "5", "--min-calibration-visits", "100", "--min-calibration-conversions", "2",
        "--calibration-group", "20"]


def test_sim_calibration_counts_every_cell_exactly_then_trains_and_calibrates_through_the_real_loop(tmp_path):
    with Fleet(tmp_path, ruleset(), extra_files=ZERO) as fleet:
        first = drive(fleet.urls, population(320, 5), play(5), workers=2)
        assert {r.arm for r in first} == {"treatment", "control"}
        assert counted(stats(u) for u in fleet.urls) == expected(first)
        fleet.strata("train", str(fleet.ruleset), *fleet.snapshots(), *THIN)
        fleet.publish()
        weights = yaml.safe_load((tmp_path / f"{PLAIN}.coefficients.yaml").read_text())
        assert "calibration" not in weights and set(weights["weights"]["device"].values()) == {0.0}  # a part of the cross: scored through it
        second = drive(fleet.urls, population(320, 6, start=320), play(5), workers=2)
        snaps = [stats(u) for u in fleet.urls]
        assert counted(snaps) == expected(first + second)  # every visit, once, the cross's cells included
        assert score_rows(snaps, PLAIN) == 640 and score_rows(snaps, ADDITIVE) == 640
        out = fleet.strata("train", str(fleet.ruleset), *fleet.snapshots(), *THIN).stdout
        assert out.count("kept (weights unchanged) and calibrated") == 3, [x for x in out.splitlines() if "calibrat" in x or "refused" in x]
        assert "reliability of the deployed fit" in out
        assert f"score.{PLAIN} > 0.3" in out and "cross device_source" in out
        calibrated = yaml.safe_load((tmp_path / f"{PLAIN}.coefficients.yaml").read_text())
        assert calibrated["weights"] == weights["weights"] and calibrated["calibration"]["knots"]
        lift = yaml.safe_load((tmp_path / f"{UPLIFT}.coefficients.yaml").read_text())
        assert lift["treatment"]["calibration"]["knots"] and lift["control"]["calibration"]["knots"]
        fleet.publish()
        prepared = fleet.prepared()
    vs = population(300, 7, start=10_000)
    p, u = scores(prepared, PLAIN, vs), scores(prepared, UPLIFT, vs)
    assert all(0 < x < 1 for x in p) and all(-1 <= x <= 1 for x in u) and len(set(p)) > 1
    model = next(m for m in prepared.models if m.id == PLAIN)
    assert model.calibrations[0] is not None and model.crosses  # the published bundle scores through both
