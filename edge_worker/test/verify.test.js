// Bundle verification refusals, as classes of generated inputs: every tampered, truncated,
// foreign, expired, rolled-back, oversized or bomb bundle is refused with the Python runtime's
// error code, and never crashes or is accepted.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { BundleError, importKeys, keyId, prepareBundle } from '../runtime/index.js';
import { signedMessage } from '../runtime/verify.js';
import { unpack } from '../runtime/msgpack.js';
import { toColumns } from '../runtime/codec.js';
import { readJson, readVector, rng } from './vectors.js';

const spec = readJson('decisions.json');
const PEM = readVector(spec.key).toString('utf8');
const BUNDLE = new Uint8Array(readVector(spec.bundles['edge-cases']));
const NOW = spec.now;
const CREATED = 1793491200;
const EXPIRES = 4102444800;

async function refusal(bytes, opts) {
  try {
    await prepareBundle(bytes, opts);
  } catch (e) {
    if (e instanceof BundleError) return e.code;
    throw e; // a crash: not a refusal
  }
  return 'accepted';
}

async function gzip(bytes) {
  const cs = new CompressionStream('gzip');
  const w = cs.writable.getWriter();
  w.write(bytes);
  w.close();
  return new Uint8Array(await new Response(cs.readable).arrayBuffer());
}

async function newSigner() {
  const kp = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', kp.publicKey));
  return {
    kid: keyId(raw),
    keys: await importKeys([raw]),
    async envelope(payload, { fmt = 2, codec = 'gzip' } = {}) {
      const sig = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, kp.privateKey, signedMessage(fmt, codec, payload)));
      const env = fmt === 2 ? { format: fmt, key_id: this.kid, codec, payload, signature: sig } : { format: fmt, key_id: this.kid, payload, signature: sig };
      return encode(env);
    },
  };
}

function minimalPayload() {
  return {
    name: 'mini', version: 5, created: CREATED, not_before: CREATED, expires: EXPIRES, compiler: 'test',
    signals: [{ name: 'tier', type: 'string', category: 'contextual', source: 'request' }],
    types: {},
    segments: [{ id: 'gold', layer: 1, when: [12, '_==_', 'string,string', [2, 0], [0, 'gold']], consent: false }],
    content: [{ v: 'default' }, { v: 'gold' }],
    experiments: [],
    slots: [{ id: 's', default: 0, candidates: [{ id: 'r', layer: 1, when: [3, 0], consent: false, content: 1, segment: 0 }] }],
    holdout: null,
    consent: { requires: ['behavioral'], without: 'contextual' },
    goals: [],
  };
}

test('verify_accepts_the_vector_bundle_and_a_fresh_signed_payload', async () => {
  const keys = await importKeys([PEM]);
  assert.equal(await refusal(BUNDLE, { keys, now: NOW }), 'accepted');
  const s = await newSigner();
  const p = await prepareBundle(await s.envelope(await gzip(encode(toColumns(minimalPayload())))), { keys: s.keys, now: NOW });
  assert.deepEqual(p.slots, ['s']);
  assert.equal(p.decide({ tier: 'gold' }).decisions.s.rule, 'r');
});

test('verify_refuses_every_single_byte_change_of_a_signed_bundle', async () => {
  const keys = await importKeys([PEM]);
  const r = rng(1);
  const codes = new Set();
  for (let i = 0; i < 300; i++) {
    const b = BUNDLE.slice();
    const at = Math.floor(r() * b.length);
    b[at] ^= 1 + Math.floor(r() * 255);
    const code = await refusal(b, { keys, now: NOW });
    assert.notEqual(code, 'accepted', `byte ${at} changed and the bundle was accepted`);
    codes.add(code);
  }
  assert.ok(codes.has('bad_signature'));
});

test('verify_refuses_every_truncation_as_malformed', async () => {
  const keys = await importKeys([PEM]);
  for (let n = 0; n < BUNDLE.length; n += 7) {
    assert.equal(await refusal(BUNDLE.subarray(0, n), { keys, now: NOW }), 'malformed', `truncated to ${n}`);
  }
});

test('verify_refuses_a_bundle_signed_by_an_untrusted_or_other_key', async () => {
  const keys = await importKeys([PEM]);
  const env = unpack(BUNDLE);
  for (let i = 0; i < 5; i++) {
    const s = await newSigner();
    const forged = await s.envelope(env.payload);
    assert.equal(await refusal(forged, { keys, now: NOW }), 'unknown_key');
    // the genuine signature presented under another trusted key's id
    const claimed = encode({ ...env, key_id: unpack(forged).key_id });
    assert.equal(await refusal(claimed, { keys: s.keys, now: NOW }), 'bad_signature');
    const relabelled = encode({ ...env, signature: unpack(forged).signature });
    assert.equal(await refusal(relabelled, { keys, now: NOW }), 'bad_signature');
  }
});

