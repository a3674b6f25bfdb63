// The classic-script entry (dist/strata.js) for a plain <script> tag:
//   <script src="/strata.js" data-bundle="/rules/site.strata" data-key="MCowBQYDK2VwAyEA..."></script>
// starts Strata from the tag's data- attributes (data-debug, data-require-consent,
// data-consent-cookie, data-timeout, data-anti-flicker="false", data-events, data-bundle-cache) and exposes
// window.strata: the module's exports, `ready` (a promise of the started instance),
// consent(granted) and track(goal, value).

import * as strata from './index.js';
import { setPartsBase } from './parts.js';

const script = document.currentScript;
setPartsBase(script && script.src ? script.src : document.baseURI); // the strata-*.mjs parts are beside the script
const api = { ...strata, ready: null };
if (script && script.dataset.bundle) {
  const d = script.dataset;
  const flag = (v) => v !== undefined && v !== 'false';
  api.ready = strata.start({
    bundle: d.bundle,
    keys: d.key,
    debug: flag(d.debug),
    requireConsent: flag(d.requireConsent),
    antiFlicker: d.antiFlicker !== 'false',
    ...(d.consentCookie ? { consentCookie: d.consentCookie } : {}),
    ...(d.timeout ? { timeout: Number(d.timeout) } : {}),
    ...(d.events ? { events: d.events } : {}),
    ...(d.bundleCache ? { bundleCache: d.bundleCache } : {}),
  });
  api.consent = (granted) => api.ready.then((s) => s.setConsent(granted));
}
/** A goal to the events endpoint (data-events); what the shop's scripts call, as with /v1/client.js. */
api.track = (goal, value) => (api.ready ? api.ready.then((s) => s.track(goal, value)) : Promise.resolve(false));
globalThis.strata = api;
