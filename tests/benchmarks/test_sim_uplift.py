"""Uplift counting and training end to end, small (benchmarks/sim_uplift.py): the discount
experiment's visits through two replicas; the uplift model's counters per arm and the plain
model's must equal the visits exactly; strata train fits both and the trained bundle scores."""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.sim_fleet import Fleet, drive, stats
from benchmarks.sim_models import counted, scores
from benchmarks.sim_population import visitors
from benchmarks.sim_uplift import PLAIN, UPLIFT, ZERO, expected, incremental, play, ruleset, top
from edge_server.contract import UPLIFT as UPLIFT_ROWS

pytest.importorskip("edge_server.model_counts", reason="needs the edge_server.model_counts part of issue #16")
pytest.importorskip("edge_server.reporting.training", reason="needs the edge_server.reporting.training part of issue #16")


#: the simulation's rule set with two conditions on the uplift score (segments no rule reads: what
#: strata train's thresholds section reports on)
CONDITIONS = (f"  - {{id: everyone, layer: broad, when: 'true'}}\n  - {{id: persuadable, layer: mid, when: 'score.{UPLIFT} > 0.05'}}\n"
              f"  - {{id: any_uplift, layer: mid, when: 'score.{UPLIFT} > -0.5'}}\n")


def test_sim_uplift_counters_per_arm_equal_the_visits_and_train_fits_both_models(tmp_path):
    with Fleet(tmp_path, ruleset().replace("  - {id: everyone, layer: broad, when: 'true'}\n", CONDITIONS), extra_files=ZERO) as fleet:
        recs = drive(fleet.urls, visitors(200, 5), play(5), workers=2)
        assert {r.arm for r in recs} == {"treatment", "control"}  # everyone is in the experiment
        snaps = [stats(u) for u in fleet.urls]
        got = counted(snaps)
        assert got == expected(recs, "")
        assert got[(UPLIFT, "treatment", "*", "*")][0] + got[(UPLIFT, "control", "*", "*")][0] == 200
        # every visit in the uplift row of its score (0: every weight 0) too, in its arm, under the fit
        lifts: Counter[tuple[str, str, str]] = Counter()  # summed over the replicas
        for r in (r for s in snaps for r in s["models"] if r["feature"] == UPLIFT_ROWS):
            lifts[(r["arm"], r["spec"], r["level"])] += r["entered"] - r["left"]
        fit = snaps[0]["model_specs"][UPLIFT]["fit"]
        assert {k: n for k, n in lifts.items() if n} == {("treatment", fit, "0.00"): got[(UPLIFT, "treatment", "*", "*")][0],
                                                        ("control", fit, "0.00"): got[(UPLIFT, "control", "*", "*")][0]}
        out = fleet.strata("train", str(fleet.ruleset), *fleet.snapshots(), "--min-visits", "50", "--min-conversions", "5").stdout
        # strata train reads them back: a condition selecting every visit observes the arms' own difference
        rate = {arm: sum(r.converted for r in recs if r.arm == arm) / sum(r.arm == arm for r in recs) for arm in ("treatment", "control")}
        line = next(x for x in out.splitlines() if f"score.{UPLIFT} > -0.5" in x)
        assert "100.0% of visits" in line and f"observed uplift {rate['treatment'] - rate['control']:+.2%}" in line, line
        assert "0.0% of visits; no visit of the treatment arm selected" in next(x for x in out.splitlines() if f"score.{UPLIFT} > 0.05" in x)
        fleet.publish()
        prepared = fleet.prepared()
    vs = visitors(400, 6)
    u, p = scores(prepared, UPLIFT, vs), scores(prepared, PLAIN, vs)
    assert all(-1 <= x <= 1 for x in u) and all(0 < x < 1 for x in p) and len(set(u)) > 1 and len(set(p)) > 1
    chosen = top(vs, u, 0.25)
    assert len(chosen) == 100 and incremental(chosen) == sum(incremental([v]) for v in chosen) / 100
