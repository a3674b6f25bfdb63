// Aggregated mode of fleet counting, the worker's side (worker/counter_batches.js): against a real
// local HTTP endpoint that checks the signature with node's own HMAC, the pusher sends deltas (each
// count once across batches, for generated counter histories), retries a batch byte for byte under
// its id until it is acknowledged, forms no new batch meanwhile (bounded memory: the counts wait in
// the counters), drops and counts what is refused for good or too old, and splits large deltas.
// Real replicas add the batches in tests/edge_server/reporting/test_fleet_aggregated.py.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { test } from "node:test";

import { BUNDLE_URL, VECTORS_PUB, rng } from "./vectors.js";
import { configFrom, ConfigError } from "../worker/config.js";
import { BATCH_ROWS, CounterBatches, FAMILIES, FORMAT, replicaOf } from "../worker/counter_batches.js";
import { MEASURED, counterHistory, rowId } from "./counter_history.js";

const SECRET = "fleet-secret-0123456789";

async function endpoint(answer) {
  const got = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString();
      const signed = req.headers["x-strata-signature"] === "v1=" + createHmac("sha256", SECRET).update(body).digest("hex");
      got.push({ body, batch: JSON.parse(body), signed });
      const [status, json] = answer(got.length, got.at(-1));
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(json ?? {}));
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { url: `http://127.0.0.1:${server.address().port}/v1/counters`, got, close: () => server.closeAllConnections() || server.close() };
}

const config = (url, extra = {}) => ({ countersUrl: url, countersSecret: SECRET, pushInterval: 10, countersMaxAge: 3000, ...extra });
const fam = (rows) => [{ name: "strata_slot_exposures_total", help: "", type: "counter", rows },
  { name: "strata_bundle_info", help: "", type: "gauge", rows: [[{ name: "x", version: "1", key_id: "" }, 1]] }];
const row = (arm, n) => [{ slot: "hero", arm, layer: "", population: "personalized" }, n];

test("counter_batches: generated counter histories arrive as signed deltas that add up to the final counters", async () => {
  const ep = await endpoint(() => [200, { accepted: true, duplicate: false }]);
  try {
    for (let seed = 1; seed <= 20; seed++) {
      const rnd = rng(seed);
      const cb = new CounterBatches(config(ep.url), `iso${seed}`);
      const counters = new Map();
      let now = 1_000_000;
      const before = ep.got.length;
      for (let step = 0; step < 8; step++) {
        for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) {
          const arm = `a${Math.floor(rnd() * 5)}`;
          counters.set(arm, (counters.get(arm) ?? 0) + 1 + Math.floor(rnd() * 3));
        }
        now += 10_000;
        await cb.maybePush(() => fam([...counters].map(([a, n]) => row(a, n))), now);
      }
      const sum = new Map();
      for (const { batch, signed } of ep.got.slice(before)) {
        assert.ok(signed, "every batch carries the HMAC of its body");
        assert.equal(batch.format, FORMAT);
        assert.deepEqual(Object.keys(batch.families), ["strata_slot_exposures_total"], "gauges are not pushed");
        for (const [[, arm], d] of batch.families.strata_slot_exposures_total) {
          assert.ok(Number.isInteger(d) && d > 0);
          sum.set(arm, (sum.get(arm) ?? 0) + d);
        }
      }
      assert.deepEqual([...sum].sort(), [...counters].sort());
      assert.equal(new Set(ep.got.slice(before).map((g) => g.batch.id)).size, ep.got.length - before, "a new id per batch");
    }
  } finally {
    ep.close();
  }
});

