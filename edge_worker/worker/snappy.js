// Snappy block compression, what remote write's `Content-Encoding: snappy` means (the block format
// of github.com/google/snappy's format_description.txt, not the framed one), for remote_write.js.
// The algorithm of the reference compressor (a hash table of 4-byte sequences, literals between
// copies, copies extended byte by byte, skipping faster through incompressible input), written for
// V8: integer hashing (Math.imul), one hash table of absolute positions reused across calls instead
// of a table cleared per 64 KiB fragment, copies within 2-byte offsets. A push's WriteRequest is
// label text repeated across series; this takes about half the CPU of the snappyjs package's
// compressor for it (edge_worker/test/remote_write.test.js checks its blocks with snappyjs's decoder).

const HASH_BITS = 14;
const table = new Int32Array(1 << HASH_BITS);
/** Input bytes near the end that the match search leaves to the last literal (as the reference). */
const MARGIN = 15;
const MAX_OFFSET = 65535;

const load32 = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);

/** Write input[from, to) as a literal at out[op]; the position after it. */
function literal(input, from, to, out, op) {
  const len = to - from;
  if (len <= 0) return op;
  if (len <= 60) {
    out[op++] = (len - 1) << 2;
  } else if (len <= 256) {
    out[op++] = 60 << 2;
    out[op++] = len - 1;
  } else if (len <= 65536) {
    out[op++] = 61 << 2;
    out[op++] = (len - 1) & 255;
    out[op++] = (len - 1) >>> 8;
  } else {
    out[op++] = 62 << 2;
    out[op++] = (len - 1) & 255;
    out[op++] = ((len - 1) >>> 8) & 255;
    out[op++] = (len - 1) >>> 16;
  }
  if (len < 32) {
    for (let i = from; i < to; i++) out[op++] = input[i];
    return op;
  }
  out.set(input.subarray(from, to), op);
  return op + len;
}

/** Write a copy of `len` bytes from `offset` back at out[op]; the position after it. */
function copy(out, op, offset, len) {
  while (len >= 68) { // 64 at a time, leaving at least 4
    out[op++] = 2 | (63 << 2);
    out[op++] = offset & 255;
    out[op++] = offset >>> 8;
    len -= 64;
  }
  if (len > 64) {
    out[op++] = 2 | (59 << 2);
    out[op++] = offset & 255;
    out[op++] = offset >>> 8;
    len -= 60;
  }
  if (len < 12 && offset < 2048) { // 4..11 bytes within 2 KiB: two bytes
    out[op++] = 1 | ((len - 4) << 2) | ((offset >>> 8) << 5);
    out[op++] = offset & 255;
    return op;
  }
  out[op++] = 2 | ((len - 1) << 2);
  out[op++] = offset & 255;
  out[op++] = offset >>> 8;
  return op;
}

/** The snappy block of `input` (a Uint8Array). */
export function compress(input) {
  const n = input.length;
  const out = new Uint8Array(32 + n + Math.ceil(n / 6)); // the format's bound on a block's size
  let op = 0;
  for (let v = n; ; v = Math.floor(v / 128)) { // the preamble: the uncompressed length, a varint
    if (v < 128) { out[op++] = v; break; }
    out[op++] = (v % 128) | 128;
  }
  let bits = 8;
  while (bits < HASH_BITS && 1 << bits < n) bits++;
  const shift = 32 - bits;
  table.fill(-1, 0, 1 << bits);

  let emitted = 0; // input before this is in `out`
  if (n >= MARGIN) {
    const limit = n - MARGIN;
    let ip = 1;
    search: for (;;) {
      let skip = 32;
      let candidate;
      for (;;) { // the next 4 bytes seen before, within reach
        if (ip > limit) break search;
        const v = load32(input, ip);
        const h = Math.imul(v, 0x1e35a7bd) >>> shift;
        candidate = table[h];
        table[h] = ip;
        if (candidate >= 0 && ip - candidate <= MAX_OFFSET && load32(input, candidate) === v) break;
        ip += skip >>> 5;
        skip++;
      }
      op = literal(input, emitted, ip, out, op);
      for (;;) { // copies, as long as the bytes after one were seen before too
        let len = 4;
        while (ip + len + 4 <= n && load32(input, ip + len) === load32(input, candidate + len)) len += 4; // four bytes at a time
        while (ip + len < n && input[ip + len] === input[candidate + len]) len++;
        op = copy(out, op, ip - candidate, len);
        ip += len;
        emitted = ip;
        if (ip >= limit) break search;
        table[Math.imul(load32(input, ip - 1), 0x1e35a7bd) >>> shift] = ip - 1;
        const v = load32(input, ip);
        const h = Math.imul(v, 0x1e35a7bd) >>> shift;
        candidate = table[h];
        table[h] = ip;
        if (!(candidate >= 0 && ip - candidate <= MAX_OFFSET && load32(input, candidate) === v)) break;
      }
      ip++;
    }
  }
  op = literal(input, emitted, n, out, op);
  return out.subarray(0, op);
}
