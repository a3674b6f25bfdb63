"""What both edges promise, from the one table ``edge_contract.json`` beside this module: the tables
that turn a request into signals (referrer hosts, UTM names, device patterns, unknown countries) and
the HTTP contract of ``POST /v1/decide`` and ``POST /v1/events`` (``Vary``, limits, body fields,
consent words, every 422 message). The worker reads the same file (``edge_worker/worker/contract.js``);
``tests/edge_server/test_contract.py`` and ``edge_worker/test/contract.test.js`` fail when a consumer
keeps a copy instead. It imports nothing of the server: the offline tools read it too.

A message is a template: ``{name}`` is replaced by a value the caller formats (names as ``repr``
gives them, numbers as ``format(x, "g")``), so both edges answer the same text byte for byte::

    >>> error("slots_type", max_slots=64).message
    'slots must be a list of at most 64 slot names'
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import ApiError

PATH = Path(__file__).with_name("edge_contract.json")
#: The table as JSON gives it (read-only by convention).
TABLE: dict[str, Any] = json.loads(PATH.read_text(encoding="utf-8"))
_SIGNALS: dict[str, Any] = TABLE["signals"]
_HTTP: dict[str, Any] = TABLE["http"]

#: Referrer host patterns of referrer.class ``email``, ``search`` and ``social`` (docs/signals.md).
WEBMAIL: tuple[str, ...] = tuple(_SIGNALS["referrer_hosts"]["webmail"])
SEARCH: tuple[str, ...] = tuple(_SIGNALS["referrer_hosts"]["search"])
SOCIAL: tuple[str, ...] = tuple(_SIGNALS["referrer_hosts"]["social"])
#: UTM parameter names: ``utm_<name>`` in the page URL gives ``utm.<name>``.
UTM: tuple[str, ...] = tuple(_SIGNALS["utm"]["values"])
#: device.type patterns, searched case-insensitively in the User-Agent.
BOT: re.Pattern[str] = re.compile(_SIGNALS["device_patterns"]["bot"], re.I)
TABLET: re.Pattern[str] = re.compile(_SIGNALS["device_patterns"]["tablet"], re.I)
MOBILE: re.Pattern[str] = re.compile(_SIGNALS["device_patterns"]["mobile"], re.I)
#: What a signal keeps of its source, in code points (the lengths' reasons: edge_contract.json).
_LENGTHS: dict[str, int] = {k: v for k, v in _SIGNALS["lengths"].items() if k != "doc"}
MAX_QUERY_PARAMS: int = _LENGTHS["MAX_QUERY_PARAMS"]
MAX_QUERY_KEY: int = _LENGTHS["MAX_QUERY_KEY"]
MAX_QUERY_VALUE: int = _LENGTHS["MAX_QUERY_VALUE"]
MAX_UTM: int = _LENGTHS["MAX_UTM"]
MAX_REFERRER_HOST: int = _LENGTHS["MAX_REFERRER_HOST"]
MAX_DEVICE_NAME: int = _LENGTHS["MAX_DEVICE_NAME"]
MAX_USER_AGENT: int = _LENGTHS["MAX_USER_AGENT"]
MAX_LANGUAGE_TAGS: int = _LENGTHS["MAX_LANGUAGE_TAGS"]
MAX_HOST_HEADER: int = _LENGTHS["MAX_HOST_HEADER"]
MAX_ACCEPT_LANGUAGE: int = _LENGTHS["MAX_ACCEPT_LANGUAGE"]
MAX_COUNTRY_HEADER: int = _LENGTHS["MAX_COUNTRY_HEADER"]
MAX_CH_MOBILE: int = _LENGTHS["MAX_CH_MOBILE"]
MAX_CH_PLATFORM: int = _LENGTHS["MAX_CH_PLATFORM"]
#: Country header values meaning "unknown".
UNKNOWN_COUNTRIES: frozenset[str] = frozenset(_SIGNALS["unknown_countries"]["values"])

#: Request headers a personalised response depends on; shared caches must key on all of them.
VARY: str = _HTTP["VARY"]["value"]
MAX_URL: int = _HTTP["MAX_URL"]["value"]
MAX_PATH: int = _HTTP["MAX_PATH"]["value"]
MAX_SLOTS: int = _HTTP["MAX_SLOTS"]["value"]
MAX_NAME: int = _HTTP["MAX_NAME"]["value"]
#: Fields of a decide body and of an events body.
DECIDE_FIELDS: tuple[str, ...] = tuple(_HTTP["decide_fields"]["values"])
EVENTS_FIELDS: tuple[str, ...] = tuple(_HTTP["events_fields"]["values"])
#: Browser beacons (docs/client-side.md, Measurement): a visit nonce's length, exposures per body,
#: the reasons of a browser's bundle refusal.
VISIT_NONCE_LENGTH: int = _HTTP["VISIT_NONCE_LENGTH"]["value"]
MAX_BEACON_EXPOSURES: int = _HTTP["MAX_BEACON_EXPOSURES"]["value"]
BUNDLE_REFUSALS: tuple[str, ...] = tuple(_HTTP["bundle_refusals"]["values"])
#: Page mode: pages larger than this are served untouched; the cookie of a page's client signals;
#: headers never passed between visitor and origin.
MAX_PAGE_BYTES: int = _HTTP["MAX_PAGE_BYTES"]["value"]
SIGNALS_COOKIE: str = _HTTP["SIGNALS_COOKIE"]["value"]
HOP_HEADERS: frozenset[str] = frozenset(_HTTP["hop_headers"]["values"])
VALIDATORS: frozenset[str] = frozenset(_HTTP["validators"]["values"])
SHARED_CACHE_DIRECTIVES: frozenset[str] = frozenset(_HTTP["shared_cache_directives"]["values"])
OVERLAY_CSS: str = _HTTP["OVERLAY_CSS"]["value"]
#: Visits the visit ledger remembers at most (edge_server/visit_ledger.py).
VISIT_LEDGER_CAPACITY: int = _HTTP["VISIT_LEDGER_CAPACITY"]["value"]
#: Consent cookie values that refuse consent.
CONSENT_REFUSALS: frozenset[str] = frozenset(_HTTP["consent_refusals"]["values"])

# Names in the strata-stats/1 snapshot (docs/measurement.md).
_STATS: dict[str, Any] = TABLE["stats"]
STATS_FORMAT: str = _STATS["STATS_FORMAT"]["value"]
#: The total over slots, arms or layers; the feature and level of a model's visit rows.
ALL: str = _STATS["ALL"]["value"]
#: The feature of a model's score-bucket rows.
SCORE: str = _STATS["SCORE"]["value"]
#: The feature of an uplift model's uplift-bucket rows (both arms).
UPLIFT: str = _STATS["UPLIFT"]["value"]
#: The feature of the old 0.05-wide score-bucket rows (old snapshots and series; skipped by training).
LEGACY_SCORE: str = _STATS["LEGACY_SCORE"]["value"]
POPULATIONS: tuple[str, ...] = tuple(_STATS["populations"]["values"])
MODEL_EVENTS: tuple[str, ...] = tuple(_STATS["model_events"]["values"])

_ERRORS: dict[str, Any] = {k: v for k, v in TABLE["errors"].items() if k != "doc"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _fill(template: str, values: dict[str, Any]) -> str:
    """``{name}`` replaced by ``str(values[name])``; other braces stay (``{goal, value?}``)."""
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


def message(key: str, **values: Any) -> tuple[str, str | None]:
    """(message, field) of the error ``key`` with its placeholders filled."""
    e = _ERRORS[key]
    return _fill(e["message"], values), None if e["field"] is None else _fill(e["field"], values)


def error(key: str, **values: Any) -> ApiError:
    """The :class:`ApiError` of the contract's error ``key`` (status, code, message, field)."""
    from .errors import ApiError  # here: the offline tools (strata report, train) read this module without the server's Starlette

    text, field = message(key, **values)
    return ApiError(_ERRORS[key]["status"], _ERRORS[key]["code"], text, field)

