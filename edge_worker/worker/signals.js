// Request -> contextual and technical signals (docs/signals.md), as edge_server/signals.py derives
// them: page URL and query as Python's urlsplit/parse_qsl read them, UTM parameters, referrer
// class, Accept-Language, country header, device, local hour and weekday; and validation of the
// client signals a page sends in the body of POST /v1/decide (clientSignals).
// tests/vectors/request_signals.json holds the cases both implementations must reproduce.

import * as py from "../runtime/python.js";
import { BoundedCache } from "./bounded_cache.js";
import { isObject } from "./body.js";
import { LENGTHS as L, MAX_URL, SEARCH, SOCIAL, UNKNOWN_COUNTRIES, UTM, WEBMAIL, message } from "./contract.js";
import { device } from "./device.js";

function hostMatches(host, patterns) {
  for (const p of patterns) {
    if (p.endsWith(".")) {
      if (host.startsWith(p) || `.${host}`.includes(`.${p}`)) return true;
    } else if (host === p || host.endsWith("." + p)) {
      return true;
    }
  }
  return false;
}

export function referrerClass(referrerHost, pageHost, utmMedium) {
  if (utmMedium.toLowerCase() === "email") return "email";
  if (!referrerHost) return "direct";
  if (pageHost && referrerHost === pageHost) return "internal";
  if (hostMatches(referrerHost, WEBMAIL)) return "email";
  if (hostMatches(referrerHost, SEARCH)) return "search";
  if (hostMatches(referrerHost, SOCIAL)) return "social";
  return "other";
}

const TAG = /^[a-z]{1,8}(-[a-z0-9]{1,8})*$/;
const FLOAT = /^(?:[0-9]+\.?[0-9]*|\.[0-9]+)$/;

/** Primary language subtags by quality: 'de-CH,de;q=0.9,en;q=0.5' -> ['de', 'en']. */
export function languages(acceptLanguage) {
  const weighted = [];
  acceptLanguage.split(",").slice(0, L.MAX_LANGUAGE_TAGS).forEach((part, i) => {
    const p = py.strip(part);
    const semi = p.indexOf(";");
    const tag = py.strip(semi < 0 ? p : p.slice(0, semi)).toLowerCase();
    const params = semi < 0 ? "" : p.slice(semi + 1);
    if (!tag || tag === "*" || !TAG.test(tag)) return;
    let q = 1.0;
    const m = /q=([0-9.]+)/.exec(params);
    if (m) q = FLOAT.test(m[1]) ? Number(m[1]) : 0.0;
    if (q > 0) weighted.push([-q, i, tag.split("-")[0]]);
  });
  weighted.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out = [];
  for (const [, , lang] of weighted) if (!out.includes(lang)) out.push(lang);
  return out;
}

// ------------------------------------------------------------------ URLs
/** {path, query, host} of a page URL or referrer, or null when it is malformed (signals.py's
 * split_url): a URL starting with `/` is a path with an optional query and fragment, as a page
 * sends `location.pathname + location.search` (`//shop/x` is the path `//shop/x`, not a host);
 * anything else is an absolute URL, malformed when Python's urlsplit refuses it. Never throws. */
export function splitUrl(url) {
  if (url.startsWith("/")) {
    const noFragment = url.split("#", 1)[0];
    const q = noFragment.indexOf("?");
    return q < 0 ? { path: noFragment, query: "", host: "" } : { path: noFragment.slice(0, q), query: noFragment.slice(q + 1), host: "" };
  }
  try {
    const parts = py.urlsplit(url);
    return { path: parts.path, query: parts.query, host: py.hostname(parts.netloc) ?? "" };
  } catch (e) {
    if (e instanceof URIError) return null;
    throw e;
  }
}

// ------------------------------------------------------------------ request -> signals
function page(pageUrl) {
  const parts = splitUrl(py.slice(pageUrl, MAX_URL)) ?? { path: "/", query: "", host: "" }; // malformed: refused by /v1/decide before
  const query = {};
  for (const [k, v] of py.parseQsl(parts.query).slice(0, L.MAX_QUERY_PARAMS)) {
    const key = py.slice(k, L.MAX_QUERY_KEY);
    if (!Object.hasOwn(query, key)) query[key] = py.slice(v, L.MAX_QUERY_VALUE);
  }
  const path = parts.path || "/";
  const out = {
    "page.url": py.slice(path + (parts.query ? "?" + parts.query : ""), MAX_URL),
    "page.path": py.slice(path, MAX_URL),
    "page.query": query,
  };
  for (const k of UTM) out[`utm.${k}`] = py.slice(Object.hasOwn(query, `utm_${k}`) ? query[`utm_${k}`] : "", L.MAX_UTM);
  return [out, parts.host, out["utm.medium"]];
}

function client(acceptLanguage, country, userAgent, chMobile, chPlatform) {
  const langs = languages(acceptLanguage);
  country = py.strip(country).toUpperCase();
  if (!(py.len(country) === 2 && /^[A-Za-z]{2}$/.test(country)) || UNKNOWN_COUNTRIES.has(country)) country = "";
  const [kind, os, browser] = device(userAgent, chMobile, chPlatform);
  return {
    "request.language": langs.length ? langs[0] : "",
    "request.languages": langs,
    "geo.country": country,
    "device.type": kind,
    "device.os": py.slice(os, L.MAX_DEVICE_NAME),
    "device.browser": py.slice(browser, L.MAX_DEVICE_NAME),
  };
}