test("counter_batches: a failed batch is retried byte for byte with backoff, and no new batch forms meanwhile", async () => {
  const ep = await endpoint((n) => (n <= 2 ? [503, { error: { code: "busy" } }] : n === 3 ? [200, { duplicate: true }] : [200, {}]));
  try {
    const cb = new CounterBatches(config(ep.url), "iso");
    let now = 0;
    await cb.maybePush(() => fam([row("a", 1)]), now);
    assert.equal(cb.next, now + 20_000, "backoff: twice the interval after the first failure");
    assert.equal(cb.maybePush(() => fam([row("a", 5)]), now + 10_000), null, "not before the backoff");
    now += 20_000;
    await cb.maybePush(() => fam([row("a", 5)]), now);
    assert.equal(cb.next, now + 40_000);
    now += 40_000;
    await cb.maybePush(() => fam([row("a", 9)]), now); // acknowledged (as a duplicate: the replica had it)
    assert.equal(ep.got.length, 3);
    assert.ok(ep.got.every((g) => g.body === ep.got[0].body), "the same batch, the same bytes, each time");
    assert.deepEqual(ep.got[0].batch.families.strata_slot_exposures_total, [[["hero", "a", "", "personalized"], 1]]);
    now += 10_000;
    await cb.maybePush(() => fam([row("a", 9)]), now);
    assert.deepEqual(ep.got[3].batch.families.strata_slot_exposures_total, [[["hero", "a", "", "personalized"], 8]],
      "the counts that waited in the counters go in the next batch");
    const f = Object.fromEntries(cb.families().map((x) => [x.name, x.rows]));
    assert.deepEqual(Object.fromEntries(f.strata_counter_pushes_total.map(([l, n]) => [l.result, n])), { retry: 2, duplicate: 1, ok: 1 });
    assert.equal(f.strata_counter_pending_rows[0][1], 0);
  } finally {
    ep.close();
  }
});

test("counter_batches: a batch refused for good or too old is dropped and counted; a large delta is split", async () => {
  const ep = await endpoint((n, g) => (g.batch.id.endsWith("-0") ? [401, { error: { code: "unauthorized" } }]
    : g.batch.id.endsWith("-1") ? [422, { error: { code: "batch_expired" } }] : [200, {}]));
  try {
    const cb = new CounterBatches(config(ep.url, { countersMaxAge: 100 }), "iso");
    await cb.maybePush(() => fam([row("a", 3)]), 0);
    await cb.maybePush(() => fam([row("a", 7)]), 10_000);
    const many = Array.from({ length: BATCH_ROWS + 10 }, (_, i) => row(`r${i}`, 1));
    await cb.maybePush(() => fam(many), 20_000);
    assert.deepEqual(ep.got.slice(2).map((g) => g.batch.families.strata_slot_exposures_total.length), [BATCH_ROWS, 10]);
    // a batch that outlived STRATA_COUNTERS_MAX_AGE while the endpoint failed is dropped unsent
    const down = new CounterBatches(config("http://127.0.0.1:9/v1/counters", { countersMaxAge: 100 }), "iso2");
    await down.maybePush(() => fam([row("a", 4)]), 0);
    await down.maybePush(() => fam([row("a", 4)]), 500_000);
    const drops = (c) => Object.fromEntries(c.families().find((x) => x.name === "strata_counter_dropped_rows_total").rows.map(([l, n]) => [l.reason, n]));
    assert.deepEqual(drops(cb), { refused: 1, expired: 1 });
    assert.deepEqual(drops(down), { expired: 1 });
    assert.equal(down.pending.length, 0);
  } finally {
    ep.close();
  }
});

test("counter_batches: an isolate sticks to one replica; bad settings are refused with the remedy", () => {
  const urls = "http://r1/v1/counters, http://r2/v1/counters";
  assert.equal(replicaOf(urls, "abc"), replicaOf(urls, "abc"));
  const picked = new Set(Array.from({ length: 50 }, (_, i) => replicaOf(urls, `iso${i}`)));
  assert.deepEqual([...picked].sort(), ["http://r1/v1/counters", "http://r2/v1/counters"]);
  const base = { STRATA_BUNDLE: BUNDLE_URL, STRATA_PUB: VECTORS_PUB, STRATA_COOKIE_KEYS: "k1:" + Buffer.alloc(32).toString("base64") };
  for (const [env, msg] of [
    [{ STRATA_COUNTERS_URL: "strata:8080" }, /STRATA_COUNTERS_URL/],
    [{ STRATA_COUNTERS_URL: "http://r/v1/counters" }, /STRATA_COUNTERS_SECRET/],
    [{ STRATA_COUNTERS_URL: "http://r/v1/counters", STRATA_COUNTERS_SECRET: "short" }, /at least 16/],
    [{ STRATA_COUNTERS_URL: "http://r/v1/counters", STRATA_COUNTERS_SECRET: SECRET, STRATA_REMOTE_WRITE: "http://p/api/v1/write" }, /choose one mode/],
  ]) assert.throws(() => configFrom({ ...base, ...env }), (e) => e instanceof ConfigError && msg.test(e.message));
  assert.equal(configFrom({ ...base, STRATA_COUNTERS_URL: "http://r/v1/counters", STRATA_COUNTERS_SECRET: SECRET }).countersMaxAge, 3000);
});

