// Conversions, exposures and cohort exposures once per visit across the fleet, the worker's side
// (worker/fleet_ledger.js, server.js, beacons.js): the owner
// of a visit is the one tests/vectors/fleet_ledger.json pins for both languages; claims go out signed,
// batched per owner, after the response; a conversion counts when the owner answers first, never on a
// repeat, and from the local ledger when the owner refuses or cannot be reached (counted by reason),
// or when MAX_PENDING claims wait. Real replicas and workerd: tests/edge_worker/test_fleet_ledger.py.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { test } from "node:test";

import * as runtime from "../runtime/index.js";
import { BUNDLE_URL, TRAILBLAZER_BUNDLE, VECTORS_PUB, readJson, rng } from "./vectors.js";
import { knownExposures } from "../worker/beacons.js";
import { StrataWorker } from "../worker/server.js";
import { configFrom, ConfigError } from "../worker/config.js";
import { FLEET_LEDGER_LIMITS } from "../worker/contract.js";
import { DeferredCounts, FleetLedger, FORMAT, PATH, claimKey, ledgerUrls, ownerOf } from "../worker/fleet_ledger.js";
import { Measurement } from "../worker/measure.js";

const SECRET = "fleet-ledger-secret-0123456789";
const BASE = { STRATA_BUNDLE: "https://b/x.bundle", STRATA_PUB: "k", STRATA_COOKIE_KEYS: "k1:AAAA" };

test("the owner of a visit is the one the shared vectors pin, whatever the list's order", () => {
  const { cases } = readJson("fleet_ledger.json");
  assert.ok(cases.length >= 100);
  for (const c of cases) {
    assert.equal(ownerOf(c.nonce, c.urls), c.owner, JSON.stringify(c));
    assert.equal(ownerOf(c.nonce, [...c.urls].reverse()), c.owner);
  }
});

test("STRATA_FLEET_LEDGER: replica base URLs, and the secret that signs claims", () => {
  assert.deepEqual(ledgerUrls("http://a:1/, https://b:2  http://a:1"), ["http://a:1", "https://b:2"]);
  for (const bad of ["a:1", "ftp://a", "http://", "http://u:p@a:1", "http://a/?x=1"]) assert.throws(() => ledgerUrls(bad), /not a replica's base URL/);
  assert.deepEqual(configFrom(BASE).fleetLedger, []); // unset: no fleet ledger, today's per-isolate counting
  assert.throws(() => configFrom({ ...BASE, STRATA_FLEET_LEDGER: "http://a:1" }), (e) => e instanceof ConfigError && /STRATA_COUNTERS_SECRET/.test(e.message));
  assert.throws(() => configFrom({ ...BASE, STRATA_FLEET_LEDGER: "a:1", STRATA_COUNTERS_SECRET: SECRET }), ConfigError);
  assert.deepEqual(configFrom({ ...BASE, STRATA_FLEET_LEDGER: "http://a:1,http://b:2", STRATA_COUNTERS_SECRET: SECRET }).fleetLedger, ["http://a:1", "http://b:2"]);
});

/** A conversion's deferred counts: goal on the overall row, value `v`. */
function conversion(goal, v) {
  const c = new DeferredCounts();
  c.conversion(goal, ["*", "*", ""], "personalized", v, true);
  c.modelEvent("intent", "s", "", "*", "*", "converted");
  return c;
}

const total = (m, goal) => m.conversions.get([goal, "*", "*", "", "personalized"].join("\u0000")) ?? 0;

/** A local owner that checks the signature with node's HMAC and answers first once per (nonce, key). */
async function owner(refuse = false) {
  const seen = new Set();
  const bodies = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      const signed = req.headers["x-strata-signature"] === "v1=" + createHmac("sha256", SECRET).update(body).digest("hex");
      bodies.push({ path: req.url, body: JSON.parse(body), signed });
      if (refuse || !signed) return res.writeHead(401, { "content-type": "application/json" }).end('{"error":{"code":"unauthorized"}}');
      const first = JSON.parse(body).claims.map(([n, k]) => !seen.has(`${n} ${k}`) && Boolean(seen.add(`${n} ${k}`)));
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ first }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, bodies, close: () => server.close() };
}

