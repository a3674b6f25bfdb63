"""Tally: float sums by key, for the request-path counters.

Like ``collections.Counter`` — a missing key reads as 0 and reading does not insert it, so ``t[k] += v``
is the whole API — but typed for float values, which Counter (``dict[K, int]``) is not.
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")


class Tally(dict[K, float]):
    __slots__ = ()

    def __missing__(self, key: K) -> float:
        return 0.0
