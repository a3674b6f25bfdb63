// runtime/ed25519.js, the platform seam of bundle verification: where WebCrypto cannot import an
// Ed25519 key, an installed fallback verifies (the browser build installs @noble/ed25519:
// browser/ed25519.js), and the same bundles verify and the same tampered ones are refused; without
// a fallback the import error surfaces. In real Chromium: tests/browser/test_browser_vectors.py.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { verifyAsync } from '@noble/ed25519';
import { useFallback } from '../runtime/ed25519.js';
import { importKeys, prepareBundle } from '../runtime/index.js';
import { TRAILBLAZER_BUNDLE, VECTORS_PUB } from './vectors.js';

const NOW = 1793494800;
const subtle = crypto.subtle;
const importKey = subtle.importKey;

function withoutWebCryptoEd25519() {
  subtle.importKey = function (fmt, data, alg, ...rest) {
    if (alg === 'Ed25519' || (alg && alg.name === 'Ed25519')) return Promise.reject(new DOMException('Unrecognized name.', 'NotSupportedError'));
    return importKey.call(subtle, fmt, data, alg, ...rest);
  };
}

after(() => {
  subtle.importKey = importKey;
  useFallback(null);
});

test('ed25519: without WebCrypto Ed25519 and no fallback, importing a key fails', async () => {
  withoutWebCryptoEd25519();
  try {
    await assert.rejects(importKeys([VECTORS_PUB]), { name: 'NotSupportedError' });
  } finally {
    subtle.importKey = importKey;
  }
});

test('ed25519: the fallback verifies the bundle WebCrypto verifies and refuses every one-bit change', async () => {
  const calls = [];
  useFallback(async (sig, msg, pub) => {
    calls.push(pub.length);
    return verifyAsync(sig, msg, pub, { zip215: false });
  });
  withoutWebCryptoEd25519();
  try {
    const keys = await importKeys([VECTORS_PUB]);
    assert.ok(!(keys.values().next().value instanceof CryptoKey));
    const good = new Uint8Array(TRAILBLAZER_BUNDLE);
    assert.equal((await prepareBundle(good, { keys, now: NOW })).name, 'trailblazer');
    for (const at of [0.2, 0.4, 0.6, 0.8]) {
      const bad = good.slice();
      bad[Math.floor(bad.length * at)] ^= 0x08;
      await assert.rejects(prepareBundle(bad, { keys, now: NOW }), { code: 'bad_signature' });
    }
    assert.ok(calls.length >= 5 && calls.every((n) => n === 32));
  } finally {
    subtle.importKey = importKey;
    useFallback(null);
  }
});
