// Conversions once per visit across the fleet, the worker's side (worker/fleet_ledger.js): the owner
// of a visit is the one tests/vectors/fleet_ledger.json pins for both languages; claims go out signed,
// batched per owner, after the response; a conversion counts when the owner answers first, never on a
// repeat, and from the local ledger when the owner refuses or cannot be reached (counted by reason),
// or when MAX_PENDING claims wait. Real replicas and workerd: tests/edge_worker/test_fleet_ledger.py.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { test } from "node:test";

import { readJson } from "./vectors.js";
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
