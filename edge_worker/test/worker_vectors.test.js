// The worker against the language-neutral vectors tests/vectors/generate_http.py writes from the
// Python server's own code: a deviation is a failing test, never a skip.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { CookieCodec, Session, importCookieKeys } from "../worker/session.js";
import { RequestContext } from "../worker/signals.js";

const VECTORS = new URL("../../tests/vectors/", import.meta.url);
const load = (name) => JSON.parse(readFileSync(new URL(name, VECTORS), "utf8"));
const cookies = load("cookies.json");
const requests = load("request_signals.json");

const spec = (keys) => keys.map(([kid, b64]) => `${kid}:${b64}`).join(",");
const hex = (s) => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
// a model entry's levels are bytes in the cookie and hex in the vectors' JSON
const modelsOf = (d) => Object.fromEntries(Object.entries(d ?? {}).map(([k, e]) => [k, [e[0], e[1], hex(e[2]), ...e.slice(3)]]));
const modelsJson = (m) => Object.fromEntries(Object.entries(m).map(([k, e]) => [k, [e[0], e[1], toHex(e[2]), ...e.slice(3)]]));

function sessionOf(d) {
  const s = new Session(d.sid);
  Object.assign(s, {
    visitCount: d.visit_count, pageViews: d.page_views, totalPageViews: d.total_page_views, firstSeen: d.first_seen,
    lastSeen: d.last_seen, recentCategories: [...d.recent_categories], utmSource: d.utm_source, purchased: d.purchased,
    caps: structuredClone(d.caps), exposures: structuredClone(d.exposures), shown: [...d.shown], converted: [...d.converted], visitNonce: d.visit_nonce,
    models: modelsOf(d.models), entered: d.entered ?? 0, lineage: hex(d.lineage ?? ""), isNew: false,
  });
  return s;
}

function jsonOf(s) {
  return {
    sid: s.sid, visit_count: s.visitCount, page_views: s.pageViews, total_page_views: s.totalPageViews, first_seen: s.firstSeen,
    last_seen: s.lastSeen, recent_categories: s.recentCategories, utm_source: s.utmSource, purchased: s.purchased, caps: s.caps,
    exposures: s.exposures, shown: s.shown, converted: s.converted, visit_nonce: s.visitNonce, models: modelsJson(s.models),
    entered: s.entered, lineage: toHex(s.lineage),
  };
}

test("cookie vectors: the worker seals every session to the Python server's exact cookie value", async () => {
  assert.ok(cookies.sealed.length >= 10);
  for (const [i, v] of cookies.sealed.entries()) {
    const codec = new CookieCodec(await importCookieKeys(spec(v.keys)), v.cookie_name);
    assert.equal(await codec.encode(sessionOf(v.session), hex(v.nonce)), v.value, `sealed case ${i}`);
  }
});

test("cookie vectors: the worker opens every Python cookie to the same session", async () => {
  for (const [i, v] of cookies.sealed.entries()) {
    const codec = new CookieCodec(await importCookieKeys(spec(v.keys)), v.cookie_name);
    const s = await codec.decode(v.value);
    assert.ok(s, `sealed case ${i} did not open`);
    assert.deepEqual(jsonOf(s), v.decoded, `sealed case ${i}`);
    assert.equal(s.isNew, false);
  }
});

test("cookie vectors: the worker opens every 13-field cookie written before visit nonces, with an empty nonce", async () => {
  assert.ok(cookies.legacy.length >= 3);
  for (const [i, v] of cookies.legacy.entries()) {
    const codec = new CookieCodec(await importCookieKeys(spec(v.keys)), v.cookie_name);
    const s = await codec.decode(v.value);
    assert.ok(s, `legacy case ${i} did not open`);
    assert.deepEqual(jsonOf(s), v.decoded, `legacy case ${i}`);
    assert.equal(s.visitNonce, "");
  }
});

test("cookie vectors: the worker opens every 14-field cookie written before model entries, with none", async () => {
  assert.ok(cookies.before_models.length >= 3);
  for (const [i, v] of cookies.before_models.entries()) {
    const codec = new CookieCodec(await importCookieKeys(spec(v.keys)), v.cookie_name);
    const s = await codec.decode(v.value);
    assert.ok(s, `before_models case ${i} did not open`);
    assert.deepEqual(jsonOf(s), v.decoded, `before_models case ${i}`);
    assert.deepEqual(s.models, {});
  }
});

test("cookie vectors: the worker opens every 15-field cookie written before entered and lineage, with none", async () => {
  assert.ok(cookies.before_lineage.length >= 3);
  for (const [i, v] of cookies.before_lineage.entries()) {
    const codec = new CookieCodec(await importCookieKeys(spec(v.keys)), v.cookie_name);
    const s = await codec.decode(v.value);
    assert.ok(s, `before_lineage case ${i} did not open`);
    assert.deepEqual(jsonOf(s), v.decoded, `before_lineage case ${i}`);
    assert.equal(s.entered, 0);
    assert.equal(s.lineage.length, 0);
  }
});

test("cookie vectors: tampered, foreign-key and other-cookie values open to no session", async () => {
  assert.ok(cookies.rejected.length >= 8);
  for (const v of cookies.rejected) {
    const codec = new CookieCodec(await importCookieKeys(spec(v.keys)), v.cookie_name);
    assert.equal(await codec.decode(v.value), null, v.why);
  }
});

