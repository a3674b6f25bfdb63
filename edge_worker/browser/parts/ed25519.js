// strata-ed25519.mjs (browser/parts.js): @noble/ed25519, for browsers without Ed25519 in WebCrypto.
import { verifyAsync } from '@noble/ed25519';

export const verify = (signature, message, publicKey) => verifyAsync(signature, message, publicKey, { zip215: false });
