"""The language-neutral vectors: the Python runtime passes every one, and the committed files
are exactly what ``python -m tests.vectors.generate`` writes (so they cannot drift from the
runtime). The JavaScript runtime reads the same files (edge_worker/test/vectors.test.js)."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest

from runtime import Runtime, key_id, load_public_key
from runtime.bucketing import bucket
from tests.vectors import generate

HERE = generate.HERE


@pytest.fixture(scope="module")
def fresh() -> dict[str, bytes]:
    return generate.generate_all()


def test_vectors_committed_files_equal_a_fresh_generation(fresh):
    stale = [rel for rel, data in fresh.items() if not (HERE / rel).exists() or (HERE / rel).read_bytes() != data]
    assert not stale, f"regenerate with 'python -m tests.vectors.generate' and commit: {stale}"


def test_vectors_python_runtime_passes_every_decision_case():
    spec = json.loads((HERE / "decisions.json").read_text())
    pub = load_public_key(HERE / spec["key"])
    prepared = {}
    for name, rel in spec["bundles"].items():
        prepared[name] = Runtime({key_id(pub): pub}).prepare((HERE / rel).read_bytes(), now=spec["now"])
    assert len(spec["cases"]) >= 200
    for c in spec["cases"]:
        p = prepared[c["bundle"]]
        kw = {"session_id": c["session_id"], "caps": c["caps"], "consent": c["consent"], "now": c["now"], "assignments": c.get("assignments")}
        out = p.decide(c["signals"], c["slots"], explain=True, **kw)
        plain = p.decide(c["signals"], c["slots"], **kw)
        e = c["expect"]
        assert json.loads(json.dumps(out.to_dict())) == e["outcome"], c["name"]
        assert json.loads(json.dumps(plain.to_dict())) == e["plain"], c["name"]
        assert (out.cap_hits, [list(x) for x in out.exposures], out.errors, out.holdout) == (e["cap_hits"], e["exposures"], e["errors"], e["holdout"]), c["name"]
        assert out.budget_exceeded == e["budget_exceeded"], c["name"]
        assert generate.exact_outcome(p, c["signals"], c["slots"], **kw).work == e["work"], c["name"]


def test_vectors_decision_cases_run_conditions_into_the_budget():
    # The tampered 'budget' bundle: conditions stopped by the evaluation budget, some absorbed
    # (`runaway || small`), others counted; and cases that end just under the budget.
    spec = json.loads((HERE / "decisions.json").read_text())
    budget = [c["expect"] for c in spec["cases"] if c["bundle"] == "budget"]
    assert sum(e["budget_exceeded"] > 0 for e in budget) >= 5
    assert any(9_000 < e["work"] <= 10_000 for e in budget)
    assert all(e["budget_exceeded"] <= e["errors"] for e in budget)


def test_vectors_python_runtime_passes_every_regex_case():
    from runtime.functions import matches
    from runtime.regex import regex_error
    from runtime.values import CelError

    spec = json.loads((HERE / "regex.json").read_text())
    assert len(spec["matches"]) > 500 and any("error" in c["expect"] for c in spec["matches"])
    for c in spec["matches"]:
        try:
            got = {"match": matches(c["input"], c["pattern"])}
        except CelError as e:
            got = {"error": str(e)}
        assert got == c["expect"], (c["pattern"], c["input"])
    for c in spec["invalid"]:
        assert regex_error(c["pattern"]) == c["error"]


def test_vectors_python_runtime_refuses_every_hostile_bundle_with_its_code():
    spec = json.loads((HERE / "refused.json").read_text())
    codes = {c["expect"] for c in spec["cases"]}
    assert codes == {"accepted", "invalid_ir", "too_large", "wrong_name", "rollback"}
    for c in spec["cases"]:
        assert generate.refusal_and_text(base64.b64decode(c["bundle"]), c["options"]) == (c["expect"], c["message"]), c["name"]


def test_vectors_decision_cases_cover_every_reason_and_trace_result():
    spec = json.loads((HERE / "decisions.json").read_text())
    reasons = {d["reason"] for c in spec["cases"] for d in c["expect"]["outcome"]["slots"].values()}
    results = {t["result"] for c in spec["cases"] for d in c["expect"]["outcome"]["slots"].values() for t in d.get("trace", [])}
    assert reasons == {"rule", "experiment", "default", "holdout", "no_consent", "capped", "error"}
    assert results >= {"matched", "false", "error", "capped", "no_consent", "no_session", "not_in_traffic"}


def test_vectors_python_runtime_passes_every_bucketing_case():
    for c in json.loads((HERE / "bucketing.json").read_text()):
        assert bucket(c["seed"], c["session_id"]) == c["bucket"]


def test_vectors_cel_cases_cover_the_compiled_corpus():
    cases = json.loads((HERE / "cel.json").read_text())
    assert len(cases) > 1300
    assert sum("error" in c["expect"] for c in cases) > 100


def _untag(t: Any) -> Any:
    from runtime.values import UInt

    (kind, v), = t.items()
    if kind == "int":
        return int(v)
    if kind == "uint":
        return UInt(int(v))
    if kind == "double":
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(v, v) if isinstance(v, str) else float(v)
    if kind == "list":
        return [_untag(x) for x in v]
    if kind == "map":
        return {_untag(k): _untag(x) for k, x in v}
    return v  # string, bool


def test_vectors_python_runtime_passes_every_uplift_bucket_case():
    from runtime.format import UPLIFT_BUCKETS
    from runtime.score import uplift_bucket, uplift_bucket_name

    cases = json.loads((HERE / "scores.json").read_text())["uplift_buckets"]
    assert len(cases) > 500
    assert {c["bucket"] for c in cases} == set(range(UPLIFT_BUCKETS.first, UPLIFT_BUCKETS.first + UPLIFT_BUCKETS.buckets))  # every bucket
    for c in cases:
        b = uplift_bucket(float(c["u"]))
        assert (b, uplift_bucket_name(b)) == (c["bucket"], c["name"]), c["u"]


def test_vectors_python_runtime_computes_every_calibration_tag():
    from runtime.score import build_models, uplift_label

    spec = json.loads((HERE / "scores.json").read_text())
    models = build_models(spec["models"], [s["name"] for s in spec["signals"]], [s["type"] for s in spec["signals"]])
    tags = [m.calibration_tag for m in models]
    assert tags == spec["calibration_tags"] and [uplift_label(m.fit, t) for m, t in zip(models, tags)] == spec["uplift_labels"]
    assert 0 in tags and len({t for t in tags if t}) >= 2  # uncalibrated models, and calibrated ones told apart


def test_vectors_python_runtime_passes_every_bucket_and_calibration_case():
    from runtime.score import bucket_name, calibration, score_bucket

    spec = json.loads((HERE / "scores.json").read_text())
    assert len(spec["buckets"]) > 300 and len(spec["calibration"]["cases"]) > 200
    for c in spec["buckets"]:
        assert (score_bucket(float(c["z"])), bucket_name(score_bucket(float(c["z"])))) == (c["bucket"], c["name"]), c["z"]
    m = calibration(spec["calibration"]["knots"])
    for c in spec["calibration"]["cases"]:
        assert repr(m(float(c["z"]))) == c["expect"], c["z"]
    assert any(x.get("calibration") for mod in spec["models"] for x in mod["sets"])
    assert any(f["kind"] == "cross" for mod in spec["models"] for f in mod["features"])


def test_vectors_python_runtime_passes_every_score_case():
    from runtime.score import build_models, sigmoid

    spec = json.loads((HERE / "scores.json").read_text())
    assert len(spec["sigmoid"]) > 500 and len(spec["cases"]) > 50
    for c in spec["sigmoid"]:
        assert repr(sigmoid(float(c["z"]))) == c["expect"], c["z"]
    models = build_models(spec["models"], [s["name"] for s in spec["signals"]], [s["type"] for s in spec["signals"]])
    seen: set[tuple[int, int, int]] = set()
    for c in spec["cases"]:
        s = {k: _untag(v) for k, v in c["signals"].items()}
        assert [list(m.levels(s)) for m in models] == c["levels"], c["name"]
        assert [repr(m.score(s)) for m in models] == c["scores"], c["name"]
        seen |= {(mi, fi, lv) for mi, lvs in enumerate(c["levels"]) for fi, lv in enumerate(lvs)}
    every = {(mi, fi, lv) for mi, m in enumerate(models) for fi, f in enumerate(m.features) for lv in range(len(f.levels))
             if not (f.levels[lv] == "(other)" and f.args == (False, True))}  # a bool signal is one of its two values
    assert every <= seen, f"levels no case reaches: {sorted(every - seen)[:5]}"
