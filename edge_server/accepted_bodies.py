"""What accepted request bodies mean, remembered per bundle by their bytes (docs/server.md, "The
fourth round"): ``POST /v1/decide``'s fields and client signals, an OFREP evaluation's context.

Pages send the same few bodies over and over, and what a body's bytes say is fixed for a bundle and
a configuration, so an endpoint that has parsed and checked a body keeps the result: a repeat skips
the JSON parse and every check. Only accepted bodies are kept — a refusal is checked afresh each
time, in the same order — at most ``MAX_BODIES`` of at most ``MAX_BODY`` bytes each; the memory
starts afresh when full and for each new bundle. The results are shared between requests, so an
endpoint never writes one (tests/edge_server/test_decide_bodies.py, test_ofrep_contexts.py).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

T = TypeVar("T")


class AcceptedBodies(Generic[T]):
    """One endpoint's accepted bodies for the current bundle: body bytes -> what they mean."""

    MAX_BODIES = 1024
    MAX_BODY = 1024

    __slots__ = ("prepared", "memo")

    def __init__(self) -> None:
        self.prepared: Any = None
        self.memo: dict[bytes, T] = {}

    def get(self, raw: bytes, prepared: Any) -> T | None:
        """The remembered meaning of ``raw`` under ``prepared``, or None (a new bundle forgets all)."""
        if self.prepared is not prepared:
            self.prepared, self.memo = prepared, {}
        return self.memo.get(raw)

    def put(self, raw: bytes, value: T) -> T:
        """Remember an accepted body's meaning (a body over ``MAX_BODY`` bytes is not kept); ``value``."""
        if len(raw) <= self.MAX_BODY:
            if len(self.memo) >= self.MAX_BODIES:
                self.memo.clear()
            self.memo[raw] = value
        return value
