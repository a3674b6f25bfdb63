"""edge_server/json_syntax.py, the one definition of a JSON request body both runtimes apply: it
accepts exactly the bodies orjson (the server's parser) accepts, over generated hostile classes
(tests/vectors/hostile_http.py) and arbitrary bytes, and every problem names a byte inside the
body or its end. The worker's port answers the same (tests/vectors/bodies.json,
edge_worker/test/worker_vectors.test.js)."""

from __future__ import annotations

import random
import re

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_server.json_syntax import MAX_DEPTH, json_problem
from tests.vectors.hostile_http import hostile_body


def _orjson_accepts(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


def _agrees(raw: bytes) -> None:
    problem = json_problem(raw)
    assert (problem is None) == _orjson_accepts(raw), (raw[:200], problem)
    if problem is not None:
        m = re.fullmatch(r"\D.* at byte (\d+)", problem)
        assert m and 0 <= int(m.group(1)) <= len(raw), problem


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32))
def test_json_syntax_accepts_exactly_what_orjson_accepts_on_hostile_bodies(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(100):
        _agrees(hostile_body(rng))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=40) | st.text(alphabet='{}[],:"\\ u0123456789abcdefDe.-+tnulrsf', max_size=40).map(str.encode))
def test_json_syntax_accepts_exactly_what_orjson_accepts_on_arbitrary_bytes(raw: bytes) -> None:
    if raw.strip():  # a blank body is {} before either is asked
        _agrees(raw)


def test_json_syntax_names_the_depth_limit_and_where_it_is_crossed() -> None:
    assert json_problem(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is None
    assert json_problem(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)) == f"arrays and objects nested deeper than {MAX_DEPTH} at byte {MAX_DEPTH}"
    assert json_problem(b'{"a":' * (MAX_DEPTH + 1)) == f"arrays and objects nested deeper than {MAX_DEPTH} at byte {5 * MAX_DEPTH}"
