"""``Runtime``: holds the current prepared bundle and swaps in new ones atomically.

A new bundle is verified (with rollback protection against the one held) and fully prepared
before the reference is replaced, so a request sees either the old bundle or the new one, never a
half-loaded state, and a bundle that fails any step leaves the last good one in place.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .decision import Outcome
from .keys import trusted_keys
from .prepare import Prepared
from .verify import DEFAULT_CLOCK_SKEW, verify_bundle


class NoBundle(RuntimeError):
    """``decide`` was called before any bundle was loaded."""


class Runtime:
    def __init__(
        self,
        keys: Iterable[Ed25519PublicKey | str | Path | bytes] | Mapping[str, Ed25519PublicKey],
        *,
        clock_skew: float = DEFAULT_CLOCK_SKEW,
    ):
        self.keys = dict(keys) if isinstance(keys, Mapping) else trusted_keys(keys)
        self.clock_skew = clock_skew
        self._current: Prepared | None = None
        self._lock = threading.Lock()  # serialises loads; decide never takes it

    @property
    def current(self) -> Prepared | None:
        return self._current

    def prepare(self, data: bytes, *, now: float | None = None) -> Prepared:
        """Verify and prepare ``data`` without installing it (the expensive part, off any lock)."""
        cur = self._current
        held = (cur.name, cur.version) if cur is not None else None
        return Prepared(verify_bundle(data, self.keys, now=now, clock_skew=self.clock_skew, held=held))

    def load(self, data: bytes, *, now: float | None = None) -> Prepared:
        """Verify, prepare and install a bundle; raises a ``BundleError`` and keeps the current one
        on any refusal."""
        with self._lock:
            prepared = self.prepare(data, now=now)
            self._current = prepared
            return prepared

    def install(self, prepared: Prepared) -> None:
        """Install a bundle prepared elsewhere (e.g. in a worker thread), re-checking rollback."""
        from .errors import RollbackRefused

        with self._lock:
            cur = self._current
            if cur is not None and cur.name == prepared.name and prepared.version < cur.version:
                raise RollbackRefused(f"bundle {prepared.name} v{prepared.version} is older than v{cur.version} already loaded; refusing to roll back")
            self._current = prepared

    def decide(self, signals: Mapping[str, Any], slots: Iterable[str] | None = None, **kw: Any) -> Outcome:
        cur = self._current
        if cur is None:
            raise NoBundle("no bundle loaded yet")
        return cur.decide(signals, slots, **kw)
