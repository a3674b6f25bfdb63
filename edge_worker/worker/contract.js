// What both edges promise, from the one table edge_server/edge_contract.json that the Python
// server reads too (edge_server/contract.py): the tables that turn a request into signals (referrer
// hosts, UTM names, device patterns, unknown countries) and the HTTP contract of POST /v1/decide and
// POST /v1/events (Vary, limits, body fields, consent words, every 422 message).
// test/contract.test.js and tests/edge_server/test_contract.py fail when a module keeps a copy.
// A message is a template: {name} is replaced by a value the caller formats (names as Python's
// repr gives them, runtime/python.js), so both edges answer the same text byte for byte.

import TABLE from "../../edge_server/edge_contract.json" with { type: "json" };
import { ApiError } from "./errors.js";

export { TABLE };
const SIGNALS = TABLE.signals;
const HTTP = TABLE.http;

/** Referrer host patterns of referrer.class email, search and social (docs/signals.md). */
export const WEBMAIL = SIGNALS.referrer_hosts.webmail;
export const SEARCH = SIGNALS.referrer_hosts.search;
export const SOCIAL = SIGNALS.referrer_hosts.social;
/** UTM parameter names: utm_<name> in the page URL gives utm.<name>. */
export const UTM = SIGNALS.utm.values;
/** device.type patterns, searched case-insensitively in the User-Agent. */
export const BOT = new RegExp(SIGNALS.device_patterns.bot, "i");
export const TABLET = new RegExp(SIGNALS.device_patterns.tablet, "i");
export const MOBILE = new RegExp(SIGNALS.device_patterns.mobile, "i");
/** What a signal keeps of its source, in code points (the lengths' reasons: edge_contract.json). */
export const LENGTHS = Object.freeze(Object.fromEntries(Object.entries(SIGNALS.lengths).filter(([k]) => k !== "doc")));
/** Country header values meaning "unknown". */
export const UNKNOWN_COUNTRIES = new Set(SIGNALS.unknown_countries.values);

/** Request headers a personalised response depends on; shared caches must key on all of them. */
export const VARY = HTTP.VARY.value;
export const MAX_URL = HTTP.MAX_URL.value;
export const MAX_PATH = HTTP.MAX_PATH.value;
export const MAX_SLOTS = HTTP.MAX_SLOTS.value;
export const MAX_NAME = HTTP.MAX_NAME.value;
/** Fields of a decide body and of an events body. */
export const DECIDE_FIELDS = HTTP.decide_fields.values;
export const EVENTS_FIELDS = HTTP.events_fields.values;
/** Page mode: pages larger than this are served untouched; the cookie of a page's client signals;
 * headers never passed between visitor and origin. */
// browser beacons (docs/client-side.md, Measurement): a visit nonce's length, exposures per body,
// the reasons of a browser's bundle refusal
export const VISIT_NONCE_LENGTH = HTTP.VISIT_NONCE_LENGTH.value;
export const MAX_BEACON_EXPOSURES = HTTP.MAX_BEACON_EXPOSURES.value;
export const BUNDLE_REFUSALS = HTTP.bundle_refusals.values;
export const MAX_PAGE_BYTES = HTTP.MAX_PAGE_BYTES.value;
export const SIGNALS_COOKIE = HTTP.SIGNALS_COOKIE.value;
export const HOP_HEADERS = new Set(HTTP.hop_headers.values);
export const VALIDATORS = new Set(HTTP.validators.values);
export const SHARED_CACHE_DIRECTIVES = new Set(HTTP.shared_cache_directives.values);
export const OVERLAY_CSS = HTTP.OVERLAY_CSS.value;
/** Visits the visit ledger remembers at most (worker/visit_ledger.js). */
export const VISIT_LEDGER_CAPACITY = HTTP.VISIT_LEDGER_CAPACITY.value;
/** Consent cookie values that refuse consent. */
export const CONSENT_REFUSALS = new Set(HTTP.consent_refusals.values);

