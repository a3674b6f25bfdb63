// SHA-256 (FIPS 180-4) for the runtime's short messages: bucketing's seed || 0x00 || session
// (bucketing.js, one or two blocks) and a key id's 32-byte key (keys.js). Single-purpose and
// allocation-free on the hot path: the message is padded into a reused byte buffer, the schedule
// is one preallocated Uint32Array, and `sha256Words` leaves the digest in a reused state array, so
// bucketing reads its leading 8 bytes as two words without building the digest's bytes. It took
// the place of @noble/hashes, which is general (streaming, any hash) and several times slower for
// a one-block message; test/sha256.test.js checks it against node:crypto over every length
// 0–300 bytes and the block boundaries.

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

// Int32Array throughout, so that every word stays a small integer for V8 (a Uint32Array word above
// 2^31 is read as a heap number); the digest's words are read unsigned with `>>> 0`.
const W = new Int32Array(64); // the message schedule
const H = new Int32Array(8); // the state; after sha256Words, the digest as eight big-endian words
let block = new Uint8Array(128); // the padded message (grows for a longer one)

/** A buffer of at least `n` bytes to write a message into before `sha256Words(n)`; it stays the
 * module's until the next call (the padding is written after the message in place). */
export function messageBuffer(n) {
  const need = ((n + 9 + 63) >> 6) << 6; // message, 0x80, 64-bit length, to whole blocks
  if (block.length < need) block = new Uint8Array(need);
  return block;
}

/** The SHA-256 of the first `n` bytes of messageBuffer(n), as the module's eight-word state (big-
 * endian words of the digest, signed: word 0 is digest bytes 0–3, `>>> 0` reads it unsigned).
 * Valid until the next call. */
export function sha256Words(n) {
  const b = messageBuffer(n);
  const end = ((n + 9 + 63) >> 6) << 6;
  b[n] = 0x80;
  b.fill(0, n + 1, end - 4);
  const bits = n * 8; // messages here are far below 2^29 bytes: the length's high word is 0
  b[end - 4] = bits >>> 24;
  b[end - 3] = bits >>> 16;
  b[end - 2] = bits >>> 8;
  b[end - 1] = bits;
  for (let i = 0; i < 8; i++) H[i] = IV[i];
  for (let at = 0; at < end; at += 64) compress(b, at);
  return H;
}

/** The SHA-256 digest of `bytes` (a Uint8Array), 32 fresh bytes. */
export function sha256(bytes) {
  messageBuffer(bytes.length).set(bytes);
  const h = sha256Words(bytes.length);
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    out[4 * i] = h[i] >>> 24;
    out[4 * i + 1] = h[i] >>> 16;
    out[4 * i + 2] = h[i] >>> 8;
    out[4 * i + 3] = h[i];
  }
  return out;
}

function compress(b, at) {
  for (let t = 0; t < 16; t++, at += 4) W[t] = (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
  for (let t = 16; t < 64; t++) {
    const w15 = W[t - 15];
    const w2 = W[t - 2];
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[t] = (s1 + W[t - 7] + s0 + W[t - 16]) | 0;
  }
  let a = H[0], bb = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
  for (let t = 0; t < 64; t++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[t] + W[t]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = bb;
    bb = a;
    a = (t1 + t2) | 0;
  }
  H[0] += a;
  H[1] += bb;
  H[2] += c;
  H[3] += d;
  H[4] += e;
  H[5] += f;
  H[6] += g;
  H[7] += h;
}
