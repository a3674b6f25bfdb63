// Consent on the device, by the servers' rules (worker/server.js consent, edge_server/server.py):
// Global Privacy Control (navigator.globalPrivacyControl, the Sec-GPC header's source) or Do Not
// Track refuse; so does the consent cookie holding a refusal word (edge_contract.json
// consent_refusals). A consent(granted) call of the page's consent banner sets that cookie, so the
// edge servers read the same answer. requireConsent (opt-in, e.g. under the GDPR) gives consent
// only to a consent cookie that is present and not a refusal, or a consent(true) call.

import { CONSENT_REFUSALS } from '../worker/contract.js';
import { parseCookies } from '../worker/session.js';
import * as py from '../runtime/python.js';

export const CONSENT_DEFAULTS = Object.freeze({ consentCookie: 'strata_consent', honourGpc: true, honourDnt: true, requireConsent: false });

/** Whether this visitor consents, by the options (CONSENT_DEFAULTS's names) and `env` (navigator, cookie text). */
export function consentOf(options = {}, env = { nav: navigator, cookie: document.cookie }) {
  const o = { ...CONSENT_DEFAULTS, ...options };
  const nav = env.nav ?? {};
  if (o.honourGpc && nav.globalPrivacyControl === true) return false;
  if (o.honourDnt && py.strip(String(nav.doNotTrack ?? '')) === '1') return false;
  const v = parseCookies(env.cookie ?? '').get(o.consentCookie);
  if (v !== undefined && CONSENT_REFUSALS.has(py.strip(v).toLowerCase())) return false;
  return o.requireConsent ? v !== undefined && py.strip(v) !== '' : true;
}

/** Record the visitor's answer in the consent cookie (first-party, a year, SameSite=Lax). */
export function recordConsent(granted, { consentCookie = CONSENT_DEFAULTS.consentCookie } = {}, doc = document) {
  const secure = doc.location && doc.location.protocol === 'https:' ? '; Secure' : '';
  doc.cookie = `${consentCookie}=${granted ? 'yes' : 'no'}; Path=/; Max-Age=31536000; SameSite=Lax${secure}`;
}