test("claims are signed, batched per owner, and count only when the owner answers first", async () => {
  const owners = [await owner(), await owner()];
  try {
    const measure = new Measurement();
    const ledger = new FleetLedger({ fleetLedger: owners.map((o) => o.url), countersSecret: SECRET }, measure);
    const nonces = Array.from({ length: 12 }, (_, i) => `nonce${String(i).padStart(11, "0")}`);
    for (const n of nonces) for (const goal of ["purchase", "purchase", "add_to_cart"]) ledger.claim(n, claimKey("goal", goal), conversion(goal, 5));
    assert.equal(total(measure, "purchase"), 0); // nothing counts before the owners answer
    const send = ledger.maybeSend();
    assert.equal(ledger.maybeSend(), null); // one send takes what waits
    await send;
    assert.equal(total(measure, "purchase"), nonces.length);
    assert.equal(total(measure, "add_to_cart"), nonces.length);
    assert.deepEqual(Object.fromEntries(ledger.claims), { first: 2 * nonces.length, repeat: nonces.length });
    for (const o of owners) {
      assert.ok(o.bodies.length === 1 && o.bodies[0].signed && o.bodies[0].path === PATH && o.bodies[0].body.format === FORMAT);
      for (const [n] of o.bodies[0].body.claims) assert.equal(ownerOf(n, owners.map((x) => x.url)), o.url);
    }
    const rows = [...measure.models.values()].reduce((a, r) => a + r[2], 0);
    assert.equal(rows, 2 * nonces.length); // the model rows came with the answered conversions
  } finally {
    for (const o of owners) o.close();
  }
});

test("a refused or unreachable owner leaves the conversion to the local ledger, counted by reason", async () => {
  const refusing = await owner(true);
  const closed = await owner();
  closed.close(); // nothing listens there any more
  try {
    for (const [url, reason] of [[refusing.url, "refused"], [closed.url, "unreachable"]]) {
      const measure = new Measurement();
      const ledger = new FleetLedger({ fleetLedger: [url], countersSecret: SECRET }, measure);
      ledger.claim("n".repeat(16), claimKey("goal", "purchase"), conversion("purchase", 5));
      await ledger.maybeSend();
      assert.equal(total(measure, "purchase"), 1, reason);
      assert.deepEqual(Object.fromEntries(ledger.fallbacks), { [reason]: 1 });
    }
    assert.equal(refusing.bodies.length, 1); // a refusal is not retried
  } finally {
    refusing.close();
  }
});

test("beyond MAX_PENDING waiting claims, a conversion counts from the local ledger at once", () => {
  const measure = new Measurement();
  const ledger = new FleetLedger({ fleetLedger: ["http://127.0.0.1:9"], countersSecret: SECRET }, measure);
  for (let i = 0; i < FLEET_LEDGER_LIMITS.MAX_PENDING; i++) ledger.claim(`n${i}`, "goal:purchase", conversion("purchase", 1));
  assert.equal(total(measure, "purchase"), 0);
  ledger.claim("one-more-nonce00", "goal:purchase", conversion("purchase", 1));
  assert.equal(total(measure, "purchase"), 1);
  assert.deepEqual(Object.fromEntries(ledger.fallbacks), { full: 1 });
  assert.equal(ledger.pending.length, FLEET_LEDGER_LIMITS.MAX_PENDING);
});

