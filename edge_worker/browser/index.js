// Strata in the visitor's browser: the same signed bundle, verified and decided on the device by the
// same runtime (edge_worker/runtime/), signals and session never leaving it. See docs/client-side.md.
//
//   import { start } from './strata.mjs';
//   const strata = await start({ bundle: '/rules/site.strata', keys: PEM_TEXT });
//
// start() hides the page's slots (at most 300 ms), fetches and verifies the bundle, derives the
// signals (worker/signals.js) and reads the session from localStorage with consent (storage.js)
// meanwhile, decides, and fills and shows each slot (rewrite.js) — while the page is still being
// parsed, each as soon as the parser has closed it (decideAsParsed). A bundle that is refused, or
// cannot be fetched, leaves the page's own markup and says why in the console.

import { refusal } from '../runtime/errors.js';
import { BundleError } from '../runtime/index.js';
import { armOf } from '../worker/measure.js';
import { clientSignals } from '../worker/signals.js';
import { beacon, goalBody, populationOf, reportRefusal, sendExposures } from './beacon.js';
import { loadBundle, mark } from './bundles.js';
import { CONSENT_DEFAULTS, consentOf, recordConsent } from './consent.js';
import { conceal, fillAsParsed, fillSlots, pageCategory, pageSlots, showOverlay, slotName, slotWrites } from './rewrite.js';
import { pageSignals } from './signals.js';
import { STORAGE_KEY, forgetSession, loadSession, saveSession } from './storage.js';
import { loadDeviceRules } from './uap_regexes.js';

export * from '../runtime/index.js';
export { render } from '../worker/render.js';
export { BUNDLE_CACHE_MODES, BundleFetchError, fetchBundle, loadBundle, publicKeys } from './bundles.js';
export { consentOf, recordConsent } from './consent.js';
export { pageSignals, browserHeaders } from './signals.js';
export { loadSession, saveSession, forgetSession } from './storage.js';
// the lazily loaded parts (parts.js): load() awaits those the bundle and the page need
export { loadRegexEngine } from './regex_engine.js';
export { loadDeviceRules } from './uap_regexes.js';
export { loadSanitizer } from './sanitize.js';

/** start()'s options and their defaults. */
export const DEFAULTS = Object.freeze({
  bundle: null, // URL of the signed bundle (required)
  bundleCache: 'no-cache', // 'no-cache': revalidated on every page view; 'default': as the host's Cache-Control says (bundles.js); verified either way
  keys: null, // the trusted public key(s): the .pub text of `strata keygen`, or its base64 body (required)
  signals: null, // client signals (docs/signals.md, source client); default window.strataSignals
  category: null, // page.category; default <html data-strata-category>
  antiFlicker: true, // hide the slots until decided ...
  timeout: 300, // ... at most this many ms, then the page's own markup shows
  debug: false, // the explain overlay (as --debug on the servers)
  storageKey: STORAGE_KEY, // localStorage entry of the session (consent only)
  visitTimeout: 30 * 60, // seconds of inactivity that end a visit (STRATA_VISIT_TIMEOUT)
  maxClientSignals: 32, // client signals a page may set (STRATA_MAX_CLIENT_SIGNALS)
  events: null, // an edge's POST /v1/events URL: exposures (with consent), track()'s goals and a refused bundle are sent there (none: nothing is sent)
  ...CONSENT_DEFAULTS,
});

/** One page's Strata: the prepared bundle, consent, the last outcome. */
export class Strata {
  constructor(options = {}) {
    this.options = { ...DEFAULTS, ...options };
    this.prepared = null;
    this.outcome = null;
    this.error = null;
    this.filled = Promise.resolve(true); // settles when the last decide()'s slots are filled (true) or the fill was dropped (false; a template may wait for the sanitiser)
    this.fills = 0; // decide()s so far: a fill still waiting for the sanitiser is dropped when this moves on
    this.session = null;
    this.given = null; // a consent(granted) answer of this page
  }

  /** Whether this visitor consents now (consent.js); a consent(true) answer of this page counts
   * as the opt-in even where the consent cookie could not be written, GPC and DNT still refuse. */
  get consent() {
    if (this.given === false) return false;
    return consentOf(this.given === true ? { ...this.options, requireConsent: false } : this.options);
  }

