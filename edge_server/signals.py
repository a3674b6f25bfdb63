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

from runtime.decide import Prepared

from . import contract
from .contract import (
    BOT,
    MAX_ACCEPT_LANGUAGE,
    MAX_CH_MOBILE,
    MAX_CH_PLATFORM,
    MAX_COUNTRY_HEADER,
    MAX_DEVICE_NAME,
    MAX_HOST_HEADER,
    MAX_LANGUAGE_TAGS,
    MAX_QUERY_KEY,
    MAX_QUERY_PARAMS,
    MAX_QUERY_VALUE,
    MAX_REFERRER_HOST,
    MAX_URL,
    MAX_USER_AGENT,
    MAX_UTM,
    MOBILE,
    SEARCH,
    SOCIAL,
    TABLET,
    UNKNOWN_COUNTRIES,
    UTM,
    WEBMAIL,
)
from .errors import ApiError


class ClientSignalError(ValueError):
    """A client signal the bundle does not accept: the contract's error ``key`` (edge_contract.json),
    whose ``field`` names the signal."""

    def __init__(self, key: str, **values: Any):
        message, field = contract.message(key, **values)
        super().__init__(message)
        self.key, self.values, self.field = key, values, field or ""

    def api_error(self) -> ApiError:
        """The 422 ``invalid_signal`` a decide request answers with."""
        return contract.error(self.key, **self.values)


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
    for i, part in enumerate(accept_language.split(",")[:MAX_LANGUAGE_TAGS]):
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
    ua = user_agent[:MAX_USER_AGENT]
    r = parse_ua(ua)
    browser = r.user_agent.family if r.user_agent else ""
    os_family = r.os.family if r.os else ""
    if ch_platform:
        os_family = ch_platform.strip('"')
    family = r.device.family if r.device else ""
    if family == "Spider" or BOT.search(ua):
        kind = "bot"
    elif ch_mobile == "?1":
        kind = "mobile"
    elif TABLET.search(ua):
        kind = "tablet"
    elif MOBILE.search(ua):
        kind = "mobile"
    else:
        kind = "desktop"
    return kind, os_family if os_family != "Other" else "", browser if browser != "Other" else ""


@functools.lru_cache(maxsize=4096)
def split_url(url: str) -> tuple[str, str, str] | None:
    """(path, query, host) of a page URL or referrer, or None when it is malformed.

    A URL starting with ``/`` is a path with an optional query and fragment, as a page sends
    ``location.pathname + location.search`` (``//shop/x`` is the path ``//shop/x``, not a host);
    anything else is read as an absolute URL. Malformed means the URL parser refuses it: unbalanced
    IPv6 brackets (``http://[::1/x``), a bracketed host that is no IP address, a host that changes
    under NFKC normalisation. Never raises.
    """
    if url.startswith("/"):
        path, _, query = url.partition("#")[0].partition("?")
        return path, query, ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return None
    return parts.path, parts.query, host


@functools.lru_cache(maxsize=4096)
def _page(page_url: str) -> tuple[dict[str, Any], str, str]:
    """(page and UTM signals, host, utm_medium) of a page URL; pages repeat, so cached. A malformed
    URL (refused by ``POST /v1/decide`` before it gets here) counts as the default page ``/``."""
    parts = split_url(page_url[:MAX_URL]) or ("/", "", "")
    path, raw_query, host = parts
    query: dict[str, str] = {}
    for k, v in parse_qsl(raw_query, keep_blank_values=True)[:MAX_QUERY_PARAMS]:
        query.setdefault(k[:MAX_QUERY_KEY], v[:MAX_QUERY_VALUE])
    path = path or "/"
    out: dict[str, Any] = {
        "page.url": (path + ("?" + raw_query if raw_query else ""))[:MAX_URL],
        "page.path": path[:MAX_URL],
        "page.query": query,
    }
    for k in UTM:
        out[f"utm.{k}"] = query.get(f"utm_{k}", "")[:MAX_UTM]
    return out, host, out["utm.medium"]


@functools.lru_cache(maxsize=1024)
def _ref_host(referrer: str) -> str:
    """The host of a referrer; a malformed referrer is treated as absent (``direct``)."""
    parts = split_url(referrer[:MAX_URL])
    return parts[2][:MAX_REFERRER_HOST] if parts is not None else ""


def _referrer(ref_host: str, page_host: str, utm_medium: str) -> dict[str, Any]:
    return {"referrer.host": ref_host, "referrer.class": referrer_class(ref_host, page_host, utm_medium)}


