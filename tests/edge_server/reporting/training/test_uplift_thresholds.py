"""What ``strata train`` prints for a condition on an uplift score (edge_server/reporting/training/
uplift_thresholds.py): the share of visits selected and their observed uplift, from the ``@uplift``
rows of the map the rule set holds."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_server.contract import UPLIFT
from edge_server.reporting.training.counts import Cell
from edge_server.reporting.training.model_info import models
from edge_server.reporting.training.uplift_thresholds import label, on_edge, select
from runtime.cli import main
from runtime.format import UPLIFT_BUCKETS
from runtime.score import uplift_bucket, uplift_bucket_name

from .fleet import RULESET, snapshot, write_json

#: the fixture rule set, with a rule reading the uplift score (and one threshold inside a bucket)
UPLIFT_RULESET = RULESET.replace('''    when: score.purchase_intent > 0.4
''', '''    when: score.purchase_intent > 0.4
  - id: persuadable
    layer: mid
    when: score.discount_uplift > 0.05
  - id: sleeping
    layer: mid
    when: score.discount_uplift <= -0.025
''')


def _cells(rows: dict[str, tuple[int, int]]) -> dict[str, Cell]:
    return {name: Cell(n, c) for name, (n, c) in rows.items()}


def test_select_sums_the_buckets_past_the_threshold_in_each_arm() -> None:
    treated = _cells({"-0.05": (100, 5), "0.00": (300, 30), "0.05": (200, 40), "0.10": (100, 30)})
    control = _cells({"-0.05": (100, 10), "0.00": (300, 27), "0.05": (200, 20), "0.10": (100, 15)})
    sel = select(treated, control, ">", 0.05)
    assert sel.treated == (300, 70) and sel.control == (300, 35) and sel.total == 1400
    assert sel.share == pytest.approx(600 / 1400)
    u, lo, hi = sel.uplift()  # type: ignore[misc]
    assert u == pytest.approx(70 / 300 - 35 / 300)
    half = 1.959963984540054 * math.sqrt((70 / 300) * (230 / 300) / 300 + (35 / 300) * (265 / 300) / 300)
    assert (lo, hi) == pytest.approx((u - half, u + half))
    assert sel.predicted == pytest.approx((400 * 0.055 + 200 * 0.105) / 600)
    low = select(treated, control, "<", 0.0)
    assert low.treated == (100, 5) and low.control == (100, 10) and low.uplift()[0] == pytest.approx(-0.05)  # type: ignore[index]
    assert select(treated, {}, ">", 0.05).uplift() is None  # no control visit selected: no uplift


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-10, 110), st.floats(-0.45, 0.45), st.booleans(), st.booleans()), min_size=1, max_size=300),
       st.sampled_from([">", ">=", "<", "<="]), st.integers(1, UPLIFT_BUCKETS.buckets - 1))
def test_select_on_a_bucket_edge_equals_counting_the_visits_themselves(visits: list[tuple[int, float, bool, bool]], op: str, edge: int) -> None:
    """Generated visits (uplift score anywhere in a bucket or beyond the ends, arm, converted),
    counted in their uplift buckets as the edge counts them: a threshold on a bucket edge selects
    exactly the visits whose score passes it, in each arm."""
    import operator

    step = 1 / UPLIFT_BUCKETS.per_unit
    t = round(UPLIFT_BUCKETS.low + edge * step, 2)
    assert on_edge(t)
    cmp = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}[op]
    tables: dict[bool, dict[str, Cell]] = {True: {}, False: {}}
    truth = {True: [0, 0], False: [0, 0]}
    for k, offset, treated, conv in visits:
        u = UPLIFT_BUCKETS.low + (k + 0.5 + offset) * step  # never within 0.05 of a bucket's width from an edge
        name = uplift_bucket_name(uplift_bucket(u))
        assert name is not None
        cell = tables[treated].setdefault(name, Cell())
        cell.visits, cell.converted = cell.visits + 1, cell.converted + conv
        if cmp(u, t):
            truth[treated][0] += 1
            truth[treated][1] += conv
    sel = select(tables[True], tables[False], op, t)
    assert (list(sel.treated), list(sel.control)) == (truth[True], truth[False])


def _ruleset(tmp_path: Path) -> Path:
    p = tmp_path / "shop.yaml"
    p.write_text(UPLIFT_RULESET, encoding="utf-8")
    return p


def _uplift_fleet(tmp_path: Path, ruleset: Path, *, name: str | None = None, seed: int = 5) -> list[str]:
    """Two instances counting visits of known uplift: per bucket a true control rate and a true
    uplift equal to the bucket's centre (the score is calibrated), both arms ~equal in size."""
    m = next(x for x in models(str(ruleset)) if x.id == "discount_uplift")
    row_label = name or label(m)
    rng = np.random.default_rng(seed)
    files = []
    for inst in ("edge-1", "edge-2"):
        rs: list[dict[str, Any]] = []
        for arm in ("treatment", "control"):
            for centre, visits in ((-0.045, 4000), (-0.015, 6000), (0.005, 20_000), (0.035, 8000), (0.065, 5000), (0.105, 3000)):
                rate = 0.10 + (centre if arm == "treatment" else 0.0)
                n = int(visits)
                c = int(rng.binomial(n, rate))
                name_ = uplift_bucket_name(uplift_bucket(centre))
                rs.append({"model": "discount_uplift", "spec": row_label, "arm": arm, "feature": UPLIFT, "level": name_,
                           "entered": n + 3, "left": 3, "converted": c})
            visits_, conv_ = sum(r["entered"] - r["left"] for r in rs if r["arm"] == arm), sum(r["converted"] for r in rs if r["arm"] == arm)
            rs += [{"model": "discount_uplift", "spec": m.spec, "arm": arm, "feature": f, "level": lv, "entered": visits_, "left": 0, "converted": conv_}
                   for f, lv in (("*", "*"), ("device", "mobile"), ("tents", "no"))]  # the visit rows training fits from
        files.append(write_json(tmp_path / f"{inst}.json", snapshot(rs, instance=inst, generated=1_796_000_000.0)))
    return files


