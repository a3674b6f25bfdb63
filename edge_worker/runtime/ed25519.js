// Ed25519 signature checks, the one platform seam of bundle verification: WebCrypto where the
// platform has Ed25519 (workerd, Node, current browsers), else a verifier the platform installs
// (the browser build installs @noble/ed25519 for browsers whose WebCrypto lacks Ed25519:
// edge_worker/browser/ed25519.js). keys.js imports keys through it, verify.js checks through it.

/** async (signature, message, raw public key) -> bool, or null: WebCrypto only. */
let fallback = null;

/** Install the verifier used when WebCrypto cannot import an Ed25519 key (null: none). */
export function useFallback(verify) {
  fallback = verify;
}

/** A verification key for the raw 32-byte public key: a WebCrypto CryptoKey, or {raw} for the fallback. */
export async function importPublicKey(raw) {
  try {
    return await crypto.subtle.importKey('raw', raw, { name: 'Ed25519' }, false, ['verify']);
  } catch (e) {
    if (fallback === null) throw e;
    return { raw: Uint8Array.from(raw) };
  }
}

/** Whether `signature` is `key`'s over `message`; false (never a throw) for a malformed signature. */
export async function verifySignature(key, signature, message) {
  try {
    if (key !== null && typeof key === 'object' && key.raw instanceof Uint8Array) return (await fallback(signature, message, key.raw)) === true;
    return await crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
  } catch {
    return false;
  }
}
