"""The fleet's model counters for training (edge_server/reporting/models.py): snapshots and
scrapes of several instances, latest per instance, instances summed."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from edge_server.measure import Measurement
from edge_server.metrics import Metrics
from edge_server.model_counts import Key
from edge_server.reporting.models import model_counts

LABEL = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=0, max_size=8) | st.sampled_from(['a"b', "c\\d", "ü", "≥4"])
KEY = st.tuples(st.sampled_from(["intent", "discount"]), st.sampled_from(["aaaaaaaa", "bbbbbbbb"]), st.sampled_from(["", "treatment", "control"]),
                st.sampled_from(["*", "device", "@logit"]), LABEL, st.sampled_from(["entered", "left", "converted"]))
COUNTS = st.dictionaries(KEY, st.integers(1, 10**6), max_size=30)


def _instance(counts: dict[Key, int], generated: float) -> dict:
    m = Measurement()
    m.models.update(counts)
    snap = m.snapshot(None)
    snap["generated"] = generated
    return snap


def _expected(*counts: dict[Key, int]) -> dict[str, list[dict]]:
    total: Counter[Key] = Counter()
    for c in counts:
        total.update(c)
    rows: dict[str, dict[tuple[str, ...], dict]] = {}
    for (model, spec, arm, feature, level, event), n in total.items():
        r = rows.setdefault(model, {}).setdefault((spec, arm, feature, level), {"spec": spec, "arm": arm, "feature": feature, "level": level,
                                                                               "entered": 0, "left": 0, "converted": 0})
        r[event] += n
    return {m: [r[k] for k in sorted(r)] for m, r in rows.items()}


@settings(max_examples=40, deadline=None)
@given(COUNTS, COUNTS, COUNTS)
def test_model_counts_latest_snapshot_per_instance_instances_summed(tmp_path_factory, early: dict, late: dict, other: dict):
    tmp = tmp_path_factory.mktemp("snaps")
    paths = []
    for name, (c, inst, t) in {"a1": (early, "a", 1.0), "a2": (late, "a", 2.0), "b": (other, "b", 1.5)}.items():
        snap = _instance(c, t)
        snap["instance"] = inst
        (tmp / f"{name}.json").write_text(json.dumps(snap))
        paths.append(str(tmp / f"{name}.json"))
    got = model_counts(paths)
    assert {m: v["rows"] for m, v in got.items()} == _expected(late, other)  # early is superseded by late


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(KEY, st.integers(1, 10**6), min_size=1, max_size=30))
def test_model_counts_read_a_scrape_as_its_snapshot(tmp_path_factory, counts: dict):
    tmp = tmp_path_factory.mktemp("scrape")
    m = Measurement()
    m.models.update(counts)
    (tmp / "metrics.txt").write_text(Metrics(None, m).render().decode())
    (tmp / "stats.json").write_text(json.dumps(m.snapshot(None)))
    from_scrape = model_counts([str(tmp / "metrics.txt")])
    from_stats = model_counts([str(tmp / "stats.json")])
    assert {k: v["rows"] for k, v in from_scrape.items()} == {k: v["rows"] for k, v in from_stats.items()} == _expected(counts)


def test_model_counts_carry_the_newest_snapshot_s_model_specs(tmp_path: Path):
    spec = {"spec": "aaaaaaaa", "fit": "ffffffff", "goal": "purchase", "uplift": None, "features": {"device": ["mobile", "(other)", "(absent)"]}}
    old, new = _instance({}, 1.0), _instance({("intent", "aaaaaaaa", "", "*", "*", "entered"): 3}, 2.0)
    old["model_specs"] = {"intent": {**spec, "spec": "00000000"}}
    new["model_specs"] = {"intent": spec}
    old["instance"], new["instance"] = "x", "y"
    for name, s in (("old", old), ("new", new)):
        (tmp_path / f"{name}.json").write_text(json.dumps(s))
    got = model_counts([str(tmp_path / "old.json"), str(tmp_path / "new.json")])["intent"]
    assert (got["spec"], got["fit"], got["goal"], got["features"]) == ("aaaaaaaa", "ffffffff", "purchase", spec["features"])
    assert got["rows"] == [{"spec": "aaaaaaaa", "arm": "", "feature": "*", "level": "*", "entered": 3, "left": 0, "converted": 0}]
