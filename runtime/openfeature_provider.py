"""An OpenFeature provider that decides in-process with Strata's runtime (docs/openfeature.md).

Needs the ``openfeature`` extra (``pip install 'strata-edge[openfeature]'``); the rest of the
runtime never imports this module, so ``import runtime`` stays free of OpenFeature
(tests/runtime/test_imports.py)::

    from openfeature import api
    from runtime import Runtime
    from runtime.openfeature_provider import StrataProvider

    rt = Runtime(["keys/strata.pub"])
    provider = StrataProvider(rt)
    provider.load(open("trailblazer.bundle", "rb").read())   # verified, then swapped in
    api.set_provider(provider)
    client = api.get_client()
    ctx = EvaluationContext("visitor-42", {"device.type": "mobile"})
    client.get_object_value("hero", {}, ctx)                 # the slot's content
    client.get_string_value("hero.headline", "Welcome", ctx) # one field of it

The mapping (flag keys, reasons, variants, metadata, targeting key -> session id) is
runtime/flags.py's, the same as the edge server's OFREP endpoints. Context attributes are signals:
any declared signal (in-process, the application derives request and session signals itself),
checked against its declared type (``INVALID_CONTEXT`` otherwise); the attribute ``consent``
(bool, default: the provider's ``consent``) says whether the visitor consented.

Events: ``PROVIDER_CONFIGURATION_CHANGED`` (flags_changed: the slots) when :meth:`load` or
:meth:`install` swaps a bundle in; ``PROVIDER_STALE`` once the bundle held has expired (noticed at
the next resolution or :meth:`check`); ``PROVIDER_READY`` when a bundle arrives after none or after
a stale one. Resolutions from an expired bundle still answer, with reason ``STALE``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import (
    FlagNotFoundError,
    InvalidContextError,
    ProviderNotReadyError,
    TargetingKeyMissingError,
    TypeMismatchError,
)
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata

from .decide import Prepared
from .decision import Decision
from .engine import Runtime
from .flags import MISSING, REASONS, FlagNotFound, metadata_of, needs_session, session_id_for, split_key, value_of, variant_of

#: The context attribute that carries the visitor's consent (not a signal).
CONSENT = "consent"
_REASONS = {k: Reason(v) for k, v in REASONS.items()}


class _Bundle:
    """Per prepared bundle: the slots needing a session and each decision's metadata, built once."""

    __slots__ = ("prepared", "needs", "metadata", "keys")

    def __init__(self, prepared: Prepared):
        self.prepared = prepared
        self.needs = frozenset(s for s in prepared.slot_ids if needs_session(prepared, s))
        self.metadata: dict[Decision, dict[str, str | int]] = {}
        self.keys: dict[str, tuple[str, tuple[str, ...]]] = {}  # flag key -> (slot, field path), for keys that exist

    def split(self, key: str) -> tuple[str, tuple[str, ...]]:
        out = self.keys.get(key)
        if out is None:
            try:
                out = split_key(self.prepared, key)
            except FlagNotFound as e:
                raise FlagNotFoundError(str(e)) from None
            if len(self.keys) < 4096:  # bounded: keys come from code, but a caller could make up many
                self.keys[key] = out
        return out