test("counter_batches: generated histories batched by their changed rows add up to the whole counters, and a batch reads only those rows", async () => {
  for (let seed = 1; seed <= 12; seed++) {
    const r = rng(seed);
    let recovered = false;
    const ep = await endpoint(() => (recovered || r() >= 0.3 ? [200, { accepted: true, duplicate: false }] : [503, { error: { code: "busy" } }]));
    try {
      const h = counterHistory();
      const cb = new CounterBatches(config(ep.url, { countersMaxAge: 1e9 }), `iso${seed}`);
      let t = 1_000_000;
      let touched = new Set(); // rows changed since the last batch was formed
      for (let step = 0; step < 40; step++) {
        for (let k = Math.floor(r() * 12); k > 0; k--) touched.add(h.increment(Math.floor(r() * 5), Math.floor(r() * 40)));
        t += 10_000;
        const p = cb.maybePush((full) => {
          const families = h.collect(full);
          const read = families.filter((f) => MEASURED.has(f.name)).reduce((n, f) => n + f.rows.length, 0);
          if (!full) assert.ok(read <= 2 * touched.size, `seed ${seed}: ${read} rows read for ${touched.size} changed`);
          touched = new Set();
          return families;
        }, t);
        if (p !== null) await p;
      }
      recovered = true;
      for (let k = 0; k < 2; k++) {
        t = Math.max(t + 10_000, cb.next);
        await cb.maybePush((full) => h.collect(full), t);
      }
      assert.equal(cb.pending.length, 0);
      const sum = new Map(); // what a replica adds: each acknowledged batch id once
      const ids = new Set();
      for (const { batch, signed } of ep.got) {
        assert.ok(signed);
        if (ids.has(batch.id)) continue;
        ids.add(batch.id);
        for (const [name, rows] of Object.entries(batch.families)) {
          if (!MEASURED.has(name)) continue;
          for (const [values, d] of rows) {
            const id = rowId(name, Object.fromEntries(FAMILIES[name][0].map((l, i) => [l, values[i]])));
            sum.set(id, (sum.get(id) ?? 0) + d);
          }
        }
      }
      const whole = new Map([...h.values()].filter(([, v]) => v > 0));
      for (const [id, v] of sum) sum.set(id, Math.round(v * 1e6) / 1e6);
      assert.deepEqual(sum, whole, `seed ${seed}: the batches add up to the counters`);
    } finally {
      ep.close();
    }
  }
});

test("counter_batches: a batch that fails after taking the changed rows makes the next one read every row", async () => {
  const poisoned = fam([[{ get slot() { throw new Error("unreadable label"); } }, 1]]);
  const cb = new CounterBatches(config("http://127.0.0.1:9/v1/counters"), "iso");
  const asked = [];
  await cb.maybePush((full) => { asked.push(full); return poisoned; }, 0); // the first batch: full, and it fails
  cb.next = 0;
  await cb.maybePush((full) => { asked.push(full); return fam([]); }, 10_000); // nothing changed: no batch
  cb.next = 0;
  await cb.maybePush((full) => { asked.push(full); return poisoned; }, 20_000);
  cb.next = 0;
  await cb.maybePush((full) => { asked.push(full); return fam([]); }, 30_000);
  assert.deepEqual(asked, [true, true, false, true]);
  assert.equal(cb.pending.length, 0);
});
