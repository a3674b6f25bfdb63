// Direct mode of fleet counting (worker/remote_write.js): the WriteRequest bytes, decoded here by
// an independent protobuf reader and snappyjs's decompressor, for generated label sets and values;
// the pusher against a real local HTTP endpoint (headers, credentials, backoff, the memory bound and
// what is dropped); and the worker pushing its counters after responses, never before them. Real
// Prometheus receives them in tests/edge_server/reporting/test_prometheus_fleet.py.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";
import snappy from "snappyjs";

import * as runtime from "../runtime/index.js";
import { BUNDLE_URL, VECTORS_PUB, rng, serveBundleOffline } from "./vectors.js";
import { configFrom, ConfigError } from "../worker/config.js";
import { HEADERS, JOB, RemoteWrite, compress, encodeOneSampleEach, encodeWriteRequest } from "../worker/remote_write.js";
import { StrataWorker } from "../worker/server.js";
import { MEASURED, counterHistory, rowId } from "./counter_history.js";

// ------------------------------------------------------------------ an independent protobuf reader
function fields(bytes) {
  const out = [];
  let i = 0;
  const varint = () => {
    let n = 0, mul = 1;
    for (;;) {
      const b = bytes[i++];
      assert.ok(b !== undefined, "truncated varint");
      n += (b & 127) * mul;
      mul *= 128;
      if (b < 128) return n;
    }
  };
  while (i < bytes.length) {
    const key = varint();
    const [field, wire] = [Math.floor(key / 8), key % 8];
    if (wire === 0) out.push([field, varint()]);
    else if (wire === 1) { out.push([field, new DataView(bytes.buffer, bytes.byteOffset + i, 8).getFloat64(0, true)]); i += 8; }
    else if (wire === 2) { const n = varint(); out.push([field, bytes.subarray(i, i + n)]); i += n; }
    else assert.fail(`unexpected wire type ${wire}`);
  }
  assert.equal(i, bytes.length);
  return out;
}
const text = (b) => new TextDecoder("utf-8", { fatal: true }).decode(b);

/** A WriteRequest's bytes -> [{labels: [[n, v]], samples: [[v, ms]]}] (its metadata: decodeMetadata). */
export function decodeWriteRequest(bytes) {
  return fields(bytes).filter(([f]) => f !== 3).map(([f, ts]) => {
    assert.equal(f, 1);
    const s = { labels: [], samples: [] };
    for (const [g, b] of fields(ts)) {
      const parts = Object.fromEntries(fields(b));
      if (g === 1) s.labels.push([text(parts[1]), text(parts[2])]);
      else if (g === 2) s.samples.push([parts[1] ?? 0, parts[2] ?? 0]);
      else assert.fail(`unexpected TimeSeries field ${g}`);
    }
    return s;
  });
}

/** The MetricMetadata of a WriteRequest's bytes -> [{type, name, help}]. */
function decodeMetadata(bytes) {
  return fields(bytes).filter(([f]) => f === 3).map(([, b]) => {
    const parts = Object.fromEntries(fields(b));
    return { type: parts[1] ?? 0, name: text(parts[2] ?? new Uint8Array()), help: text(parts[4] ?? new Uint8Array()) };
  });
}

const decodeBody = (body) => decodeWriteRequest(new Uint8Array(snappy.uncompress(body)));

