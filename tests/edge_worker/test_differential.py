"""Differential fuzz of the two runtimes (issue #20 point 10): the real server (`strata serve`
under uvicorn) and the real edge worker (workerd from npm) load the same signed bundle, with the
same keys, origin and settings, and get the same seeded stream of random and hostile requests —
malformed, deep and huge JSON bodies, wrong types in every decide and events field, bad media
types, odd methods, long and control-character paths, hostile cookies, bad consent headers, and
hostile templates in the bundle (hand-signed past the compiler, as an attacker who holds the key or
an older compiler would write them). For each request both must answer the same status, and the
same error code, message and field; a decide that renders HTML must render the same bytes.

The stream is bounded in count and time; its seed is STRATA_FUZZ_SEED (a number, or ``random``;
20 by default) and is printed with every difference found. Docs: docs/security.md ("The two runtimes answer alike")."""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_server.harness.server import RunningServer
from tests.conftest import ROOT, trailblazer_without_holdout
from tests.edge_worker.workerd import RunningWorkerd, StaticOrigin, require_node
from tests.vectors.hostile_html import hostile_block
from tests.vectors.hostile_http import hostile_body

SITE = ROOT / "rulesets" / "trailblazer" / "site"
COOKIE_KEYS = "k1:" + base64.b64encode(b"\x09" * 32).decode()
STATS_TOKEN = "diff-token"
#: Slots of hostile templates added to the demo rule set: each renders one generated block.
TEMPLATE_SLOTS = 40
#: Requests per run (STRATA_FUZZ_REQUESTS to explore longer), and the time they may take (both runtimes together).
REQUESTS = int(os.environ.get("STRATA_FUZZ_REQUESTS", "500"))
SECONDS = 90.0
#: Fixed by default, so that CI is repeatable; STRATA_FUZZ_SEED=random (or a number) explores further.
_SEED = os.environ.get("STRATA_FUZZ_SEED", "20")
SEED = random.SystemRandom().randrange(2**32) if _SEED == "random" else int(_SEED)


def hostile_bundle(key: Ed25519PrivateKey, rng: random.Random) -> bytes:
    """The demo rule set (its holdout at 0) plus TEMPLATE_SLOTS slots t0..: compiled, then their
    content replaced by hostile template blocks and the payload signed again (gzip codec)."""
    from compiler import encode
    from compiler.pipeline import Options, run

    text = trailblazer_without_holdout()
    assert text.count("\nslots:\n") == 1, "the demo's slots block changed: update this helper"
    extra = "".join(f'  - {{id: t{i}, default: {{template: "<b>{{a}}</b>", a: "slot {i}"}}}}\n' for i in range(TEMPLATE_SLOTS))
    text = text.replace("\nslots:\n", "\nslots:\n" + extra)
    ctx = run(str(ROOT / "rulesets" / "differential.yaml"), Options(created=int(time.time()) - 60, codec="gzip"), text=text)
    assert ctx.payload is not None, ctx
    payload = dict(ctx.payload)
    content = list(payload["content"])
    for sl in payload["slots"]:
        if sl["id"].startswith("t"):
            content[sl["default"]] = hostile_block(rng)
    payload["content"] = content
    return encode.sign(encode.encode_payload(payload, "gzip"), key, "gzip")


@pytest.fixture(scope="module")
def runtimes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_node()
    d = tmp_path_factory.mktemp("differential")
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    (d / "site.pub").write_text(pub)
    bundles = d / "bundles"
    bundles.mkdir()
    rng = random.Random(SEED)
    (bundles / "differential.bundle").write_bytes(hostile_bundle(key, rng))
    site, origin = StaticOrigin(SITE), StaticOrigin(bundles)
    server = worker = None
    try:
        server = RunningServer(["--bundle", str(bundles / "differential.bundle"), "--pub", str(d / "site.pub"), "--origin", site.url,
                                "--insecure-cookie", "--stats-token", STATS_TOKEN], env={"STRATA_COOKIE_KEYS": COOKIE_KEYS}, log=d / "server.log")
        worker = RunningWorkerd(d / "workerd", {
            "STRATA_BUNDLE": origin.url + "/differential.bundle", "STRATA_PUB": pub, "STRATA_ORIGIN": site.url,
            "STRATA_COOKIE_KEYS": COOKIE_KEYS, "STRATA_COOKIE_SECURE": "0", "STRATA_STATS_TOKEN": STATS_TOKEN})
        for url in (server.url, worker.url):
            deadline = time.monotonic() + 30
            while httpx.get(url + "/readyz", timeout=5).status_code != 200:
                assert time.monotonic() < deadline, f"{url} not ready"
                time.sleep(0.2)
        yield {"server": server, "worker": worker}
    finally:
        for p in (worker, server):
            if p is not None:
                p.stop()
        site.stop()
        origin.stop()


