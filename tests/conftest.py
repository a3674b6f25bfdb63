from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import settings

from compiler.pipeline import Options, run

# Property tests draw their examples from a fixed seed, so a run's verdict depends only on the code
# (CI never fails on a draw that a rerun would not repeat); `pytest --hypothesis-profile=explore`
# draws new examples each run, to look for new failures while developing. No deadline: speed is
# measured in benchmarks/, never asserted in a unit test (a loaded machine made Hypothesis's default
# 200 ms deadline fail examples that pass on a rerun).
settings.register_profile("deterministic", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile("deterministic")

ROOT = Path(__file__).resolve().parents[1]
TRAILBLAZER = ROOT / "rulesets" / "trailblazer.yaml"
#: A fixed creation time for bundles made in tests: 2026-11-01 00:00:00 UTC.
CREATED = 1_793_491_200


def trailblazer_without_holdout() -> str:
    """The demo rule set with its 5% holdout set to 0. Servers give each new visitor a random session
    id, so a test expecting personalized content from a fresh visitor would fail in 1 run of 20.
    Its model's coefficients are inlined, so the text compiles the same wherever it is written."""
    text = trailblazer_inline_coefficients()
    assert "holdout:\n  percent: 5\n" in text, "the demo's holdout block changed: update this helper"
    return text.replace("holdout:\n  percent: 5\n", "holdout:\n  percent: 0\n")


def trailblazer_inline_coefficients() -> str:
    """The demo rule set with the coefficient file of its model (``coefficients: trailblazer/...``,
    relative to the rule set) written inline: a copy elsewhere would otherwise find no file and
    publish the model untrained."""
    import json

    import yaml

    text = TRAILBLAZER.read_text()
    line = "    coefficients: trailblazer/purchase_intent.coefficients.yaml\n"
    assert line in text, "the demo's model block changed: update this helper"
    coef = yaml.safe_load((TRAILBLAZER.parent / "trailblazer" / "purchase_intent.coefficients.yaml").read_text())
    inline = {"bias": coef["bias"], "weights": coef["weights"]}
    return text.replace(line, f"    coefficients: {json.dumps(inline)}\n")


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def trailblazer_bundle(signing_key: Ed25519PrivateKey) -> bytes:
    ctx = run(TRAILBLAZER, Options(key=signing_key, created=CREATED, version=100))
    assert ctx.bundle is not None
    return ctx.bundle


def make_bundle(text: str, key: Ed25519PrivateKey, *, created: int = CREATED, version: int = 1) -> bytes:
    ctx = run("inline.yaml", Options(key=key, created=created, version=version), text=text)
    assert ctx.bundle is not None
    return ctx.bundle