  /** Fetch, verify and prepare the bundle; on refusal `error` is set and null returned. */
  async load() {
    const o = this.options;
    try {
      [this.prepared] = await Promise.all([loadBundle(o.bundle, o.keys, { cache: o.bundleCache }), loadDeviceRules().then(() => mark('strata:device'))]);
      this.error = null;
    } catch (e) {
      this.prepared = null;
      this.error = e;
      const code = e && e.code ? e.code : 'load_failed';
      console.error(`strata: bundle ${o.bundle} refused (${code}): ${e instanceof BundleError ? refusal(e) : e && e.message}; the page's own content is shown`);
      reportRefusal(o.events, code);
    }
    return this.prepared;
  }

  /** Decide the page's slots and fill them; returns the Outcome, or null (no bundle, or client
   * signals the bundle refuses: the page's own content stays). `context`: this page view's
   * context() when start() took it already. */
  decide({ pageView = true, now = null, context = null } = {}) {
    if (this.prepared === null) return null;
    const client = this.clientSignals();
    if (client === null) return null;
    context ??= this.context(now ?? Date.now() / 1000, pageView);
    const { elements, names } = pageSlots();
    const outcome = this.decideIn(context, client, this.slotsOf(names));
    const fill = ++this.fills;
    this.commit(context, outcome, fillSlots(elements, outcome.decisions, () => this.fills === fill));
    return outcome;
  }

  /** The page's client signals as the bundle accepts them, or null (refused: said in the console). */
  clientSignals() {
    const o = this.options;
    try {
      return clientSignals(o.signals ?? globalThis.strataSignals ?? null, this.prepared, o.maxClientSignals);
    } catch (e) {
      console.warn(`strata: ${e.message}; the page's own content is shown`);
      return null;
    }
  }

  /** The slots of `names` the bundle decides (the others keep their markup, said in the console). */
  slotsOf(names) {
    const p = this.prepared;
    const slots = names.filter((n) => p.slot(n) !== undefined);
    for (const n of names) if (!slots.includes(n)) console.warn(`strata: slot '${n}' is not in bundle ${p.name} v${p.version}; its markup stays`);
    return slots;
  }

  /** What a decision at `t` (Unix seconds) starts from: consent, the page's signals and, with
   * consent, the session read from localStorage and touched by this page view (once per view). */
  context(t, pageView) {
    const o = this.options;
    const consent = this.consent;
    const signals = pageSignals(t);
    const category = o.category ?? pageCategory();
    if (category) signals['page.category'] = category;
    let session = null;
    if (consent) {
      session = loadSession(o.storageKey);
      const previous = session.lastSeen;
      session.touch(Math.floor(t), o.visitTimeout, signals['utm.source'], category, pageView);
      session.addSignals(signals, previous);
    } else {
      forgetSession(o.storageKey);
    }
    return { t, consent, signals, session };
  }

  /** The Outcome for `slots` (null: every slot of the bundle) in `context`; nothing recorded. */
  decideIn({ t, consent, signals, session }, client, slots) {
    return this.prepared.decide({ ...signals, ...client }, slots, { sessionId: session ? session.sid : null, caps: session ? session.caps : null,
      assignments: session ? session.assignments() : null, consent, now: t, explain: this.options.debug });
  }

  /** Keep `outcome` as this page view's decision: the session records it (with consent), and once
   * `filled` (a promise of fillSlots) shows the slots, each new exposure goes to the events endpoint. */
  commit({ t, session }, outcome, filled) {
    const p = this.prepared;
    const o = this.options;
    const fresh = [];
    if (session !== null) {
      // the state the servers' decision path writes (worker/server.js count): caps, sticky
      // variants, and the exposure keys shown in this visit, each new one sent to the events
      // endpoint once the slots show it (beacon.js; the model entries are not kept: no edge counts
      // a browser's models yet)
      session.record(outcome.capHits, outcome.exposures, Math.floor(t), p.periods);
      const population = populationOf(outcome);
      for (const d of Object.values(outcome.decisions)) {
        const [arm, layer] = armOf(d);
        if (session.firstExposure(`${d.slot}|${arm}|${layer}`)) fresh.push([d.slot, arm, layer, population]);
      }
      saveSession(session, o.storageKey);
    }
    this.session = session;
    this.outcome = outcome;
    this.filled = filled;
    if (fresh.length) {
      const nonce = session.visitNonce;
      // a fill dropped (its sanitiser arrived past the anti-flicker timeout) showed nothing: nothing to count
      this.filled.then((shown) => { if (shown) sendExposures(o.events, nonce, fresh); });
    }
    if (o.debug) showOverlay(outcome);
  }