test("remote_write: generated series survive encoding and snappy, byte for byte", () => {
  const r = rng(22);
  const alphabet = ["a", "z", "_", "0", "é", "\u00fc", "\\", "\"", "\n", "😀", "\u4e2d", " "];
  const str = (n) => Array.from({ length: Math.floor(r() * n) }, () => alphabet[Math.floor(r() * alphabet.length)]).join("");
  for (let round = 0; round < 200; round++) {
    const series = Array.from({ length: Math.floor(r() * 6) }, () => ({
      labels: Array.from({ length: 1 + Math.floor(r() * 5) }, () => [str(12) || "x", str(40)]),
      samples: Array.from({ length: 1 + Math.floor(r() * 3) }, () => [
        [0, 1, 2 ** 53, Math.floor(r() * 1e9), r() * 1e6, 0.1][Math.floor(r() * 6)], 1_600_000_000_000 + Math.floor(r() * 1e12)]),
    }));
    const metadata = Array.from({ length: Math.floor(r() * 3) }, () => ({ name: str(10), type: ["counter", "gauge"][Math.floor(r() * 2)], help: str(30) }));
    const bytes = encodeWriteRequest(series, metadata);
    assert.deepEqual(decodeWriteRequest(bytes), series);
    assert.deepEqual(decodeMetadata(bytes), metadata.map((m) => ({ type: m.type === "counter" ? 1 : 2, name: m.name, help: m.help })));
    assert.deepEqual(new Uint8Array(snappy.uncompress(compress(bytes))), bytes);
  }
});

// ------------------------------------------------------------------ a real local endpoint
async function endpoint(answer) {
  const got = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks) });
      const status = answer(got.length);
      if (status === null) return; // never answers
      res.writeHead(status).end();
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { url: `http://127.0.0.1:${server.address().port}/api/v1/write`, got, close: () => server.closeAllConnections() || server.close() };
}

const config = (url, extra = {}) => ({ remoteWrite: url, pushInterval: 10, pushMaxSamples: 50_000, ...extra });
const fam = (n) => [{ name: "strata_slot_exposures_total", help: "", type: "counter", rows: [[{ slot: "hero", arm: "a" }, n], [{ slot: "hero", arm: "b" }, 2 * n]] }];

test("remote_write: protocol headers, bearer or basic credentials, the instance's own labels", async () => {
  const ep = await endpoint(() => 204);
  try {
    const pw = new RemoteWrite(config(ep.url, { remoteWriteToken: "s3cret" }), "abc123-worker");
    await pw.maybePush(() => fam(5), 1_000_000);
    const basic = new RemoteWrite(config(ep.url, { remoteWriteUser: "fleet", remoteWritePassword: "pä55" }), "def456-worker");
    await basic.maybePush(() => fam(1), 1_000_000);
    assert.equal(ep.got.length, 2);
    const [h, b] = [ep.got[0].headers, ep.got[1].headers];
    for (const [k, v] of Object.entries(HEADERS)) assert.equal(h[k], v);
    assert.equal(h.authorization, "Bearer s3cret");
    assert.equal(b.authorization, "Basic " + Buffer.from("fleet:pä55").toString("base64"));
    assert.deepEqual(decodeBody(ep.got[0].body), [
      { labels: [["__name__", "strata_slot_exposures_total"], ["arm", "a"], ["instance", "abc123-worker"], ["job", JOB], ["slot", "hero"]], samples: [[5, 1_000_000]] },
      { labels: [["__name__", "strata_slot_exposures_total"], ["arm", "b"], ["instance", "abc123-worker"], ["job", JOB], ["slot", "hero"]], samples: [[10, 1_000_000]] },
    ]);
    assert.deepEqual(decodeMetadata(new Uint8Array(snappy.uncompress(ep.got[0].body))), [{ type: 1, name: "strata_slot_exposures_total", help: "" }]);
    assert.equal(pw.maybePush(() => fam(6), 1_000_000 + 9_999), null, "at most one push per interval");
    assert.deepEqual(pw.pushes, new Map([["ok", 1]]));
  } finally {
    ep.close();
  }
});

