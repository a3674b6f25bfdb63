// The signed bundle in the browser (the counterpart of worker/bundles.js): fetched from any static
// URL, revalidated by the browser's HTTP cache with If-None-Match (an unchanged bundle costs a 304;
// or, by the page's choice, cached as the host's Cache-Control says: BUNDLE_CACHE_MODES),
// read under the envelope limit, verified against the public keys the page itself gives (never
// fetched from beside the bundle: whoever can change the bundle could change those too), and
// prepared by the same runtime as the worker's.

import './ed25519.js';
import { BundleTooLarge, importKeys, prepareBundle } from '../runtime/index.js';
import { MAX_ENVELOPE_BYTES } from '../runtime/format.js';
import { readBounded } from '../worker/bounded_read.js';

/** The bundle URL answered with an error, or not at all. */
export class BundleFetchError extends Error {
  constructor(message) {
    super(message);
    this.code = 'fetch_failed';
  }
}

/** The PEM public keys in `text`: one or more `-----BEGIN PUBLIC KEY-----` blocks (the .pub file
 * of `strata keygen`), or their base64 bodies separated by spaces or commas; or an array of those. */
export function publicKeys(text) {
  if (Array.isArray(text)) return text.flatMap(publicKeys);
  if (typeof text !== 'string' || !text.trim()) {
    throw new TypeError("strata: no public key given: pass the text of the .pub file written by 'strata keygen' (keys, or data-key on the script)");
  }
  const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g);
  if (blocks) return blocks;
  return text.split(/[\s,]+/).filter(Boolean).map((b) => `-----BEGIN PUBLIC KEY-----\n${b}\n-----END PUBLIC KEY-----`);
}

/** The fetch cache modes a page may choose for its bundle (start()'s bundleCache): 'no-cache'
 * revalidates on every page view (If-None-Match: a 304 when unchanged, a new bundle at once);
 * 'default' follows the host's Cache-Control (with max-age=N a cached view sends no request, and
 * a new bundle shows within N seconds). Either way, the bytes are verified on every page view. */
export const BUNDLE_CACHE_MODES = ['no-cache', 'default'];

/** The bytes at `url` (`cache`: a BUNDLE_CACHE_MODES entry), at most MAX_ENVELOPE_BYTES. */
export async function fetchBundle(url, cache = 'no-cache') {
  if (!BUNDLE_CACHE_MODES.includes(cache)) throw new TypeError(`strata: bundleCache '${cache}' is not one of ${BUNDLE_CACHE_MODES.join(', ')}`);
  let r;
  try {
    r = await fetch(url, { cache, credentials: 'same-origin' });
  } catch (e) {
    throw new BundleFetchError(`fetching the bundle ${url} failed (${e && e.message}); check the URL and that its host allows this page (CORS)`);
  }
  if (!r.ok) throw new BundleFetchError(`fetching the bundle ${url} answered ${r.status}; check the URL`);
  return readBounded(r.body, MAX_ENVELOPE_BYTES, () => new BundleTooLarge(`bundle at ${url} is over the ${MAX_ENVELOPE_BYTES}-byte limit`));
}

/** The prepared bundle at `url`, verified against `keys` (publicKeys' forms); throws a BundleError
 * (with `.code`, as the worker's /readyz words it) or BundleFetchError. */
export async function loadBundle(url, keys, { now = null, cache = 'no-cache' } = {}) {
  // the keys imported (WebCrypto, asynchronous) while the bundle is on its way; a bad key still
  // refuses before any byte of the bundle is read
  const trusted = importKeys(publicKeys(keys));
  const bytes = fetchBundle(url, cache);
  bytes.catch(() => {}); // reported below, after the keys
  const [k, b] = [await trusted, await bytes];
  mark('strata:fetched');
  const prepared = await prepareBundle(b, { keys: k, now });
  mark('strata:verified');
  return prepared;
}

/** A user-timing mark (DevTools' Performance panel, performance.getEntriesByType('mark')): the
 * phases of start() (docs/client-side.md, "Where the time goes"). */
export function mark(name) {
  try {
    globalThis.performance?.mark?.(name);
  } catch {
    // a runtime without user timing
  }
}
