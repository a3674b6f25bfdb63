"""Generate the HTTP-layer vectors every Strata runtime must reproduce (issue #14, 5d-e):

- ``cookies.json``: session cookie cases — keys, cookie name, nonce and session (15 fields, the
  per-visit nonce and the visit's model entries last; in the JSON a model entry's levels are hex) →
  the sealed cookie value (and back); 13-field cookies written before visit nonces, which open with
  an empty nonce (``legacy``); 14-field cookies written before model entries, which open with none
  (``before_models``); values that must open to no session (tampered, foreign key, other name,
  malformed model entries); session lifecycles, with the visit nonces each new visit draws;
- ``render.json``: content block → the HTML ``edge_server/render.py`` renders (escaping, WHATWG
  safe links, templates filled and sanitised by nh3, generated markup included);
- ``request_signals.json``: request (URL, referrer, headers, time, country header, time zone) →
  the contextual signals ``edge_server/signals.py`` derives, including device type, OS and browser
  from the User-Agent (uap-core regexes).

The expected values come from the Python server's own code (``edge_server.session``,
``edge_server.signals``); ``tests/edge_worker/test_vectors_http.py`` checks that the committed
files equal a fresh generation, and the JavaScript tests (``edge_worker/test/worker_vectors.test.js``)
check the worker against them. Run ``python tests/vectors/generate_http.py`` after changing either.
Inputs are drawn from a seeded generator as well as written out, so whole classes of input (UTM
combinations, language lists, user agents from many fragments) are covered, deterministically.
"""

from __future__ import annotations

import base64
import functools
import json
import random
import sys
from pathlib import Path
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

import msgpack  # noqa: E402

from edge_server import session as session_mod  # noqa: E402
from edge_server.render import render  # noqa: E402
from edge_server.session import CookieCodec, Session  # noqa: E402
from edge_server.signals import request_signals  # noqa: E402
from tests.vectors import hostile_html  # noqa: E402

SEED = 14

# --------------------------------------------------------------------------------- cookies
KEYS = {"k1": bytes(range(32)), "k0": bytes(range(100, 116)), "k24": bytes(range(200, 224))}


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def session_to_json(s: Session) -> dict[str, Any]:
    return {"sid": s.sid, "visit_count": s.visit_count, "page_views": s.page_views, "total_page_views": s.total_page_views,
            "first_seen": s.first_seen, "last_seen": s.last_seen, "recent_categories": s.recent_categories,
            "utm_source": s.utm_source, "purchased": s.purchased, "caps": s.caps, "exposures": s.exposures,
            "shown": s.shown, "converted": s.converted, "visit_nonce": s.visit_nonce,
            "models": {k: [e[0], e[1], e[2].hex(), *e[3:]] for k, e in s.models.items()}}


def session_from_json(d: dict[str, Any]) -> Session:
    return Session(d["sid"], d["visit_count"], d["page_views"], d["total_page_views"], d["first_seen"], d["last_seen"],
                   list(d["recent_categories"]), d["utm_source"], d["purchased"], {k: list(v) for k, v in d["caps"].items()},
                   {k: list(v) for k, v in d["exposures"].items()}, list(d["shown"]), list(d["converted"]), d["visit_nonce"],
                   {k: [e[0], e[1], bytes.fromhex(e[2]), *e[3:]] for k, e in d.get("models", {}).items()}, is_new=False)


def _models(rng: random.Random, n: int) -> dict[str, list[Any]]:
    """``n`` model entries as the counting writes them (edge_server/model_counts.py)."""
    out: dict[str, list[Any]] = {}
    for j in range(n):
        arm = rng.choice(["", "treatment", "control"])
        out[f"model_{j}"] = [rng.randbytes(4).hex(), rng.randbytes(4).hex(), bytes(rng.randrange(9) for _ in range(rng.randint(1, 64))),
                             rng.randrange(40 if arm else 20), rng.random() < 0.3, arm]
    return out


def seal(codec: CookieCodec, s: Session, nonce: bytes) -> str:
    """CookieCodec.encode with a fixed nonce (the real code, including its shrinking loop)."""
    with mock.patch.object(session_mod.os, "urandom", lambda n: nonce):
        return codec.encode(s)


