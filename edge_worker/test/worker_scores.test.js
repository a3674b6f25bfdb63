// Scores in the worker's explain output, as the Python server shows them: /v1/decide?explain=1
// answers `scores` beside `segments` (edge_server/decide.py), and the debug overlay lists them
// formatted as Python's f"{v:.3f}" (edge_server/pages.py).
import assert from "node:assert/strict";
import { test } from "node:test";

import * as runtime from "../runtime/index.js";
import { BUNDLE_URL, VECTORS_PUB, rng, serveBundleOffline } from "./vectors.js";
import { StrataWorker } from "../worker/server.js";
import { formatFixed } from "../runtime/python.js";
import { overlay } from "../worker/pages.js";

const KEYS = "k1:" + Buffer.alloc(32, 9).toString("base64");
serveBundleOffline();
const ctx = { waitUntil() {} };

test("worker_scores: an explained decide answers scores beside segments, as the Python server", async () => {
  const worker = new StrataWorker(runtime, { STRATA_BUNDLE: BUNDLE_URL, STRATA_PUB: VECTORS_PUB, STRATA_COOKIE_KEYS: KEYS, STRATA_DEBUG: "1" });
  const post = (path) => worker.fetch(new Request(`https://shop.example${path}`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } }), ctx);
  // A fresh visitor lands in TrailBlazer's 5% global holdout one time in twenty: a holdout decision
  // evaluates no candidate, so it reads no score. Take the first visitor outside it (40 tries: 0.05^40).
  let explained = null;
  for (let i = 0; i < 40 && explained === null; i++) {
    const body = await (await post("/v1/decide?explain=1")).json();
    assert.deepEqual(Object.keys(body), ["bundle", "slots", "segments", "scores", "consent"]);
    if (Object.values(body.slots).some((s) => s.reason === "holdout")) assert.deepEqual(body.scores, {});
    else explained = body;
  }
  assert.ok(explained !== null, "40 fresh visitors all in the 5% holdout");
  // TrailBlazer's recs slot has a rule on score.purchase_intent: an explained decision lists that score
  assert.deepEqual(Object.keys(explained.scores), ["purchase_intent"]);
  assert.ok(explained.scores.purchase_intent > 0 && explained.scores.purchase_intent < 1, String(explained.scores.purchase_intent));
  assert.deepEqual(Object.keys(await (await post("/v1/decide")).json()), ["bundle", "slots", "consent"]);
});

test("worker_scores: the overlay lists each score as Python's .3f, ties to even", () => {
  // Python: [f"{v:.3f}" for v in ...]
  const python = [[0.0625, "0.062"], [-0.0625, "-0.062"], [0.1875, "0.188"], [0.3125, "0.312"], [0.5625, "0.562"], [0.9375, "0.938"],
    [0.123456, "0.123"], [0.5, "0.500"], [1, "1.000"], [0, "0.000"], [-0.25, "-0.250"], [0.999999, "1.000"], [-1e-17, "-0.000"],
    [0.0005, "0.001"], [0.0015, "0.002"], [0.9995, "1.000"]];
  for (const [v, want] of python) assert.equal(formatFixed(v, 3), want, String(v));
  const r = rng(31);
  for (let i = 0; i < 2000; i++) {
    const tie = (2 * Math.floor(r() * 16) + 1) / 16; // odd sixteenths: the exact ties
    const v = i % 2 ? tie * (r() < 0.5 ? -1 : 1) : r() * 2 - 1;
    const got = formatFixed(v, 3);
    const n = Math.round(Math.abs(got) * 1000);
    assert.ok(Math.abs(Math.abs(v) * 1000 - n) <= 0.5, `${v} -> ${got}`);
    if (Math.abs(Math.abs(v) * 1000 - n) === 0.5) assert.equal(n % 2, 0, `${v} -> ${got}: a tie goes to the even digit`);
  }
  const html = overlay({ bundle: "b", version: 1, decisions: {}, segments: {}, scores: { intent: 0.0625, lift: -0.5 } });
  assert.match(html, /<div>scores: intent=0\.062, lift=-0\.500<\/div>/);
  assert.match(overlay({ bundle: "b", version: 1, decisions: {}, segments: {}, scores: null }), /<div>scores: —<\/div>/);
});