  /** decide() for a page still being parsed, `parsed` resolving at DOMContentLoaded: every slot of
   * the bundle decided at once, each slot element filled as soon as the parser has closed it
   * (rewrite.js fillAsParsed) while `wanted()`; once the page is parsed, the slots it has decided
   * again with the client signals as they are then (the same inputs give the same decisions; a
   * slot whose decision changed, by client signals set after the script, is filled again) and
   * that outcome kept (commit), as decide() keeps it. `context`: this page view's context()
   * when already taken. Returns that Outcome or null. */
  async decideAsParsed(parsed, wanted, context = null) {
    let client = this.clientSignals();
    if (client === null) return null;
    context ??= this.context(Date.now() / 1000, true);
    const early = this.decideIn(context, client, null);
    const kept = this.outcome;
    const fill = ++this.fills;
    const finish = fillAsParsed(document, early.decisions, () => wanted() && this.fills === fill, () => mark('strata:filled'));
    mark('strata:decided');
    await parsed;
    const shown = finish();
    mark('strata:dom');
    if (this.outcome !== kept) return this.outcome; // decided again meanwhile (setConsent): that decision stands
    // past the anti-flicker timeout, the slots not filled by then show the page's own markup: only
    // those filled are this page view's decision
    const names = wanted() ? pageSlots().names : [...new Set(shown.map(slotName))];
    if (names.length === 0) return null;
    client = this.clientSignals() ?? client;
    const outcome = this.decideIn(context, client, this.slotsOf(names));
    const elements = wanted() ? pageSlots().elements : shown;
    const before = slotWrites();
    this.commit(context, outcome, fillSlots(elements, outcome.decisions, () => this.fills === fill));
    if (await this.filled && slotWrites() !== before) mark('strata:filled'); // a slot filled again or only now
    return outcome;
  }

  /** Send a goal (and its value) to the configured events endpoint with navigator.sendBeacon, as
   * the server-side client script's track() does, with consent with the visit nonce the edge
   * attributes it by (beacon.js); false when nothing was sent. */
  track(goal, value) {
    return beacon(this.options.events, goalBody(goal, value, this.session && this.consent ? this.session.visitNonce : null));
  }

  /** The visitor's consent answer (a consent banner's callback): recorded in the consent cookie,
   * the session forgotten on a refusal, and the slots decided again (no page view counted). */
  setConsent(granted) {
    this.given = Boolean(granted);
    recordConsent(this.given, this.options);
    if (!this.given) forgetSession(this.options.storageKey);
    return this.decide({ pageView: false });
  }
}

/** Personalise this page: see the file's head. Resolves to the Strata instance, once the page is
 * parsed and its decision kept; the slots are filled before, each as soon as it is parsed. */
export async function start(options = {}) {
  const strata = new Strata(options);
  let late = false; // past the anti-flicker timeout the page's own markup has shown: it stays, and this page view is not decided
  const o = strata.options;
  const reveal = o.antiFlicker && (document.readyState === 'loading' || document.querySelector('[data-strata-slot]')) ? conceal(document, o.timeout, () => { late = true; strata.fills++; }) : () => {};
  try {
    mark('strata:start');
    const loading = strata.load(); // the bundle and the device rules fetched while the page still parses
    const parsed = document.readyState === 'loading' ? new Promise((r) => document.addEventListener('DOMContentLoaded', r, { once: true })) : null;
    // this page view's signals and session, taken as soon as the device rules are there, while the
    // bundle is still on its way or being verified (they do not depend on it)
    const context = parsed === null ? null : loadDeviceRules().then(() => {
      const c = strata.context(Date.now() / 1000, true);
      mark('strata:context');
      return c;
    }, () => null);
    const prepared = await loading;
    if (!prepared) return strata;
    if (late) {
      console.info(`strata: the bundle arrived after the ${o.timeout} ms anti-flicker timeout; this page keeps its own content`);
    } else if (parsed !== null && document.readyState === 'loading') {
      await strata.decideAsParsed(parsed, () => !late, await context); // the slots filled as the parser reaches them
    } else {
      mark('strata:dom');
      strata.decide({ context: context === null ? null : await context });
      mark('strata:decided');
      await strata.filled;
      mark('strata:filled');
    }
  } catch (e) {
    console.error(`strata: ${e && e.message}; the page's own content is shown`);
  } finally {
    reveal();
  }
  return strata;
}