def _sessions(rng: random.Random) -> list[Session]:
    out = [
        Session("AAAAAAAAAAAAAAAAAAAAAA", 1, 1, 1, 1_793_491_200, 1_793_491_200),
        Session("tX3m_p0dM-1oQ8Qe9cYbKw", 3, 4, 17, 1_793_000_000, 1_793_491_260, ["tents", "packs"], "newsletter", True,
                {"offer/welcome-offer": [1, 1_793_491_200]}, {"starter-kit": ["free-shipping", 3]},
                ["hero|starter-kit/free-shipping|cart", "banner|default|"], ["purchase"], "q2Zb1N0vR8kX4mWc",
                {"purchase_intent": ["3f2a9c1e", "9b0c11d2", bytes([0, 4, 1, 2]), 7, False, ""],
                 "discount_uplift": ["5e6f7a8b", "c0ffee00", bytes([2, 1]), 23, True, "treatment"]}),
        Session("ünïcödé-sid-✓", 2, 0, 5, 0, 0, ["zelte", "ß"], "blog ☀", False),  # no nonce (as read from a cookie before nonces)
    ]
    cats = ["tents", "packs", "boots", "stoves", "lights", "maps", "socks", "hats", "poles", "bags", "mats", "cups"]
    for i in range(12):
        s = Session(base64.urlsafe_b64encode(rng.randbytes(16)).rstrip(b"=").decode(), rng.randint(1, 500), rng.randint(0, 60),
                    rng.randint(0, 10**6), rng.randint(0, 2**32), rng.randint(0, 2**40))
        s.recent_categories = rng.sample(cats, rng.randint(0, 10))
        s.utm_source = rng.choice(["", "newsletter", "google", "x" * 128])
        s.purchased = rng.random() < 0.3
        n = rng.choice([0, 2, 10, 60]) if i < 10 else 120  # the last ones too large for 1 KB: shrunk
        s.caps = {f"slot{j}/rule-{j}": [rng.randint(1, 300), rng.randint(0, 2**31)] for j in range(n)}
        s.exposures = {f"exp-{j}": [rng.choice(["a", "b", "control"]), rng.randint(1, 70000)] for j in range(rng.randint(0, n))}
        s.shown = [f"slot{j}|arm|layer" for j in range(rng.randint(0, 24))]
        s.converted = rng.sample(["purchase", "signup", "newsletter"], rng.randint(0, 3))
        s.visit_nonce = base64.urlsafe_b64encode(rng.randbytes(12)).decode()
        s.models = _models(rng, rng.randint(0, 4) if i < 10 else 4)
        if i == 11:  # full model entries and exposure keys: shrinking drops model entries too (the newest first)
            s.shown = [f"slot{j:02}|rule-{j:02}|mid" for j in range(24)]
            for e in s.models.values():
                e[2] = bytes(rng.randrange(9) for _ in range(64))
        out.append(s)
    return out


