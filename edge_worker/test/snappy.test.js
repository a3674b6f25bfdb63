// worker/snappy.js, the snappy block compressor of remote writes: generated inputs of every kind
// (empty, shorter than the match margin, random bytes, label-like text, long runs, literals and
// offsets past 64 KiB) decompress to themselves with the independent snappyjs decoder, within the
// format's size bound. Real Prometheus decodes them in tests/edge_server/reporting/test_prometheus_fleet.py.
import assert from "node:assert/strict";
import { test } from "node:test";
import snappy from "snappyjs";

import { rng } from "./vectors.js";
import { compress } from "../worker/snappy.js";

function generated(r) {
  const kind = Math.floor(r() * 6);
  const n = [0, 1 + Math.floor(r() * 20), Math.floor(r() * 300), Math.floor(r() * 5000), 60_000 + Math.floor(r() * 150_000), Math.floor(r() * 70_000)][Math.floor(r() * 6)];
  const out = new Uint8Array(n);
  if (kind === 0) for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256); // incompressible
  else if (kind === 1) out.fill(Math.floor(r() * 256)); // one long run
  else if (kind === 2) for (let i = 0; i < n; i++) out[i] = i % (1 + Math.floor(n / 7) || 1) < 3 ? 7 : i & 255; // periodic
  else { // label-like: words drawn from a small vocabulary, with random bytes between
    const words = Array.from({ length: 2 + Math.floor(r() * 40) }, () => new TextEncoder().encode(`strata_${Math.floor(r() * 1e6)}_label="value"`));
    for (let i = 0; i < n;) {
      if (kind === 3 && r() < 0.1) { out[i++] = Math.floor(r() * 256); continue; }
      const w = words[Math.floor(r() * words.length)];
      for (let j = 0; j < w.length && i < n; j++) out[i++] = w[j];
    }
  }
  return out;
}

test("snappy: generated inputs of every kind decompress to themselves (snappyjs's decoder), within the format's bound", () => {
  const r = rng(11);
  for (let round = 0; round < 150; round++) {
    const input = generated(r);
    const block = compress(input);
    assert.ok(block.length <= 32 + input.length + Math.ceil(input.length / 6), `${block.length} bytes for ${input.length}`);
    assert.deepEqual(new Uint8Array(snappy.uncompress(block)), input, `round ${round}: ${input.length} bytes`);
  }
});

test("snappy: repeated label text compresses as the reference compressor does (to a tenth or better)", () => {
  const r = rng(3);
  const words = Array.from({ length: 30 }, (_, i) => new TextEncoder().encode(`__name__strata_slot_exposures_total instance=abc123-worker slot=slot${i}`));
  const input = new Uint8Array(100_000);
  for (let i = 0; i < input.length;) for (const b of words[Math.floor(r() * words.length)]) if (i < input.length) input[i++] = b;
  const ours = compress(input).length;
  assert.ok(ours <= input.length / 10, `${ours} bytes`);
  assert.ok(ours <= snappy.compress(input).byteLength * 1.1, `${ours} bytes, snappyjs ${snappy.compress(input).byteLength}`);
});