test('verify_refuses_a_swapped_codec', async () => {
  const keys = await importKeys([PEM]);
  const env = unpack(BUNDLE);
  assert.equal(await refusal(encode({ ...env, codec: 'xz' }), { keys, now: NOW }), 'unsupported_format');
  assert.equal(await refusal(encode({ ...env, codec: 'zstd' }), { keys, now: NOW }), 'malformed');
});

test('verify_refuses_outside_the_validity_window_with_skew', async () => {
  const keys = await importKeys([PEM]);
  for (const skew of [0, 300, 3600]) {
    assert.equal(await refusal(BUNDLE, { keys, now: CREATED - skew - 1, clockSkew: skew }), 'not_yet_valid');
    assert.equal(await refusal(BUNDLE, { keys, now: CREATED - skew, clockSkew: skew }), 'accepted');
    assert.equal(await refusal(BUNDLE, { keys, now: EXPIRES + skew, clockSkew: skew }), 'expired');
    assert.equal(await refusal(BUNDLE, { keys, now: EXPIRES + skew - 1, clockSkew: skew }), 'accepted');
  }
});

test('verify_refuses_rollback_below_the_held_version_and_another_rule_set', async () => {
  const keys = await importKeys([PEM]);
  const p = await prepareBundle(BUNDLE, { keys, now: NOW });
  assert.equal(await refusal(BUNDLE, { keys, now: NOW, held: { name: p.name, version: p.version + 1 } }), 'rollback');
  assert.equal(await refusal(BUNDLE, { keys, now: NOW, held: { name: p.name, version: p.version } }), 'accepted');
  // Another rule set than the one held or configured is refused, at any version (runtime/verify.py check_rollback).
  assert.equal(await refusal(BUNDLE, { keys, now: NOW, held: { name: 'other', version: p.version + 1 } }), 'wrong_name');
  assert.equal(await refusal(BUNDLE, { keys, now: NOW, held: { name: 'other', version: 0 } }), 'wrong_name');
  assert.equal(await refusal(BUNDLE, { keys, now: NOW, name: 'other' }), 'wrong_name');
  assert.equal(await refusal(BUNDLE, { keys, now: NOW, name: p.name }), 'accepted');
});

test('verify_refuses_decompression_bombs_and_oversized_envelopes', async () => {
  const s = await newSigner();
  const bomb = await gzip(new Uint8Array(64 * 1024 * 1024 + 1));
  assert.ok(bomb.length < 1024 * 1024);
  assert.equal(await refusal(await s.envelope(bomb), { keys: s.keys, now: NOW }), 'malformed');
  assert.equal(await refusal(new Uint8Array(16 * 1024 * 1024 + 1), { keys: s.keys, now: NOW }), 'too_large');
  const trailing = new Uint8Array([...(await gzip(encode(toColumns(minimalPayload())))), 1, 2, 3]);
  assert.equal(await refusal(await s.envelope(trailing), { keys: s.keys, now: NOW }), 'malformed');
});

test('verify_refuses_xz_and_unknown_formats', async () => {
  const s = await newSigner();
  const payload = await gzip(encode(toColumns(minimalPayload())));
  assert.equal(await refusal(await s.envelope(payload, { fmt: 1, codec: 'xz' }), { keys: s.keys, now: NOW }), 'unsupported_format');
  const env = unpack(await s.envelope(payload));
  assert.equal(await refusal(encode({ ...env, format: 3 }), { keys: s.keys, now: NOW }), 'unsupported_format');
  assert.equal(await refusal(encode({ ...env, extra: 1 }), { keys: s.keys, now: NOW }), 'malformed');
});

// Each mutation breaks one rule of the IR contract; a signed bundle carrying it is invalid_ir.
const IR_MUTATIONS = [
  (p) => { p.segments[0].when = [99, 0]; },
  (p) => { p.segments[0].when = [2, 5]; },
  (p) => { p.segments[0].when = [3, 0]; },
  (p) => { p.segments[0].when = [4, 0]; },
  (p) => { p.segments[0].when = [12, 'nope', null, [0, 1]]; },
  (p) => { p.segments[0].when = [12, '@in', 'string,string', [0, 'a'], [0, 'b']]; },
  (p) => { p.segments[0].when = [12, 'size', 'int', [0, 1]]; },
  (p) => { p.segments[0].when = [8, [0, true]]; },
  (p) => { p.segments[0].when = [16, 'widget']; },
  (p) => { p.segments[0].when = [15, 'sometimes', [13], [0, true]]; },
  (p) => { p.segments[0].when = [14, [0, 'k']]; },
  (p) => { p.segments[0].when = [0, [1, 2]]; },
  (p) => { p.segments[0].when = []; },
  (p) => { p.segments[0].layer = 3; },
  (p) => { p.slots[0].default = 9; },
  (p) => { p.slots[0].candidates[0].content = 9; },
  (p) => { p.slots[0].candidates[0].experiment = 0; },
  (p) => { p.slots[0].candidates[0].cap = [1]; },
  (p) => { p.signals[0].type = 'list(widget)'; },
  (p) => { p.signals[0].category = 'secret'; },
  (p) => { p.signals[0].default = 5; },
  (p) => { p.experiments = [{ id: 'e', salt: 's', group: null, start: 0, end: 10000, variants: [['a', 5000, 0]] }]; },
  (p) => { p.holdout = { bp: 10001, salt: 'x' }; },
  (p) => { p.consent.without = 'never'; },
  (p) => { delete p.version; },
  (p) => { p.name = 5; },
  (p) => { p.slots[0].candidates.push({ id: 'x', layer: 1, when: [3, 0], consent: false, content: 'one' }); },
  (p) => {
    let n = [0, true];
    for (let i = 0; i < 70; i++) n = [10, n];
    p.segments[0].when = n;
  },
];