def test_train_prints_each_uplift_condition_with_share_and_observed_uplift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ruleset = _ruleset(tmp_path)
    files = _uplift_fleet(tmp_path, ruleset)
    assert main(["train", str(ruleset), *files, "--model", "discount_uplift", "--dry-run"]) == 0
    text = capsys.readouterr().out
    lines = text[text.index("  thresholds ("):].splitlines()
    assert "observed uplift = treatment rate - control rate" in lines[0]
    above = next(line for line in lines if "score.discount_uplift > 0.05" in line)
    # buckets 0.06 and 0.10: (5000 + 3000) of 46,000 visits per arm and instance; the true uplift there is 0.065*5/8 + 0.105*3/8 = 0.08
    assert "17.4% of visits (16,000 treated, 16,000 control)" in above
    u = float(above.split("observed uplift ")[1].split("%")[0]) / 100
    lo, hi = (float(x.strip().rstrip("%")) / 100 for x in above.split("[")[1].split("]")[0].split(","))
    assert lo < 0.08 < hi and abs(u - 0.08) < 0.02 and "predicted +8.00%" in above
    sleeping = next(line for line in lines if "score.discount_uplift <= -0.025" in line)
    assert "(the bucket holding -0.025 counted by its centre)" in sleeping and "8.7% of visits" in sleeping
    assert "shop.yaml:42:11)" in above and "shop.yaml:45:11)" in sleeping  # each condition's place in the rule set


def test_train_reads_only_the_rows_of_the_rule_set_s_calibration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Rows of another calibration of the fit (fit~tag) are not the rule set's map: not read, named."""
    ruleset = _ruleset(tmp_path)
    m = next(x for x in models(str(ruleset)) if x.id == "discount_uplift")
    files = _uplift_fleet(tmp_path, ruleset, name=f"{m.fit}~2930")
    from edge_server.reporting.training import summary
    from edge_server.reporting.training.counts import load

    lines = summary.list_threshold_lines(m, [], load(files))
    assert len(lines) == 1 and f"no {UPLIFT} rows of both arms under {m.fit}" in lines[0] and f"{m.fit}~2930" in lines[0]


def test_the_rows_strata_train_reads_are_the_ones_the_compiled_bundle_counts(tmp_path: Path) -> None:
    """Train and calibrate the uplift model, compile the rule set: the label strata train reads
    (the rule set's fit and its calibrations' tag) is the one the bundle's model counts under."""
    from compiler.pipeline import Options, run
    from runtime.score import build_models, uplift_label

    from .fleet import RULESET
    from .test_calibrate import logit_rows, over_confident
    from .test_cli import _fleet

    ruleset = tmp_path / "shop.yaml"
    ruleset.write_text(RULESET, encoding="utf-8")
    assert main(["train", str(ruleset), *_fleet(tmp_path, ruleset), "--model", "discount_uplift"]) == 0
    fit = next(m.fit for m in models(str(ruleset)) if m.id == "discount_uplift")
    rows = (logit_rows("discount_uplift", fit, 4, 20_000, lambda z: over_confident(z + 0.5), "treatment")
            + logit_rows("discount_uplift", fit, 5, 20_000, over_confident, "control"))
    assert main(["train", str(ruleset), write_json(tmp_path / "live.json", snapshot(rows)), "--model", "discount_uplift"]) == 0
    m = next(x for x in models(str(ruleset)) if x.id == "discount_uplift")
    ctx = run(str(ruleset), Options())
    assert ctx.payload is not None
    sigs = ctx.payload["signals"]
    built = build_models(ctx.payload["models"], [s["name"] for s in sigs], [s["type"] for s in sigs])
    served = next(x for x in built if x.id == "discount_uplift")
    assert served.calibration_tag != 0 and label(m) == uplift_label(served.fit, served.calibration_tag) == f"{fit}~{served.calibration_tag:04x}"
