"""The rebalance loop end to end, small (benchmarks/sim_rebalance.py): rounds of visitors through
two replicas, strata rebalance + compile + publish between rounds; returning visitors keep their
arm whatever the new weights; the cohort counters equal exactly what the simulation did."""

from __future__ import annotations

import pytest

from benchmarks import sim_rebalance as sr

pytest.importorskip("edge_server.reporting.rebalance", reason="needs the edge_server.reporting.rebalance part of issue #16")


def test_sim_rebalance_rounds_keep_arms_and_cohort_counters_equal_the_visits(tmp_path):
    figures, detail = sr.run(tmp_path, rounds=2, per_round=400, returning=0.25, workers=2, log=lambda *_: None)
    rounds = detail["rounds"]
    assert [r["weights"] for r in rounds][0] == {"trail": 34.0, "summit": 33.0, "basecamp": 33.0}
    assert rounds[0]["next_weights"] == rounds[1]["weights"] and rounds[0]["next_weights"] != rounds[0]["weights"]
    assert abs(sum(rounds[1]["next_weights"].values()) - 100) < 1e-9
    kept = next(f for f in figures if f.name.startswith("returning"))
    assert kept.met and kept.data["returning"] == 100  # a quarter of round 1's 400 came back in round 2 (strata rebalance wants 100 visits an arm)
    assert detail["cohorts_counted"] == detail["cohorts_expected"]
