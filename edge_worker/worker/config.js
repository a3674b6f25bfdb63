// Worker settings from its environment bindings: the same STRATA_* names and meanings as
// edge_server/config.py (docs/server.md), plus where the bundle comes from (docs/edge-worker.md).
// Secrets (STRATA_COOKIE_KEYS, STRATA_STATS_TOKEN, STRATA_REMOTE_WRITE_TOKEN/_PASSWORD, STRATA_COUNTERS_SECRET) come from secret bindings.

import { CLIENT_BODY_BYTES } from "../runtime/format.js";
import * as py from "../runtime/python.js";
import { ledgerUrls } from "./fleet_ledger.js";

const BOOL = { 1: true, true: true, yes: true, on: true, 0: false, false: false, no: false, off: false };
const BUNDLE_NAME = /^\S(?:.{0,198}\S)?$/; // edge_server/config.py's _BUNDLE_NAME
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export class ConfigError extends Error {}

/** An origin as compared with a request's Origin header: lower case, no trailing slash (config.py's normalise_origin). */
export const normaliseOrigin = (origin) => py.strip(origin).toLowerCase().replace(/\/+$/, "");

function text(env, name, fallback) {
  const v = env[name];
  return typeof v === "string" && v !== "" ? v : fallback;
}

function number(env, name, fallback, whole) {
  const v = text(env, name, null);
  if (v === null) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || (whole && !Number.isInteger(n))) throw new ConfigError(`${name}=${JSON.stringify(v)} is not ${whole ? "a whole number" : "a number"}`);
  return n;
}

function bool(env, name, fallback) {
  const v = text(env, name, null);
  if (v === null) return fallback;
  const b = BOOL[v.toLowerCase()];
  if (b === undefined) throw new ConfigError(`${name}=${JSON.stringify(v)}: use 1/0, true/false, yes/no`);
  return b;
}