_FAMILIES: dict[str, Any] = {name: f for name, f in TABLE["metric_families"].items() if name != "doc"}
#: The labels, in order, of each family both runtimes export and the offline tools read.
METRIC_LABELS: dict[str, tuple[str, ...]] = {name: tuple(f["labels"]) for name, f in _FAMILIES.items()}
#: The counter families, which a counter batch may carry: family -> (labels in order, whether values
#: are sums of goal values rather than counts).
METRIC_FAMILIES: dict[str, tuple[tuple[str, ...], bool]] = {
    name: (tuple(f["labels"]), bool(f["value_sum"])) for name, f in _FAMILIES.items() if f["type"] == "counter"}
#: The format of a batch isolates push to replicas (counter_batches.py).
COUNTER_BATCH_FORMAT: str = TABLE["counter_batches"]["FORMAT"]["value"]
_LEDGER: dict[str, Any] = TABLE["fleet_ledger"]
#: The fleet ledger (fleet_ledger.py): a claim body's format, where replicas take claims, and its bounds.
FLEET_LEDGER_FORMAT: str = _LEDGER["FORMAT"]["value"]
FLEET_LEDGER_PATH: str = _LEDGER["PATH"]["value"]
FLEET_LEDGER_LIMITS: dict[str, float] = {k: v["value"] for k, v in _LEDGER.items() if k.isupper() and k not in ("FORMAT", "PATH")}
FLEET_LEDGER_FALLBACKS: tuple[str, ...] = tuple(_LEDGER["fallback_reasons"]["value"])
FLEET_LEDGER_KEY_KINDS: tuple[str, ...] = tuple(_LEDGER["key_kinds"]["value"])
FLEET_LEDGER_RESULTS: tuple[str, ...] = tuple(_LEDGER["claim_results"]["value"])
