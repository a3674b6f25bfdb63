"""The worked example compiles cleanly (no warnings even in strict mode) and its own cases pass."""

from __future__ import annotations

from compiler.pipeline import Options, run
from compiler.testing import run_tests
from tests.conftest import TRAILBLAZER


def test_trailblazer_compiles_strict_without_warnings():
    ctx = run(TRAILBLAZER, Options(strict=True))
    assert ctx.warnings == []


def test_trailblazer_carries_at_least_12_passing_cases():
    ctx = run(TRAILBLAZER, Options())
    results = run_tests(ctx)
    assert len(results) >= 12
    assert [r.failures for r in results if not r.passed] == []
