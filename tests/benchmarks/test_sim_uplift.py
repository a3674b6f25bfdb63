"""Uplift counting and training end to end, small (benchmarks/sim_uplift.py): the discount
experiment's visits through two replicas; the uplift model's counters per arm and the plain
model's must equal the visits exactly; strata train fits both and the trained bundle scores."""

from __future__ import annotations

import pytest

from benchmarks.sim_fleet import Fleet, drive, stats
from benchmarks.sim_models import counted, scores
from benchmarks.sim_population import visitors
from benchmarks.sim_uplift import PLAIN, UPLIFT, ZERO, expected, incremental, play, ruleset, top

pytest.importorskip("edge_server.model_counts", reason="needs the edge_server.model_counts part of issue #16")
pytest.importorskip("edge_server.reporting.training", reason="needs the edge_server.reporting.training part of issue #16")


def test_sim_uplift_counters_per_arm_equal_the_visits_and_train_fits_both_models(tmp_path):
    with Fleet(tmp_path, ruleset(), extra_files=ZERO) as fleet:
        recs = drive(fleet.urls, visitors(200, 5), play(5), workers=2)
        assert {r.arm for r in recs} == {"treatment", "control"}  # everyone is in the experiment
        got = counted(stats(u) for u in fleet.urls)
        assert got == expected(recs, "")
        assert got[(UPLIFT, "treatment", "*", "*")][0] + got[(UPLIFT, "control", "*", "*")][0] == 200
        fleet.strata("train", str(fleet.ruleset), *fleet.snapshots(), "--min-visits", "50", "--min-conversions", "5")
        fleet.publish()
        prepared = fleet.prepared()
    vs = visitors(400, 6)
    u, p = scores(prepared, UPLIFT, vs), scores(prepared, PLAIN, vs)
    assert all(-1 <= x <= 1 for x in u) and all(0 < x < 1 for x in p) and len(set(u)) > 1 and len(set(p)) > 1
    chosen = top(vs, u, 0.25)
    assert len(chosen) == 100 and incremental(chosen) == sum(incremental([v]) for v in chosen) / 100
