"""Bundles for tests and benchmarks: rule-set text compiled and signed, with a caller's key
(:func:`make_bundle`) or with the fixed test key (:func:`compile_bundle`: gzip codec, expiring in
2100, deterministic byte for byte: what the shared vectors and the JavaScript benchmarks use)."""

from __future__ import annotations

import gzip
import hashlib
from typing import Any

import msgpack
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.codec import to_columns

from .. import encode
from ..pipeline import Options, run
from .fixtures import CREATED, EXPIRES, ROOT


def make_bundle(text: str, key: Ed25519PrivateKey, *, created: int = CREATED, version: int = 1) -> bytes:
    """Compile ``text`` (as a file ``inline.yaml``) and sign it with ``key``."""
    ctx = run("inline.yaml", Options(key=key, created=created, version=version), text=text)
    assert ctx.bundle is not None
    return ctx.bundle


def vector_key() -> Ed25519PrivateKey:
    """The fixed signing key of the vectors and benchmark fixtures, derived from a public seed: a
    TEST key, never to be trusted anywhere else."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"strata conformance vectors").digest())


def public_pem() -> bytes:
    """The test key's public half, PEM (what a server or worker is given to verify with)."""
    return vector_key().public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def compile_payload(name: str, text: str, version: int = 1) -> dict[str, Any]:
    """Compile ``text`` into a payload expiring in 2100, as if it were ``rulesets/<name>.yaml`` (a
    model's coefficient file is found next to the rule set, as the demo's is)."""
    ctx = run(str(ROOT / "rulesets" / f"{name}.yaml"), Options(created=CREATED, version=version), text=text)
    assert ctx.payload is not None, f"{name} does not compile"
    return dict(ctx.payload, expires=EXPIRES)


def sign_payload(payload: dict[str, Any], extra_column: str | None = None) -> bytes:
    """Sign a payload (as compiled, or tampered with) with the test key, gzip codec;
    ``extra_column`` adds a candidate column the format does not define."""
    if extra_column is None:
        return encode.sign(encode.encode_payload(payload, "gzip"), vector_key(), "gzip")
    cols = to_columns(payload)
    cols["candidates"][extra_column] = [1] * sum(len(sl["candidates"]) for sl in payload["slots"])
    return encode.sign(gzip.compress(msgpack.packb(cols, use_bin_type=True), compresslevel=9, mtime=0), vector_key(), "gzip")


def compile_bundle(name: str, text: str, version: int = 1) -> bytes:
    """Compile ``text`` and sign it with the test key, gzip codec, expiring in 2100."""
    return sign_payload(compile_payload(name, text, version))