test("remote_write: a failing endpoint is retried with backoff, undelivered pushes kept up to the bound, the dropped counted", async () => {
  let failing = true;
  const ep = await endpoint(() => (failing ? 503 : 200));
  try {
    const pw = new RemoteWrite(config(ep.url, { pushMaxSamples: 6 }), "i1"); // three pushes of two samples
    let t = 0;
    const attempts = [];
    for (let i = 1; i <= 8; i++) {
      t += 10_000;
      const p = pw.maybePush(() => fam(i), t);
      if (p !== null) { await p; attempts.push(i); }
    }
    // backoff doubles from the interval: attempts at 10 s, then +20 s, +40 s ...
    assert.deepEqual(attempts, [1, 3, 7]);
    assert.equal(pw.queued, 6);
    assert.deepEqual(pw.dropped, new Map(), "nothing dropped while the queue fits");
    failing = false;
    t = pw.next;
    await pw.maybePush(() => fam(9), t);
    const series = decodeBody(ep.got.at(-1).body);
    // the queue held pushes 3, 7 and 9 (6 samples each time at most: push 1 was dropped at the bound)
    assert.deepEqual(series.map((s) => s.samples.map(([v]) => v)), [[3, 7, 9], [6, 14, 18]]);
    assert.deepEqual(series[0].samples.map(([, ms]) => ms), [30_000, 70_000, t]);
    assert.deepEqual(pw.dropped, new Map([["bound", 2]]));
    assert.deepEqual(pw.pushes, new Map([["retry", 3], ["ok", 1]]));
    assert.equal(pw.queued, 0);
    const fams = Object.fromEntries(pw.families().map((f) => [f.name, f.rows]));
    assert.deepEqual(fams.strata_remote_write_dropped_samples_total, [[{ reason: "bound" }, 2]]);
    assert.deepEqual(fams.strata_remote_write_pending_samples, [[{}, 0]]);
  } finally {
    ep.close();
  }
});

test("remote_write: a push carries the series that changed, every series again after STRATA_PUSH_REFRESH, and a dropped push's series at the next", async () => {
  let failing = false;
  const ep = await endpoint(() => (failing ? 503 : 200));
  const rows = (a, b) => [{ name: "strata_slot_exposures_total", help: "", type: "counter", rows: [[{ slot: "hero", arm: "a" }, a], [{ slot: "hero", arm: "b" }, b]] }];
  const sent = () => decodeBody(ep.got.at(-1).body).map((s) => [s.labels.find(([n]) => n === "arm")[1], s.samples.map(([v]) => v)]);
  try {
    const pw = new RemoteWrite(config(ep.url, { pushRefresh: 60, pushMaxSamples: 1 }), "i1");
    await pw.maybePush(() => rows(1, 1), 10_000);
    assert.deepEqual(sent(), [["a", [1]], ["b", [1]]], "the first push writes every series");
    await pw.maybePush(() => rows(2, 1), 20_000);
    assert.deepEqual(sent(), [["a", [2]]], "then only what changed");
    await pw.maybePush(() => rows(2, 1), 30_000);
    assert.equal(ep.got.length, 2, "nothing changed: nothing written");
    await pw.maybePush(() => rows(2, 1), 70_000);
    assert.deepEqual(sent(), [["b", [1]]], "a series again once its last write is STRATA_PUSH_REFRESH old (b's at 10 s, a's at 20 s)");
    await pw.maybePush(() => rows(2, 1), 80_000);
    assert.deepEqual(sent(), [["a", [2]]]);
    failing = true;
    await pw.maybePush(() => rows(3, 1), 90_000); // fails: arm a = 3 kept for the next attempt
    failing = false;
    await pw.maybePush(() => rows(3, 2), pw.next); // b = 2 queued too: past the bound of 1 sample, the older push is dropped
    assert.deepEqual(pw.dropped, new Map([["bound", 1]]));
    assert.deepEqual(sent(), [["b", [2]]]);
    await pw.maybePush(() => rows(3, 2), pw.next);
    assert.deepEqual(sent(), [["a", [3]]], "the dropped push's series go again although unchanged since");
    assert.equal(pw.queued, 0);
  } finally {
    ep.close();
  }
});