test("request signal vectors: the worker derives the Python server's signals for every request", () => {
  assert.ok(requests.cases.length >= 300);
  const contexts = new Map();
  let failures = [];
  for (const [i, c] of requests.cases.entries()) {
    const key = `${c.country_header}|${c.tz}`;
    if (!contexts.has(key)) contexts.set(key, new RequestContext(c.country_header, c.tz));
    const get = (name) => (Object.hasOwn(c.headers, name) ? c.headers[name] : null);
    const got = contexts.get(key).signals(c.page_url, get, c.referrer, c.now);
    try {
      assert.deepEqual(got, c.signals);
    } catch (e) {
      failures.push(`case ${i} (${JSON.stringify([c.page_url, c.headers, c.referrer, c.tz])}): ${e.message.slice(0, 600)}`);
    }
  }
  assert.deepEqual(failures, []);
});

test("render vectors: the worker renders every content block to the Python server's HTML", async () => {
  const { render } = await import("../worker/render.js");
  const cases = load("render.json").cases;
  assert.ok(cases.length >= 200);
  const failures = [];
  for (const [i, c] of cases.entries()) {
    const got = render(c.content);
    if (got !== c.html) failures.push(`case ${i} ${JSON.stringify(c.content)}: got ${JSON.stringify(got)}, want ${JSON.stringify(c.html)}`);
  }
  assert.deepEqual(failures, []);
});

test("session lifecycle vectors: the worker updates a session (visits, caps, exposures, conversions) as the Python server", () => {
  assert.ok(cookies.lifecycle.length >= 30);
  for (const [i, c] of cookies.lifecycle.entries()) {
    const s = sessionOf(c.start);
    const nonces = c.nonces.map(hex); // the visit nonces the Python side drew, replayed in order
    const random = Session.randomBytes;
    Session.randomBytes = (n) => {
      const next = nonces.shift();
      assert.ok(next && next.length === n, `lifecycle case ${i}: a nonce more than Python drew`);
      return next;
    };
    let results;
    try {
      results = c.ops.map(([name, ...args]) => {
      if (name === "touch") return s.touch(...args) ?? null;
      if (name === "record") return s.record(...args);
      if (name === "first_exposure") return s.firstExposure(args[0]);
      if (name === "first_conversion") return s.firstConversion(args[0]);
      if (name === "enter_model") { // what the model counting writes (worker/model_counts.js); a new visit empties it
        const [mid, [spec, fit, levels, b, frozen, arm, u]] = args;
        s.models[mid] = [spec, fit, hex(levels), b, frozen, arm, u];
        return null;
      }
      const out = {};
      s.addSignals(out, args[0]);
      return out;
    });
    } finally {
      Session.randomBytes = random;
    }
    assert.equal(nonces.length, 0, `lifecycle case ${i}: fewer visit nonces than Python drew`);
    assert.deepEqual(results, c.results, `lifecycle case ${i}`);
    assert.deepEqual(jsonOf(s), c.end, `lifecycle case ${i}`);
  }
});

test("crowded cookie vectors: after a request's decision the worker drops the same older entries as the Python server", async () => {
  assert.ok(cookies.crowded.length >= 10);
  for (const [i, c] of cookies.crowded.entries()) {
    const s = sessionOf(c.start);
    const results = c.ops.map(([name, ...args]) => {
      if (name === "touch") return s.touch(...args) ?? null;
      if (name === "record") return s.record(...args);
      return s.firstExposure(args[0]);
    });
    assert.deepEqual(results, c.results, `crowded case ${i}`);
    const codec = new CookieCodec(await importCookieKeys(spec(c.keys)), c.cookie_name);
    assert.equal(await codec.encode(s, hex(c.nonce)), c.value, `crowded case ${i}`);
    assert.deepEqual(jsonOf(await codec.decode(c.value)), c.decoded, `crowded case ${i}`);
  }
});

test("body vectors: the worker reads or refuses every request body as the Python server does, message included", async () => {
  const { readJson } = await import("../worker/body.js");
  const bodies = load("bodies.json");
  assert.ok(bodies.cases.length >= 400 && bodies.cases.some((c) => c.problem?.includes("nested deeper")));
  const failures = [];
  for (const [i, c] of bodies.cases.entries()) {
    const raw = Buffer.from(c.body, "base64");
    let got;
    try {
      got = { value: await readJson(new Request("https://shop.example/v1/decide", { method: "POST", body: raw }), 1 << 20) };
    } catch (e) {
      got = { status: e.status, code: e.code, message: e.message };
    }
    const want = c.problem === null ? { value: c.value } : { status: 400, code: "invalid_json", message: bodies.message.replace("{problem}", c.problem) };
    if (c.problem === null && !("value" in c)) delete got.value; // a deep body: accepted is what is checked
    if (c.problem === null && !("value" in c)) delete want.value;
    const text = (v) => JSON.stringify(v, (k, x) => (typeof x === "bigint" ? Number(x) : x)); // -0 is Python's int 0; BigInt: an exact int (test/body.test.js)
    if (text(got) !== text(want)) {
      failures.push(`case ${i} ${c.body.slice(0, 80)}: got ${JSON.stringify(got).slice(0, 300)}, want ${JSON.stringify(want).slice(0, 300)}`);
    }
  }
  assert.deepEqual(failures, []);
});
