"""Bucketing is a documented function any platform can reproduce: golden vectors, shared with
docs/bucketing.md."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from runtime.bucketing import bucket

VECTORS = json.loads((Path(__file__).parent / "bucketing_vectors.json").read_text(encoding="utf-8"))
DOC = (Path(__file__).resolve().parents[2] / "docs" / "bucketing.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("row", VECTORS, ids=[f"{r['seed']}|{r['session_id'][:12]}" for r in VECTORS])
def test_bucketing_golden_vector(row):
    assert bucket(row["seed"], row["session_id"]) == row["bucket"]


def test_bucketing_matches_the_documented_formula():
    for row in VECTORS:
        d = hashlib.sha256(row["seed"].encode() + b"\x00" + row["session_id"].encode()).digest()
        assert int.from_bytes(d[:8], "big") % 10000 == row["bucket"]


def test_bucketing_vectors_are_listed_in_the_docs():
    assert len(VECTORS) >= 20
    for row in VECTORS:
        if row["session_id"].isprintable():
            assert f"| `{row['seed']}` | `{row['session_id']}` | {row['bucket']} |" in DOC


def test_bucketing_is_roughly_uniform():
    counts = [0] * 10
    for i in range(20000):
        counts[bucket("uniformity", f"s{i}") // 1000] += 1
    assert max(counts) - min(counts) < 300