test("remote_write: a push refused for good (4xx) is dropped and counted; 429 is retried", async () => {
  const statuses = [429, 400, 204];
  const ep = await endpoint((n) => statuses[n - 1]);
  try {
    const pw = new RemoteWrite(config(ep.url), "i1");
    await pw.maybePush(() => fam(1), 10_000);
    assert.equal(pw.queued, 2);
    await pw.maybePush(() => fam(2), pw.next);
    assert.equal(pw.queued, 0);
    assert.deepEqual(pw.dropped, new Map([["refused", 4]]));
    await pw.maybePush(() => fam(3), pw.next);
    assert.deepEqual(pw.pushes, new Map([["retry", 1], ["refused", 1], ["ok", 1]]));
  } finally {
    ep.close();
  }
});

test("remote_write: bad settings are refused with the remedy", () => {
  const base = { STRATA_BUNDLE: BUNDLE_URL, STRATA_PUB: VECTORS_PUB, STRATA_COOKIE_KEYS: "k1:" + Buffer.alloc(32).toString("base64") };
  for (const [env, msg] of [
    [{ STRATA_REMOTE_WRITE: "prometheus:9090" }, /STRATA_REMOTE_WRITE .*https:\/\//],
    [{ STRATA_REMOTE_WRITE: "https://user:pw@p.example/api/v1/write" }, /no credentials in the URL/],
    [{ STRATA_REMOTE_WRITE: "http://p/api/v1/write", STRATA_PUSH_INTERVAL: "0" }, /STRATA_PUSH_INTERVAL/],
    [{ STRATA_REMOTE_WRITE: "http://p/api/v1/write", STRATA_PUSH_INTERVAL: "soon" }, /STRATA_PUSH_INTERVAL/],
    [{ STRATA_REMOTE_WRITE: "http://p/api/v1/write", STRATA_PUSH_MAX_SAMPLES: "-1" }, /STRATA_PUSH_MAX_SAMPLES/],
    [{ STRATA_REMOTE_WRITE: "http://p/api/v1/write", STRATA_PUSH_REFRESH: "0" }, /STRATA_PUSH_REFRESH/],
    [{ STRATA_REMOTE_WRITE: "http://p/api/v1/write", STRATA_REMOTE_WRITE_TOKEN: "t", STRATA_REMOTE_WRITE_USER: "u" }, /not both/],
  ]) assert.throws(() => configFrom({ ...base, ...env }), (e) => e instanceof ConfigError && msg.test(e.message));
  const c = configFrom({ ...base, STRATA_REMOTE_WRITE: "https://p.example/api/v1/write" });
  assert.equal(c.pushInterval, 10);
});

test("remote_write: the worker answers first and pushes its counters after, even to an endpoint that never answers", async () => {
  const realFetch = globalThis.fetch;
  serveBundleOffline();
  const offline = globalThis.fetch;
  globalThis.fetch = (url, init) => (String(url).startsWith("http://127.0.0.1:") ? realFetch(url, init) : offline(url, init));
  const hang = await endpoint(() => null);
  try {
    const worker = new StrataWorker(runtime, { STRATA_BUNDLE: BUNDLE_URL, STRATA_PUB: VECTORS_PUB, STRATA_STATS_TOKEN: "tok",
      STRATA_COOKIE_KEYS: "k1:" + Buffer.alloc(32, 9).toString("base64"), STRATA_REMOTE_WRITE: hang.url, STRATA_PUSH_INTERVAL: "0.001" });
    const waiting = [];
    const ctx = { waitUntil: (p) => waiting.push(p) };
    const r = await worker.fetch(new Request("https://shop.example/v1/decide", { method: "POST", body: "{}", headers: { "content-type": "application/json" } }), ctx);
    assert.equal(r.status, 200);
    assert.equal(waiting.length, 1, "the push was handed to ctx.waitUntil");
    let settled = false;
    waiting[0].then(() => { settled = true; });
    await new Promise((ok) => setTimeout(ok, 50));
    assert.equal(settled, false, "the push is still waiting on the endpoint after the response was returned");
    assert.equal(worker.remoteWrite.maybePush(() => [], Date.now() + 60_000), null, "one push at a time");
    // what is pushed is what /metrics and /v1/stats count
    const sent = decodeBody(hang.got[0].body);
    const snap = await (await worker.fetch(new Request("https://shop.example/v1/stats", { headers: { authorization: "Bearer tok" } }), { waitUntil() {} })).json();
    const pushed = sent.filter((s) => s.labels[0][1] === "strata_slot_exposures_total")
      .map((s) => [Object.fromEntries(s.labels).slot, Object.fromEntries(s.labels).arm, s.samples[0][0]]).sort();
    assert.deepEqual(pushed, snap.exposures.map((e) => [e.slot, e.arm, e.count]).sort());
    assert.ok(pushed.length > 0);
    assert.ok(sent.every((s) => Object.fromEntries(s.labels).instance === snap.instance));
  } finally {
    hang.close();
  }
});

test("remote_write: a push after N increments reads only the N rows they changed (measure.js's Changes)", async () => {
  const ep = await endpoint(() => 200);
  try {
    const h = counterHistory();
    for (let i = 0; i < 300; i++) for (let kind = 0; kind < 5; kind++) h.increment(kind, i); // a large measurement
    const pw = new RemoteWrite(config(ep.url), "i1");
    const read = []; // the measured rows each push read
    let last = null;
    const collect = (full) => {
      const families = (last = h.collect(full));
      read.push(families.filter((f) => MEASURED.has(f.name)).flatMap((f) => f.rows.map(([labels]) => rowId(f.name, labels))));
      return families;
    };
    let before = h.values();
    await pw.maybePush(collect, 10_000);
    assert.equal(read[0].length, before.size, "the first push reads every row");
    const r = rng(7);
    for (const n of [1, 5, 40]) {
      const touched = new Set();
      for (let k = 0; k < n; k++) touched.add(h.increment(Math.floor(r() * 5), Math.floor(r() * 300)));
      assert.equal(h.changes.size, touched.size, "the changed rows are marked, once each");
      const after = h.values();
      const changed = [...after].filter(([id, v]) => before.get(id) !== v).map(([id]) => id);
      await pw.maybePush(collect, 10_000 + 10_000 * read.length);
      const rows = read.at(-1);
      const whole = new Set(h.metrics.families(h.measure, null).flatMap((f) => f.rows.map(([l]) => JSON.stringify([f.name, l]))));
      for (const f of last) for (const [l] of f.rows) assert.ok(whole.has(JSON.stringify([f.name, l])), `${f.name} ${JSON.stringify(l)}: labels as the snapshot orders them`);
      // a conversion's row is read as its count and its value; nothing else is read
      assert.ok(rows.length <= 2 * touched.size, `${rows.length} rows read after ${touched.size} changed`);
      assert.deepEqual(new Set(rows.filter((id) => !after.has(id) || before.get(id) !== after.get(id))), new Set(changed));
      const sent = decodeBody(ep.got.at(-1).body).filter((s) => MEASURED.has(s.labels[0][1]))
        .map((s) => rowId(s.labels[0][1], Object.fromEntries(s.labels.filter(([k]) => !["__name__", "instance", "job"].includes(k)))));
      assert.deepEqual(new Set(sent), new Set(changed), "the push writes the series whose value changed");
      assert.equal(h.changes.size, 0, "taken by the push");
      before = after;
    }
  } finally {
    ep.close();
  }
});

test("remote_write: generated histories pushed by their changed rows reach the endpoint as the whole counters (failures, drops at the bound, refreshes)", async () => {
  let dropped = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const r = rng(seed);
    let recovered = false;
    const statuses = [];
    const ep = await endpoint(() => statuses[statuses.push(recovered || r() >= 0.3 ? 200 : 503) - 1]);
    try {
      const h = counterHistory();
      const refresh = 60_000;
      const pw = new RemoteWrite(config(ep.url, { pushMaxSamples: 5 + Math.floor(r() * 60), pushRefresh: refresh / 1000 }), `iso${seed}`);
      let t = 1_000_000;
      for (let step = 0; step < 40; step++) {
        for (let k = Math.floor(r() * 12); k > 0; k--) h.increment(Math.floor(r() * 5), Math.floor(r() * 40));
        t += 10_000;
        const p = pw.maybePush((full) => h.collect(full), t);
        if (p === null) continue;
        await p;
        for (const s of pw.series.values()) assert.ok(t - s.at < refresh, `seed ${seed}: a series unwritten for ${t - s.at} ms`);
      }
      recovered = true; // what a dropped push held goes with the pushes after
      for (let k = 0; k < 2; k++) {
        t = Math.max(t + 10_000, pw.next);
        await pw.maybePush((full) => h.collect(full), t);
      }
      assert.equal(pw.queued, 0);
      dropped += pw.dropped.get("bound") ?? 0;
      const latest = new Map(); // what Prometheus holds: each accepted series' sample with the latest timestamp
      for (const [i, { body }] of ep.got.entries()) {
        if (statuses[i] !== 200) continue;
        for (const s of decodeBody(body)) {
          if (!MEASURED.has(s.labels[0][1])) continue;
          const id = rowId(s.labels[0][1], Object.fromEntries(s.labels.filter(([k]) => !["__name__", "instance", "job"].includes(k))));
          for (const [v, ms] of s.samples) if (!(latest.get(id)?.[1] > ms)) latest.set(id, [v, ms]);
        }
      }
      const delivered = new Map([...latest].map(([id, [v]]) => [id, v]));
      assert.deepEqual(delivered, h.values(), `seed ${seed}: the endpoint's latest values are the counters`);
    } finally {
      ep.close();
    }
  }
  assert.ok(dropped > 0, "the histories include pushes dropped at the bound");
});

