// What the browser runtime reports on POST /v1/events (docs/client-side.md, "Measurement"): the
// exposures it decided on the device ({visit, exposures}) and a bundle it refused ({refused}) —
// edge_server/beacons.py's port (the reasons are there). Exposure keys count once per visit by this
// isolate's VisitLedger, only keys the loaded bundle can decide (422 unknown_exposure otherwise) and
// only the populations of a consenting visit; the nonce is not authenticated (docs/security.md).

import { BUNDLE_REFUSALS, MAX_BEACON_EXPOSURES, POPULATIONS, VISIT_NONCE_LENGTH, error } from "./contract.js";
import { armOf } from "./measure.js";
import { MAX_SHOWN } from "./session.js";

const NONCE = /^[A-Za-z0-9_-]*$/;
/** The populations a browser's exposure may name (a beacon is only sent with consent): personalized, holdout. */
export const BEACON_POPULATIONS = POPULATIONS.slice(0, 2);
const SEP = "\u0000";

/** The visit nonce of a body's `visit` field, or 422. */
export function visitOf(value) {
  if (typeof value !== "string" || value.length !== VISIT_NONCE_LENGTH || !NONCE.test(value)) throw error("visit_nonce", { length: VISIT_NONCE_LENGTH });
  return value;
}

const sameKeys = (body, names) => Object.keys(body).length === names.length && names.every((k) => Object.hasOwn(body, k));

/** The reason of a {refused} body, or 422. */
export function refusalOf(body) {
  if (!sameKeys(body, ["refused"])) throw error("events_body");
  const reason = body.refused;
  if (typeof reason !== "string" || !BUNDLE_REFUSALS.includes(reason)) throw error("bundle_refusal", { reasons: BUNDLE_REFUSALS.join(", ") });
  return reason;
}

/** Every "slot\0arm\0layer" the bundle can decide: each slot's default, rules and experiment variants. */
export function knownExposures(prepared) {
  const keys = new Set();
  for (const sid of prepared.slotIds) {
    const slot = prepared.slot(sid);
    const decisions = [slot.fallback.default];
    for (const c of slot.candidates) {
      if (c.experiment !== null) for (const [, d] of c.variants) decisions.push(d);
      else decisions.push(c.decision);
    }
    for (const d of decisions) keys.add([sid, ...armOf(d)].join(SEP));
  }
  return keys;
}

/** [visit nonce, [[slot, arm, layer, population]]] of a {visit, exposures} body, or 422. */
export function exposuresOf(body, known, bundle) {
  if (!sameKeys(body, ["visit", "exposures"])) throw error("events_body");
  const nonce = visitOf(body.visit);
  const entries = body.exposures;
  if (!Array.isArray(entries) || entries.length < 1 || entries.length > MAX_BEACON_EXPOSURES) throw error("beacon_exposures", { limit: MAX_BEACON_EXPOSURES });
  entries.forEach((e, index) => {
    if (!Array.isArray(e) || e.length !== 4 || !e.every((x) => typeof x === "string") || !known.has(e.slice(0, 3).join(SEP))
      || !BEACON_POPULATIONS.includes(e[3])) throw error("unknown_exposure", { index, bundle });
  });
  return [nonce, entries];
}

/** Count `entries` of the visit `visit` (its ledger record) in `measure` (measure.js): each key new
 * to the visit, in the visit's population, up to MAX_SHOWN keys a visit (the cookie's bound: a
 * forged nonce holds no more ledger memory than an honest visit); how many were new. With `claim`
 * (a fleet ledger: events.js), a new key is handed to claim(key, row) instead, which counts the row
 * once the visit's owner answers that it is the fleet's first (beacons.py's count_exposures). */
export function countExposures(visit, entries, measure, claim = null) {
  let counted = 0;
  for (const [slot, arm, layer, population] of entries) {
    if (visit.population === null) visit.population = population;
    if (population !== visit.population || visit.shown.length >= MAX_SHOWN) continue;
    const key = `${slot}|${arm}|${layer}`;
    if (visit.firstExposure(key)) {
      if (claim === null) measure.exposure(slot, arm, layer, population);
      else claim(key, [slot, arm, layer, population]);
      counted += 1;
    }
  }
  return counted;
}
