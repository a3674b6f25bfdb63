"""Signals on the device (docs/client-side.md, "Signals"): what the browser runtime derives in real
Chromium equals what the Python server derives (edge_server/signals.py) from the very request
Chromium sent for the same page — URL, query, UTM, referrer, languages, device, local time — for
several kinds of visitor (locale, time zone, a phone's User-Agent, a search referrer)."""

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
