// The worker's caches are bounded by bytes (worker/bounded_cache.js; issue #20 point 7), whatever
// their keys and values: generated entries of every size, and the request-signals cache under
// requests with distinct 2 KB URLs, 2 KB referrers and long headers. The same bound in real
// workerd under a 64 MB heap: tests/edge_worker/test_worker_memory.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { BoundedCache, approxBytes } from "../worker/bounded_cache.js";
import { RequestContext } from "../worker/signals.js";
import { rng } from "./vectors.js";

test("worker_caches: a generated mix of entry sizes never exceeds the byte budget; the newest entry is kept", () => {
  const random = rng(20);
  for (const budget of [1024, 64 * 1024, 1024 * 1024]) {
    const cache = new BoundedCache(budget);
    for (let i = 0; i < 3000; i++) {
      const size = Math.floor(random() ** 3 * budget * 0.5);
      const key = `k${i}-` + "k".repeat(Math.floor(random() * 64));
      cache.set(key, { text: "v".repeat(size), items: ["a", "b"] });
      assert.ok(cache.bytes <= budget, `${cache.bytes} > ${budget}`);
      const kept = [...cache.entries.values()].reduce((n, [, b]) => n + b, 0);
      assert.equal(kept, cache.bytes);
      if (approxBytes(key) + approxBytes({ text: "v".repeat(size), items: ["a", "b"] }) + 48 <= budget / 8) assert.ok(cache.get(key) !== undefined);
      else assert.equal(cache.get(key), undefined); // too large for this cache: never kept
    }
  }
});

test("worker_caches: the estimate counts at least one byte per character of key and value", () => {
  for (const n of [0, 1, 100, 10_000]) {
    assert.ok(approxBytes("x".repeat(n)) >= n);
    assert.ok(approxBytes({ a: "x".repeat(n), b: ["y".repeat(n)] }) >= 2 * n);
  }
});

test("worker_caches: the request-signals cache stays under its budget with distinct long requests", () => {
  const ctx = new RequestContext();
  const headers = (i) => ({ "user-agent": `Mozilla/5.0 agent-${i} ` + "u".repeat(600), "accept-language": "en," + "x".repeat(600),
    host: "shop.example" });
  for (let i = 0; i < 2500; i++) {
    const h = headers(i);
    const s = ctx.signals(`/p/${i}?utm_source=${"s".repeat(300)}&q=` + "q".repeat(2000), (n) => h[n] ?? null, `https://r${i}.example/` + "r".repeat(2000), 1_800_000_000);
    assert.equal(s["page.path"], `/p/${i}`);
  }
  assert.ok(ctx.cache.bytes <= RequestContext.MAX_CACHED_BYTES, ctx.cache.bytes);
  assert.ok(ctx.cache.size > 10 && ctx.cache.size < 2500, ctx.cache.size); // it caches, and it evicts
});
