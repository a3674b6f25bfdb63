"""The predictive-score loop end to end, small (benchmarks/sim_models.py; the figures come from
`python benchmarks/measurement_sim.py --scenario models`): synthetic visits through two real
replicas, whose model counters must equal exactly what the visitors did; then strata train,
strata compile and the replicas serving the trained bundle, whose counters again equal the visits.
No statistical target here: at this size it could flake."""

from __future__ import annotations

import pytest
import yaml

from benchmarks.sim_fleet import Fleet, drive, stats
from benchmarks.sim_models import MODEL, UPLIFT, ZERO, counted, expected, minus, play, ruleset
from benchmarks.sim_population import visitors

pytest.importorskip("edge_server.model_counts", reason="needs the edge_server.model_counts part of issue #16")
pytest.importorskip("edge_server.reporting.training", reason="needs the edge_server.reporting.training part of issue #16")


def test_sim_models_counters_equal_the_visits_and_the_loop_publishes_a_trained_bundle(tmp_path):
    with Fleet(tmp_path, ruleset(holdout=30), extra_files=ZERO) as fleet:
        recs = drive(fleet.urls, visitors(160, 3), play(3), workers=2)
        prepared = fleet.prepared()
        got = counted(stats(u) for u in fleet.urls)
        assert got == expected(recs, prepared, "")
        assert got[(MODEL, "", "*", "*")] == [160, sum(r.converted for r in recs)]
        # zero coefficients: every visitor scores 0.5 and is shown the rule, unless in the holdout
        assert all(r.shown != r.holdout for r in recs)

        zero = {m.id: (m.spec, m.fit) for m in prepared.models}
        fleet.strata("train", str(fleet.ruleset), *fleet.snapshots(), "--model", MODEL, "--min-visits", "50", "--min-conversions", "5")
        coef = yaml.safe_load((tmp_path / f"{MODEL}.coefficients.yaml").read_text())
        assert coef["bias"] != 0.0 and coef["weights"]
        assert (tmp_path / f"{UPLIFT}.coefficients.yaml").read_text() == ZERO[f"{UPLIFT}.coefficients.yaml"]  # only --model was trained
        assert fleet.publish() == 2  # every replica now serves version 2
        prepared = fleet.prepared()
        trained = {m.id: (m.spec, m.fit) for m in prepared.models}
        assert trained[MODEL][0] == zero[MODEL][0] and trained[MODEL][1] != zero[MODEL][1]  # same features, new fit
        assert trained[UPLIFT] == zero[UPLIFT]

        before = counted(stats(u) for u in fleet.urls)
        more = drive(fleet.urls, visitors(100, 4, start=1000), play(3), workers=2)
        assert minus(counted(stats(u) for u in fleet.urls), before) == {k: v for k, v in _with_zeros(expected(more, prepared, ""), before).items()}
        assert not all(r.shown != r.holdout for r in more)  # the trained score now decides who sees the rule


def _with_zeros(exp, before):
    """Rows counted before but not in this round appear in the difference as zeros."""
    out = {k: [0, 0] for k in before}
    out.update(exp)
    return out
