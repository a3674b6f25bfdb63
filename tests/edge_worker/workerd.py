"""The edge worker's tools for tests: :func:`require_node` turns a missing Node.js into a skip (a
failure on CI). Running workerd lives in the shared harness, ``edge_server/harness/workerd.py``; its
names are handed on here for tests written against this module."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge_server.harness.origin import StaticOrigin
from edge_server.harness.server import RunningServer
from edge_server.harness.workerd import EDGE_WORKER, MAX_WORKER_BYTES, WORKERD, RunningWorkerd, ToolMissing, bundle_worker, npm_ci

__all__ = ["EDGE_WORKER", "MAX_WORKER_BYTES", "WORKERD", "RunningWorkerd", "StaticOrigin", "ToolMissing", "both_runtimes", "bundle_worker", "npm_ci",
           "require_node", "serve_args", "signed_bundle", "worker_env"]


def require_node() -> None:
    """Node.js and the locked npm dependencies, or: a failed test on CI (CI=true: the JS side must
    run there), a skip with the reason elsewhere."""
    try:
        npm_ci()
    except ToolMissing as e:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(str(e), pytrace=False)
        pytest.skip(str(e))


@contextmanager
def both_runtimes(d: Path, ruleset: str, cookie_keys: str, token: str) -> Iterator[tuple[dict[str, str], bytes, Ed25519PublicKey]]:
    """One `strata serve` and one workerd of ``ruleset`` (compiled with the gzip codec, signed with a new
    key), sharing the cookie keys and the stats token: ({"py": url, "wk": url}, the bundle, its public key)."""
    require_node()
    bundle, key = signed_bundle(d, ruleset)
    origin = StaticOrigin(d / "bundles")
    server = worker = None
    try:
        server = RunningServer(serve_args(d, token), env={"STRATA_COOKIE_KEYS": cookie_keys}, log=d / "server.log")
        worker = RunningWorkerd(d / "workerd", worker_env(d, origin, cookie_keys, token))
        yield {"py": server.url, "wk": worker.url}, bundle, key.public_key()
    finally:
        for p in (worker, server):
            if p is not None:
                p.stop()
        origin.stop()


def signed_bundle(d: Path, ruleset: str) -> tuple[bytes, Ed25519PrivateKey]:
    """``ruleset`` compiled with the gzip codec and signed with a new key, as d/bundles/counting.bundle,
    its public key in d/site.pub: (the bundle, the key)."""
    from compiler.pipeline import Options, run

    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    (d / "site.pub").write_text(pub)
    (d / "bundles").mkdir()
    ctx = run("counting.yaml", Options(key=key, created=int(time.time()) - 60, version=1, codec="gzip"), text=ruleset)
    assert ctx.bundle is not None
    (d / "bundles" / "counting.bundle").write_bytes(ctx.bundle)
    return ctx.bundle, key


def serve_args(d: Path, token: str) -> list[str]:
    """`strata serve` arguments of signed_bundle's bundle, with the stats token."""
    return ["--bundle", str(d / "bundles" / "counting.bundle"), "--pub", str(d / "site.pub"), "--insecure-cookie", "--stats-token", token]


def worker_env(d: Path, origin: StaticOrigin, cookie_keys: str, token: str) -> dict[str, str]:
    """A workerd's bindings for signed_bundle's bundle served by ``origin``, with the cookie keys and the stats token."""
    return {"STRATA_BUNDLE": origin.url + "/counting.bundle", "STRATA_PUB": (d / "site.pub").read_text(), "STRATA_COOKIE_KEYS": cookie_keys,
            "STRATA_COOKIE_SECURE": "0", "STRATA_STATS_TOKEN": token}
