// runtime/msgpack.js, the bundle's flavour (a float stays a Float, 64-bit integers are BigInt, map
// keys are strings, extensions refused), against @msgpack/msgpack configured as the runtime used it
// before it had its own codec: for every class of value the same value read, and for every class of
// input — written, truncated, extended, with a byte changed, over a limit — the same value or a
// refusal from both. The session's flavour is test/cookie_msgpack.test.js.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Decoder, Encoder } from '@msgpack/msgpack';
import { STACK_LIMIT, reader, unpack, unpackEnvelope } from '../runtime/msgpack.js';
import { Float } from '../runtime/signals.js';
import { rng } from './vectors.js';

class FloatDecoder extends Decoder {
  readF32() {
    return new Float(super.readF32());
  }

  readF64() {
    return new Float(super.readF64());
  }
}

const refuseExtensions = { tryToEncode: () => null, decode: () => { throw new TypeError('extension'); } };
function stringKey(key) {
  if (typeof key !== 'string') throw new TypeError('map key is not a string');
  return key;
}
const oracle = (limits = {}) => {
  const d = new FloatDecoder({ useBigInt64: true, mapKeyConverter: stringKey, extensionCodec: refuseExtensions, ...limits });
  return (b) => d.decode(b);
};
const LIB = oracle();
const LIB_ENVELOPE = oracle({ maxStrLength: 256, maxArrayLength: 0, maxMapLength: 10 });
const encoder = new Encoder({ useBigInt64: true });
const encode = (v) => encoder.encode(v);

const rand = rng(2027);
const int = (n) => Math.floor(rand() * n);
const pick = (xs) => xs[int(xs.length)];
const ascii = (n) => Array.from({ length: n }, () => String.fromCharCode(0x20 + int(95))).join('');
const STRINGS = [() => ascii(int(8)), () => ascii(20 + int(40)), () => ascii(190 + int(300)), () => ascii(int(6)) + pick(['é', '€', '😀', '\u0080', '\ufeff']) + ascii(int(300)), () => ''];
const NUMBERS = [() => int(128), () => int(1 << 16), () => int(2 ** 32), () => -int(40), () => -int(2 ** 31) - 1, () => BigInt(int(1e9)) * 100000n,
  () => -(2n ** 62n) + BigInt(int(1000)), () => rand() * 1000 - 500, () => pick([NaN, Infinity, -0, 0.5, 1e300])];

/** A random bundle value of any class, `depth` levels of containers at most. */
function anyValue(depth) {
  const kinds = ['str', 'num', 'bool', 'nil', 'bin'];
  if (depth > 0) kinds.push('arr', 'map', 'arr', 'map');
  switch (pick(kinds)) {
    case 'str': return pick(STRINGS)();
    case 'num': return pick(NUMBERS)();
    case 'bool': return rand() < 0.5;
    case 'nil': return null;
    case 'bin': return Uint8Array.from({ length: pick([0, 3, 12, 300]) }, () => int(256));
    case 'arr': return Array.from({ length: pick([0, 2, 5, 17]) }, () => anyValue(depth - 1));
    default: {
      const o = {};
      for (let i = pick([0, 1, 4, 18]); i > 0; i--) o[pick([ascii(1 + int(10)), ascii(40), 'ké' + i, 'when'])] = anyValue(depth - 1);
      return o;
    }
  }
}

const outcome = (f, x) => {
  try {
    return { value: f(x) };
  } catch (e) {
    return { threw: e.constructor.name };
  }
};

function sameRead(bytes, what, mineOf = unpack, theirsOf = LIB) {
  const mine = outcome(mineOf, bytes);
  const theirs = outcome(theirsOf, bytes);
  assert.equal('threw' in mine, 'threw' in theirs, `${what}: one reads, the other refuses`);
  if ('value' in mine) assert.deepEqual(mine.value, theirs.value, what);
}

test('msgpack: values of every class read as the library reads them (Float, BigInt, views, strings short and long)', () => {
  for (let i = 0; i < 3000; i++) sameRead(encode(anyValue(3)), `value ${i}`);
  assert.ok(unpack(encode(1.5)) instanceof Float);
  assert.equal(unpack(encode(2n ** 40n)), 2n ** 40n);
});

