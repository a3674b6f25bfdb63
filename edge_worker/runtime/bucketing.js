// Deterministic bucketing (docs/bucketing.md), as runtime/bucketing.py:
//   bucket(seed, session) = uint64_be(SHA-256(utf8(seed) || 0x00 || utf8(session))[0:8]) mod 10000

import { sha256 } from '@noble/hashes/sha2.js';
import { BUCKETS } from './format.js';

const UTF8 = new TextEncoder();
const TWO32_MOD = 2 ** 32 % BUCKETS;

// A request hashes up to three short messages (holdout, an experiment's traffic and variant), so
// the hasher and buffers are reused: `pristine` is never updated and is copied into `work` for
// each message (noble's own clone path, without allocating a hasher per call). The bucketing
// vectors (tests/vectors/bucketing.json) pin the result.
const pristine = sha256.create();
const work = sha256.create();
const digest = new Uint8Array(32);
let scratch = new Uint8Array(256);

export function bucket(seed, sessionId) {
  const text = seed + '\0' + sessionId;
  if (text.length * 3 > scratch.length) scratch = new Uint8Array(text.length * 3);
  const { written } = UTF8.encodeInto(text, scratch);
  pristine._cloneInto(work);
  work.update(scratch.subarray(0, written));
  work.digestInto(digest);
  const d = digest;
  const hi = ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
  const lo = ((d[4] << 24) | (d[5] << 16) | (d[6] << 8) | d[7]) >>> 0;
  return ((hi % BUCKETS) * TWO32_MOD + (lo % BUCKETS)) % BUCKETS;
}

export const holdoutSeed = (salt) => 'holdout:' + salt;
export const trafficSeed = (groupOrSalt) => 'traffic:' + groupOrSalt;
export const variantSeed = (salt) => 'variant:' + salt;
