// Random bytes for the session: the session id, the visit nonce, the lineage tag and the cookie's
// AES-GCM nonce, drawn from crypto.getRandomValues in batches instead of one call each (issue #26:
// a call and its array cost ~0.3 µs in workerd, a value from the batch ~0.05 µs), as
// edge_server/random_source.py does on the server.
//
// Each RandomSource hands out fixed-size values cut from one getRandomValues batch, each value once
// (an isolate runs one request's JavaScript at a time), as views of a batch that is never written
// again: a value is the platform's random bytes as before, only drawn earlier, and an AES-GCM nonce
// is still 96 random bits never reused. (A worker isolate is never forked, so no copy of a batch
// can hand out the same values twice.) test/random_source.test.js checks the values against the
// platform's draws.

/** Values drawn from the platform at a time, per source (random_source.py's BATCH). */
export const BATCH = 256;

export class RandomSource {
  /** `size` bytes per value. */
  constructor(size) {
    if (!Number.isInteger(size) || size <= 0) throw new RangeError(`RandomSource: size must be a positive integer, got ${size} (a value of 0 bytes is not random)`);
    this.size = size;
    this.batch = null;
    this.at = 0;
  }

  /** `size` random bytes (a Uint8Array the caller may keep: its batch is never written again). */
  take() {
    if (this.batch === null || this.at === this.batch.length) {
      this.batch = crypto.getRandomValues(new Uint8Array(this.size * BATCH));
      this.at = 0;
    }
    this.at += this.size;
    return this.batch.subarray(this.at - this.size, this.at);
  }
}
