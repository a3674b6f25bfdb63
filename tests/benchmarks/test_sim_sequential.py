"""Always-valid results by simulation, small (benchmarks/sim_sequential.py; the full figures come from
`python benchmarks/measurement_sim.py --scenario sequential`): A/A experiments read daily through the
report's decision path, power on a true lift, the FDR of a report of 20 null and 2 real comparisons,
post-stratification's interval width, and a few simulated days through two real servers (whose
uplift-model counters post-stratify the experiment)."""

from __future__ import annotations

import math

from benchmarks import sim_sequential as ss


def test_sim_sequential_aa_power_and_fdr_meet_their_targets():
    runs = 200
    figs, aa = ss.aa(runs, 30, 2_000, 0.04, seed=3)
    se = math.sqrt(0.05 * 0.95 / runs)
    assert aa["ever_significant_default"] <= 0.05 + 2 * se, aa
    assert aa["ever_significant_fixed_horizon_read_daily"] >= 0.15, aa  # peeking at a z-test: the problem being solved
    _, pw = ss.power(100, 30, 2_000, 0.04, [0.25], seed=3)
    assert pw["+25%"]["sequential_power"] >= 0.85 and pw["+25%"]["median_day_detected"] < 20, pw
    figs, fdr = ss.fdr(30, 30, 2_000, 0.04, 0.30, seed=3)
    assert fdr["worst_daily_fdr"]["default"] <= 0.05 and fdr["worst_daily_fdr"]["fixed"] > 0.2, fdr
    assert fdr["real_found_at_end"] >= 0.8, fdr
    assert figs[0].met is True
    figs, ps = ss.poststrat(60, 30, 2_000, seed=3)
    assert ps["explaining"]["narrower"] >= 0.2 and ps["unrelated"]["narrower"] >= -0.01, ps


def test_sim_sequential_report_over_real_servers_equals_the_true_counts(tmp_path):
    figs, detail = ss.servers(tmp_path, 900, 3, seed=5)
    assert figs[0].met is True, detail
    assert detail["verdict"].split()[1] in ("STOP", "CONTINUE"), detail