def cookie_vectors() -> dict[str, Any]:
    rng = random.Random(SEED)
    sealed, rejected = [], []
    orders = [["k1", "k0"], ["k0", "k1"], ["k24", "k1"]]
    for i, s in enumerate(_sessions(rng)):
        order = orders[i % len(orders)]
        name = "strata_session" if i % 4 else "site_sess"
        codec = CookieCodec({k: KEYS[k] for k in order}, name)
        nonce = rng.randbytes(12)
        before = json.loads(json.dumps(session_to_json(s)))  # a copy: encode shrinks the session itself
        value = seal(codec, s, nonce)
        back = codec.decode(value)
        assert back is not None
        sealed.append({"keys": [[k, _b64(KEYS[k])] for k in order], "cookie_name": name, "nonce": nonce.hex(),
                       "session": before, "value": value, "decoded": session_to_json(back)})
    good = sealed[1]
    codec = CookieCodec({"k1": KEYS["k1"]}, "strata_session")
    v = good["value"] if good["keys"][0][0] == "k1" else seal(codec, session_from_json(good["session"]), bytes(12))
    head, body = v.rsplit(".", 1)
    blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    flipped = bytearray(blob)
    flipped[20] ^= 1
    cases = {
        "empty": "",
        "not three parts": "s1.k1",
        "other format": "s2" + v[2:],
        "unknown key id": v.replace("s1.k1.", "s1.k9.", 1),
        "flipped ciphertext bit": head + "." + base64.urlsafe_b64encode(bytes(flipped)).rstrip(b"=").decode(),
        "truncated": v[:60],
        "too short for a nonce and tag": "s1.k1." + base64.urlsafe_b64encode(bytes(20)).rstrip(b"=").decode(),
        "not base64": "s1.k1.!!!",
        "over 4096 characters": v + "A" * 4096,
    }
    for why, value in cases.items():
        rejected.append({"keys": [["k1", _b64(KEYS["k1"])]], "cookie_name": "strata_session", "value": value, "why": why})
    # sealed for another cookie name: the associated data differs
    rejected.append({"keys": [["k1", _b64(KEYS["k1"])]], "cookie_name": "other_cookie", "value": v, "why": "sealed for another cookie name"})
    # authentic, but a model entry of a shape this version never writes (one change each)
    fields = msgpack.unpackb(session_from_json(good["session"])._pack(), raw=False)
    entry = ["3f2a9c1e", "9b0c11d2", bytes([0, 4]), 7, False, ""]
    bad_models = {"five models": {f"m{j}": entry for j in range(5)}, "levels over 64 bytes": {"m": [*entry[:2], bytes(65), *entry[3:]]},
                  "bucket over 39": {"m": [*entry[:3], 40, *entry[4:]]}, "levels as text": {"m": [*entry[:2], "0004", *entry[3:]]},
                  "entry of 5": {"m": entry[:5]}, "frozen not a bool": {"m": [*entry[:4], 0, entry[5]]}, "models not a map": [entry]}
    for why, models in bad_models.items():
        with mock.patch.object(session_mod.os, "urandom", lambda n: bytes(12)):
            value = codec._seal(msgpack.packb([*fields[:14], models], use_bin_type=True))
        rejected.append({"keys": [["k1", _b64(KEYS["k1"])]], "cookie_name": "strata_session", "value": value, "why": f"model entries: {why}"})
    for r in rejected:
        assert CookieCodec({k: base64.b64decode(b) for k, b in r["keys"]}, r["cookie_name"]).decode(r["value"]) is None, r["why"]
    legacy = []  # 13 fields, written before visit nonces: they open with an empty nonce (touch gives them one)
    for case in sealed[:4]:
        codec = CookieCodec({k: base64.b64decode(b) for k, b in case["keys"]}, case["cookie_name"])
        fields = session_from_json(case["decoded"])._pack()
        plain = msgpack.packb(msgpack.unpackb(fields, raw=False)[:13], use_bin_type=True)
        nonce = rng.randbytes(12)
        with mock.patch.object(session_mod.os, "urandom", lambda n, nonce=nonce: nonce):
            value = codec._seal(plain)
        back = codec.decode(value)
        assert back is not None and back.visit_nonce == ""
        legacy.append({"keys": case["keys"], "cookie_name": case["cookie_name"], "value": value, "decoded": session_to_json(back)})
    before_models = []  # 14 fields, written before model entries: they open with none
    for case in sealed[:4]:
        codec = CookieCodec({k: base64.b64decode(b) for k, b in case["keys"]}, case["cookie_name"])
        fields = session_from_json(case["decoded"])._pack()
        plain = msgpack.packb(msgpack.unpackb(fields, raw=False)[:14], use_bin_type=True)
        nonce = rng.randbytes(12)
        with mock.patch.object(session_mod.os, "urandom", lambda n, nonce=nonce: nonce):
            value = codec._seal(plain)
        back = codec.decode(value)
        assert back is not None and back.models == {}
        before_models.append({"keys": case["keys"], "cookie_name": case["cookie_name"], "value": value, "decoded": session_to_json(back)})
    return {"format": "strata-cookie-vectors/1", "sealed": sealed, "legacy": legacy, "before_models": before_models, "rejected": rejected,
            "lifecycle": lifecycle_vectors(rng)}