class StrataProvider(AbstractProvider):
    def __init__(self, runtime: Runtime, *, consent: bool = True, clock: Callable[[], float] = time.time):
        super().__init__()
        self.runtime = runtime
        self.consent = consent
        self.clock = clock
        self._bundle: _Bundle | None = None
        self._stale = False

    def get_metadata(self) -> Metadata:
        return Metadata(name="strata")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        if self.runtime.current is None:
            raise ProviderNotReadyError("no bundle loaded yet: call StrataProvider.load(bundle_bytes)")

    # ------------------------------------------------------------------ bundles
    def load(self, data: bytes, *, now: float | None = None) -> Prepared:
        """Verify and swap in a bundle (a ``BundleError`` keeps the current one), then tell the SDK."""
        before = self.runtime.current
        prepared = self.runtime.load(data, now=now)
        self._swapped(before, prepared)
        return prepared

    def install(self, prepared: Prepared) -> None:
        """Swap in a bundle prepared elsewhere (``Runtime.prepare``), then tell the SDK."""
        before = self.runtime.current
        self.runtime.install(prepared)
        self._swapped(before, prepared)

    def _swapped(self, before: Prepared | None, prepared: Prepared) -> None:
        was_stale, self._stale = self._stale, False
        details = ProviderEventDetails(flags_changed=list(prepared.slot_ids), message=f"bundle {prepared.name} v{prepared.version}",
                                       metadata={"bundle": prepared.name, "bundleVersion": prepared.version})
        if before is None or was_stale:
            self.emit_provider_ready(details)
        self.emit_provider_configuration_changed(details)
        self.check()

    def check(self, now: float | None = None) -> bool:
        """True when the bundle held has expired; the first time, emits ``PROVIDER_STALE``."""
        cur = self.runtime.current
        if cur is None or (self.clock() if now is None else now) < cur.expires:
            return False
        if not self._stale:
            self._stale = True
            self.emit_provider_stale(ProviderEventDetails(message=f"bundle {cur.name} v{cur.version} expired at {cur.expires}",
                                                          metadata={"bundle": cur.name, "bundleVersion": cur.version}))
        return True

    # ------------------------------------------------------------------ resolution
    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return self._resolve(flag_key, default_value, evaluation_context, (dict, list))

    def resolve_string_details(self, flag_key: str, default_value: str,
                               evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context, (str,))

    def resolve_boolean_details(self, flag_key: str, default_value: bool,
                                evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context, (bool,))

    def resolve_integer_details(self, flag_key: str, default_value: int,
                                evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[int]:
        return self._resolve(flag_key, default_value, evaluation_context, (int,))

    def resolve_float_details(self, flag_key: str, default_value: float,
                              evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[float]:
        return self._resolve(flag_key, default_value, evaluation_context, (float, int))

    def _resolve(self, flag_key: str, default: Any, ctx: EvaluationContext | None, types: tuple[type, ...]) -> FlagResolutionDetails[Any]:
        prepared = self.runtime.current
        if prepared is None:
            raise ProviderNotReadyError("no bundle loaded yet")
        b = self._bundle
        if b is None or b.prepared is not prepared:
            b = self._bundle = _Bundle(prepared)
        now = self.clock()
        stale = now >= prepared.expires and self.check(now)
        slot, path = b.split(flag_key)
        signals, consent = self._signals(prepared, ctx.attributes if ctx is not None else {})
        key = ctx.targeting_key if ctx is not None else None
        sid = session_id_for(key) if key else None
        if sid is None and consent and slot in b.needs:
            raise TargetingKeyMissingError(f"flag {slot!r} depends on the session (an experiment or the holdout): set a targeting key")
        d = prepared.decide(signals, (slot,), session_id=sid, consent=consent, now=now, checked=True).decisions[slot]
        value: Any = value_of(d, path)
        if value is MISSING:
            value = default  # the chosen content has no such field: the caller's default
        else:
            if not _is(value, types):
                raise TypeMismatchError(f"flag {flag_key!r} is a {type(value).__name__}, not a {types[0].__name__}")
            if types[0] is float:
                value = float(value)
        meta = b.metadata.get(d)
        if meta is None:
            meta = b.metadata[d] = metadata_of(prepared, d)
        return FlagResolutionDetails(value=value, reason=Reason.STALE if stale else _REASONS[d.reason], variant=variant_of(d), flag_metadata=meta)

    def _signals(self, prepared: Prepared, attrs: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
        """Declared signals of the context, checked (and coerced where needed: 249 -> 249.0 for a
        double); and the consent attribute. The context itself when nothing needs changing."""
        consent = self.consent
        out: Mapping[str, Any] = attrs
        checkers = prepared.checkers
        for name, value in attrs.items():
            chk = checkers.get(name)
            if chk is None:
                if name != CONSENT:
                    raise InvalidContextError(f"unknown signal {name!r}: the rule set does not declare it")
                if not isinstance(value, bool):
                    raise InvalidContextError("context attribute 'consent' must be true or false")
                consent = value
            elif not chk(value):  # checked first: coercion costs as much as deciding, and is rarely needed
                value = prepared.coercers[name](value)
                if not chk(value):
                    raise InvalidContextError(f"signal {name!r} must be a {prepared.signal_types[name]} within its declared bounds")
                out = dict(out)
                out[name] = value
        if CONSENT in out:
            out = {k: v for k, v in out.items() if k != CONSENT}
        return out, consent

def _is(value: Any, types: tuple[type, ...]) -> bool:
    """isinstance, except that a bool is no number (JSON true is not 1)."""
    return isinstance(value, types) and (bool in types or not isinstance(value, bool))
