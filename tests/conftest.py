from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import settings

from compiler.harness.bundles import make_bundle
from compiler.harness.fixtures import CREATED, ROOT, TRAILBLAZER, trailblazer_inline_coefficients, trailblazer_without_holdout
from compiler.pipeline import Options, run

# The shared harness (compiler/harness/, edge_server/harness/) holds the helpers benchmarks use too;
# these names are handed on for the tests that import them from here. Fixtures stay thin wrappers.
__all__ = ["CREATED", "ROOT", "TRAILBLAZER", "make_bundle", "trailblazer_inline_coefficients", "trailblazer_without_holdout"]

# Property tests draw their examples from a fixed seed, so a run's verdict depends only on the code
# (CI never fails on a draw that a rerun would not repeat); `pytest --hypothesis-profile=explore`
# draws new examples each run, to look for new failures while developing. No deadline: speed is
# measured in benchmarks/, never asserted in a unit test (a loaded machine made Hypothesis's default
# 200 ms deadline fail examples that pass on a rerun).
settings.register_profile("deterministic", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile("deterministic")


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def trailblazer_bundle(signing_key: Ed25519PrivateKey) -> bytes:
    ctx = run(TRAILBLAZER, Options(key=signing_key, created=CREATED, version=100))
    assert ctx.bundle is not None
    return ctx.bundle