def apply_op(s: Session, op: list[Any]) -> Any:
    """One session operation as the server performs it; returns its result (JSON-able)."""
    name, *args = op
    if name == "touch":
        s.touch(*args)
        return None
    if name == "record":
        caps, exposures, now = args
        return [list(x) for x in s.record(caps, [tuple(e) for e in exposures], now)]
    if name == "first_exposure":
        return s.first_exposure(args[0])
    if name == "first_conversion":
        return s.first_conversion(args[0])
    if name == "enter_model":  # what the model counting writes (edge_server/model_counts.py); a new visit empties it
        mid, (spec, fit, levels, b, frozen, arm) = args
        s.models[mid] = [spec, fit, bytes.fromhex(levels), b, frozen, arm]
        return None
    if name == "add_signals":
        out: dict[str, Any] = {}
        s.add_signals(out, args[0])
        return out
    raise ValueError(name)


def _recorded_random(rng: random.Random, drawn: list[bytes], n: int) -> bytes:
    """os.urandom for the lifecycle vectors: seeded, and each draw remembered."""
    drawn.append(rng.randbytes(n))
    return drawn[-1]


def lifecycle_vectors(rng: random.Random) -> list[dict[str, Any]]:
    """Sequences of session operations (visits, page views, caps, exposures, conversions) and each
    one's result: how both servers update one session, so caps and visits count across a fleet."""
    out = []
    for _ in range(40):
        s = Session("lifecycle-" + str(rng.randint(10**6, 10**7)))
        start = json.loads(json.dumps(session_to_json(s)))  # a copy: the lists change below
        now = 1_793_491_200
        ops: list[list[Any]] = []
        for _ in range(rng.randint(3, 30)):
            now += rng.choice([1, 30, 600, 1799, 1801, 86400])
            kind = rng.random()
            if kind < 0.4:
                ops.append(["touch", now, 1800, rng.choice(["", "newsletter", "google"]), rng.choice(["", "tents", "packs", "boots"]), rng.random() < 0.8])
            elif kind < 0.6:
                ops.append(["record", rng.sample(["offer/welcome-offer", "banner/free-ship", "hero/x"], rng.randint(0, 2)),
                            [[e, rng.choice(["a", "b"])] for e in rng.sample(["starter-kit", "exp2"], rng.randint(0, 2))], now])
            elif kind < 0.8:
                ops.append(["first_exposure", f"slot{rng.randint(0, 30)}|arm|layer"])
            elif kind < 0.85:
                ops.append(["first_conversion", rng.choice(["purchase", "signup"])])
            elif kind < 0.9:
                ops.append(["enter_model", rng.choice(["intent", "uplift"]), [rng.randbytes(4).hex(), rng.randbytes(4).hex(),
                                                                               rng.randbytes(rng.randint(1, 6)).hex(), rng.randrange(20), False, ""]])
            else:
                ops.append(["add_signals", rng.choice([0, now - 5])])
        nonces: list[bytes] = []  # the visit nonces touch draws, in order: the worker replays them
        with mock.patch.object(session_mod.os, "urandom", functools.partial(_recorded_random, rng, nonces)):
            results = [apply_op(s, op) for op in ops]
        out.append({"start": start, "ops": ops, "nonces": [n.hex() for n in nonces], "results": results, "end": session_to_json(s)})
    return out


