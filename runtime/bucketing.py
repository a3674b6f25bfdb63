"""Deterministic bucketing of a session into 10,000 buckets (docs/bucketing.md).

    bucket(seed, session_id) = uint64_be(SHA-256(utf8(seed) || 0x00 || utf8(session_id))[0:8]) mod 10000

Seeds: ``holdout:<salt>`` for the global holdout, ``traffic:<group or salt>`` for an experiment's
traffic allocation (a shared group seed is what makes the experiments of an exclusion group split
one bucket space without overlap), and ``variant:<salt>`` for the variant. SHA-256 is in every
standard library, so any platform reproduces the same buckets; the modulo bias of 2^64 mod 10000
is below 10^-15.
"""

from __future__ import annotations

import hashlib

from .format import BUCKETS


def bucket(seed: str, session_id: str) -> int:
    digest = hashlib.sha256(seed.encode("utf-8") + b"\x00" + session_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def holdout_seed(salt: str) -> str:
    return "holdout:" + salt


def traffic_seed(group_or_salt: str) -> str:
    return "traffic:" + group_or_salt


def variant_seed(salt: str) -> str:
    return "variant:" + salt
