"""Strata runtime: verify a bundle once, decide in microseconds.

Depends on msgpack, cryptography and google-re2 only, so it embeds anywhere::

    from runtime import Runtime
    rt = Runtime(["keys/strata.pub"])
    rt.load(open("trailblazer.bundle", "rb").read())
    outcome = rt.decide({"device.type": "mobile"}, ["hero"], session_id="9f2c...")
"""

from __future__ import annotations

from .decide import Prepared
from .decision import REASONS, Decision, Outcome
from .engine import NoBundle, Runtime
from .errors import (
    BadSignature,
    BundleError,
    BundleTooLarge,
    Expired,
    InvalidIR,
    MalformedBundle,
    NotYetValid,
    PrepareFailed,
    RollbackRefused,
    UnknownKey,
    UnsupportedFormat,
    WrongName,
)
from .keys import key_id, load_public_key, trusted_keys
from .verify import VerifiedBundle, verify_bundle

__all__ = [
    "REASONS", "BadSignature", "BundleError", "BundleTooLarge", "Decision", "Expired", "InvalidIR",
    "MalformedBundle", "NoBundle", "NotYetValid", "Outcome", "PrepareFailed", "Prepared", "RollbackRefused",
    "Runtime", "UnknownKey", "UnsupportedFormat", "VerifiedBundle", "WrongName", "key_id", "load_public_key",
    "trusted_keys", "verify_bundle",
]
