"""A slot seen as an OpenFeature flag (docs/openfeature.md): the one definition shared by the edge
server's OFREP endpoints (edge_server/ofrep.py) and the in-process provider
(runtime/openfeature_provider.py), so both answer alike. No OpenFeature import here.

- Flag key ``hero`` is the slot ``hero``; its value is the slot's content object.
- Flag key ``hero.headline`` (or ``hero.cta.text``) is a field of that content, for the typed
  resolvers; a field the chosen content does not have resolves to the caller's default.
- ``reason``: Strata's reason mapped to OpenFeature's (:data:`REASONS`); ``variant``: the experiment
  variant, else the rule, else the reason (``default``, ``holdout``, ...);
  ``metadata``: rule, layer, segment, experiment, Strata's own reason, bundle name and version.
- ``targetingKey``: the session id is a hash of it (:func:`session_id_for`), so the raw key (often a
  user id) never reaches a cookie, and the server and the provider bucket a key alike.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Mapping
from typing import Any

from .decide import Prepared
from .decision import Decision

#: Strata's reason -> OpenFeature's resolution reason.
REASONS = {
    "rule": "TARGETING_MATCH",
    "experiment": "SPLIT",
    "holdout": "SPLIT",  # a hash of the session put the visitor in the control group
    "default": "DEFAULT",
    "capped": "DEFAULT",  # a matching rule had shown its content often enough
    "no_consent": "DISABLED",  # personalization is off for this visitor
    "error": "ERROR",  # a condition failed to evaluate; the default is shown (the request does not fail)
}
#: Longest targeting key accepted (ids, UUIDs, hashes; not documents).
MAX_TARGETING_KEY = 256
#: Metadata keys, in the order they are written.
METADATA = ("rule", "layer", "segment", "experiment")
#: What :func:`value_of` returns for a field the content does not have.
MISSING: Any = object()


class FlagNotFound(LookupError):
    """The flag key names no slot of the bundle."""


def split_key(prepared: Prepared, key: str) -> tuple[str, tuple[str, ...]]:
    """(slot, field path) of a flag key: ``hero`` -> (hero, ()), ``hero.cta.text`` -> (hero, (cta, text)).
    Slot ids contain no dots (rulesets/schema.json), so the first dot ends the slot."""
    slot, dot, rest = key.partition(".")
    if slot not in prepared.slots or (dot and not all(rest.split("."))):
        raise FlagNotFound(f"flag {key[:100]!r} is not a slot of bundle {prepared.name} (slots: {', '.join(prepared.slot_ids)})")
    return slot, tuple(rest.split(".")) if rest else ()


def value_of(d: Decision, path: tuple[str, ...]) -> Any:
    """The content of a decision, or the field at ``path`` in it; :data:`MISSING` when absent."""
    v = d.content
    for name in path:
        if not isinstance(v, Mapping):
            return MISSING
        v = v.get(name, MISSING)
        if v is MISSING:
            return v
    return v



def variant_of(d: Decision) -> str:
    return d.variant or d.rule or d.reason


def metadata_of(prepared: Prepared, d: Decision) -> dict[str, str | int]:
    """Flag metadata: only string and number values, as OpenFeature requires (absent parts omitted)."""
    out: dict[str, str | int] = {}
    for name in METADATA:
        v = getattr(d, name)
        if v is not None:
            out[name] = v
    out["strataReason"] = d.reason
    out["bundle"] = prepared.name
    out["bundleVersion"] = prepared.version
    return out


def needs_session(prepared: Prepared, slot: str) -> bool:
    """Whether a slot's answer depends on the session id: the bundle has a holdout, or one of the
    slot's rules is an experiment. Such a flag needs a targeting key (or a session cookie)."""
    return prepared.holdout_bp > 0 or any(c.experiment is not None for c in prepared.slots[slot].candidates)


@functools.lru_cache(maxsize=4096)  # keys repeat (one per visitor); the hash is the costly part
def session_id_for(targeting_key: str) -> str:
    """The session id of a targeting key: 128 bits of SHA-256 over a domain-separated key, in the
    shape of a random session id (22 base64url characters). Deterministic, so every replica and the
    in-process provider put one key in the same experiment arm."""
    digest = hashlib.sha256(b"strata/targeting-key\x00" + targeting_key.encode("utf-8", "surrogatepass")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
