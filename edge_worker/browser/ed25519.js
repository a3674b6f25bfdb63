// Browsers whose WebCrypto has no Ed25519 (it arrived in Chrome 137, Firefox 129, Safari 17):
// bundles are verified with @noble/ed25519 instead (audited, dependency-free, RFC 8032 strict
// mode, as WebCrypto and the Python runtime verify). runtime/ed25519.js uses it only when
// WebCrypto refuses to import an Ed25519 key; only then is strata-ed25519.mjs loaded (parts.js).

import { useFallback } from '../runtime/ed25519.js';
import { loadPart } from './parts.js';

useFallback(async (signature, message, publicKey) => (await loadPart('ed25519')).verify(signature, message, publicKey));