# --------------------------------------------------------------------------------- request signals
USER_AGENTS = [
    "",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; U; Android 4.0.3; en-us; KFTT Build/IML74K) AppleWebKit/537.36 (KHTML, like Gecko) Silk/3.68 like Chrome/39.0.2171.93 Safari/537.36",
    "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.37.106]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 340.0.0.22.109",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "Wget/1.21.4",
    "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.14977",
    "BlackBerry9700/5.0.0.862 Profile/MIDP-2.1 Configuration/CLDC-1.1 VendorID/331",
    "Mozilla/5.0 (PlayBook; U; RIM Tablet OS 2.1.0; en-US) AppleWebKit/536.2+ (KHTML, like Gecko) Version/7.2.1.0 Safari/536.2+",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 YaBrowser/24.12.0.0 Safari/537.36",
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36",
    "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (Nintendo Switch; WifiWebAuthApplet) AppleWebKit/606.4 (KHTML, like Gecko) NF/6.0.1.15.4 NintendoBrowser/5.1.0.20393",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Vivaldi/7.0",
    "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
    "Mozilla/5.0 (Android 14; Tablet; rv:133.0) Gecko/133.0 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AN00) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/99.0 Mobile Safari/537.36 HuaweiBrowser/14.0",
    "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1; Trident/6.0)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
    "Dalvik/2.1.0 (Linux; U; Android 9; SM-G960F Build/PPR1.180610.011)",
    "okhttp/4.12.0",
    "Mozilla/5.0 (Linux; Android 13; SM-T220) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 (Mobile)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edge/44.18363.8131",
    "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
]
#: Fragments the generator composes into further user agents (deterministically, from SEED).
UA_FRAGMENTS = [
    "Mozilla/5.0", "(Windows NT 10.0; Win64; x64)", "(Macintosh; Intel Mac OS X 10_15_7)", "(Linux; Android 14; Pixel 7)",
    "(iPhone; CPU iPhone OS 16_0 like Mac OS X)", "(iPad; CPU OS 15_0 like Mac OS X)", "(X11; Ubuntu; Linux x86_64)",
    "AppleWebKit/537.36 (KHTML, like Gecko)", "Gecko/20100101", "Chrome/120.0.0.0", "Firefox/121.0", "Safari/537.36",
    "Mobile", "Version/17.0", "Edg/120.0", "SamsungBrowser/23.0", "OPR/105.0", "Tablet", "Kindle/3.0", "bot", "Spider",
    "crawler", "HeadlessChrome/120.0", "wv", "Build/UP1A", "CriOS/120.0", "FxiOS/121.0", "Mobile/15E148", "Silk/100",
]
PAGES = [
    "/", "/tents.html", "/newsletter.html?utm_source=newsletter&utm_medium=email&utm_campaign=camping-spring",
    "https://shop.example.com/p?id=7&utm_source=Google&utm_medium=CPC&utm_term=tent+2p#reviews",
    "/search?q=%C3%BCber+zelt&q=second&empty=&flag", "/a%2Fb?x=%E2%9C%93&bad=%ZZ&half=%C3&plus=a+b",
    "?only=query", "", "HTTP://Shop.Example.COM:8443/Path?A=1", "//cdn.example.com/x?utm_source=cdn",
    "/p?" + "&".join(f"k{i}=v{i}" for i in range(70)), "/long?" + "x=" + "y" * 300, "  \t/spaced?\tutm_source=tab",
    "mailto:someone@example.com", "/ü/ñ?ë=ö", "/p?utm_medium=Email", "/p?k=1&k=2&utm_source=a&utm_source=b",
    "//shop.example.com//x?utm_source=dbl", "/x#frag?notquery", "http://[::1/x?utm_source=bad", "https://[zz]/p", "https://\u2100.example/p",
]
REFERRERS = [None, "", "https://www.google.com/", "https://www.google.co.uk/search?q=tent", "https://duckduckgo.com/",
             "https://search.yahoo.co.jp/", "https://mail.google.com/mail/u/0/", "https://outlook.live.com/", "https://webmail.example.org/",
             "https://t.co/abc", "https://m.facebook.com/", "https://l.instagram.com/", "https://old.reddit.com/r/camping", "https://mastodon.social/@x",
             "https://shop.example.com/tents.html", "https://blog.example.net/post", "android-app://com.google.android.gm/",
             "HTTPS://WWW.BING.COM/", "https://user:pw@Yandex.ru:443/", "not a url", "https://[::1]:8080/",
             # malformed (split_url: None): counted as no referrer
             "https://[zz]/", "http://[::1/x", "https://[1.2.3.4]/", "https://[v1.x]/", "https://[vz.x]/", "https://ex\uff03ample.com/", "https://\u2100.example/"]
LANGS = ["", "de-CH,de;q=0.9,en;q=0.5", "en-US,en;q=0.9", "fr", "*", "es;q=0,en", "pt-BR;q=0.8, pt;q=0.9,  en ;q=1",
         "zh-Hant-TW,zh;q=0.5,en;q=.5", "en;q=1.2.3,de", "x-klingon,de", "EN-gb", "de;q=0.5;level=1,fr;q=",
         ",".join(f"l{chr(97 + i)}" for i in range(20)), "en;q=., de;q=1.", "123,de"]
