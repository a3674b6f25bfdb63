// Ed25519 public keys through WebCrypto, and key ids as runtime/keys.py derives them:
// the first 8 bytes of SHA-256 over the raw 32-byte public key, in hex.

import { sha256 } from './sha256.js';
import { importPublicKey } from './ed25519.js';

// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING }.
const SPKI_PREFIX = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

export class KeyError extends Error {}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function keyId(raw) {
  return hex(sha256(raw).subarray(0, 8));
}

/** The raw 32-byte key of a PEM `.pub` file text (as `strata keygen` writes) or raw bytes. */
export function rawPublicKey(pub) {
  if (pub instanceof ArrayBuffer) pub = new Uint8Array(pub);
  if (pub instanceof Uint8Array) {
    if (pub.length !== 32) throw new KeyError(`raw Ed25519 public key must be 32 bytes, got ${pub.length}`);
    return pub;
  }
  if (typeof pub !== 'string') throw new KeyError('public key must be PEM text or 32 raw bytes');
  const m = /-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----/.exec(pub);
  if (!m) throw new KeyError("not a PEM public key (expected the .pub file written by 'strata keygen')");
  let der;
  try {
    der = Uint8Array.from(atob(m[1].replace(/\s+/g, '')), (c) => c.charCodeAt(0));
  } catch {
    throw new KeyError('PEM public key is not valid base64');
  }
  if (der.length !== 44 || !SPKI_PREFIX.every((b, i) => der[i] === b)) {
    throw new KeyError('not an Ed25519 key; Strata signs bundles with Ed25519');
  }
  return der.subarray(12);
}

/** Map key id -> verification key (ed25519.js: a CryptoKey where WebCrypto has Ed25519) for the given public keys (PEM text or raw 32 bytes each). */
export async function importKeys(pubs) {
  const out = new Map();
  for (const pub of pubs) {
    const raw = rawPublicKey(pub);
    const key = await importPublicKey(raw);
    out.set(keyId(raw), key);
  }
  return out;
}
