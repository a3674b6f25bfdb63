"""A request's signals checked in two parts (issue #26): the derived request signals once per
request shape and bundle (``Prepared.checked_of``), the request's own on top
(``checked_signals``'s ``base``), give the signal map and the decisions one merged map gives — for
fuzzed request shapes, categories, session and client signals, with and without consent. The
worker's port of the same: edge_worker/test/signals_base.test.js."""

from __future__ import annotations

import random
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_server.signals import RequestContext
from runtime import Runtime
from tests.conftest import CREATED

URLS = ["/", "/tents.html", "/newsletter.html?utm_source=newsletter&utm_medium=email", "/product.html?utm_source=x&utm_campaign=y", "/cart.html"]
UAS = ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0",
       "Mozilla/5.0 (compatible; Googlebot/2.1)", ""]


def test_checked_in_two_parts_is_checked_in_one(signing_key: Ed25519PrivateKey, trailblazer_bundle: bytes) -> None:
    prepared = Runtime([signing_key.public_key()]).load(trailblazer_bundle, now=CREATED)
    ctx = RequestContext("CF-IPCountry", ZoneInfo("UTC"))
    rng = random.Random(2026)
    for n in range(600):
        now = CREATED + rng.randrange(0, 7200)
        h = {"user-agent": rng.choice(UAS), "accept-language": rng.choice(["", "de-CH,de;q=0.9", "en"]), "cf-ipcountry": rng.choice(["", "US", "DE"])}
        url, ref = rng.choice(URLS), rng.choice([None, "https://www.google.com/", "https://l.facebook.com/x"])
        own = {"time.epoch": int(now)}
        if rng.random() < 0.5:
            own["page.category"] = rng.choice(["tents", "packs", "zelte"])
        if rng.random() < 0.8:
            own |= {"session.visit_count": rng.randrange(1, 9), "session.page_views": rng.randrange(0, 30), "session.total_page_views": rng.randrange(0, 90),
                    "session.first_seen": CREATED, "session.last_seen": now - rng.randrange(0, 3000),
                    "session.recent_categories": rng.sample(["tents", "packs", "stoves"], rng.randrange(0, 3)),
                    "session.utm_source": rng.choice(["", "newsletter"]), "session.purchased": rng.random() < 0.2}
        if rng.random() < 0.3:
            own |= {"cart.value": rng.choice([0.0, 49.5, 250.0]), "cart.items": [{"sku": "TB-1", "category": "tents", "price": 249.0, "quantity": 1}]}
        consent = rng.random() < 0.8
        derived = ctx.derived(url, h, ref, now)
        merged = {**derived, **own}
        values = prepared.checked_signals(own, consent, prepared.checked_of(derived))
        assert values == prepared.checked_signals(merged, consent), n
        sid = f"session-{rng.randrange(50):04d}" if consent else None
        one = prepared.decide(merged, None, session_id=sid, consent=consent, now=now, checked=True)
        two = prepared.decide(own, None, session_id=sid, consent=consent, now=now, checked=True, values=values)
        assert two.decisions == one.decisions and two.scores == one.scores and two.signals == one.signals, n
        assert derived == {k: v for k, v in ctx.signals(url, h, ref, now).items() if k != "time.epoch"}  # the shared map is untouched
    assert prepared.checked_of(derived) is prepared.checked_of(derived)  # made once per map
    prepared.MAX_CHECKED = 2
    for i in range(5):
        prepared.checked_of({"page.path": f"/p{i}"})
    assert len(prepared.__dict__["_checked"]) <= 2
