// Strata's JavaScript runtime: verify a signed bundle, prepare closures from its IR once, and
// decide per request exactly as the Python runtime (runtime/) does. See docs/runtime.md.
//
//   const keys = await importKeys([pemText]);
//   const prepared = await prepareBundle(bytes, { keys, held: null });
//   const outcome = prepared.decide(signals, null, { sessionId, caps, consent: true });

import { Prepared } from './prepare.js';
import { DEFAULT_CLOCK_SKEW, verifyBundle } from './verify.js';

export {
  BadSignature, BundleError, BundleTooLarge, Expired, InvalidIR, MalformedBundle, NotYetValid, RollbackRefused, UnknownKey,
  UnsupportedFormat,
} from './errors.js';
export { importKeys, keyId } from './keys.js';
export { Decision, Outcome, Prepared } from './prepare.js';
export { bucket } from './bucketing.js';
export { CelUint } from './values.js';
export { DEFAULT_CLOCK_SKEW, verifyBundle };

/**
 * Verify (signature, codec, limits, IR, time window, rollback against `held` = {name, version}
 * or null) and prepare a bundle. Throws a BundleError (with `.code`) on any refusal.
 */
export async function prepareBundle(bytes, { keys, now = null, held = null, clockSkew = DEFAULT_CLOCK_SKEW } = {}) {
  const verified = await verifyBundle(bytes, keys, { now, held, clockSkew });
  return new Prepared(verified);
}
