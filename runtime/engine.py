"""``Runtime``: holds the current prepared bundle and swaps in new ones atomically.

A new bundle is verified and validated in full (with rollback protection against the one held) and
planned before the reference is replaced, so a request sees either the old bundle or the new one,
never a half-loaded state, and a bundle that fails any step leaves the last good one in place. Every
failure is a ``BundleError``: an unexpected exception while verifying or planning (a case
validation missed, ``MemoryError``, ``RecursionError``) is refused as ``PrepareFailed``. A slot's
conditions are compiled on its first use (``plan.py``).

Rollback protection: a runtime serves one rule set. Its name is given (``name=``) or pinned by the
first bundle installed; a bundle of another name is refused (``WrongName``), and so is a version
below the highest one installed (``RollbackRefused``). ``floor`` carries that highest version over
from an earlier process (the edge server keeps it in a state file), so a restart cannot be rolled
back either.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .decide import Prepared
from .decision import Outcome
from .format import DEFAULT_CLOCK_SKEW
from .keys import trusted_keys
from .plan import no_cycle_collection
from .verify import check_rollback, verify_bundle


class NoBundle(RuntimeError):
    """``decide`` was called before any bundle was loaded."""


class Runtime:
    def __init__(
        self,
        keys: Iterable[Ed25519PublicKey | str | Path | bytes] | Mapping[str, Ed25519PublicKey],
        *,
        clock_skew: float = DEFAULT_CLOCK_SKEW,
        name: str | None = None,
        floor: int | None = None,
        pin: bool = True,
    ):
        """``name``: the one rule set to serve (None: the first bundle installed pins it, unless
        ``pin`` is False, as in development where the server compiles its own bundles).
        ``floor``: the lowest version acceptable (the highest seen before a restart)."""
        self.keys = dict(keys) if isinstance(keys, Mapping) else trusted_keys(keys)
        self.clock_skew = clock_skew
        self.name = name
        self.highest = floor
        self.pin = pin
        self._current: Prepared | None = None
        self._lock = threading.Lock()  # serialises loads; decide never takes it

    @property
    def current(self) -> Prepared | None:
        return self._current

    def _held(self) -> tuple[str, int] | None:
        if self.name is None or self.highest is None:
            return None
        return self.name, self.highest

    def prepare(self, data: bytes, *, now: float | None = None) -> Prepared:
        """Verify and prepare ``data`` without installing it (the expensive part, off any lock).
        Raises a ``BundleError`` and nothing else (``PrepareFailed`` for an unexpected exception)."""
        with no_cycle_collection():
            verified = verify_bundle(data, self.keys, now=now, clock_skew=self.clock_skew, held=self._held(), name=self.name)
            return Prepared(verified)

    def load(self, data: bytes, *, now: float | None = None) -> Prepared:
        """Verify, prepare and install a bundle; raises a ``BundleError`` and keeps the current one
        on any refusal."""
        with self._lock:
            prepared = self.prepare(data, now=now)
            self._install(prepared)
            return prepared

    def install(self, prepared: Prepared) -> None:
        """Install a bundle prepared elsewhere (e.g. in a worker thread), re-checking rollback: another
        bundle may have been installed since it was prepared."""
        with self._lock:
            self._install(prepared)

    def _install(self, prepared: Prepared) -> None:
        check_rollback(prepared.name, prepared.version, self.name, self._held())
        self._current = prepared
        if self.pin:
            self.name = prepared.name
        if self.highest is None or prepared.version > self.highest:
            self.highest = prepared.version

    def decide(self, signals: Mapping[str, Any], slots: Iterable[str] | None = None, **kw: Any) -> Outcome:
        cur = self._current
        if cur is None:
            raise NoBundle("no bundle loaded yet")
        return cur.decide(signals, slots, **kw)
