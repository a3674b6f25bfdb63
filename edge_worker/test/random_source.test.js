// worker/random_source.js: every value is the platform's random bytes, drawn in batches of BATCH
// values, each handed out once and never changed afterwards (the session's id, visit nonce, lineage
// tag and AES-GCM nonce come from it: session.js, model_counts.js), as edge_server/random_source.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { BATCH, RandomSource } from "../worker/random_source.js";

test("random_source: values are the platform's draws in order, each once, in batches, and stay as handed out", () => {
  const real = crypto.getRandomValues;
  let counter = 0;
  const calls = [];
  crypto.getRandomValues = (a) => { // a counter for the platform, so each byte tells which draw it is
    calls.push(a.length);
    for (let i = 0; i < a.length; i++) a[i] = (counter++ * 7 + 3) & 255;
    return a;
  };
  try {
    for (const size of [1, 3, 12, 16]) {
      calls.length = 0;
      counter = 0;
      const src = new RandomSource(size);
      const kept = [];
      for (let i = 0; i < 2 * BATCH + 5; i++) kept.push([src.take(), i]);
      assert.deepEqual(calls, [size * BATCH, size * BATCH, size * BATCH], `size ${size}: one platform call per ${BATCH} values`);
      for (const [v, i] of kept) { // handed out once each, in the platform's order, unchanged by later draws
        assert.equal(v.length, size);
        assert.deepEqual(Array.from(v), Array.from({ length: size }, (_, k) => ((i * size + k) * 7 + 3) & 255), `size ${size}, value ${i}`);
      }
    }
  } finally {
    crypto.getRandomValues = real;
  }
  for (const bad of [0, -1, 1.5, NaN]) assert.throws(() => new RandomSource(bad), /size must be a positive integer/);
  const a = new RandomSource(12);
  const seen = new Set();
  for (let i = 0; i < 3 * BATCH; i++) seen.add(Buffer.from(a.take()).toString("hex"));
  assert.equal(seen.size, 3 * BATCH, "real draws: no 96-bit value twice");
});
