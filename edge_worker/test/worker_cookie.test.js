// The session cookie's layout of issue #16 (worker/session.js; docs/server.md "cookie layout"): 15
// fields with the visit's model entries, exposure entries with their period, older layouts still
// read, the bound kept, and a new visit emptying the model entries. (The byte-for-byte agreement
// with the Python server is tests/vectors/cookies.json, in worker_vectors.test.js.)
import assert from "node:assert/strict";
import { test } from "node:test";

import { encode as mpEncode } from "@msgpack/msgpack";
import { rng } from "./vectors.js";
import { CookieCodec, MAX_COOKIE_BYTES, MAX_SESSION_MODELS, Session, importCookieKeys } from "../worker/session.js";

const KEYS = "k1:" + Buffer.alloc(32, 3).toString("base64");
const codec = new CookieCodec(await importCookieKeys(KEYS), "strata_session");
const FIELDS = (s) => [s.sid, s.visitCount, s.pageViews, s.totalPageViews, s.firstSeen, s.lastSeen, s.recentCategories, s.utmSource, s.purchased,
  s.caps, s.exposures, s.shown, s.converted, s.visitNonce, s.models];
/** A cookie value of an arbitrary plaintext list (what another version may have written). */
const sealed = (fields) => codec.seal(mpEncode(fields));
const entry = (n, bucket = 3, frozen = false, arm = "", uplift = 0) => ["0123abcd", "89abcdef", Uint8Array.from({ length: n }, (_, i) => i % 5), bucket, frozen, arm, uplift];

function visited() {
  const s = new Session("AAAAAAAAAAAAAAAAAAAAAA");
  s.touch(1_793_491_200, 1800, "", "tents", true);
  return s;
}

test("cookie_models: model entries and exposure periods round-trip in the 15-field layout", async () => {
  const s = visited();
  s.models = { intent: entry(3), uplift: entry(2, 25, true, "treatment", 0x2930 * 128 + 56) };
  s.exposures = { "starter-kit": ["bundle-discount", 1, "7300/2700"] };
  const back = await codec.decode(await codec.encode(s));
  assert.deepEqual(back.models, s.models);
  assert.ok(back.models.intent[2] instanceof Uint8Array); // levels are msgpack bin, as Python's bytes
  assert.deepEqual(back.exposures, s.exposures);
  assert.deepEqual(FIELDS(back), FIELDS(s));
});

test("cookie_models: 13- and 14-field cookies read with no model entries, 2-element exposures with period \"\"", async () => {
  const s = visited();
  s.exposures = { "starter-kit": ["free-shipping", 1] };
  for (const n of [13, 14]) {
    const back = await codec.decode(await sealed(FIELDS(s).slice(0, n)));
    assert.ok(back, `${n} fields`);
    assert.deepEqual(back.models, {});
    assert.deepEqual(back.exposures, { "starter-kit": ["free-shipping", 1, ""] });
    assert.equal(back.visitNonce, n === 13 ? "" : s.visitNonce);
  }
  for (const n of [12, 16]) assert.equal(await codec.decode(await sealed([...FIELDS(s), "x"].slice(0, n))), null, `${n} fields`);
});

test("cookie_models: a six-field model entry (written before the uplift rows) reads with uplift 0", async () => {
  const s = visited();
  s.models = { intent: entry(3).slice(0, 6) };
  const back = await codec.decode(await codec.encode(s));
  assert.deepEqual(back.models, { intent: entry(3) });
});

test("cookie_models: generated malformed model entries and periods open to no session", async () => {
  const r = rng(17);
  const bad = [
    () => [], () => "intent", () => entry(65), () => entry(2).slice(0, 5), () => [...entry(2), 1],
    () => Object.assign(entry(2), { 0: "x".repeat(17) }), () => Object.assign(entry(2), { 1: 7 }), () => Object.assign(entry(2), { 2: [0, 1] }),
    () => Object.assign(entry(2), { 3: 40 }), () => Object.assign(entry(2), { 3: -1 }), () => Object.assign(entry(2), { 3: 1.5 }),
    () => Object.assign(entry(2), { 4: 0 }), () => Object.assign(entry(2), { 5: "t".repeat(17) }), () => Object.assign(entry(2), { 5: null }),
    // the uplift row: 0, or a 16-bit calibration tag * 128 + an uplift bucket 1..100
    () => Object.assign(entry(2), { 6: -1 }), () => Object.assign(entry(2), { 6: 128 }), () => Object.assign(entry(2), { 6: 101 }),
    () => Object.assign(entry(2), { 6: 2 ** 23 + 1 }), () => Object.assign(entry(2), { 6: 1.5 }), () => Object.assign(entry(2), { 6: "1" }),
    () => Object.assign(entry(2), { 6: true }),
  ];
  const s = visited();
  for (let i = 0; i < 60; i++) {
    const models = {};
    const n = 1 + Math.floor(r() * MAX_SESSION_MODELS);
    for (let j = 0; j < n; j++) models[`m${j}`] = entry(1 + Math.floor(r() * 8));
    models[`m${Math.floor(r() * n)}`] = bad[Math.floor(r() * bad.length)]();
    const fields = FIELDS(s);
    fields[14] = models;
    assert.equal(await codec.decode(await sealed(fields)), null, JSON.stringify(models));
  }
  const five = Object.fromEntries(["a", "b", "c", "d", "e"].map((id) => [id, entry(2)]));
  const fields = FIELDS(s);
  fields[14] = five;
  assert.equal(await codec.decode(await sealed(fields)), null, "more than MAX_SESSION_MODELS entries");
  fields[14] = {};
  for (const period of [3, "9".repeat(129), null]) {
    fields[10] = { "starter-kit": ["a", 1, period] };
    assert.equal(await codec.decode(await sealed(fields)), null, `period ${period}`);
  }
});

