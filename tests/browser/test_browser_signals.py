"""Signals on the device (docs/client-side.md, "Signals"): what the browser runtime derives in real
Chromium equals what the Python server derives (edge_server/signals.py) from the very request
Chromium sent for the same page — URL, query, UTM, referrer, languages, device, local time — for
several kinds of visitor (locale, time zone, a phone's User-Agent, a search referrer, a crawler only
a Spider device parser recognises: its device parsers come from strata-crawler.mjs)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge_server.signals import RequestContext

NOW = 1_790_000_000.5
PAGE = b"<!DOCTYPE html><html><head><title>p</title></head><body><p>page</p></body></html>"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")
VISITORS: dict[str, dict[str, Any]] = {
    "desktop": {"url": "/shop/tents.html?utm_source=newsletter&utm_medium=email&utm_campaign=camping-spring&x=1", "context": {}},
    "swiss-phone": {"url": "/p/summit?q=tent&utm_source=ig", "referer": "https://www.instagram.com/",
                    "context": {"locale": "de-CH", "timezone_id": "Europe/Zurich", "user_agent": IPHONE}},
    "search-tokyo": {"url": "/?utm_medium=cpc&utm_term=z%C3%A9lt", "referer": "https://www.google.co.jp/",
                     "context": {"locale": "ja-JP", "timezone_id": "Asia/Tokyo"}},
    "crawler": {"url": "/crawled", "context": {"user_agent": "Java/17.0.2"}},
}


@pytest.mark.parametrize("visitor", sorted(VISITORS))
def test_browser_signals_equal_what_the_python_server_derives_from_the_same_request(browser: Any, site: Any, visitor: str) -> None:
    v = VISITORS[visitor]
    path = v["url"].split("?", 1)[0]
    site.files[path] = PAGE
    ctx = browser.new_context(base_url=site.url, **v["context"])
    try:
        page = ctx.new_page()
        page.goto(v["url"], referer=v.get("referer"))
        got = page.evaluate("async (now) => { const S = await import('/strata.mjs'); await S.loadDeviceRules(); return [S.pageSignals(now), Intl.DateTimeFormat().resolvedOptions().timeZone]; }", NOW)
    finally:
        ctx.close()
    signals, tz = got
    request = site.seen(path)[-1]  # the request a server would have answered
    want = RequestContext("cf-ipcountry", ZoneInfo(tz)).signals(v["url"], request.headers, request.headers.get("referer"), NOW)
    assert tz == v["context"].get("timezone_id", tz)
    assert signals == want
    if "referer" in v:
        assert signals["referrer.host"] == v["referer"].split("/")[2]
    if visitor == "swiss-phone":
        assert (signals["device.type"], signals["request.language"]) == ("mobile", "de")
    if visitor == "crawler":
        assert signals["device.type"] == "bot"


#: Zones with DST (both hemispheres), half- and three-quarter-hour offsets, a 30-minute DST shift, a
#: date-line zone, and one whose rules changed over the years.
ZONES = ["Europe/Zurich", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham", "Pacific/Apia", "America/Sao_Paulo", "UTC"]


def instants(tz: str, n: int, seed: int) -> list[float]:
    """``n`` instants in 2000-2040, half of them within minutes of ``tz``'s UTC offset changes."""
    import random
    from datetime import datetime, timedelta

    rng = random.Random(seed)
    zone = ZoneInfo(tz)
    out = [rng.uniform(946_684_800, 2_208_988_800) for _ in range(n // 2)]
    changes: list[float] = []
    t = datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC"))
    while t.year < 2040 and len(changes) < 200:
        u = t + timedelta(hours=6)
        if t.astimezone(zone).utcoffset() != u.astimezone(zone).utcoffset():
            changes.append(u.timestamp())
        t = u
    while len(out) < n:
        out.append(rng.choice(changes) + rng.uniform(-7200, 7200) if changes else rng.uniform(946_684_800, 2_208_988_800))
    return out


@pytest.mark.parametrize("tz", ZONES)
def test_browser_local_time_equals_python_zoneinfo_across_offset_changes(browser: Any, site: Any, tz: str) -> None:
    """time.hour and time.weekday come from the browser's Date (LOCAL_TIME_ZONE in worker/signals.js),
    not an Intl.DateTimeFormat: for random instants and instants around every DST change, in zones
    with odd offsets, they equal what Python derives with zoneinfo for the browser's zone."""
    site.files["/tz.html"] = PAGE
    nows = instants(tz, 120, seed=len(tz))
    ctx = browser.new_context(base_url=site.url, timezone_id=tz)
    try:
        page = ctx.new_page()
        page.goto("/tz.html")
        got = page.evaluate("""async (nows) => { const S = await import('/strata.mjs'); await S.loadDeviceRules();
          return nows.map((n) => { const s = S.pageSignals(n); return [s['time.hour'], s['time.weekday']]; }); }""", nows)
    finally:
        ctx.close()
    request = site.seen("/tz.html")[-1]
    python = RequestContext("cf-ipcountry", ZoneInfo(tz))
    want = [[(s := python.signals("/tz.html", request.headers, None, n))["time.hour"], s["time.weekday"]] for n in nows]
    assert got == want
    assert len({tuple(x) for x in got}) > 20  # the instants cover many hours and days
