// The worker's bundle source helpers in node (real workerd runs them in
// tests/edge_worker/test_workerd_bundle_source.py): the bounded read over generated chunkings, the
// validator rule over generated dates, and the rollback state's key — the same as the server's
// state file name (edge_server/state.py) for the same source.
import assert from "node:assert/strict";
import { test } from "node:test";

import { readBounded, validatorOf } from "../worker/bundles.js";
import { canonicalSource, sourceId } from "../worker/state.js";
import { rng } from "./vectors.js";

/** A pull stream of `sizes` chunks, counting how many were pulled and whether it was cancelled. */
function chunked(sizes) {
  const seen = { pulled: 0, cancelled: false };
  let i = 0;
  const stream = new ReadableStream({
    pull(controller) {
      if (i === sizes.length) return controller.close();
      seen.pulled += 1;
      controller.enqueue(new Uint8Array(sizes[i++]).fill(7));
    },
    cancel() {
      seen.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, seen };
}

test("worker_state: a body is refused as soon as it passes the cap, whatever its chunking; one under the cap is read whole", async () => {
  const random = rng(20);
  const cap = 1000;
  for (let n = 0; n < 300; n++) {
    const sizes = Array.from({ length: 1 + Math.floor(random() * 12) }, () => Math.floor(random() * 400));
    const total = sizes.reduce((a, b) => a + b, 0);
    const { stream, seen } = chunked(sizes);
    if (total <= cap) {
      const bytes = await readBounded(stream, "test", cap);
      assert.equal(bytes.length, total);
      continue;
    }
    await assert.rejects(readBounded(stream, "test", cap), /test: bundle larger than 1000 bytes; refused while downloading/);
    let sum = 0;
    let needed = 0;
    while (sum <= cap) sum += sizes[needed++];
    assert.equal(seen.pulled, needed, `pulled ${seen.pulled} chunks of ${JSON.stringify(sizes)}`); // no chunk past the one over the cap
    assert.ok(seen.cancelled);
  }
});

test("worker_state: a Content-Length over the cap is refused before any byte is read", async () => {
  for (const declared of ["1001", " 5000 ", "99999999999999"]) {
    const { stream, seen } = chunked([10]);
    await assert.rejects(readBounded(stream, "u", 1000, declared), /Content-Length/);
    assert.equal(seen.pulled, 0);
  }
  const { stream } = chunked([10]);
  assert.equal((await readBounded(stream, "u", 1000, "10")).length, 10); // an honest one under the cap reads
});

test("worker_state: the validator is the ETag, else a Last-Modified at least a second older than Date", () => {
  const random = rng(21);
  const base = Date.UTC(2026, 11, 6, 12, 0, 0);
  for (let n = 0; n < 200; n++) {
    const gap = Math.floor(random() * 4000) - 1000; // ms between Last-Modified and Date
    const lm = new Date(base).toUTCString();
    const date = new Date(base + gap).toUTCString(); // HTTP dates have whole seconds
    const wholeGap = Date.parse(date) - Date.parse(lm);
    assert.deepEqual(validatorOf(new Headers({ "last-modified": lm, date })), wholeGap >= 1000 ? { etag: null, lastModified: lm } : null);
    assert.deepEqual(validatorOf(new Headers({ etag: '"e"', "last-modified": lm, date })), { etag: '"e"', lastModified: null });
  }
  assert.equal(validatorOf(new Headers({ "last-modified": new Date(base).toUTCString() })), null); // no Date: no validator
});

test("worker_state: the state key is the server's state file id of the same source, whatever its spelling", async () => {
  const config = (bundleUrl) => ({ bundleUrl, bundleBinding: "STRATA_BUNDLES", bundleKey: null });
  // ids from edge_server.state.source_id (python -c "from edge_server.state import source_id; print(source_id(URL))")
  const python = {
    "https://bundles.example.com/site.bundle": "045ae5a890488ae5",
    "http://127.0.0.1:8080/b/trailblazer.bundle": "21d587f4595cb6e6",
    "https://cdn.example.net/": "e8aff583a2c57bb8",
  };
  for (const [url, id] of Object.entries(python)) assert.equal(await sourceId(canonicalSource(config(url))), id, url);
  for (const spelled of ["HTTPS://Bundles.Example.COM:443/site.bundle?token=1#x", "https://reader:secret@bundles.example.com/site.bundle?X-Amz-Signature=2"]) {
    assert.equal(canonicalSource(config(spelled)), "https://bundles.example.com/site.bundle");
  }
  assert.notEqual(canonicalSource(config("https://bundles.example.com/staging/site.bundle")), canonicalSource(config("https://bundles.example.com/site.bundle")));
  assert.equal(await sourceId(canonicalSource({ bundleUrl: null, bundleBinding: "STRATA_BUNDLES", bundleKey: "trailblazer" })), "1a969a45d87afd5d");
});

test("worker_state: over generated offers and isolate restarts, an isolate accepts exactly what one rule set with a floor that never goes down accepts", async () => {
  // The rule-set and floor logic of BundleSource against a model, with the runtime's own
  // checkRollback and a KV namespace that outlives isolates (real workerd and real bundles:
  // tests/edge_worker/test_workerd_bundle_source.py::test_worker_rollback_model_across_fresh_isolates).
  const { BundleSource } = await import("../worker/bundles.js");
  const { checkRollback } = await import("../runtime/verify.js");
  const runtime = {
    importKeys: async () => ({}),
    prepareBundle: async (bytes, { held, name }) => {
      const b = JSON.parse(new TextDecoder().decode(bytes));
      checkRollback(b.name, b.version, name, held);
      return b;
    },
  };
  const random = rng(22);
  const pick = (xs) => xs[Math.floor(random() * xs.length)];
  const saved = globalThis.fetch;
  const warn = console.warn;
  console.warn = () => {};
  try {
    for (let n = 0; n < 300; n++) {
      const store = new Map();
      const kv = { get: async (k) => store.get(k) ?? null, put: async (k, v) => void store.set(k, v) };
      const configured = pick([null, "a", "b"]);
      const min = pick([null, 2]);
      const withKv = random() < 0.7;
      const env = { STRATA_STATE: withKv ? kv : undefined };
      const config = { bundleUrl: "https://o.example/b", bundleBinding: "STRATA_BUNDLES", bundleKey: null, bundleName: configured, minVersion: min,
        stateBinding: "STRATA_STATE", publicKeys: ["k"], clockSkew: 300, pollInterval: 1 };
      let offer = null;
      let tag = 0;
      globalThis.fetch = async () => new Response(JSON.stringify(offer), { headers: { etag: `"${tag}"` } });
      const fresh = () => {
        const rec = withKv && store.size ? JSON.parse([...store.values()][0]) : null;
        const vs = [min, rec?.version ?? null].filter((v) => v !== null);
        return [configured ?? rec?.name ?? null, vs.length ? Math.max(...vs) : null];
      };
      let source = new BundleSource(runtime, config, env);
      let [name, highest] = fresh();
      const steps = Array.from({ length: 1 + Math.floor(random() * 10) }, () => (random() < 0.2 ? "restart" : [pick(["a", "b"]), 1 + Math.floor(random() * 4)]));
      for (const step of steps) {
        if (step === "restart") {
          source = new BundleSource(runtime, config, env);
          [name, highest] = fresh();
          continue;
        }
        const [offeredName, version] = step;
        const expected = (name === null || name === offeredName) && (highest === null || version >= highest);
        offer = { name: offeredName, version };
        tag += 1;
        const loaded = await source.check(Date.now());
        assert.equal(loaded, expected, JSON.stringify({ configured, min, withKv, steps, step, name, highest, error: source.state.lastError }));
        if (expected) [name, highest] = [offeredName, Math.max(version, highest ?? version)];
        else assert.match(source.state.lastError, name !== null && name !== offeredName ? /\(wrong_name\).*\[rule set pinned by / : /\(rollback\).*\[floor from /);
      }
    }
  } finally {
    globalThis.fetch = saved;
    console.warn = warn;
  }
});