// ------------------------------------------------------------------ exposures and cohorts (server.js, beacons.js)
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, init) => String(url) === BUNDLE_URL ? new Response(TRAILBLAZER_BUNDLE, { headers: { etag: '"v100"' } }) : realFetch(url, init);
const KEYS = "k1:" + Buffer.alloc(32, 5).toString("base64");
const UAS = ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36"];
const CART = { "cart.items": [{ sku: "TB-SUMMIT2", category: "tents", price: 249.0, quantity: 1 }], "cart.value": 249.0 };

/** `n` workers (isolates) whose fleet ledger is `ownerUrl` (null: none), each with a ctx whose
 * waitUntil promises `settle()` awaits. */
async function isolates(n, ownerUrl) {
  const env = { STRATA_BUNDLE: BUNDLE_URL, STRATA_PUB: VECTORS_PUB, STRATA_COOKIE_KEYS: KEYS, STRATA_STATS_TOKEN: "tok" };
  const waits = [];
  const ctx = { waitUntil: (p) => waits.push(p) };
  const out = [];
  for (let i = 0; i < n; i++) {
    const worker = new StrataWorker(runtime, ownerUrl ? { ...env, STRATA_FLEET_LEDGER: ownerUrl, STRATA_COUNTERS_SECRET: SECRET } : env);
    await worker.bundles.get(ctx);
    out.push(worker);
  }
  return { workers: out, ctx, settle: async () => { while (waits.length) await Promise.all(waits.splice(0)); } };
}

/** One decide of random slots, a random User-Agent and maybe a tent cart: [cookie set, exposure keys shown, "experiment=variant" pairs]. */
async function decideOn(fleet, worker, cookie, r) {
  const headers = { "content-type": "application/json", "user-agent": UAS[Math.floor(r() * UAS.length)] };
  if (cookie) headers.cookie = `strata_session=${cookie}`;
  const body = { page: { url: r() < 0.5 ? "/" : "/tents.html" }, signals: r() < 0.7 ? CART : {} };
  const res = await worker.fetch(new Request("https://shop.example/v1/decide", { method: "POST", body: JSON.stringify(body), headers }), fleet.ctx);
  assert.equal(res.status, 200);
  const set = res.headers.get("set-cookie");
  const out = await res.json();
  const keys = new Set();
  const pairs = new Set();
  for (const [slot, d] of Object.entries(out.slots)) {
    keys.add(`${slot}|${d.variant ? `${d.experiment}/${d.variant}` : d.rule || "default"}|${d.layer || ""}`);
    if (d.variant) pairs.add(`${d.experiment}=${d.variant}`);
  }
  return [set ? set.split(";")[0].slice("strata_session=".length) : null, keys, pairs];
}

/** Exposures by "slot|arm|layer", variant exposures and cohort "exposed" rows by "experiment=variant", summed over the workers. */
function fleetCounts(fleet) {
  const add = (m, k, n) => m.set(k, (m.get(k) ?? 0) + n);
  const exposures = new Map();
  const variants = new Map();
  const cohorts = new Map();
  for (const w of fleet.workers) {
    for (const [k, n] of w.measure.exposures) add(exposures, k.split("\u0000").slice(0, 3).join("|"), n);
    for (const [k, n] of w.metrics.variantExposures) add(variants, k.replace("\u0000", "="), n);
    for (const [k, [n]] of w.measure.cohorts) {
      const [exp, variant, , event] = k.split("\u0000");
      if (event === "exposed") add(cohorts, `${exp}=${variant}`, n);
    }
  }
  return { exposures, variants, cohorts };
}

/** Generated visits: a first decide on a random worker, then the pre-exposure cookie (or, `honest`,
 * the last cookie set) sent to every worker and random ones again; what each visit showed, once. */