def _client(accept_language: str, country: str, user_agent: str, ch_mobile: str, ch_platform: str) -> dict[str, Any]:
    """Signals of the request headers that describe the browser and where it is."""
    langs = list(_languages(accept_language))
    country = country.strip().upper()
    if not (len(country) == 2 and country.isascii() and country.isalpha()) or country in UNKNOWN_COUNTRIES:
        country = ""
    kind, os_family, browser = device(user_agent, ch_mobile, ch_platform)
    return {
        "request.language": langs[0] if langs else "",
        "request.languages": langs,
        "geo.country": country,
        "device.type": kind,
        "device.os": os_family[:MAX_DEVICE_NAME],
        "device.browser": browser[:MAX_DEVICE_NAME],
    }


class RequestContext:
    """Derives the contextual and technical signals of a request (docs/signals.md).

    Requests repeat: the same pages, browsers and referrers within the same minute. The signals
    derived from one combination of page URL, referrer and request headers are cached (bounded;
    cleared when full), keyed by the minute too, since the local hour and weekday depend on it (time
    zones change their offset only on whole minutes). Only ``time.epoch`` is per request. The
    cached ``page.query`` dict and ``request.languages`` list are shared between requests and must
    be treated as read-only, as the runtime does.
    """

    MAX_CACHED = 4096

    def __init__(self, country_header: str, tz: ZoneInfo):
        self.country_header = country_header.lower()
        self.tz = tz
        self._cache: dict[tuple[Any, ...], dict[str, Any]] = {}

    def signals(self, page_url: str, headers: Mapping[str, str], referrer: str | None, now: float) -> dict[str, Any]:
        """The signals of one request, a fresh dict. ``headers`` has lower-case names."""
        out = self.derived(page_url, headers, referrer, now).copy()
        out["time.epoch"] = int(now)
        return out

    def derived(self, page_url: str, headers: Mapping[str, str], referrer: str | None, now: float) -> dict[str, Any]:
        """The signals of one request but time.epoch, the cache's own dict (the same for every
        request of this shape in the minute: read it, never change it)."""
        get = headers.get
        minute = int(now // 60)
        # every part bounded, so is the cache's memory: a header can be kilobytes long
        key = (page_url[:MAX_URL], (referrer or "")[:MAX_URL], get("host", "")[:MAX_HOST_HEADER], get("accept-language", "")[:MAX_ACCEPT_LANGUAGE],
               get(self.country_header, "")[:MAX_COUNTRY_HEADER], get("user-agent", "")[:MAX_USER_AGENT], get("sec-ch-ua-mobile", "")[:MAX_CH_MOBILE],
               get("sec-ch-ua-platform", "")[:MAX_CH_PLATFORM], minute)
        cached = self._cache.get(key)
        if cached is None:
            if len(self._cache) >= self.MAX_CACHED:
                self._cache.clear()
            cached = self._cache[key] = self._derive(*key)
        return cached

    def _derive(self, page_url: str, referrer: str, host_header: str, accept_language: str, country: str, user_agent: str,
                ch_mobile: str, ch_platform: str, minute: int) -> dict[str, Any]:
        page, host, utm_medium = _page(page_url)
        ref_host = _ref_host(referrer) if referrer else ""
        local = dt.datetime.fromtimestamp(minute * 60, self.tz)
        return {
            **page,
            **_referrer(ref_host, host or host_header.split(":")[0], utm_medium),
            **_client(accept_language, country, user_agent, ch_mobile, ch_platform),
            "time.hour": local.hour,
            "time.weekday": local.isoweekday(),
        }


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
    return RequestContext(country_header, tz).signals(page_url, headers, referrer, now)


@functools.lru_cache(maxsize=8)
def _sources(prepared: Prepared) -> dict[str, str]:
    return {s["name"]: s.get("source", "client") for s in prepared.signals}


def client_signals(body: Any, prepared: Prepared, limit: int) -> dict[str, Any]:
    """Validate the ``signals`` object of a decide request against the bundle's signal table."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ClientSignalError("signals_not_object")
    if len(body) > limit:
        raise ClientSignalError("too_many_signals", limit=limit, count=len(body))
    sources = _sources(prepared)
    out = {}
    for name, value in body.items():
        src = sources.get(name)
        if src is None:
            raise ClientSignalError("unknown_signal", name=repr(name), field=name)
        if src != "client":
            raise ClientSignalError("server_signal", name=repr(name), source=src, field=name)
        value = prepared.coercers[name](value)  # JSON numbers: 249 where a double is declared
        if not prepared.checkers[name](value):
            raise ClientSignalError("signal_value", name=repr(name), type=prepared.signal_types[name], field=name)
        out[name] = value
    return out