const WEEKDAY = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** The time zone of a RequestContext that derives time.hour and time.weekday in the runtime's own
 * zone (Date's local time): the browser's, which is the visitor's. Chromium's Date and Intl read the
 * same ICU zone, without the cost of building a first Intl.DateTimeFormat (some 10-25 ms on a page's
 * first load; tests/browser/test_browser_signals.py compares with Python's zoneinfo). */
export const LOCAL_TIME_ZONE = "local";

/** [hour, ISO weekday] of a minute in an IANA time zone (or LOCAL_TIME_ZONE). */
function localTime(minute, tz) {
  const t = new Date(minute * 60000);
  if (tz === "UTC") return [t.getUTCHours(), t.getUTCDay() || 7];
  if (tz === LOCAL_TIME_ZONE) return [t.getHours(), t.getDay() || 7];
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", hour: "numeric", weekday: "short" }).formatToParts(t);
  const get = (type) => parts.find((p) => p.type === type).value;
  return [Number(get("hour")), WEEKDAY[get("weekday")]];
}

/** Derives the signals of requests; like signals.py's RequestContext, caches them per combination
 * of URL, referrer, headers and minute (only time.epoch is per request). */
export class RequestContext {
  /** The cache's budget: a key is up to ~5,400 characters (URL, referrer, headers), its signals as many. */
  static MAX_CACHED_BYTES = 8 * 1024 * 1024;

  constructor(countryHeader = "CF-IPCountry", tz = "UTC") {
    this.countryHeader = countryHeader.toLowerCase();
    this.tz = tz;
    if (tz !== LOCAL_TIME_ZONE) new Intl.DateTimeFormat("en-US", { timeZone: tz }); // an unknown zone fails here, at start
    this.cache = new BoundedCache(RequestContext.MAX_CACHED_BYTES);
  }

  /** The signals of one request, a fresh object. `get(name)`: a request header (lower-case name) or null. */
  signals(pageUrl, get, referrer, now) {
    return { ...this.derived(pageUrl, get, referrer, now), "time.epoch": Math.floor(now) };
  }

  /** The signals of one request but time.epoch, the cache's own object (the same for every request
   * of this shape in the minute: read it, never change it). */
  derived(pageUrl, get, referrer, now) {
    // the key's parts as locals and the key by concatenation (no array, no closure per request)
    const url = py.slice(pageUrl, MAX_URL);
    const ref = py.slice(referrer ?? "", MAX_URL);
    const host = py.slice(get("host") ?? "", L.MAX_HOST_HEADER);
    const lang = py.slice(get("accept-language") ?? "", L.MAX_ACCEPT_LANGUAGE);
    const country = py.slice(get(this.countryHeader) ?? "", L.MAX_COUNTRY_HEADER);
    const ua = py.slice(get("user-agent") ?? "", L.MAX_USER_AGENT);
    const mobile = py.slice(get("sec-ch-ua-mobile") ?? "", L.MAX_CH_MOBILE);
    const platform = py.slice(get("sec-ch-ua-platform") ?? "", L.MAX_CH_PLATFORM);
    const minute = Math.floor(now / 60);
    const ck = url + "\u0000" + ref + "\u0000" + host + "\u0000" + lang + "\u0000" + country + "\u0000" + ua + "\u0000" + mobile + "\u0000" + platform + "\u0000" + minute;
    let cached = this.cache.get(ck);
    if (cached === undefined) {
      cached = this.derive(url, ref, host, lang, country, ua, mobile, platform, minute);
      this.cache.set(ck, cached);
    }
    return cached;
  }

  derive(pageUrl, referrer, hostHeader, acceptLanguage, country, userAgent, chMobile, chPlatform, minute) {
    const [pageSignals, host, utmMedium] = page(pageUrl);
    const refParts = referrer ? splitUrl(py.slice(referrer, MAX_URL)) : null; // a malformed referrer counts as absent
    const refHost = refParts ? py.slice(refParts.host, L.MAX_REFERRER_HOST) : "";
    const [hour, weekday] = localTime(minute, this.tz);
    return {
      ...pageSignals,
      "referrer.host": refHost,
      "referrer.class": referrerClass(refHost, host || hostHeader.split(":")[0], utmMedium),
      ...client(acceptLanguage, country, userAgent, chMobile, chPlatform),
      "time.hour": hour,
      "time.weekday": weekday,
    };
  }
}

/** A client signal the bundle does not accept: the contract's error `key` (edge_contract.json),
 * whose `field` names the signal. */
export class ClientSignalError extends Error {
  constructor(key, values = {}) {
    const m = message(key, values);
    super(m.message);
    Object.assign(this, { key, values, field: m.field ?? "" });
  }
}

/** (signals.py's client_signals) the `signals` object of a decide request, validated against the bundle's table. */
export function clientSignals(body, prepared, limit) {
  if (body === null || body === undefined) return {};
  if (!isObject(body)) throw new ClientSignalError("signals_not_object");
  const names = Object.keys(body);
  if (names.length > limit) throw new ClientSignalError("too_many_signals", { limit, count: names.length });
  const out = {};
  for (const name of names) {
    const src = prepared.signalSources.get(name);
    if (src === undefined) throw new ClientSignalError("unknown_signal", { name: py.repr(name), field: name });
    if (src !== "client") throw new ClientSignalError("server_signal", { name: py.repr(name), source: src, field: name });
    const i = prepared.signalIndex.get(name);
    if (typeof prepared.converters[i](body[name]) === "symbol") {
      throw new ClientSignalError("signal_value", { name: py.repr(name), type: prepared.signalTypes.get(name), field: name });
    }
    out[name] = body[name];
  }
  return out;
}
