// Strata's JavaScript runtime: verify a signed bundle, prepare closures from its IR once, and
// decide per request exactly as the Python runtime (runtime/) does. See docs/runtime.md.
//
//   const keys = await importKeys([pemText]);
//   const prepared = await prepareBundle(bytes, { keys, held: null });
//   const outcome = prepared.decide(signals, null, { sessionId, caps, consent: true });

import { Prepared } from './decide.js';
import { DEFAULT_CLOCK_SKEW } from './format.js';
import { checkRollback, verifyBundle } from './verify.js';

export {
  BadSignature, BundleError, BundleTooLarge, Expired, InvalidIR, MalformedBundle, NotYetValid, PrepareFailed, RollbackRefused, UnknownKey,
  UnsupportedFormat, WrongName, refusal,
} from './errors.js';
import { BundleError, PrepareFailed } from './errors.js';
export { importKeys, keyId } from './keys.js';
export { Decision, Outcome } from './decision.js';
export { Prepared } from './decide.js';
export { bucket } from './bucketing.js';
export { CelUint } from './values.js';
export { DEFAULT_CLOCK_SKEW, checkRollback, verifyBundle };
export { EVAL_BUDGET, ALLOC_CHUNK } from './budget.js';

/**
 * Verify (signature, codec, limits, IR, time window, rollback against `held` = {name, version}
 * or null and the rule set `name` served, or null) and prepare a bundle. Throws a BundleError
 * (with `.code`) on any refusal, PrepareFailed ('prepare_failed') for an unexpected exception.
 */
export async function prepareBundle(bytes, { keys, now = null, held = null, name = null, clockSkew = DEFAULT_CLOCK_SKEW } = {}) {
  const verified = await verifyBundle(bytes, keys, { now, held, name, clockSkew });
  try {
    return new Prepared(verified);
  } catch (e) {
    if (e instanceof BundleError) throw e;
    throw new PrepareFailed(`preparing bundle ${verified.payload.name} v${verified.payload.version} failed (${e && e.name}: ${String(e && e.message).slice(0, 200)}); the last good bundle keeps serving; recompile it with this version of strata`);
  }
}
