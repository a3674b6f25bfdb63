"""Random bytes for the session: the session id, the visit nonce, the lineage tag and the cookie's
AES-GCM nonce, read from the OS in batches instead of one ``os.urandom`` call each (issue #26: a
``getrandom`` call costs ~0.4 µs, a value from the batch ~0.2 µs).

Each :class:`RandomSource` hands out fixed-size values cut from one ``os.urandom`` read; every value
is handed out once (a list iterator's ``next`` is one C call, so two threads never get the same one).
The values are the OS's random bytes as before, only read earlier: an AES-GCM nonce is still 96
random bits, never reused within a process. Across processes: a forked child must not hand out what
its parent still holds, so ``os.register_at_fork`` empties every source in the child, which then
reads its own (tests/edge_server/test_random_source.py forks a real child and compares). While
``os.urandom`` is replaced (tests/vectors/generate_http.py fixes the nonces of its vectors so),
every value is one call of the replacement, exactly as before.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator

#: Values read from the OS at a time, per source.
BATCH = 256

#: The OS's random source as imported; while ``os.urandom`` is replaced, take() calls the replacement per value.
_URANDOM = os.urandom
_SOURCES: weakref.WeakSet[RandomSource] = weakref.WeakSet()


class RandomSource:
    """``take()``: ``size`` random bytes, from a batch read ahead."""

    __slots__ = ("size", "_values", "__weakref__")

    def __init__(self, size: int):
        if size <= 0:
            raise ValueError(f"RandomSource: size must be positive, got {size} (a value of 0 bytes is not random)")
        self.size = size
        self._values: Iterator[bytes] = iter(())
        _SOURCES.add(self)

    def take(self) -> bytes:
        if os.urandom is not _URANDOM:  # replaced (the vector generators fix their nonces so): one call per value, as before
            return os.urandom(self.size)
        v = next(self._values, None)
        if v is None:
            n = self.size
            raw = os.urandom(n * BATCH)
            self._values = it = iter([raw[i:i + n] for i in range(0, n * BATCH, n)])
            v = next(it)
        return v

    def discard(self) -> None:
        """Forget the values read ahead (the next take() reads a new batch)."""
        self._values = iter(())


def _after_fork_in_child() -> None:
    for s in list(_SOURCES):
        s.discard()


os.register_at_fork(after_in_child=_after_fork_in_child)
