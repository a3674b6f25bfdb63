// Measurement from the browser (docs/client-side.md, "Measurement"): what a page decided on the
// device, reported with navigator.sendBeacon to an edge's POST /v1/events (`strata serve` or the
// worker) as aggregate-counter increments, counted there by edge_server/beacons.py and
// worker/beacons.js with the visit ledger's once-per-visit rules. Only with consent, and never a
// visitor id: [slot, arm, layer, population] per exposure new to the visit, with the visit nonce of
// the session on the device. A refused bundle is reported as its reason alone.

import { BUNDLE_REFUSALS, MAX_BEACON_EXPOSURES, POPULATIONS } from '../worker/contract.js';

function beacon(url, body) {
  if (!url || typeof navigator === 'undefined' || typeof navigator.sendBeacon !== 'function') return false;
  try {
    return navigator.sendBeacon(url, new Blob([JSON.stringify(body)], { type: 'application/json' }));
  } catch {
    return false; // a URL the browser refuses (another scheme): measurement is best effort
  }
}

/** The population a consenting visit's exposures count in (the bundle's holdout, or personalized). */
export function populationOf(outcome) {
  return POPULATIONS[outcome.holdout ? 1 : 0];
}

/** Send `entries` ([slot, arm, layer, population], each new to the visit `nonce`) to `url`, at most
 * MAX_BEACON_EXPOSURES per beacon; the number of beacons the browser queued. */
export function sendExposures(url, nonce, entries) {
  let sent = 0;
  for (let i = 0; i < entries.length; i += MAX_BEACON_EXPOSURES) {
    if (beacon(url, { visit: nonce, exposures: entries.slice(i, i + MAX_BEACON_EXPOSURES) })) sent += 1;
  }
  return sent;
}

/** Report a refused bundle to `url` by its reason (the BundleError's code, or load_failed): no
 * visitor data, so sent with or without consent. */
export function reportRefusal(url, code) {
  return beacon(url, { refused: BUNDLE_REFUSALS.includes(code) ? code : 'load_failed' });
}

/** A conversion body: the goal, its value, and with consent the visit nonce the edge's ledger
 * attributes and dedups it by. */
export function goalBody(goal, value, nonce) {
  const body = { goal };
  if (typeof value === 'number') body.value = value;
  if (nonce) body.visit = nonce;
  return body;
}

export { beacon };