async function visits(fleet, r, n, honest) {
  const add = (m, k) => m.set(k, (m.get(k) ?? 0) + 1);
  const shown = new Map();
  const exposed = new Map();
  const ws = fleet.workers;
  for (let v = 0; v < n; v++) {
    const [pre, keys, pairs] = await decideOn(fleet, ws[Math.floor(r() * ws.length)], null, r);
    let cookie = pre;
    const order = [...ws].sort(() => r() - 0.5);
    for (let i = Math.floor(r() * 5); i > 0; i--) order.push(ws[Math.floor(r() * ws.length)]);
    for (const w of order) {
      const [set, k, p] = await decideOn(fleet, w, honest ? cookie : pre, r);
      for (const x of k) keys.add(x);
      for (const x of p) pairs.add(x);
      if (honest && set) cookie = set;
    }
    for (const k of keys) add(shown, k);
    for (const p of pairs) add(exposed, p);
  }
  await fleet.settle();
  return { shown, exposed };
}

const sorted = (m) => Object.fromEntries([...m].sort());

for (const honest of [false, true]) {
  test(`exposures and cohorts count once per visit across isolates sharing an owner (${honest ? "honest visits moving" : "a pre-exposure cookie replayed to every isolate"})`, async () => {
    const o = await owner();
    try {
      const fleet = await isolates(3, o.url);
      const { shown, exposed } = await visits(fleet, rng(2230 + honest), 30, honest);
      const got = fleetCounts(fleet);
      assert.deepEqual(sorted(got.exposures), sorted(shown));
      assert.deepEqual(sorted(got.variants), sorted(exposed));
      assert.deepEqual(sorted(got.cohorts), sorted(exposed));
      assert.ok(exposed.size > 0, "the generated visits reach the experiment");
      const first = fleet.workers.reduce((a, w) => a + (w.fleetLedger.claims.get("first") ?? 0), 0);
      assert.equal(first, [...shown.values(), ...exposed.values()].reduce((a, b) => a + b, 0));
      if (!honest) { // the same replays without a fleet ledger count once per isolate
        const alone = await isolates(3, null);
        const again = await visits(alone, rng(2230), 30, honest);
        const total = (m) => [...m.values()].reduce((a, b) => a + b, 0);
        assert.ok(total(fleetCounts(alone).exposures) > total(again.shown));
      }
    } finally {
      o.close();
    }
  });
}

test("a browser's exposures reported to two isolates count once; the conversion is attributed where they were not counted", async () => {
  const o = await owner();
  try {
    const fleet = await isolates(2, o.url);
    const r = rng(2232);
    const keys = [...knownExposures(fleet.workers[0].bundles.current)].map((k) => k.split("\u0000"));
    for (let v = 0; v < 15; v++) {
      const nonce = Array.from({ length: 16 }, () => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[Math.floor(r() * 64)]).join("");
      const shown = keys.filter(() => r() < 0.3).slice(0, 5);
      if (!shown.length) shown.push(keys[0]);
      const population = r() < 0.5 ? "personalized" : "holdout";
      const before = sorted(fleetCounts(fleet).exposures);
      for (const w of fleet.workers) {
        const res = await w.fetch(new Request("https://shop.example/v1/events", { method: "POST", headers: { "content-type": "application/json" },
          body: JSON.stringify({ visit: nonce, exposures: shown.map((k) => [...k, population]) }) }), fleet.ctx);
        assert.equal(res.status, 202, await res.clone().text());
        await fleet.settle();
      }
      const after = fleetCounts(fleet).exposures;
      for (const k of shown) assert.equal((after.get(k.join("|")) ?? 0) - (before[k.join("|")] ?? 0), 1, k.join("|"));
      const w = fleet.workers[1];
      const was = new Map(w.measure.conversions);
      const res = await w.fetch(new Request("https://shop.example/v1/events", { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ goal: "purchase", value: 5, visit: nonce }) }), fleet.ctx);
      assert.equal((await res.json()).population, population);
      await fleet.settle();
      for (const k of shown) {
        const row = ["purchase", ...k, population].join("\u0000");
        assert.equal((w.measure.conversions.get(row) ?? 0) - (was.get(row) ?? 0), 1, row);
      }
    }
  } finally {
    o.close();
  }
});