test('msgpack: any bytes — truncated, extended, with a byte changed — read as the library reads them, or are refused by both', () => {
  for (let i = 0; i < 3000; i++) {
    const bytes = encode(anyValue(3));
    if (bytes.length > 1) sameRead(bytes.subarray(0, int(bytes.length)), `value ${i} truncated`);
    sameRead(Uint8Array.of(...bytes, int(256)), `value ${i} extended`);
    const changed = bytes.slice();
    changed[int(changed.length)] = int(256);
    sameRead(changed, `value ${i} changed`);
    for (let k = 0; k < 3; k++) changed[int(changed.length)] = int(256);
    sameRead(changed, `value ${i} changed more`);
  }
  for (const b of [[], [0xc1], [0xd4, 0, 1], [0xc7, 1, 5, 0], [0xd8, 1, ...Array(16).fill(0)], [0x81, 0x01, 0x02], [0x81, 0xc0, 0x02], [0x81, 0x91, 0xa1, 0x61, 0x02],
    [0x81, 0xa9, ...Buffer.from('__proto__'), 0x01], [0xdd, 0xff, 0xff, 0xff, 0xff], [0xdf, 0xff, 0xff, 0xff, 0xff], [0xc6, 0, 0, 1, 0, 1], [0xa2, 0xc3],
    [0xa3, 0xe2, 0x82, 0xa3], [0xa1, 0xf0, 0xa1], [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0], [0xca, 0x3f, 0xc0, 0, 0]]) {
    sameRead(Uint8Array.from(b), `bytes ${b}`);
  }
});

test('msgpack: the envelope reader refuses what the library refuses with the same limits (strings of 256, no arrays, maps of 10)', () => {
  const values = [{ a: ascii(256) }, { a: ascii(257) }, { a: [] }, { a: [1] }, Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, i])),
    Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, i])), { format: 2, key_id: 'k', payload: new Uint8Array(300), signature: new Uint8Array(64) }];
  for (let i = 0; i < 500; i++) values.push(anyValue(2));
  for (const [i, v] of values.entries()) {
    const bytes = encode(v);
    sameRead(bytes, `envelope ${i}`, unpackEnvelope, LIB_ENVELOPE);
    const changed = bytes.slice();
    changed[int(changed.length)] = int(256);
    sameRead(changed, `envelope ${i} changed`, unpackEnvelope, LIB_ENVELOPE);
  }
  const small = reader({ bundle: true, maxBin: 4 });
  assert.deepEqual(small(Uint8Array.of(0xc4, 4, 1, 2, 3, 4)), Uint8Array.of(1, 2, 3, 4));
  assert.throws(() => small(Uint8Array.of(0xc4, 5, 1, 2, 3, 4, 5)), /byte string of 5 over the limit of 4/);
});

test('msgpack: containers nest 1024 deep at most, as in Python (msgpack StackError); empty ones do not count', () => {
  const nested = (n, inner = [0xc0]) => Uint8Array.from([...Array(n).fill(0x91), ...inner]);
  assert.equal(STACK_LIMIT, 1024);
  assert.ok(Array.isArray(unpack(nested(1024))));
  assert.ok(Array.isArray(unpack(nested(1024, [0x90]))));
  assert.throws(() => unpack(nested(1025)), /nested deeper than 1024/);
  assert.throws(() => unpack(Uint8Array.from([...Array(1025).fill(0x81).flatMap((x) => [x, 0xa1, 0x61]), 0xc0])), /nested deeper than 1024/);
  assert.throws(() => unpack(nested(100_000)), /nested deeper than 1024/);
});

test('msgpack: extension types are refused with their location, in bundles as in sessions', () => {
  assert.throws(() => unpack(Uint8Array.of(0x91, 0xd6, 0xff, 0, 0, 0, 1)), /extension type \(4 bytes\) is not part of a Strata bundle/);
  assert.throws(() => reader()(Uint8Array.of(0xd6, 0xff, 0, 0, 0, 1)), TypeError);
});
