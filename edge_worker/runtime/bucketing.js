// Deterministic bucketing (docs/bucketing.md), as runtime/bucketing.py:
//   bucket(seed, session) = uint64_be(SHA-256(utf8(seed) || 0x00 || utf8(session))[0:8]) mod 10000

import { BUCKETS } from './format.js';
import { messageBuffer, sha256Words } from './sha256.js';

const UTF8 = new TextEncoder();
const TWO32_MOD = 2 ** 32 % BUCKETS;

// A request hashes a few short messages (the holdout, an experiment's traffic and variant), often
// the same ones again: an experiment's seeds for each slot it is a candidate of, a group's traffic
// seed for each experiment of the group, and the same visitor's next request. So the last MEMO
// (seed, session) pairs keep their bucket (a pure function of the two strings), and a new message is
// written straight into sha256.js's buffer: ASCII code by code, anything else through encodeInto.
// The bucketing vectors (tests/vectors/bucketing.json) pin the result.
const MEMO = 8;
const memoSeed = new Array(MEMO).fill(null);
const memoSession = new Array(MEMO).fill(null);
const memoBucket = new Int32Array(MEMO);
let memoNext = 0;

export function bucket(seed, sessionId) {
  for (let i = 0; i < MEMO; i++) if (memoSeed[i] === seed && memoSession[i] === sessionId) return memoBucket[i];
  const b = hashBucket(seed, sessionId);
  memoSeed[memoNext] = seed;
  memoSession[memoNext] = sessionId;
  memoBucket[memoNext] = b;
  memoNext = (memoNext + 1) % MEMO;
  return b;
}

function hashBucket(seed, sessionId) {
  let n = seed.length + 1 + sessionId.length;
  let buf = messageBuffer(n);
  let codes = 0; // every code unit OR-ed: below 0x80 when the text is ASCII, its own UTF-8
  let at = 0;
  for (let i = 0; i < seed.length; i++) codes |= buf[at++] = seed.charCodeAt(i);
  buf[at++] = 0;
  for (let i = 0; i < sessionId.length; i++) codes |= buf[at++] = sessionId.charCodeAt(i);
  if (codes >= 0x80) { // up to 3 UTF-8 bytes per UTF-16 code unit
    const text = seed + '\0' + sessionId;
    buf = messageBuffer(text.length * 3);
    n = UTF8.encodeInto(text, buf).written;
  }
  const h = sha256Words(n);
  const hi = h[0] >>> 0;
  const lo = h[1] >>> 0;
  return ((hi % BUCKETS) * TWO32_MOD + (lo % BUCKETS)) % BUCKETS;
}

export const holdoutSeed = (salt) => 'holdout:' + salt;
export const trafficSeed = (groupOrSalt) => 'traffic:' + groupOrSalt;
export const variantSeed = (salt) => 'variant:' + salt;
