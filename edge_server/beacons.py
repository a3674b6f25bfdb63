"""What the browser runtime reports on ``POST /v1/events`` (docs/client-side.md, "Measurement"): the
exposures it decided on the device and a bundle it refused; worker/beacons.js is the port.

A browser decides its slots itself, so no edge saw the decision: the page sends, with
``navigator.sendBeacon`` and only with consent, ``{visit, exposures}`` — the visit nonce of its
session (never a visitor id) and up to ``MAX_BEACON_EXPOSURES`` ``[slot, arm, layer, population]``
entries. They count as aggregate exposures with the rules of a server-side decision: an exposure key
once per visit by this process's :class:`~edge_server.visit_ledger.VisitLedger` (so a replayed beacon
counts nothing more; with a fleet ledger, once per visit across the fleet: fleet_ledger.py), only keys the loaded bundle can decide (422 ``unknown_exposure`` otherwise) and
only the populations a consenting visit counts in. A visit's population is the one its first counted
exposure named, and it counts at most ``MAX_SHOWN`` keys (the cookie's bound of a visit), so a
forged nonce holds no more ledger memory than an honest visit. A conversion ``{goal, value?, visit}`` is attributed to the keys the ledger counted
for that nonce, once per visit and goal (events.py).

``{refused: reason}``: the browser refused its bundle (a bad signature, an expired bundle...): counted
in ``strata_client_bundle_refused_total{reason}``, reason one of ``BUNDLE_REFUSALS``; nothing of the
visitor is read.

The nonce is not authenticated (docs/security.md, "Browser reports"): a client can forge its own
reports, bounded by the ledger, the bundle's keys and the body's size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from runtime.decide import Prepared

from .contract import BUNDLE_REFUSALS, MAX_BEACON_EXPOSURES, POPULATIONS, VISIT_NONCE_LENGTH, error
from .measure import HOLDOUT, PERSONALIZED, arm_of, exposure_key
from .session import MAX_SHOWN
from .visit_ledger import VisitRecord

_NONCE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
#: The populations a browser's exposure may name: a beacon is only sent with consent.
BEACON_POPULATIONS = (POPULATIONS[PERSONALIZED], POPULATIONS[HOLDOUT])


def visit_of(value: object) -> str:
    """The visit nonce of a body's ``visit`` field, or 422."""
    if not isinstance(value, str) or len(value) != VISIT_NONCE_LENGTH or not _NONCE_CHARS.issuperset(value):
        raise error("visit_nonce", length=VISIT_NONCE_LENGTH)
    return value


def refusal_of(body: dict[str, object]) -> str:
    """The reason of a ``{refused}`` body, or 422."""
    if set(body) != {"refused"}:
        raise error("events_body")
    reason = body["refused"]
    if not isinstance(reason, str) or reason not in BUNDLE_REFUSALS:
        raise error("bundle_refusal", reasons=", ".join(BUNDLE_REFUSALS))
    return reason


def known_exposures(prepared: Prepared) -> frozenset[tuple[str, str, str]]:
    """Every (slot, arm, layer) the bundle can decide: each slot's default, rules and experiment variants."""
    keys: set[tuple[str, str, str]] = set()
    for sid in prepared.slot_ids:
        slot = prepared.slot(sid)
        assert slot is not None
        decisions = [slot.fallback["default"]]
        for c in slot.candidates:
            decisions += [d for _, d in c.variants] if c.experiment is not None else [c.decision]
        keys.update((sid, *arm_of(d)) for d in decisions)
    return frozenset(keys)


def exposures_of(body: dict[str, object], known: frozenset[tuple[str, str, str]], bundle: str) -> tuple[str, list[tuple[str, str, str, str]]]:
    """(visit nonce, [(slot, arm, layer, population)]) of a ``{visit, exposures}`` body, or 422."""
    if set(body) != {"visit", "exposures"}:
        raise error("events_body")
    nonce = visit_of(body["visit"])
    entries = body["exposures"]
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_BEACON_EXPOSURES:
        raise error("beacon_exposures", limit=MAX_BEACON_EXPOSURES)
    out = []
    for i, e in enumerate(entries):
        if (not isinstance(e, list) or len(e) != 4 or not all(isinstance(x, str) for x in e)
                or (e[0], e[1], e[2]) not in known or e[3] not in BEACON_POPULATIONS):
            raise error("unknown_exposure", index=i, bundle=bundle)
        out.append((e[0], e[1], e[2], e[3]))
    return nonce, out


def count_exposures(visit: VisitRecord, entries: list[tuple[str, str, str, str]], exposures: Counter[tuple[str, str, str, str]],
                    claim: Callable[[str, tuple[str, str, str, str]], None] | None = None) -> int:
    """Count ``entries`` of the visit ``visit`` (its ledger record) in ``exposures``: each key new to the
    visit, in the visit's population, up to ``MAX_SHOWN`` keys a visit; how many were new. With
    ``claim`` (a fleet ledger: events.py), a new key is handed to ``claim(key, row)`` instead, which
    counts the row once the visit's owner answers that it is the fleet's first."""
    counted = 0
    for slot, arm, layer, population in entries:
        if visit.population is None:
            visit.population = population
        if population != visit.population or len(visit.shown) >= MAX_SHOWN:
            continue
        key = exposure_key(slot, arm, layer)
        if visit.first_exposure(key):
            if claim is None:
                exposures[(slot, arm, layer, population)] += 1
            else:
                claim(key, (slot, arm, layer, population))
            counted += 1
    return counted