test("remote_write: a push of one sample per series is encodeWriteRequest's bytes, for generated series", () => {
  const r = rng(31);
  for (let round = 0; round < 200; round++) {
    const ms = [0, 127, 128, 1_600_000_000_000 + Math.floor(r() * 1e12), 2 ** 53 - 1][Math.floor(r() * 5)];
    const rows = Array.from({ length: Math.floor(r() * 8) }, () => {
      const labels = Array.from({ length: 1 + Math.floor(r() * 6) }, (_, i) => [`l${i}`, "v".repeat(Math.floor(r() * (r() < 0.2 ? 300 : 20)))]);
      const whole = encodeWriteRequest([{ labels, samples: [] }]); // the labels field alone: this TimeSeries without its tag and length
      let i = 1;
      while (whole[i] >= 128) i++;
      return [{ encoded: whole.subarray(i + 1) }, [0, 1, 2.5, 2 ** 53, r() * 1e9][Math.floor(r() * 5)]];
    });
    const metadata = r() < 0.5 ? [] : [{ name: "strata_x_total", type: "counter", help: "h".repeat(Math.floor(r() * 200)) }];
    const expected = encodeWriteRequest(rows.map(([s, v]) => ({ encoded: s.encoded, samples: [[v, ms]] })), metadata);
    assert.deepEqual(encodeOneSampleEach(rows, ms, metadata), expected);
  }
});

test("remote_write: a push that fails after taking the changed rows makes the next one read every row", async () => {
  const poisoned = [{ name: "strata_slot_exposures_total", help: "", type: "counter", rows: [[{ get slot() { throw new Error("unreadable label"); } }, 1]] }];
  const pw = new RemoteWrite(config("http://127.0.0.1:9/api/v1/write"), "i1");
  const asked = [];
  await pw.maybePush((full) => { asked.push(full); return asked.length === 2 ? poisoned : []; }, 10_000); // the first push: full
  pw.next = 0;
  await pw.maybePush((full) => { asked.push(full); return poisoned; }, 20_000);
  pw.next = 0;
  await pw.maybePush((full) => { asked.push(full); return []; }, 30_000);
  assert.deepEqual(asked, [true, false, true]);
});
