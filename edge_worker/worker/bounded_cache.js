// A cache bounded by bytes: whatever a visitor or the origin sends (a 2 MiB page, 2 KB URLs and
// referrers, a 512-character user agent), the entries it keeps stay under `maxBytes` (an estimate of
// their size in the isolate's heap, keys included), so every cache of the worker together stays far
// below the isolate's 128 MB (docs/edge-worker.md, "Memory"). The oldest entries are dropped first;
// an entry larger than an eighth of the budget is not kept at all.

/** An estimate of the heap bytes of a value: two per string code unit (V8 keeps some strings in one,
 * never more than two), eight per number, a fixed overhead per object, array and entry. */
export function approxBytes(value) {
  if (typeof value === "string") return 16 + 2 * value.length;
  if (value === null || typeof value !== "object") return 8;
  let n = 32;
  if (Array.isArray(value)) for (const v of value) n += 8 + approxBytes(v);
  else for (const [k, v] of Object.entries(value)) n += 16 + approxBytes(k) + approxBytes(v);
  return n;
}

export class BoundedCache {
  constructor(maxBytes) {
    this.maxBytes = maxBytes;
    this.bytes = 0;
    this.entries = new Map(); // key -> [value, bytes]; a Map iterates in insertion order: oldest first
  }

  get size() {
    return this.entries.size;
  }

  get(key) {
    return this.entries.get(key)?.[0];
  }

  /** Keep `value` under `key` (its size estimated unless given), dropping the oldest entries to stay under the budget. */
  set(key, value, bytes = approxBytes(key) + approxBytes(value) + 48) {
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key);
      this.bytes -= old[1];
    }
    if (bytes > this.maxBytes / 8) return;
    while (this.bytes + bytes > this.maxBytes && this.entries.size) {
      const [k, [, b]] = this.entries.entries().next().value;
      this.entries.delete(k);
      this.bytes -= b;
    }
    this.entries.set(key, [value, bytes]);
    this.bytes += bytes;
  }
}
