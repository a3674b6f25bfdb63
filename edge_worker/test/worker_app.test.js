// The worker's HTTP contract in node (page mode needs HTMLRewriter: tests/edge_worker/test_workerd.py
// covers it in real workerd): decide, consent, cookie continuity, events, stats, errors; and
// generated inputs (seeded) that must never produce a 500.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as runtime from "../runtime/index.js";
import { BUNDLE_URL, TRAILBLAZER_BUNDLE, VECTORS_PUB, rng, serveBundleOffline } from "./vectors.js";
import { StrataWorker } from "../worker/server.js";
import { CookieCodec, Session, importCookieKeys, parseCookies } from "../worker/session.js";
import { escapeHtml, render } from "../worker/render.js";

const KEYS = "k1:" + Buffer.alloc(32, 9).toString("base64");
const ENV = { STRATA_BUNDLE: BUNDLE_URL, STRATA_PUB: VECTORS_PUB, STRATA_COOKIE_KEYS: KEYS, STRATA_STATS_TOKEN: "tok" };

serveBundleOffline();
const worker = new StrataWorker(runtime, ENV);

const ctx = { waitUntil() {} };
const post = (path, body, headers = {}) => worker.fetch(new Request(`https://shop.example${path}`, {
  method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": "application/json", ...headers } }), ctx);
const cookieOf = (r) => (r.headers.get("set-cookie") ?? "").split(";")[0];

test("worker_decide: answers the Python server's JSON shape and sets the session cookie", async () => {
  const r = await post("/v1/decide", { page: { url: "/tents.html" }, slots: ["hero", "banner"], html: true });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("cache-control"), "private, no-store");
  const body = await r.json();
  assert.deepEqual(Object.keys(body), ["bundle", "slots", "consent"]);
  assert.deepEqual(body.bundle, { name: "trailblazer", version: 100 });
  assert.deepEqual(Object.keys(body.slots), ["hero", "banner"]);
  assert.equal(typeof body.slots.hero.html, "string");
  assert.match(r.headers.get("set-cookie"), /^strata_session=s1\.k1\.[A-Za-z0-9_-]+; Path=\/; Max-Age=15552000; HttpOnly; SameSite=Lax; Secure$/);
});

test("worker_decide: the cookie carries one session across requests, counting page views", async () => {
  const codec = new CookieCodec(await importCookieKeys(KEYS), "strata_session");
  let cookie = cookieOf(await post("/v1/decide", {}));
  const first = await codec.decode(cookie.split("=")[1]);
  for (let i = 2; i <= 4; i++) cookie = cookieOf(await post("/v1/decide", {}, { cookie }));
  const s = await codec.decode(cookie.split("=")[1]);
  assert.equal(s.sid, first.sid);
  assert.equal(s.pageViews, 4);
  assert.equal(s.visitCount, 1);
});

test("worker_consent: GPC, DNT and a consent cookie saying no give defaults, no cookie, an old one expired", async () => {
  const cookie = cookieOf(await post("/v1/decide", {}));
  for (const headers of [{ "sec-gpc": "1" }, { dnt: "1" }, { cookie: "strata_consent=deny" }]) {
    const r = await post("/v1/decide", { page: { url: "/?utm_source=newsletter&utm_medium=email" } }, headers);
    const body = await r.json();
    assert.equal(body.consent, false);
    assert.deepEqual(new Set(Object.values(body.slots).map((d) => d.reason)), new Set(["no_consent"]));
    assert.equal(r.headers.get("set-cookie"), null);
  }
  const r = await post("/v1/decide", {}, { "sec-gpc": "1", cookie });
  assert.equal(r.headers.get("set-cookie"), "strata_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure");
});

test("worker_errors: the Python server's codes and messages for bad requests", async () => {
  const cases = [
    ["{nope", 400, "invalid_json"], [[1], 422, "invalid_request"], [{ extra: 1 }, 422, "invalid_request"],
    [{ slots: "hero" }, 422, "invalid_request"], [{ signals: { "device.type": "mobile" } }, 422, "invalid_signal"],
    [{ signals: { "no.such": 1 } }, 422, "invalid_signal"], ["x".repeat(20000), 413, "too_large"],
  ];
  for (const [body, status, code] of cases) {
    const r = await post("/v1/decide", body);
    assert.equal(r.status, status, JSON.stringify(body).slice(0, 40));
    assert.equal((await r.json()).error.code, code);
  }
  const bad = await post("/v1/decide", { page: { url: "http://[broken/", referrer: "https://[also/" } });
  assert.equal(bad.status, 422);
  assert.deepEqual((await bad.json()).error.field, "page.url");
  assert.equal((await post("/v1/decide", { page: { url: "/", referrer: "https://[broken/" } })).status, 200); // referrer: absent
  const get = await worker.fetch(new Request("https://shop.example/v1/decide"), ctx);
  assert.equal(get.status, 405);
  assert.equal((await worker.fetch(new Request("https://shop.example/nothing"), ctx)).status, 404);
});

test("worker_events_and_stats: a conversion counts; /v1/stats needs the token and answers strata-stats/1", async () => {
  const cookie = cookieOf(await post("/v1/decide", {}));
  const r = await post("/v1/events", { goal: "purchase", value: 12.5 }, { cookie });
  assert.equal(r.status, 202);
  assert.ok(["personalized", "holdout"].includes((await r.json()).population));
  assert.equal((await post("/v1/events", { goal: "nope" })).status, 422);
  assert.equal((await worker.fetch(new Request("https://shop.example/v1/stats"), ctx)).status, 401);
  const snap = await (await worker.fetch(new Request("https://shop.example/v1/stats", { headers: { authorization: "Bearer tok" } }), ctx)).json();
  assert.equal(snap.format, "strata-stats/1");
  assert.ok(snap.conversions.some((c) => c.goal === "purchase" && c.arm === "*" && c.value >= 12.5));
  assert.ok(snap.exposures.length > 0);
});

test("worker_fuzz: generated decide bodies and headers never produce a 500", async () => {
  const r = rng(14);
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const values = [null, true, 0, -1, 1e308, "", "x", "/a?b=c", [], {}, ["hero"], { url: "/" }, "\u0000", "é".repeat(3000), "http://[::1", "//]x/", "https://[zz]/"];
  for (let i = 0; i < 300; i++) {
    const body = {};
    for (const k of ["page", "slots", "signals", "page_view", "html", "junk"]) if (r() < 0.4) body[k] = pick(values);
    if (r() < 0.3) body.page = { url: pick(values), referrer: pick(values), category: pick(values) };
    if (r() < 0.3) body.signals = { [pick(["cart.value", "cart.items", "device.type", "zz"])]: pick(values) };
    const headers = {};
    if (r() < 0.5) headers.cookie = pick(["strata_session=s1.k1.AAAA", "strata_session=" + "A".repeat(5000), "a=b;;=;strata_signals=%7B", "strata_consent=no"]);
    if (r() < 0.3) headers["user-agent"] = pick(["", "Googlebot", "\u00ff".repeat(600)]);
    const res = await post("/v1/decide", r() < 0.1 ? JSON.stringify(body).slice(0, 7) : body, headers);
    assert.ok([200, 400, 413, 422].includes(res.status), `${res.status} for ${JSON.stringify(body).slice(0, 200)}`);
  }
});

test("cookie_fuzz: generated sessions round-trip; generated tampering opens to no session", async () => {
  const r = rng(7);
  const codec = new CookieCodec(await importCookieKeys(KEYS), "strata_session");
  for (let i = 0; i < 100; i++) {
    const s = Session.fresh();
    s.visitCount = Math.floor(r() * 1000);
    s.recentCategories = Array.from({ length: Math.floor(r() * 12) }, (_, j) => `c${j}`).slice(0, 10);
    for (let j = 0; j < Math.floor(r() * 80); j++) s.caps[`slot${j}/rule${j}`] = [j, Math.floor(r() * 2 ** 31)];
    const value = await codec.encode(s);
    assert.ok(value.length <= 1024);
    const back = await codec.decode(value);
    assert.equal(back.sid, s.sid);
    assert.deepEqual(back.caps, s.caps); // shrinking edits the session itself, so both agree
    const at = 6 + Math.floor(r() * (value.length - 7)); // not the last character: its low bits may be padding
    const flipped = value.slice(0, at) + (value[at] === "A" ? "B" : "A") + value.slice(at + 1);
    assert.equal(await codec.decode(flipped), null);
  }
  assert.deepEqual([...parseCookies(" a = 1 ; a=2; b=x=y; ;c")], [["a", "1"], ["b", "x=y"]]);
});

test("render_fuzz: generated values never leave markup unescaped", () => {
  const r = rng(3);
  const alphabet = `<>&"'ab {}[]/:javascript`;
  for (let i = 0; i < 500; i++) {
    const s = Array.from({ length: Math.floor(r() * 30) }, () => alphabet[Math.floor(r() * alphabet.length)]).join("");
    assert.ok(!/[<>"']/.test(escapeHtml(s)));
    const html = render({ headline: s, body: s, cta: { text: s, href: s }, items: [s] });
    assert.ok(!html.replace(/<\/?(h2|p|ul|li|a)( class="strata-[a-z]+"( href="[^"<>]*")?)?>/g, "").match(/[<>]/), html);
    // a link is an absolute http(s)/mailto URL, or relative and staying on the page's own host (render.py's safe_href)
    const m = /href="([^"]*)"/.exec(html);
    if (m === null) continue; // an empty text renders no link
    const href = m[1].replaceAll("&quot;", '"').replaceAll("&#x27;", "'").replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&amp;", "&");
    const resolved = new URL(href, "https://page.example/a/b");
    assert.ok(["http:", "https:", "mailto:"].includes(resolved.protocol), href);
    assert.ok(URL.canParse(href) || resolved.host === "page.example", href);
  }
});

test("worker_bundle: without a bundle, 503 not_ready, and the source is asked at most once per poll interval", async () => {
  let asked = 0;
  const down = async () => {
    asked += 1;
    throw new TypeError("connection refused");
  };
  const saved = globalThis.fetch;
  globalThis.fetch = down;
  try {
    const w = new StrataWorker(runtime, { ...ENV, STRATA_POLL_INTERVAL: "3600" });
    for (let i = 0; i < 5; i++) {
      const r = await w.fetch(new Request("https://shop.example/v1/decide", { method: "POST", body: "{}" }), ctx);
      assert.equal(r.status, 503);
      assert.equal((await r.json()).error.code, "not_ready");
    }
    assert.equal(asked, 1);
    const ready = await (await w.fetch(new Request("https://shop.example/readyz"), ctx)).json();
    assert.equal(ready.ready, false);
    assert.match(ready.last_error, /connection refused/);
  } finally {
    globalThis.fetch = saved;
  }
});

test("worker_bundle: read from a KV binding, prepared once while unchanged", async () => {
  let reads = 0;
  const kv = { async get(key, type) { reads += 1; assert.equal(type, "stream"); return key === "tb" ? new Response(TRAILBLAZER_BUNDLE).body : null; } };
  const env = { STRATA_BUNDLE_KEY: "tb", STRATA_BUNDLES: kv, STRATA_PUB: VECTORS_PUB, STRATA_COOKIE_KEYS: KEYS, STRATA_POLL_INTERVAL: "0.001" };
  const w = new StrataWorker(runtime, env);
  const pending = [];
  const waiting = { waitUntil: (p) => pending.push(p) };
  const first = await (await w.fetch(new Request("https://shop.example/readyz"), waiting)).json();
  assert.equal(first.bundle.version, 100);
  const prepared = w.bundles.current;
  await new Promise((r) => setTimeout(r, 5));
  await w.fetch(new Request("https://shop.example/readyz"), waiting); // a background look: same bytes
  await Promise.all(pending);
  assert.ok(reads >= 2 && pending.length >= 1);
  assert.equal(w.bundles.current, prepared); // unchanged bytes are not prepared again
});

test("worker_stats: the snapshot names every experiment's slot and weights before any decision", async () => {
  const w = new StrataWorker(runtime, ENV);
  await w.bundles.get(ctx); // a fresh bundle: no slot decided (built) yet
  const snap = w.measure.snapshot(w.bundles.current);
  assert.deepEqual(snap.experiments["starter-kit"], { slot: "hero", variants: [["bundle-discount", 5000], ["free-shipping", 5000]], traffic_bp: 10000,
    period: "5000/5000" });
});