COUNTRIES = ["", "DE", "de", " us ", "XX", "T1", "GBR", "1A", "ß"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
HOSTS = ["", "shop.example.com", "Shop.Example.com:8080", "127.0.0.1:8787"]


def _ua(rng: random.Random) -> str:
    return " ".join(rng.sample(UA_FRAGMENTS, rng.randint(1, 7)))


def signal_vectors() -> dict[str, Any]:
    rng = random.Random(SEED)
    cases: list[dict[str, Any]] = []

    def add(page_url: str, headers: dict[str, str], referrer: str | None, now: float, country_header: str, tz: str) -> None:
        expected = request_signals(page_url, headers, referrer=referrer, country_header=country_header, tz=ZoneInfo(tz), now=now)
        cases.append({"page_url": page_url, "headers": headers, "referrer": referrer, "now": now, "country_header": country_header,
                      "tz": tz, "signals": expected})

    base = {"host": "shop.example.com"}
    for ua in USER_AGENTS:
        add("/", {**base, "user-agent": ua}, None, 1_793_491_200.5, "CF-IPCountry", "UTC")
    for ua in USER_AGENTS[:8]:
        add("/", {**base, "user-agent": ua, "sec-ch-ua-mobile": "?1", "sec-ch-ua-platform": '"Android"'}, None, 1_793_491_200, "CF-IPCountry", "UTC")
    for p in PAGES:
        for r in REFERRERS[:3] + [REFERRERS[14]]:
            add(p, base, r, 1_793_491_200, "CF-IPCountry", "UTC")
    for r in REFERRERS:
        add("/", base, r, 1_793_491_200, "CF-IPCountry", "UTC")
    for lang in LANGS:
        add("/", {**base, "accept-language": lang}, None, 1_793_491_200, "CF-IPCountry", "UTC")
    for c in COUNTRIES:
        add("/", {**base, "cf-ipcountry": c, "x-vercel-ip-country": "FR"}, None, 1_793_491_200, "CF-IPCountry", "UTC")
        add("/", {**base, "cf-ipcountry": "DE", "x-vercel-ip-country": c}, None, 1_793_491_200, "X-Vercel-IP-Country", "UTC")
    for tz in ZONES:
        for t in (1_793_491_200, 1_774_746_000, 1_792_108_740.999, 1_800_000_000):  # incl. around DST changes
            add("/", base, None, t, "CF-IPCountry", tz)
    for h in HOSTS:
        add("/", {"host": h} if h else {}, "https://shop.example.com/", 1_793_491_200, "CF-IPCountry", "UTC")
    for _ in range(150):  # generated combinations of every input
        headers = {"host": rng.choice(HOSTS), "user-agent": rng.choice([_ua(rng), rng.choice(USER_AGENTS)]),
                   "accept-language": rng.choice(LANGS), "cf-ipcountry": rng.choice(COUNTRIES)}
        if rng.random() < 0.3:
            headers["sec-ch-ua-mobile"] = rng.choice(["?0", "?1"])
            headers["sec-ch-ua-platform"] = rng.choice(['"Windows"', '"macOS"', '"Android"', "Linux"])
        add(rng.choice(PAGES), {k: v for k, v in headers.items() if v}, rng.choice(REFERRERS),
            rng.choice([1_793_491_200, 1_793_500_000.25, 1_795_000_123]), "CF-IPCountry", rng.choice(ZONES))
    return {"format": "strata-request-signal-vectors/1", "cases": cases}


# --------------------------------------------------------------------------------- rendering
BLOCKS: list[Any] = [
    None, {}, [], "text", {"headline": "Find the tent that fits your trip"},
    {"headline": "<script>alert('x')</script> & \"quotes\"", "body": "Tom's 5 > 3 < 4", "image": "/static/img/a.svg",
     "cta": {"text": "Shop <now>", "href": "/tents.html?a=1&b=2"}, "items": ["a<b", "c&d", 3, 2.5, True, None]},
    {"image": "javascript:alert(1)", "cta": {"text": "x", "href": "JaVaScRiPt:alert(1)"}},
    {"image": "  https://cdn.example.com/x.png  ", "cta": {"text": "x", "href": "//evil.example.com/"}},
    {"cta": {"text": "go"}}, {"cta": {"href": "/x"}}, {"cta": "not an object", "items": "not a list"}, {"items": list(range(60))},
    {"headline": 0, "body": "", "image": "", "items": []}, {"headline": 1.5e-05, "body": 1e16, "items": [0.1, -2, 1e100]},
    {"template": "<b>{headline}</b> {{literal}} {code}", "headline": "<i>x</i>", "code": "TRAIL15"},
    {"template": "{missing}", "a": 1}, {"template": "{a.__class__}", "a": 1}, {"template": "{a[b][c]}", "a": {"b": {"c": "<deep>"}}},
    {"template": "{a[x]}", "a": {"b": 1}}, {"template": "{a}", "a": {"b": 1}}, {"template": "{a}", "a": [1, 2]},
    {"template": "{a!r} {a!s} {b!r}", "a": "it's", "b": ["x", 1]}, {"template": "{a!x}", "a": 1}, {"template": "{a:>10}", "a": "pad"},
    {"template": "{a:{b}}", "a": "x", "b": "5"}, {"template": "{a:{zz}}", "a": "x"}, {"template": "{}", "a": 1}, {"template": "{0}", "a": 1},
    {"template": "single } brace", "a": 1}, {"template": "open { brace", "a": 1}, {"template": "{a", "a": 1}, {"template": "}}{{", "a": 1},
    {"template": "{a[}]}", "a": {"}": "odd"}}, {"template": "{a}{b}{c}", "a": True, "b": None, "c": 7}, {"template": 5, "headline": "no template"},
    {"template": "", "headline": "empty template"}, {"template": "{ä}", "ä": "unicode name"}, {"template": "{a!}", "a": 1},
]
#: Templates through the sanitiser (nh3/ammonia): what it keeps, drops, closes and re-escapes.
SANITISER_TEMPLATES = [
    "<p>{a}", "<b>{a}</i>", "<table><b>{a}</b><tr><td>{b}", "<ul><li>{a}<li>{b}</ul>", "<p>x<div>{a}</div>", "<a href=\"/x\"><a href=\"/y\">{a}</a></a>",
    "<script>alert({a})</script>{b}", "<style>p{{}}</style>{a}", "<!-- {a} -->{b}", "<svg><a href=\"/x\">{a}</a></svg>{b}", "<math><mi>{a}</mi></math>",
    "<template><b>{a}</b></template>{b}", "<noscript><b>{a}</b></noscript>", "<textarea>\n<b>{a}</b></textarea>", "<xmp>{a}&</xmp>", "<pre>\n{a}</pre>",
    "<img src=\"{a}\" alt=\"{b}\" onerror=\"x\">", "<a href=\"ftp://x/{a}\" class=k>{b}</a>", "<a href=\"javascript:{a}\">x</a>", "<a href=\"{a}\">x</a>",
    "<a href=\"//evil.example/{a}\">x</a>", "<a href=\"https://EX.example/?q={a}\">x</a>", "<blockquote cite=\"javascript:x\">{a}</blockquote>",
    "<q cite=\"/src?{b}\">{a}</q>", "<b title='{a}' TITLE=dup CLASS=\"c\" id=x style=\"color:red\">y</b>", "&copy; &nbsp; &amp; &#39; &lt;{a}&gt; \u00a0",
    "<br/><hr><wbr>{a}<img>", "<IMG SRC=/x.png>", "<b>{a}", "</p>{a}", "<p>{a}<p>{b}", "<h1><h2>{a}</h2></h1>", "<em><p>{a}</em></p>",
    "<span lang=\"de\" title=\"{b}\">{a}</span>", "<div><!--x--><span>{a}</span></div>", "<iframe src=\"/x\">{a}</iframe>", "<form><input value={a}></form>",
    "<a href=\"mailto:x@example.com\">{a}</a>", "<a href=\"  /sp  \">{a}</a>", "<a href=\"http://[bad/\">{a}</a>", "<td>{a}</td>", "<tr><td>{a}",
    "<col span=2><caption>{a}</caption>", "<ol start=3><li>{a}</ol>", "<time datetime=\"2026-01-01\">{a}</time>", "<details><summary>{a}</summary>{b}</details>",
]
HTML_PIECES = ["<p>", "</p>", "<b>", "</b>", "<i>", "<a href=\"/x\">", "<a href=\"ftp://y\">", "</a>", "<table>", "<tr>", "<td>", "</table>", "<li>",
               "<ul>", "</ul>", "<br>", "<script>", "</script>", "<svg>", "</svg>", "<!--", "-->", "&", "&amp;", "&nbsp;", "<", ">", "\"", "'",
               "{a}", "{b}", "{c[k]}", "x", " ", "<div class=\"k\">", "</div>", "<img src=\"{a}\">", "<span title=\"{b}\">", "</span>"]
TEMPLATE_PIECES = ["{a}", "{b}", "{c[k]}", "{c[z]}", "{{", "}}", "<p>", "&", "'", '"', "{a!r}", "{b:{a}}", "{", "}", "x", "{d}", "{a.b}"]


def render_vectors() -> dict[str, Any]:
    rng = random.Random(SEED)
    blocks = list(BLOCKS)
    values = ["<x>", "a&b", "it's", 'say "hi"', 42, -1.25, True, None, "", "ünï ✓"]
    for _ in range(120):
        blocks.append({"template": "".join(rng.choice(TEMPLATE_PIECES) for _ in range(rng.randint(1, 6))),
                       "a": rng.choice(values), "b": rng.choice(values), "c": {"k": rng.choice(values)}})
        blocks.append({k: rng.choice(values) for k in rng.sample(["headline", "body", "image"], rng.randint(1, 3))}
                      | ({"cta": {"text": rng.choice(values), "href": rng.choice(["/a", "https://x.example/?q=<1>", "ftp://x", " /sp "])}}
                         if rng.random() < 0.5 else {}))
    for i, tpl in enumerate(SANITISER_TEMPLATES):
        blocks.append({"template": tpl, "a": values[i % len(values)], "b": values[(i * 3 + 1) % len(values)], "c": {"k": "<k>"}})
    for _ in range(150):  # generated markup: whatever the pieces make of it, both sanitise it alike
        blocks.append({"template": "".join(rng.choice(HTML_PIECES) for _ in range(rng.randint(1, 12))),
                       "a": rng.choice(values + ["javascript:x", "/ok", "https://ex.example/<p>"]), "b": rng.choice(values), "c": {"k": rng.choice(values)}})
    hostile = random.Random(SEED + 1)  # a stream of its own: the cases above stay as they were
    blocks += [hostile_html.hostile_block(hostile) for _ in range(400)]
    blocks += [{"template": f"<{n} class=k>{{a}}<b>{{a}}</b></{n}>-", "a": "<x>"} for n in hostile_html.FOREIGN_NAMES]
    blocks += [{"template": f"<svg><{n}>{{a}}</{n}></svg><math><{n}>{{a}}</{n}></math>-", "a": "y"} for n in hostile_html.FOREIGN_NAMES[::7]]
    blocks += [{"template": t, "a": v} for t in hostile_html.EDGE_TEMPLATES for v in ("\x00\x00", "\ufeffx", "<x>")]
    return {"format": "strata-render-vectors/1", "cases": [{"content": b, "html": render(b)} for b in blocks]}


def generate() -> dict[str, str]:
    """File name -> JSON text."""
    return {"cookies.json": json.dumps(cookie_vectors(), indent=1, ensure_ascii=False) + "\n",
            "render.json": json.dumps(render_vectors(), indent=1, ensure_ascii=False) + "\n",
            "request_signals.json": json.dumps(signal_vectors(), indent=1, ensure_ascii=False) + "\n"}


if __name__ == "__main__":
    for name, text in generate().items():
        (HERE / name).write_text(text, encoding="utf-8")
        sys.stdout.write(f"wrote {HERE / name}\n")
