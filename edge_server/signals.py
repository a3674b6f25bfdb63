"""Signals from an HTTP request (docs/signals.md says where each one comes from), and validation of
the client signals a page sends in the body of ``POST /v1/decide``."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from ua_parser import parse as parse_ua

from runtime.prepare import Prepared

SEARCH = ("google.", "bing.com", "duckduckgo.com", "search.yahoo.", "yahoo.com", "baidu.com", "yandex.", "ecosia.org",
          "search.brave.com", "startpage.com", "qwant.com")
SOCIAL = ("facebook.com", "fb.com", "instagram.com", "t.co", "twitter.com", "x.com", "linkedin.com", "lnkd.in", "pinterest.",
          "reddit.com", "tiktok.com", "youtube.com", "threads.net", "bsky.app", "mastodon.")
WEBMAIL = ("mail.google.com", "outlook.live.com", "outlook.office.com", "mail.yahoo.com", "mail.proton.me", "webmail.")
UTM = ("source", "medium", "campaign", "term", "content")
_BOT = re.compile(r"bot|crawl|spider|slurp|headless|lighthouse|preview|monitor", re.I)
_TABLET = re.compile(r"ipad|tablet|kindle|silk|playbook|(android(?!.*mobile))", re.I)
_MOBILE = re.compile(r"mobi|iphone|ipod|android.*mobile|windows phone|blackberry|opera mini", re.I)


class ClientSignalError(ValueError):
    """A client signal the bundle does not accept; ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _host_matches(host: str, patterns: tuple[str, ...]) -> bool:
    for p in patterns:
        if p.endswith("."):
            if host.startswith(p) or f".{p}" in f".{host}":
                return True
        elif host == p or host.endswith("." + p):
            return True
    return False


def referrer_class(referrer_host: str, page_host: str, utm_medium: str) -> str:
    if utm_medium.lower() == "email":
        return "email"
    if not referrer_host:
        return "direct"
    if page_host and referrer_host == page_host:
        return "internal"
    if _host_matches(referrer_host, WEBMAIL):
        return "email"
    if _host_matches(referrer_host, SEARCH):
        return "search"
    if _host_matches(referrer_host, SOCIAL):
        return "social"
    return "other"


@functools.lru_cache(maxsize=1024)
def _languages(accept_language: str) -> tuple[str, ...]:
    return tuple(languages(accept_language))


def languages(accept_language: str) -> list[str]:
    """Primary language subtags by quality: 'de-CH,de;q=0.9,en;q=0.5' -> ['de', 'en']."""
    weighted = []
    for i, part in enumerate(accept_language.split(",")[:16]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        if not tag or tag == "*" or not re.fullmatch(r"[a-z]{1,8}(-[a-z0-9]{1,8})*", tag):
            continue
        q = 1.0
        m = re.search(r"q=([0-9.]+)", params)
        if m:
            try:
                q = float(m.group(1))
            except ValueError:
                q = 0.0
        if q > 0:
            weighted.append((-q, i, tag.split("-")[0]))
    out: list[str] = []
    for _, _, lang in sorted(weighted):
        if lang not in out:
            out.append(lang)
    return out


@functools.lru_cache(maxsize=4096)
def device(user_agent: str, ch_mobile: str, ch_platform: str) -> tuple[str, str, str]:
    """(type, os, browser) from client hints and the User-Agent (cached: UAs repeat a lot)."""
    ua = user_agent[:512]
    r = parse_ua(ua)
    browser = r.user_agent.family if r.user_agent else ""
    os_family = r.os.family if r.os else ""
    if ch_platform:
        os_family = ch_platform.strip('"')
    family = r.device.family if r.device else ""
    if family == "Spider" or _BOT.search(ua):
        kind = "bot"
    elif ch_mobile == "?1":
        kind = "mobile"
    elif _TABLET.search(ua):
        kind = "tablet"
    elif _MOBILE.search(ua):
        kind = "mobile"
    else:
        kind = "desktop"
    return kind, os_family if os_family != "Other" else "", browser if browser != "Other" else ""


@functools.lru_cache(maxsize=4096)
def _page(page_url: str) -> tuple[str, str, str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """(path, query string, host, query pairs, utm pairs) of a page URL; pages repeat, so cached."""
    parts = urlsplit(page_url[:2048])
    query: dict[str, str] = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True)[:64]:
        query.setdefault(k[:64], v[:256])
    utm = tuple((f"utm.{k}", query.get(f"utm_{k}", "")[:128]) for k in UTM)
    return parts.path or "/", parts.query, parts.hostname or "", tuple(query.items()), utm


@functools.lru_cache(maxsize=1024)
def _ref_host(referrer: str) -> str:
    return (urlsplit(referrer[:2048]).hostname or "")[:253]


def request_signals(
    page_url: str,
    headers: Mapping[str, str],
    *,
    referrer: str | None,
    country_header: str,
    tz: ZoneInfo,
    now: float,
) -> dict[str, Any]:
    """The contextual and technical signals of one request. ``headers`` has lower-case names."""
    path, qs, host, query_pairs, utm_pairs = _page(page_url)
    utm = dict(utm_pairs)
    ref_host = _ref_host(referrer) if referrer else ""
    page_host = host or (headers.get("host", "").split(":")[0])
    langs = list(_languages(headers.get("accept-language", "")[:512]))
    country = headers.get(country_header.lower(), "").strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", country) or country in ("XX", "T1"):
        country = ""
    kind, os_family, browser = device(headers.get("user-agent", ""), headers.get("sec-ch-ua-mobile", ""), headers.get("sec-ch-ua-platform", "")[:32])
    local = dt.datetime.fromtimestamp(now, tz)
    out: dict[str, Any] = {
        "page.url": (path + ("?" + qs if qs else ""))[:2048],
        "page.path": path[:2048],
        "page.query": dict(query_pairs),
        "referrer.host": ref_host,
        "referrer.class": referrer_class(ref_host, page_host, utm["utm.medium"]),
        "request.language": langs[0] if langs else "",
        "request.languages": langs,
        "geo.country": country,
        "time.hour": local.hour,
        "time.weekday": local.isoweekday(),
        "time.epoch": int(now),
        "device.type": kind,
        "device.os": os_family[:64],
        "device.browser": browser[:64],
    }
    out.update(utm)
    return out


@functools.lru_cache(maxsize=8)
def _sources(prepared: Prepared) -> dict[str, str]:
    return {s["name"]: s.get("source", "client") for s in prepared.signals}


def client_signals(body: Any, prepared: Prepared, limit: int) -> dict[str, Any]:
    """Validate the ``signals`` object of a decide request against the bundle's signal table."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ClientSignalError("signals", "signals must be an object of signal name -> value")
    if len(body) > limit:
        raise ClientSignalError("signals", f"at most {limit} client signals per request, got {len(body)}")
    sources = _sources(prepared)
    out = {}
    for name, value in body.items():
        src = sources.get(name)
        if src is None:
            raise ClientSignalError(name, f"unknown signal {name!r}: the rule set does not declare it")
        if src != "client":
            raise ClientSignalError(name, f"signal {name!r} is derived by the server ({src}) and cannot be sent by the client")
        value = prepared.coercers[name](value)  # JSON numbers: 249 where a double is declared
        if not prepared.checkers[name](value):
            raise ClientSignalError(name, f"signal {name!r} must be a {prepared.signal_types[name]} within its declared bounds")
        out[name] = value
    return out
