// Payload bounds before decoding (runtime/bounds.js, the port of runtime/bounds.py).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { BoundsExceeded, checkBounds } from '../runtime/bounds.js';

const LIMITS = { maxObjects: 10, maxDepth: 4, maxStr: 8 };

test('bounds_count_objects_of_well_formed_documents', () => {
  assert.equal(checkBounds(new Uint8Array([0x92, 0x01, 0xa1, 0x61]), LIMITS), 3);
  assert.equal(checkBounds(encode({ a: [1, 2], b: 'xy' }), LIMITS), 7);
  assert.equal(checkBounds(encode([]), LIMITS), 1);
});

test('bounds_refuse_claims_nesting_sizes_and_trailing_bytes', () => {
  const refused = (bytes, re) => assert.throws(() => checkBounds(new Uint8Array(bytes), LIMITS), (e) => e instanceof BoundsExceeded && re.test(e.message));
  refused([0xdd, 0x7f, 0xff, 0xff, 0xff], /an array claims 2147483647 items with 0 bytes left/);
  refused([0xdf, 0x00, 0x00, 0x00, 0x02, 0x01], /a map claims 2 items/);
  refused(encode([[[[[1]]]]]), /nested deeper than 4/);
  refused(encode('x'.repeat(40)), /a string of 40 bytes is over the 8-byte limit/); // (a fixstr is at most 31 bytes: not checked)
  refused(encode([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), /more than 10 objects/);
  refused([0x01, 0x02], /1 bytes of trailing data/);
  refused([0x92, 0x01], /an array claims 2 items with 1 bytes left/);
  refused([0xa3, 0x61], /truncated/);
  refused([0xc1], /starts no msgpack object/);
  refused([0xd4, 0x01, 0x00], /extension types/);
});
