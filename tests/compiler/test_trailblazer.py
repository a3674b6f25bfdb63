"""The worked example compiles cleanly (no warnings even in strict mode) and its own cases pass."""

from __future__ import annotations

import yaml

from compiler.harness.fixtures import TRAILBLAZER, trailblazer_inline_coefficients
from compiler.pipeline import Options, run
from compiler.testing import run_tests


def test_trailblazer_compiles_strict_without_warnings():
    ctx = run(TRAILBLAZER, Options(strict=True))
    assert ctx.warnings == []


def test_trailblazer_carries_at_least_12_passing_cases():
    ctx = run(TRAILBLAZER, Options())
    results = run_tests(ctx)
    assert len(results) >= 12
    assert [r.failures for r in results if not r.passed] == []


def test_trailblazer_purchase_intent_reads_its_coefficient_file():
    """The demo's model takes its weights from rulesets/trailblazer/purchase_intent.coefficients.yaml,
    fitted for its current spec, and one rule of the recs slot acts on its score."""
    ctx = run(TRAILBLAZER, Options())
    assert ctx.payload is not None and ctx.ruleset is not None
    (m,) = ctx.payload["models"]
    coef = yaml.safe_load((TRAILBLAZER.parent / "trailblazer" / "purchase_intent.coefficients.yaml").read_text())
    assert (m["id"], m["goal"], m["spec"]) == ("purchase_intent", "purchase", coef["spec"])
    assert m["sets"][0]["bias"] == coef["bias"] != 0
    by_id = {f["id"]: f for f in m["features"]}
    for fid, levels in coef["weights"].items():
        for level, w in levels.items():
            assert m["sets"][0]["weights"][m["features"].index(by_id[fid])][by_id[fid]["levels"].index(str(level))] == w
    recs = next(s for s in ctx.payload["slots"] if s["id"] == "recs")
    assert [c["id"] for c in recs["candidates"] if "[18, 0]" in str(c["when"])] == ["high-intent-recs"]


def test_trailblazer_inline_coefficients_helper_compiles_the_same_model():
    ctx = run("elsewhere/trailblazer.yaml", Options(), text=trailblazer_inline_coefficients())
    ref = run(TRAILBLAZER, Options())
    assert ctx.payload is not None and ref.payload is not None and ctx.warnings == []
    assert ctx.payload["models"] == ref.payload["models"]
