// runtime/sha256.js against node:crypto, and bucketing.js's direct path (ASCII code by code, the
// memo of recent pairs) against the formula of docs/bucketing.md computed with node:crypto.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { bucket } from '../runtime/bucketing.js';
import { messageBuffer, sha256, sha256Words } from '../runtime/sha256.js';
import { rng } from './vectors.js'; // the tests' one seeded generator

const reference = (bytes) => new Uint8Array(createHash('sha256').update(bytes).digest());

test('sha256_every_length_0_to_300_equals_node_crypto', () => {
  for (let n = 0; n <= 300; n++) {
    for (let k = 0; k < 4; k++) {
      const m = new Uint8Array(randomBytes(n));
      assert.deepEqual(sha256(m), reference(m), `length ${n}: ${Buffer.from(m).toString('hex')}`);
    }
  }
});

test('sha256_block_boundaries_and_constant_bytes_equal_node_crypto', () => {
  for (const n of [55, 56, 57, 63, 64, 65, 119, 120, 121, 127, 128, 129, 1000, 5000]) {
    for (const fill of [0x00, 0x80, 0xff, 0x61]) {
      const m = new Uint8Array(n).fill(fill);
      assert.deepEqual(sha256(m), reference(m), `length ${n} of 0x${fill.toString(16)}`);
    }
  }
  // the empty message and "abc" (FIPS 180-4's examples)
  assert.equal(Buffer.from(sha256(new Uint8Array(0))).toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(Buffer.from(sha256(new TextEncoder().encode('abc'))).toString('hex'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('sha256_words_after_a_long_message_reset_for_a_short_one', () => {
  // the buffer grows for a long message and is reused: its stale bytes must not reach the next digest
  const long = new Uint8Array(randomBytes(700));
  assert.deepEqual(sha256(long), reference(long));
  const short = new Uint8Array(randomBytes(20));
  messageBuffer(20).set(short);
  const h = sha256Words(20);
  const want = reference(short);
  for (let i = 0; i < 8; i++) assert.equal(h[i] >>> 0, Buffer.from(want).readUInt32BE(4 * i), `word ${i}`);
});

/** docs/bucketing.md's formula with node:crypto. */
function referenceBucket(seed, session) {
  const d = createHash('sha256').update(Buffer.from(seed + '\0' + session, 'utf8')).digest();
  return Number(d.readBigUInt64BE(0) % 10000n);
}

const ALPHABETS = [
  'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:', // seeds and session ids as Strata writes them
  'aé€\u007f\u0080\u00ff\u0100ÿ', // the edges of ASCII and one-, two-, three-byte UTF-8
  'a😀\ud83d', // astral pairs, and a lone surrogate (U+FFFD in UTF-8, as TextEncoder)
];

test('bucket_generated_seeds_and_sessions_equal_the_formula', () => {
  const r = rng(26);
  const pick = (alphabet, n) => Array.from({ length: n }, () => alphabet[Math.floor(r() * alphabet.length)]).join('');
  for (let i = 0; i < 3000; i++) {
    const alphabet = ALPHABETS[i % ALPHABETS.length];
    const seed = 'traffic:' + pick(alphabet, Math.floor(r() * 80));
    const session = pick(alphabet, Math.floor(r() * 130)); // across one and two blocks
    assert.equal(bucket(seed, session), referenceBucket(seed, session), `${JSON.stringify(seed)} / ${JSON.stringify(session)}`);
  }
});

test('bucket_memo_answers_each_pair_its_own_bucket', () => {
  // pairs repeated in an order that cycles through and past the memo, with pairs that share a seed
  // or a session, and strings equal in content but not in identity
  const seeds = ['holdout:s', 'traffic:g1', 'variant:e1', 'variant:e2'];
  const sessions = Array.from({ length: 12 }, (_, i) => 'sid' + i);
  const r = rng(7);
  for (let i = 0; i < 4000; i++) {
    const seed = seeds[Math.floor(r() * seeds.length)];
    const session = sessions[Math.floor(r() * (i % 3 === 0 ? 2 : sessions.length))];
    const copy = (s) => (r() < 0.5 ? s : [...s].join(''));
    assert.equal(bucket(copy(seed), copy(session)), referenceBucket(seed, session), `${seed} / ${session}`);
  }
});