// Names in the strata-stats/1 snapshot (docs/measurement.md).
export const STATS_FORMAT = TABLE.stats.STATS_FORMAT.value;
/** The total over slots, arms or layers; the feature and level of a model's visit rows. */
export const ALL = TABLE.stats.ALL.value;
/** The feature of a model's score-bucket rows. */
export const SCORE = TABLE.stats.SCORE.value;
/** The feature of an uplift model's uplift-bucket rows (both arms). */
export const UPLIFT = TABLE.stats.UPLIFT.value;
/** The feature of the old 0.05-wide score-bucket rows (old snapshots and series): read by nobody. */
export const LEGACY_SCORE = TABLE.stats.LEGACY_SCORE.value;
export const POPULATIONS = TABLE.stats.populations.values;
export const MODEL_EVENTS = TABLE.stats.model_events.values;

/** The contract's error `key`, read when it is first asked for (the browser build's copy of the table
 * holds only the errors its modules name: tools/build_browser.js namedErrors). */
function errorOf(key) {
  if (key === "doc" || !Object.hasOwn(TABLE.errors, key)) throw new Error(`edge_contract.json: no error ${key}; name it in edge_server/edge_contract.json errors`);
  return TABLE.errors[key];
}

/** `{name}` replaced by String(values[name]); other braces stay (`{goal, value?}`). */
function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, name) => {
    if (!Object.hasOwn(values, name)) throw new Error(`edge_contract.json: no value for {${name}}`);
    return String(values[name]);
  });
}

/** {message, field} of the contract's error `key` with its placeholders filled. */
export function message(key, values = {}) {
  const e = errorOf(key);
  return { message: fill(e.message, values), field: e.field === null ? null : fill(e.field, values) };
}

/** The ApiError of the contract's error `key` (status, code, message, field). */
export function error(key, values = {}) {
  const { message: text, field } = message(key, values);
  const e = errorOf(key);
  return new ApiError(e.status, e.code, text, field);
}

// The server's tables below are read through `serverTable`, marked pure: a bundle that never uses
// an export drops its read (esbuild), and the browser build (tools/build_browser.js LEFT_OUT)
// leaves these tables out of its copy of edge_contract.json. Everywhere else they are read here,
// when the module loads, as the rest.
const serverTable = (read) => read(TABLE);
const families = (t) => Object.entries(t.metric_families).filter(([k]) => k !== "doc");
/** The labels, in order, of each family both runtimes export and the offline tools read. */
export const METRIC_LABELS = /* @__PURE__ */ serverTable((t) => Object.freeze(Object.fromEntries(families(t).map(([name, f]) => [name, f.labels]))));
/** The counter families, which a counter batch may carry: family -> [labels in order, whether values
 * are sums of goal values rather than counts]. */
export const METRIC_FAMILIES = /* @__PURE__ */ serverTable((t) => Object.freeze(Object.fromEntries(families(t).filter(([, f]) => f.type === "counter")
  .map(([name, f]) => [name, [f.labels, f.value_sum]]))));
/** The format of a batch isolates push to replicas (counter_batches.js). */
export const COUNTER_BATCH_FORMAT = /* @__PURE__ */ serverTable((t) => t.counter_batches.FORMAT.value);
/** The fleet ledger (fleet_ledger.js): a claim body's format, where replicas take claims, and its bounds. */
export const FLEET_LEDGER_FORMAT = /* @__PURE__ */ serverTable((t) => t.fleet_ledger.FORMAT.value);
export const FLEET_LEDGER_PATH = /* @__PURE__ */ serverTable((t) => t.fleet_ledger.PATH.value);
export const FLEET_LEDGER_LIMITS = /* @__PURE__ */ serverTable((t) => Object.freeze(Object.fromEntries(Object.entries(t.fleet_ledger)
  .filter(([k]) => k === k.toUpperCase() && k !== "FORMAT" && k !== "PATH").map(([k, v]) => [k, v.value]))));
export const FLEET_LEDGER_FALLBACKS = /* @__PURE__ */ serverTable((t) => Object.freeze([...t.fleet_ledger.fallback_reasons.value]));
export const FLEET_LEDGER_RESULTS = /* @__PURE__ */ serverTable((t) => Object.freeze([...t.fleet_ledger.claim_results.value]));