# ------------------------------------------------------------------------------- requests
METHODS = ["GET", "GET", "POST", "POST", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO"]
#: Methods both HTTP stacks hand to the application; others (FOO) are refused before it, with the
#: stack's own status (uvicorn 400, workerd 501): there only "refused, without the JSON error" is compared.
APP_METHODS = {"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"}
API = ["/v1/decide", "/v1/events", "/v1/stats", "/v1/client.js", "/healthz", "/readyz", "/metrics"]
PAGES = ["/", "/tents.html", "/index.html", "/nope.html", "/static/style.css", "/v1/decide/", "/V1/decide", "/v1//decide", "/v1/decide;x",
         "/%2e%2e/%2e%2e/etc/passwd", "/a/%2e%2e/tents.html", "/x%00y", "/x%0ay", "/x%7f", "/%ff%fe", "/%c3%28", "/%", "/%g1", "/tents.html%20",
         "/" + "a" * 300, "/" + "b/" * 1100, "/" + "c" * 2100, "/?" + "q=" + "x" * 3000, "/tents.html?utm_source=" + "%00" * 10, "/\u00e9", "//evil.example/x"]
SLOT_NAMES = ["hero", "banner", "offer", "recs", "nope", "Hero", "", "t0", "t1", "x" * 65]
CONTENT_TYPES = [None, "application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=x", "application/json; charset=utf-16", "APPLICATION/JSON", "application/jsonx", "application/",
                 "*/*", ""]
ODD = [None, True, False, 0, -1, 1.5, 2**53 + 1, -(2**63), 1e308, "", "x", "\u0000", "\ud7ff\ue000", "<script>", [], [1, "a"], {}, {"a": None},
       "x" * 3000, ["hero"] * 70]
SIGNAL_NAMES = ["cart.items", "cart.value", "search.query", "device.type", "page.category", "x", "", "session.page_views", "utm.source"]


def _odd(rng: random.Random) -> Any:
    v = rng.choice(ODD)
    return [v] if rng.random() < 0.1 else v


def decide_body(rng: random.Random) -> Any:
    """A decide body with each field valid, absent or of a hostile class."""
    body: dict[str, Any] = {}
    if rng.random() < 0.8:
        page: Any = {"url": rng.choice(["/", "/tents.html?utm_source=newsletter", "https://shop.example/x", "//evil", "http://[::1", "/\u0000",
                                         "javascript:x", "/" + "p" * 2100, _odd(rng)])}
        if rng.random() < 0.3:
            page["referrer"] = rng.choice(["https://www.google.com/", "http://[bad", "", _odd(rng)])
        if rng.random() < 0.2:
            page["category"] = rng.choice(["tents", "x" * 65, _odd(rng)])
        body["page"] = page if rng.random() < 0.9 else _odd(rng)
    if rng.random() < 0.7:
        body["slots"] = rng.choice([["hero"], SLOT_NAMES[: rng.randint(0, 5)], [f"t{i}" for i in range(TEMPLATE_SLOTS)], _odd(rng)])
    if rng.random() < 0.5:
        body["signals"] = rng.choice([{rng.choice(SIGNAL_NAMES): _odd(rng)},
                                      {"cart.items": [{"sku": "TB-1", "category": "tents", "price": _odd(rng), "quantity": _odd(rng)}]},
                                      {"cart.value": rng.choice([1e308, -1, 0.5, "1"])}, _odd(rng)])
    for f in ("page_view", "html"):
        if rng.random() < 0.3:
            body[f] = rng.choice([True, False, _odd(rng)])
    if rng.random() < 0.1:
        body[rng.choice(["extra", "Slots", ""])] = 1
    return body


def events_body(rng: random.Random) -> Any:
    body: dict[str, Any] = {}
    if rng.random() < 0.9:
        body["goal"] = rng.choice(["purchase", "signup", "nope", "", "x" * 100, _odd(rng)])
    if rng.random() < 0.6:
        body["value"] = rng.choice([12.5, 0, -1, 1e12, 5000.5, "12", _odd(rng)])
    if rng.random() < 0.1:
        body[rng.choice(["extra", "Goal"])] = 1
    return body if rng.random() < 0.95 else _odd(rng)


def cookie_header(rng: random.Random) -> str | None:
    """Cookies as a browser or an attacker sends them: the session, consent and client-signals
    cookies malformed, long, repeated, quoted or percent-encoded."""
    if rng.random() < 0.4:
        return None
    parts = []
    for _ in range(rng.randint(1, 4)):
        name = rng.choice(["strata_session", "strata_consent", "strata_signals", "other", "strata_session ", ""])
        value = rng.choice(["s1.k1.AAAA", "s1.k9." + "A" * 40, "garbage", "", '"quoted"', "no", "0", "yes", "%7B%22cart.value%22%3A1%7D",
                            "%7B%22cart.value%22%3A%22x%22%7D", "%7B", "[1]", "%7B%22x%22%3A1%7D", "A" * 5000, "=", "a=b"])
        parts.append(f"{name}={value}")
    return rng.choice(["; ", ";", " ; "]).join(parts)


def request(rng: random.Random) -> dict[str, Any]:
    """One request: method, path, headers and body, all drawn from rng."""
    r = rng.random()
    method = "POST" if r < 0.6 else rng.choice(METHODS)
    path = rng.choice(["/v1/decide", "/v1/decide", "/v1/events"]) if r < 0.6 else rng.choice(API + PAGES)
    headers: dict[str, str] = {}
    body: bytes | None = None
    if method in ("POST", "PUT", "PATCH") or rng.random() < 0.05:
        kind = rng.random()
        if kind < 0.55:
            body = json.dumps(decide_body(rng) if path != "/v1/events" else events_body(rng)).encode()
        elif kind < 0.9:
            body = hostile_body(rng)
        else:
            body = b'{"slots": ["hero"], "page": {"url": "/' + b"x" * rng.choice([16_000, 17_000, 40_000]) + b'"}}'
        ct = rng.choice(CONTENT_TYPES) if rng.random() < 0.3 else "application/json"
        if ct is not None:
            headers["content-type"] = ct
    cookie = cookie_header(rng)
    if cookie:
        headers["cookie"] = cookie
    for name, values in (("sec-gpc", ["1", "0", "yes", "", "1, 1"]), ("dnt", ["1", "0", "x"]), ("origin", ["https://evil.example", "null", "http://127.0.0.1"]),
                         ("sec-fetch-site", ["cross-site", "same-origin", "none", "bogus"]), ("accept-language", ["de-DE,de;q=0.9", "*;q=x", "x" * 500]),
                         ("user-agent", ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", "curl/8", "x" * 2000, "Googlebot/2.1"]),
                         ("referer", ["https://www.google.com/search?q=x", "http://[bad", "not a url"]), ("authorization", ["Bearer " + STATS_TOKEN, "Bearer x", "Basic y"]),
                         ("cf-ipcountry", ["US", "XX", "", "T1"])):
        if rng.random() < 0.15:
            headers[name] = rng.choice(values)
    return {"method": method, "path": path, "headers": headers, "body": body}


# ------------------------------------------------------------------------------- answers
def answer(client: httpx.Client, req: dict[str, Any]) -> dict[str, Any]:
    """What a runtime answered, as far as the contract says both answer alike."""
    r = client.request(req["method"], req["path"], headers=req["headers"], content=req["body"])
    if req["method"] not in APP_METHODS:
        return {"refused by the HTTP stack": r.status_code >= 400 and not r.headers.get("content-type", "").startswith("application/json")}
    out: dict[str, Any] = {"status": r.status_code}
    if r.headers.get("content-type", "").startswith("application/json") and r.content:
        try:
            data = r.json()
        except ValueError:
            return out
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            out["error"] = data["error"]
        elif req["path"] == "/v1/decide" and r.status_code == 200 and isinstance(data, dict):
            # rendered HTML of the template slots: defaults for everyone, so both render the same block
            slots = data.get("slots") or {}
            out["html"] = {k: v.get("html") for k, v in slots.items() if k.startswith("t") and isinstance(v, dict)}
    return out


def show(req: dict[str, Any]) -> str:
    body = req["body"]
    return json.dumps({**req, "body": None if body is None else body[:300].decode("utf-8", "replace") + ("..." if len(body) > 300 else ""),
                       "path": req["path"][:200]})[:900]


def test_differential_both_runtimes_answer_every_generated_request_alike(runtimes: dict[str, Any]) -> None:
    server, worker = runtimes["server"], runtimes["worker"]
    rng = random.Random(SEED ^ 0x5EED)
    differences: list[str] = []
    sent = rendered = 0
    deadline = time.monotonic() + SECONDS
    # first every hostile template once, then the stream
    every_template = {"method": "POST", "path": "/v1/decide", "headers": {"content-type": "application/json"},
                      "body": json.dumps({"slots": [f"t{i}" for i in range(TEMPLATE_SLOTS)], "html": True}).encode()}
    with httpx.Client(base_url=server.url, timeout=15) as py, httpx.Client(base_url=worker.url, timeout=15) as js:
        while sent < REQUESTS and time.monotonic() < deadline:
            req = request(rng) if sent else every_template
            sent += 1
            a, b = answer(py, req), answer(js, req)
            rendered += sum(1 for h in a.get("html", {}).values() if h)
            if a != b:
                differences.append(f"{show(req)}\n    server: {json.dumps(a)[:600]}\n    worker: {json.dumps(b)[:600]}")
    assert sent >= 100, f"only {sent} requests in {SECONDS}s"
    assert rendered >= TEMPLATE_SLOTS // 2, f"only {rendered} hostile templates rendered to non-empty HTML"
    assert not differences, f"seed {SEED} (STRATA_FUZZ_SEED={SEED} reproduces): {len(differences)} of {sent} requests answered differently:\n" + "\n".join(
        differences[: int(os.environ.get("STRATA_FUZZ_SHOW", "12"))])


#: Fresh hostile templates per run, beyond the 400 of tests/vectors/render.json and the 40 the
#: bundle above carries: the two sanitisers, called directly (Python's render.py in process, the
#: worker's render.js in one Node process), must return the same bytes for every one.
FRESH_TEMPLATES = 3000


def test_differential_sanitisers_render_fresh_hostile_templates_alike() -> None:
    require_node()
    from edge_server.render import render

    rng = random.Random(SEED ^ 0x7E3)
    blocks = [hostile_block(rng) for _ in range(FRESH_TEMPLATES)]
    script = ("const { render } = await import(process.argv[1]);"
              "const blocks = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "console.log(JSON.stringify(blocks.map(render)));").replace("require('fs')", "(await import('node:fs'))")
    res = subprocess.run(["node", "--input-type=module", "-e", script, (ROOT / "edge_worker" / "worker" / "render.js").as_uri()],
                         input=json.dumps(blocks), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    differences = [f"{json.dumps(b)[:600]}\n    server: {render(b)!r}\n    worker: {js!r}"
                   for b, js in zip(blocks, json.loads(res.stdout)) if render(b) != js]
    assert not differences, f"seed {SEED} (STRATA_FUZZ_SEED={SEED} reproduces): {len(differences)} of {len(blocks)} templates rendered differently:\n" + (
        "\n".join(differences[:10]))
