// Deterministic bucketing (docs/bucketing.md), as runtime/bucketing.py:
//   bucket(seed, session) = uint64_be(SHA-256(utf8(seed) || 0x00 || utf8(session))[0:8]) mod 10000

import { sha256 } from '@noble/hashes/sha2.js';
import { BUCKETS } from './format.js';

const UTF8 = new TextEncoder();
const TWO32_MOD = 2 ** 32 % BUCKETS;

export function bucket(seed, sessionId) {
  const d = sha256(UTF8.encode(seed + '\0' + sessionId));
  const hi = ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
  const lo = ((d[4] << 24) | (d[5] << 16) | (d[6] << 8) | d[7]) >>> 0;
  return ((hi % BUCKETS) * TWO32_MOD + (lo % BUCKETS)) % BUCKETS;
}

export const holdoutSeed = (salt) => 'holdout:' + salt;
export const trafficSeed = (groupOrSalt) => 'traffic:' + groupOrSalt;
export const variantSeed = (salt) => 'variant:' + salt;
