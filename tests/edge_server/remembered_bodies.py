"""The check both endpoints that remember accepted bodies (edge_server/accepted_bodies.py) pass:
decide's fields (test_decide_bodies.py) and OFREP's contexts (test_ofrep_contexts.py)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from edge_server.accepted_bodies import AcceptedBodies


def assert_remembered_as_afresh(rng: random.Random, pool: list[bytes], remembered: Callable[[bytes], tuple[Any, ...]],
                                afresh: Callable[[bytes], tuple[Any, ...]], bodies: AcceptedBodies[Any]) -> None:
    """3,000 draws from ``pool`` (each answer ``("ok", ...)`` or ``("refused", ...)``): the endpoint's
    answer equals the one checked afresh; an accepted body is then remembered, a refusal never."""
    outcomes = {"ok": 0, "refused": 0}
    for _ in range(3000):
        raw = rng.choice(pool)
        got = remembered(raw)
        assert got == afresh(raw), raw
        outcomes[got[0]] += 1
        if got[0] == "ok":
            assert raw in bodies.memo
        else:
            assert raw not in bodies.memo  # refusals are checked afresh each time
    assert outcomes["ok"] > 500 and outcomes["refused"] > 500
    assert len(bodies.memo) > 50