test("cookie_models: a new visit empties the model entries; the same visit keeps them", () => {
  const s = visited();
  s.models = { intent: entry(2) };
  s.touch(1_793_491_200 + 60, 1800, "", "", true);
  assert.deepEqual(Object.keys(s.models), ["intent"]);
  s.touch(1_793_491_200 + 60 + 1801, 1800, "", "", true);
  assert.deepEqual(s.models, {});
});

test("cookie_models: generated sessions stay under the bound, dropping model entries newest first before shown keys", async () => {
  const r = rng(29);
  const dropped = { models: 0, shown: 0 };
  for (let i = 0; i < 80; i++) {
    const s = visited();
    const n = Math.floor(r() * (MAX_SESSION_MODELS + 1));
    const wide = r() < 0.5;
    for (let j = 0; j < n; j++) s.models[`model_${j}`] = entry(wide ? 64 : 1 + Math.floor(r() * 63), Math.floor(r() * 40), r() < 0.3, r() < 0.5 ? "" : "control");
    const shown = Math.floor(r() * 25);
    for (let j = 0; j < shown; j++) s.shown.push(`slot${j}|rule-${j}-${"x".repeat(Math.floor(r() * 40))}|mid`);
    const exposures = Math.floor(r() * 12);
    for (let j = 0; j < exposures; j++) s.exposures[`exp${j}`] = [`variant-${j}`, 1, "5000/5000"];
    const before = { models: Object.keys(s.models), shown: [...s.shown] };
    const value = await codec.encode(s);
    assert.ok(value.length <= MAX_COOKIE_BYTES, `${value.length}`);
    const back = await codec.decode(value);
    assert.deepEqual(FIELDS(back), FIELDS(s)); // shrinking edits the session itself: both agree
    const kept = Object.keys(back.models);
    assert.deepEqual(kept, before.models.slice(0, kept.length)); // the newest (last) entries went first
    if (back.shown.length < before.shown.length) assert.deepEqual(kept, [], "shown keys dropped while model entries remained");
    if (kept.length < before.models.length) assert.deepEqual(back.exposures, {}, "model entries dropped while exposures remained");
    dropped.models += kept.length < before.models.length;
    dropped.shown += back.shown.length < before.shown.length;
  }
  assert.ok(dropped.models > 0 && dropped.shown > 0, JSON.stringify(dropped)); // the generator reaches both
});

test("cookie_record: a new or changed variant is assigned in the current period; a kept one keeps its cohort", () => {
  const s = visited();
  const periods = new Map([["starter-kit", "5000/5000"]]);
  assert.deepEqual(s.record([], [["starter-kit", "a"]], 1, periods), [["starter-kit", "a", "5000/5000", true]]);
  assert.deepEqual(s.record([], [["starter-kit", "a"]], 2, periods), []); // once per visit
  periods.set("starter-kit", "7300/2700");
  s.touch(1_793_491_200 + 4000, 1800, "", "", true);
  assert.deepEqual(s.record([], [["starter-kit", "a"]], 3, periods), [["starter-kit", "a", "5000/5000", false]]);
  assert.deepEqual(s.record([], [["starter-kit", "b"]], 4, { "starter-kit": "7300/2700" }), [["starter-kit", "b", "7300/2700", true]]);
  assert.deepEqual(s.assignments(), { "starter-kit": "b" });
  assert.deepEqual(s.exposedThisVisit(), [["starter-kit", "b", "7300/2700"]]);
  assert.deepEqual(s.record([], [["other", "x"]], 5), [["other", "x", "", true]]); // an experiment without a known period
});