test('verify_refuses_every_ir_contract_violation_as_invalid_ir', async () => {
  const s = await newSigner();
  for (const [i, mutate] of IR_MUTATIONS.entries()) {
    const p = minimalPayload();
    mutate(p);
    const code = await refusal(await s.envelope(await gzip(encode(toColumns(p)))), { keys: s.keys, now: NOW });
    assert.equal(code, 'invalid_ir', `mutation ${i}: ${mutate}`);
  }
});

test('verify_refuses_random_ir_trees_without_crashing', async () => {
  // Random IR: whatever the shape, prepareBundle either refuses with invalid_ir or accepts, and
  // an accepted bundle decides without throwing.
  const s = await newSigner();
  const r = rng(7);
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const leaf = () => pick([[0, pick([true, false, 1, 'x', null])], [2, Math.floor(r() * 3) - 1], [3, 0], [4, 0], [16, 'int'], [1, 5]]);
  const tree = (d) => (d <= 0 || r() < 0.3 ? leaf() : pick([
    () => [8, tree(d - 1), tree(d - 1)],
    () => [9, tree(d - 1), tree(d - 1)],
    () => [10, tree(d - 1)],
    () => [11, tree(d - 1), tree(d - 1), tree(d - 1)],
    () => [12, pick(['_==_', 'size', '_+_', 'contains', 'nope']), null, tree(d - 1), tree(d - 1)],
    () => [13, tree(d - 1)],
    () => [15, pick(['all', 'exists', 'map', 'bogus']), [13, tree(d - 1)], tree(d - 1)],
    () => [5, tree(d - 1), 'f'],
  ])());
  let accepted = 0;
  for (let i = 0; i < 150; i++) {
    const p = minimalPayload();
    p.slots[0].candidates[0].when = tree(4);
    delete p.slots[0].candidates[0].segment;
    const bytes = await s.envelope(await gzip(encode(toColumns(p))));
    const code = await refusal(bytes, { keys: s.keys, now: NOW });
    assert.ok(code === 'invalid_ir' || code === 'accepted', code);
    if (code === 'accepted') {
      accepted++;
      const prepared = await prepareBundle(bytes, { keys: s.keys, now: NOW });
      const d = prepared.decide({ tier: 'gold' }, null, { explain: true }).decisions.s;
      assert.ok(['rule', 'default', 'error'].includes(d.reason));
    }
  }
  assert.ok(accepted > 0);
});

test('import_keys_accepts_pem_and_raw_and_derives_the_python_key_id', async () => {
  const keys = await importKeys([PEM]);
  assert.deepEqual(Array.from(keys.keys()), [unpack(BUNDLE).key_id]);
  await assert.rejects(importKeys(['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----']));
  await assert.rejects(importKeys([new Uint8Array(31)]));
});

test('verify_refuses_envelopes_outside_the_envelope_limits_as_malformed', async () => {
  // The unauthenticated envelope is decoded with limits that fit its fields (runtime/verify.py
  // _unpack_envelope): a long key id, an array or a large map is malformed before any key lookup.
  const s = await newSigner();
  const payload = await gzip(encode(toColumns(minimalPayload())));
  const env = unpack(await s.envelope(payload));
  const r = rng(12);
  for (let i = 0; i < 20; i++) {
    const n = 257 + Math.floor(r() * 2000);
    assert.equal(await refusal(encode({ ...env, key_id: 'k'.repeat(n) }), { keys: s.keys, now: NOW }), 'malformed', `key id of ${n}`);
  }
  assert.equal(await refusal(encode([env.format, env.key_id, env.payload, env.signature]), { keys: s.keys, now: NOW }), 'malformed');
  const wide = { ...env };
  for (let i = 0; i < 10; i++) wide[`x${i}`] = i;
  assert.equal(await refusal(encode(wide), { keys: s.keys, now: NOW }), 'malformed');
});

test('verify_refuses_any_unexpected_exception_as_prepare_failed', async () => {
  // A key table that throws stands for any defect in a verification step: refused, never thrown.
  const keys = await importKeys([PEM]);
  const broken = { get: () => { throw new TypeError('boom'); }, keys: () => keys.keys() };
  assert.equal(await refusal(BUNDLE, { keys: broken, now: NOW }), 'prepare_failed');
});