export function configFrom(env) {
  const c = {
    // bundle: an HTTP(S) URL (polled with If-None-Match), or a key in a KV-like binding
    bundleUrl: text(env, "STRATA_BUNDLE", null),
    bundleBinding: text(env, "STRATA_BUNDLE_BINDING", "STRATA_BUNDLES"),
    bundleKey: text(env, "STRATA_BUNDLE_KEY", null),
    // rollback protection that every isolate shares (worker/state.js, docs/edge-worker.md)
    bundleName: text(env, "STRATA_BUNDLE_NAME", null),
    minVersion: number(env, "STRATA_MIN_VERSION", null, true),
    stateBinding: text(env, "STRATA_STATE_BINDING", "STRATA_STATE"),
    publicKeys: text(env, "STRATA_PUB", "").split(",").map((s) => s.trim()).filter(Boolean),
    clockSkew: number(env, "STRATA_CLOCK_SKEW", 300, false),
    pollInterval: number(env, "STRATA_POLL_INTERVAL", 10, false),
    origin: text(env, "STRATA_ORIGIN", null),
    debug: bool(env, "STRATA_DEBUG", false),
    cookieKeys: text(env, "STRATA_COOKIE_KEYS", ""),
    cookieName: text(env, "STRATA_COOKIE_NAME", "strata_session"),
    cookieSecure: bool(env, "STRATA_COOKIE_SECURE", true),
    cookieMaxAge: 180 * 86400,
    visitTimeout: number(env, "STRATA_VISIT_TIMEOUT", 30 * 60, true),
    consentCookie: text(env, "STRATA_CONSENT_COOKIE", "strata_consent"),
    honourGpc: true,
    honourDnt: true,
    countryHeader: text(env, "STRATA_COUNTRY_HEADER", "CF-IPCountry"),
    timezone: text(env, "STRATA_TIMEZONE", "UTC"),
    maxBodyBytes: number(env, "STRATA_MAX_BODY", CLIENT_BODY_BYTES, true),
    maxClientSignals: 32,
    statsToken: text(env, "STRATA_STATS_TOKEN", null),
    collector: text(env, "STRATA_COLLECTOR", null), // optional: where counters are pushed (docs/edge-worker.md)
    collectInterval: number(env, "STRATA_COLLECT_INTERVAL", 60, false),
    // direct mode of fleet counting (remote_write.js): a Prometheus remote-write URL, credentials from secret bindings
    remoteWrite: text(env, "STRATA_REMOTE_WRITE", null),
    remoteWriteToken: text(env, "STRATA_REMOTE_WRITE_TOKEN", null),
    remoteWriteUser: text(env, "STRATA_REMOTE_WRITE_USER", null),
    remoteWritePassword: text(env, "STRATA_REMOTE_WRITE_PASSWORD", null),
    pushInterval: number(env, "STRATA_PUSH_INTERVAL", 10, false),
    pushMaxSamples: number(env, "STRATA_PUSH_MAX_SAMPLES", 50_000, true),
    pushRefresh: number(env, "STRATA_PUSH_REFRESH", 240, false), // an unchanged series is written again after this many seconds
    // aggregated mode (counter_batches.js): deltas pushed to strata serve replicas, signed with a secret binding
    countersUrl: text(env, "STRATA_COUNTERS_URL", null),
    countersSecret: text(env, "STRATA_COUNTERS_SECRET", null),
    countersMaxAge: number(env, "STRATA_COUNTERS_MAX_AGE", 3000, false),
    // conversions once per visit across the fleet (fleet_ledger.js): the replicas that hold the fleet's claims
    fleetLedger: text(env, "STRATA_FLEET_LEDGER", ""),
    maxGoalValue: number(env, "STRATA_MAX_GOAL_VALUE", 1_000_000, false), // a larger goal value is refused (422 value_too_large)
    // browser origins besides the worker's own host allowed to send events (comma-separated)
    eventsOrigins: text(env, "STRATA_EVENTS_ORIGINS", "").split(",").map((o) => o.trim()).filter(Boolean),
  };
  if (!c.bundleUrl && !c.bundleKey) throw new ConfigError("set STRATA_BUNDLE (an https:// URL) or STRATA_BUNDLE_KEY (a key in the STRATA_BUNDLES binding)");
  if (!c.publicKeys.length) throw new ConfigError("STRATA_PUB: at least one trusted public key (the .pub text strata keygen writes)");
  if (!c.cookieKeys) throw new ConfigError("STRATA_COOKIE_KEYS: KEY_ID:BASE64,... — the same keys as the Python replicas, as a secret binding");
  for (const [flag, name] of [["STRATA_COOKIE_NAME", c.cookieName], ["STRATA_CONSENT_COOKIE", c.consentCookie]]) {
    if (!COOKIE_NAME.test(name)) throw new ConfigError(`${flag} ${JSON.stringify(name)}: a cookie name is letters, digits and !#$%&'*+-.^_\`|~ (RFC 6265)`);
  }
  if (c.cookieName === c.consentCookie) throw new ConfigError("STRATA_COOKIE_NAME and STRATA_CONSENT_COOKIE must differ");
  if (!(c.maxGoalValue > 0)) throw new ConfigError(`STRATA_MAX_GOAL_VALUE=${JSON.stringify(env.STRATA_MAX_GOAL_VALUE)}: give a positive number, e.g. 1000000 (the largest purchase value you expect)`);
  for (const origin of c.eventsOrigins) {
    if (!/^https?:\/\/[^/?#\s@]+$/.test(origin.toLowerCase().replace(/\/+$/, ""))) {
      throw new ConfigError(`STRATA_EVENTS_ORIGINS ${JSON.stringify(origin)}: write an origin as a browser sends it, scheme://host[:port] with no path, e.g. https://www.example.com`);
    }
  }
  if (c.remoteWrite !== null && !/^https?:\/\/[^/?#\s]+/i.test(c.remoteWrite)) {
    throw new ConfigError(`STRATA_REMOTE_WRITE ${JSON.stringify(c.remoteWrite)}: give the remote-write URL, e.g. https://prometheus.example.com/api/v1/write`);
  }
  if (c.remoteWrite !== null && /^https?:\/\/[^/?#]*@/i.test(c.remoteWrite)) {
    throw new ConfigError("STRATA_REMOTE_WRITE: no credentials in the URL (they would reach logs); put them in the STRATA_REMOTE_WRITE_USER and STRATA_REMOTE_WRITE_PASSWORD secrets");
  }
  if (c.remoteWriteToken && c.remoteWriteUser) throw new ConfigError("STRATA_REMOTE_WRITE_TOKEN and STRATA_REMOTE_WRITE_USER: set one (bearer token or basic auth), not both");
  if (c.countersUrl !== null) {
    for (const u of c.countersUrl.split(",").map((x) => x.trim())) {
      if (!/^https?:\/\/[^/?#\s@]+/i.test(u)) throw new ConfigError(`STRATA_COUNTERS_URL ${JSON.stringify(u)}: give the replicas' counters URL, e.g. https://strata.example.com/v1/counters (comma-separated for several)`);
    }
    if (!c.countersSecret || c.countersSecret.length < 16) throw new ConfigError("STRATA_COUNTERS_SECRET: the secret shared with the replicas' --counters-secret (at least 16 characters), as a secret binding");
    if (c.remoteWrite !== null) throw new ConfigError("STRATA_REMOTE_WRITE and STRATA_COUNTERS_URL: choose one mode of fleet counting (direct or aggregated), or the fleet counts twice");
    if (!(c.countersMaxAge > 0)) throw new ConfigError(`STRATA_COUNTERS_MAX_AGE=${JSON.stringify(env.STRATA_COUNTERS_MAX_AGE)}: give the seconds a batch is retried, below the replicas' --counters-window (default 3000)`);
  }
  try {
    c.fleetLedger = ledgerUrls(c.fleetLedger);
  } catch (e) {
    throw new ConfigError(`STRATA_FLEET_LEDGER: ${e.message}`);
  }
  if (c.fleetLedger.length && (!c.countersSecret || c.countersSecret.length < 16)) {
    throw new ConfigError("STRATA_FLEET_LEDGER needs STRATA_COUNTERS_SECRET (a secret binding, at least 16 characters): the fleet signs its claims with it, as the replicas' --counters-secret");
  }
  if (!(c.pushInterval > 0)) throw new ConfigError(`STRATA_PUSH_INTERVAL=${JSON.stringify(env.STRATA_PUSH_INTERVAL)}: give the seconds between pushes, e.g. 10`);
  if (!(c.pushRefresh > 0)) throw new ConfigError(`STRATA_PUSH_REFRESH=${JSON.stringify(env.STRATA_PUSH_REFRESH)}: give the seconds after which an unchanged series is written again, e.g. 240 (inside Prometheus' 5-minute lookback; at most STRATA_PUSH_INTERVAL writes every series at every push)`);
  if (!(c.pushMaxSamples > 0)) throw new ConfigError(`STRATA_PUSH_MAX_SAMPLES=${JSON.stringify(env.STRATA_PUSH_MAX_SAMPLES)}: give the samples kept while the endpoint fails, e.g. 50000`);
  if (c.bundleName !== null && !BUNDLE_NAME.test(c.bundleName)) {
    throw new ConfigError(`STRATA_BUNDLE_NAME ${JSON.stringify(c.bundleName.slice(0, 40))}: give the rule set's name as its bundle carries it (the name: field of the rule set)`);
  }
  if (c.pollInterval <= 0) throw new ConfigError("STRATA_POLL_INTERVAL must be positive");
  return c;
}
