"""Signals: the built-in catalogue the edge server provides, and run-time checks of signal values.

A signal has a CEL type written as a string (``int``, ``list(string)``, ``map(string, int)``,
``list(CartItem)`` for a record declared under ``types:``), a category (which decides consent), an
optional ``max_items``/``max_length`` bound and an optional default. The compiler type-checks rules
against these declarations; the runtime drops any provided value that does not conform, so the
checked types hold at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .format import CLIENT_BODY_BYTES as CLIENT_BODY_BYTES
from .format import DEFAULT_MAX_ITEMS as DEFAULT_MAX_ITEMS
from .format import DEFAULT_MAX_LENGTH as DEFAULT_MAX_LENGTH
from .values import INT64_MAX, INT64_MIN, UInt


@dataclass(frozen=True)
class SignalSpec:
    name: str
    type: str
    category: str
    description: str
    source: str = "request"  # request | session | client
    default: Any = None
    max_items: int | None = None
    max_length: int | None = None


#: Records every rule set may use without declaring them.
BUILTIN_TYPES: dict[str, dict[str, str]] = {
    "CartItem": {"sku": "string", "name": "string", "category": "string", "price": "double", "quantity": "int"},
}

_C, _T, _B = "contextual", "technical", "behavioral"

#: The signals the edge server derives for every request (docs/signals.md lists them with sources).
BUILTIN_SIGNALS: tuple[SignalSpec, ...] = (
    SignalSpec("page.url", "string", _C, "full request URL without the host", default="", max_length=2048),
    SignalSpec("page.path", "string", _C, "URL path", default="/", max_length=2048),
    SignalSpec("page.query", "map(string, string)", _C, "query parameters (first value of each)", default={}, max_items=64),
    SignalSpec("page.category", "string", _C, "category of the page being viewed (data-strata-category or client)", source="client", default="", max_length=64),
    SignalSpec("utm.source", "string", _C, "utm_source of this URL", default="", max_length=128),
    SignalSpec("utm.medium", "string", _C, "utm_medium of this URL", default="", max_length=128),
    SignalSpec("utm.campaign", "string", _C, "utm_campaign of this URL", default="", max_length=128),
    SignalSpec("utm.term", "string", _C, "utm_term of this URL", default="", max_length=128),
    SignalSpec("utm.content", "string", _C, "utm_content of this URL", default="", max_length=128),
    SignalSpec("referrer.host", "string", _C, "host of the Referer header", default="", max_length=253),
    SignalSpec("referrer.class", "string", _C, "search | social | email | direct | internal | other", default="direct"),
    SignalSpec("request.language", "string", _C, "primary language subtag of Accept-Language, e.g. 'de'", default=""),
    SignalSpec("request.languages", "list(string)", _C, "languages of Accept-Language in preference order", default=[], max_items=16),
    SignalSpec("geo.country", "string", _C, "ISO 3166 country from the configured CDN header", default=""),
    SignalSpec("time.hour", "int", _C, "local hour 0-23 (server time zone or client offset)", default=0),
    SignalSpec("time.weekday", "int", _C, "ISO weekday, 1 = Monday ... 7 = Sunday", default=1),
    SignalSpec("time.epoch", "int", _C, "Unix time in seconds", default=0),
    SignalSpec("device.type", "string", _T, "mobile | tablet | desktop | bot", default="desktop"),
    SignalSpec("device.os", "string", _T, "operating system family", default=""),
    SignalSpec("device.browser", "string", _T, "browser family", default=""),
    SignalSpec("session.visit_count", "int", _B, "visits so far, this one included (new visit after 30 min idle)", source="session", default=1),
    SignalSpec("session.page_views", "int", _B, "page views in this visit, this one included", source="session", default=1),
    SignalSpec("session.total_page_views", "int", _B, "page views over all visits", source="session", default=1),
    SignalSpec("session.first_seen", "int", _B, "Unix time of the first visit", source="session", default=0),
    SignalSpec("session.last_seen", "int", _B, "Unix time of the previous request", source="session", default=0),
    SignalSpec("session.recent_categories", "list(string)", _B, "categories viewed recently, newest first", source="session", default=[], max_items=10),
    SignalSpec("session.utm_source", "string", _B, "utm_source that started this visit", source="session", default="", max_length=128),
    SignalSpec("session.purchased", "bool", _B, "a purchase goal was recorded in this session", source="session", default=False),
    SignalSpec("cart.items", "list(CartItem)", _B, "items in the cart", source="client", default=[], max_items=50),
    SignalSpec("cart.value", "double", _B, "cart total", source="client", default=0.0),
    SignalSpec("search.query", "string", _B, "the visitor's current site search", source="client", default="", max_length=200),
)

BUILTIN_BY_NAME = {s.name: s for s in BUILTIN_SIGNALS}

# Bounds for values of signals that declare none (protects the runtime from huge inputs):
# DEFAULT_MAX_ITEMS and DEFAULT_MAX_LENGTH of runtime/format.json.
# CLIENT_BODY_BYTES (runtime/format.json): the edges' default request body limit; no client signal
# can be larger, whatever its declared bounds. The compiler's cost estimate relies on it.

Checker = Callable[[Any], bool]


def split_args(inner: str) -> list[str]:
    """Split type arguments at top-level commas: 'string, map(string, int)' ->
    ['string', 'map(string, int)']. Used wherever type strings are read (runtime and compiler)."""
    out: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in inner:
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur.append(ch)
    out.append("".join(cur).strip())
    return out


def make_checker(
    type_str: str,
    records: Mapping[str, Mapping[str, str]],
    max_items: int | None = None,
    max_length: int | None = None,
) -> Checker:
    """A predicate telling whether a Python value conforms to a declared signal type."""
    max_items = DEFAULT_MAX_ITEMS if max_items is None else max_items
    max_length = DEFAULT_MAX_LENGTH if max_length is None else max_length
    t = type_str.strip()
    if t == "bool":
        return lambda v: v is True or v is False
    if t == "int":
        return lambda v: type(v) is int and INT64_MIN <= v <= INT64_MAX
    if t == "uint":
        return lambda v: type(v) is UInt or (type(v) is int and 0 <= v < 2**64)
    if t == "double":
        return lambda v: type(v) is float
    if t == "string":
        return lambda v: type(v) is str and len(v) <= max_length
    if t == "bytes":
        return lambda v: type(v) is bytes and len(v) <= max_length
    if t == "dyn":
        return lambda v: _plain(v, 0)
    if t.startswith("list(") and t.endswith(")"):
        elem = make_checker(t[5:-1], records, None, max_length)
        return lambda v: type(v) is list and len(v) <= max_items and all(elem(x) for x in v)
    if t.startswith("map(") and t.endswith(")"):
        k, val = split_args(t[4:-1])
        kc = make_checker(k, records, None, max_length)
        vc = make_checker(val, records, None, max_length)
        return lambda v: type(v) is dict and len(v) <= max_items and all(kc(a) and vc(b) for a, b in v.items())
    if t in records:
        fields = {f: make_checker(ft, records, None, max_length) for f, ft in records[t].items()}

        def record(v: Any) -> bool:
            if type(v) is not dict:
                return False
            for f, x in v.items():
                c = fields.get(f)
                if c is None or not c(x):
                    return False
            return True

        return record
    raise ValueError(f"unknown type {type_str!r}")


def make_coercer(type_str: str, records: Mapping[str, Mapping[str, str]]) -> Callable[[Any], Any]:
    """A function mapping a JSON value onto the declared type where JSON cannot say it: JSON has
    one number type, so an integral number where a ``double`` is declared becomes a float
    (JavaScript writes 249.0 as 249). Everything else is returned as is, for the checker to judge."""
    t = type_str.strip()
    if t == "double":
        return lambda v: float(v) if type(v) is int and -(2**53) <= v <= 2**53 else v
    if t.startswith("list(") and t.endswith(")"):
        elem = make_coercer(t[5:-1], records)
        return lambda v: [elem(x) for x in v] if type(v) is list else v
    if t.startswith("map(") and t.endswith(")"):
        _, val = split_args(t[4:-1])
        vc = make_coercer(val, records)
        return lambda v: {k: vc(x) for k, x in v.items()} if type(v) is dict else v
    if t in records:
        fields = {f: make_coercer(ft, records) for f, ft in records[t].items()}
        return lambda v: {k: fields[k](x) if k in fields else x for k, x in v.items()} if type(v) is dict else v
    return lambda v: v


def _plain(v: Any, depth: int) -> bool:
    """A value made only of CEL's JSON-like types, bounded in depth."""
    if depth > 16:
        return False
    t = type(v)
    if v is None or t in (bool, int, float, str, bytes, UInt):
        return t is not int or INT64_MIN <= v <= INT64_MAX
    if t is list:
        return len(v) <= DEFAULT_MAX_ITEMS and all(_plain(x, depth + 1) for x in v)
    if t is dict:
        return len(v) <= DEFAULT_MAX_ITEMS and all(type(k) in (str, int, bool, UInt) and _plain(x, depth + 1) for k, x in v.items())
    return False
