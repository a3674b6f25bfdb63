"""Hostile request bodies and requests, generated from a seed, for the shared vectors
(tests/vectors/generate_http.py: bodies.json) and the differential fuzz of the two runtimes
(tests/edge_worker/test_differential.py).

Body classes: valid JSON mutated by pieces that break it (brackets, quotes, escapes, lone and
paired surrogate escapes, numbers at and past the double range, leading zeros, literals cut
short, NaN/Infinity, control characters, invalid UTF-8, UTF-16 surrogates encoded in UTF-8, a
byte order mark); nesting around the depth limit (1020-1030, arrays and objects, closed, unclosed
or broken); pieces alone."""

from __future__ import annotations

import json
import random

PIECES = [b"{", b"}", b"[", b"]", b",", b":", b'"', b'"a"', b'"\\u00e9"', b'"\\ud83d\\ude00"', b'"\\ud800"', b'"\\udc00"', b'"\\ud800\\u0041"',
          b'"\\uD83D\\uDE00"', b"\\", b"\\u12", b"1", b"0", b"-", b".", b"e", b"E+", b"1e400", b"-1e309", b"1.7976931348623157e308",
          b"1.7976931348623159e308", b"-0.0e-5", b"9" * 310, b"123456789012345678901234567890", b"true", b"tru", b"null", b"nul", b"false",
          b" ", b"\t", b"\n", b"\r", b"\x0b", b"\x0c", b"\x00", b"\x01", b"\x7f", b"\xc3\xa9", b"\xe2\x82", b"\xff", b"\xc0\xaf", b"\xed\xa0\x80",
          b"\xf4\x90\x80\x80", b"\xef\xbb\xbf", b"NaN", b"Infinity", b"01", b"1.", b".5", b'"\x1f"', b'"x\\/y"', b'"\\x"', b"//", b"/*"]
#: Valid request bodies the mutations start from.
SEEDS = [{"a": [1, 2, {"b": None}]}, [True, 1.5, "x"], "s", 0, {"page": {"url": "/"}, "slots": ["hero"]},
         {"goal": "purchase", "value": 12.5}, {"signals": {"cart.value": 1e308, "search.query": "\u00e9\U0001f600"}}]


def hostile_body(rng: random.Random, deep: float = 0.15) -> bytes:
    """One body of a hostile class (see the module's text); ``deep``: the share nested around the limit."""
    r = rng.random()
    if r < 0.4:
        s = bytearray(json.dumps(rng.choice(SEEDS), ensure_ascii=rng.random() < 0.5).encode())
        for _ in range(rng.randint(0, 3)):
            p = rng.randrange(len(s) + 1)
            s[p : p + rng.randint(0, 2)] = rng.choice(PIECES)
        return bytes(s)
    if r < 0.4 + deep:
        depth = rng.randint(1020, 1030)
        opener = rng.choice([b"[", b'{"a":', b'[{"k":'])
        closer = {b"[": b"]", b'{"a":': b"}", b'[{"k":': b"}]"}[opener]
        return opener * depth + rng.choice([b"1", b"", b"x", b"[]"]) + closer * rng.choice([depth, depth - 1, 0])
    return b"".join(rng.choice(PIECES) for _ in range(rng.randint(1, 10)))
