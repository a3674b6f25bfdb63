// Request -> contextual and technical signals (docs/signals.md), as edge_server/signals.py derives
// them: page URL and query as Python's urlsplit/parse_qsl read them, UTM parameters, referrer
// class, Accept-Language, country header, device, local hour and weekday; and validation of the
// client signals a page sends in the body of POST /v1/decide (clientSignals).
// tests/vectors/request_signals.json holds the cases both implementations must reproduce.

import { isObject } from "./body.js";
import { pyStr } from "./errors.js";
import { pyLen, pySlice, pyStrip } from "./session.js";
import { device } from "./device.js";

const SEARCH = ["google.", "bing.com", "duckduckgo.com", "search.yahoo.", "yahoo.com", "baidu.com", "yandex.", "ecosia.org",
  "search.brave.com", "startpage.com", "qwant.com"];
const SOCIAL = ["facebook.com", "fb.com", "instagram.com", "t.co", "twitter.com", "x.com", "linkedin.com", "lnkd.in", "pinterest.",
  "reddit.com", "tiktok.com", "youtube.com", "threads.net", "bsky.app", "mastodon."];
const WEBMAIL = ["mail.google.com", "outlook.live.com", "outlook.office.com", "mail.yahoo.com", "mail.proton.me", "webmail."];
const UTM = ["source", "medium", "campaign", "term", "content"];

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
  acceptLanguage.split(",").slice(0, 16).forEach((part, i) => {
    const p = pyStrip(part);
    const semi = p.indexOf(";");
    const tag = pyStrip(semi < 0 ? p : p.slice(0, semi)).toLowerCase();
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

// ------------------------------------------------------------------ Python's urlsplit / parse_qsl
const C0_OR_SPACE = /^[\x00-\x20]+/;
const SCHEME_CHARS = /^[A-Za-z0-9+\-.]+$/;

/** {netloc, path, query} as Python 3.11's urllib.parse.urlsplit splits them. */
export function urlsplit(url) {
  url = url.replace(C0_OR_SPACE, "").replace(/[\t\r\n]/g, "");
  let netloc = "";
  const colon = url.indexOf(":");
  if (colon > 0 && /^[A-Za-z]/.test(url) && SCHEME_CHARS.test(url.slice(0, colon))) url = url.slice(colon + 1);
  if (url.startsWith("//")) {
    let end = url.length;
    for (const c of "/?#") {
      const at = url.indexOf(c, 2);
      if (at >= 0 && at < end) end = at;
    }
    netloc = url.slice(2, end);
    url = url.slice(end);
    if (netloc.includes("[") !== netloc.includes("]")) throw new URIError("Invalid IPv6 URL"); // as Python's ValueError
    if (netloc.includes("[")) checkBracketedHost(netloc.split("[")[1].split("]")[0]);
    checkNetloc(netloc);
  }
  const hash = url.indexOf("#");
  if (hash >= 0) url = url.slice(0, hash);
  let query = "";
  const q = url.indexOf("?");
  if (q >= 0) {
    query = url.slice(q + 1);
    url = url.slice(0, q);
  }
  return { netloc, path: url, query };
}

/** Python's _check_bracketed_host: an IPv6 address or an IPvFuture one. IPv6 is checked with the
 * WHATWG parser, which differs from Python's ipaddress only on scope ids (`%eth0`: refused here). */
function checkBracketedHost(host) {
  if (host.startsWith("v")) {
    if (!/^v[a-fA-F0-9]+\..+$/s.test(host)) throw new URIError("IPvFuture address is invalid");
    return;
  }
  if (/^[0-9.]+$/.test(host)) throw new URIError("An IPv4 address cannot be in brackets");
  try {
    new URL(`http://[${host}]/`);
  } catch {
    throw new URIError(`'${host}' does not appear to be an IPv4 or IPv6 address`);
  }
}

/** Python's _checknetloc: a non-ASCII host that NFKC normalisation turns into URL syntax is refused. */
function checkNetloc(netloc) {
  if (/^[\x00-\x7f]*$/.test(netloc)) return;
  const n = netloc.replace(/[@:#?]/g, "");
  const normal = n.normalize("NFKC");
  if (n === normal) return;
  for (const c of "/?#@:") if (normal.includes(c)) throw new URIError(`netloc '${netloc}' contains invalid characters under NFKC normalization`);
}

/** SplitResult.hostname: lower-cased, null when empty. */
export function hostname(netloc) {
  const info = netloc.slice(netloc.lastIndexOf("@") + 1);
  let host;
  const br = info.indexOf("[");
  if (br >= 0) {
    const rest = info.slice(br + 1);
    const close = rest.indexOf("]");
    host = close >= 0 ? rest.slice(0, close) : rest;
  } else {
    const c = info.indexOf(":");
    host = c >= 0 ? info.slice(0, c) : info;
  }
  if (!host) return null;
  const pct = host.indexOf("%");
  return pct >= 0 ? host.slice(0, pct).toLowerCase() + host.slice(pct) : host.toLowerCase();
}

const utf8 = new TextDecoder("utf-8"); // replacement characters for invalid bytes, as errors="replace"

/** Python's urllib.parse.unquote: %XX runs of each ASCII stretch decoded as UTF-8. */
export function unquote(s) {
  if (!s.includes("%")) return s;
  return s.replace(/[\x00-\x7f]+/g, (run) => {
    if (!run.includes("%")) return run;
    const bytes = [];
    const pieces = run.split("%");
    for (const c of pieces[0]) bytes.push(c.charCodeAt(0));
    for (const piece of pieces.slice(1)) {
      if (/^[0-9A-Fa-f]{2}/.test(piece)) {
        bytes.push(parseInt(piece.slice(0, 2), 16));
        for (const c of piece.slice(2)) bytes.push(c.charCodeAt(0));
      } else {
        bytes.push(0x25);
        for (const c of piece) bytes.push(c.charCodeAt(0));
      }
    }
    return utf8.decode(new Uint8Array(bytes));
  });
}

/** parse_qsl(qs, keep_blank_values=True). */
export function parseQsl(qs) {
  const out = [];
  for (const nv of qs.split("&")) {
    if (!nv) continue;
    const eq = nv.indexOf("=");
    const name = eq < 0 ? nv : nv.slice(0, eq);
    const value = eq < 0 ? "" : nv.slice(eq + 1);
    out.push([unquote(name.replaceAll("+", " ")), unquote(value.replaceAll("+", " "))]);
  }
  return out;
}

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
    const parts = urlsplit(url);
    return { path: parts.path, query: parts.query, host: hostname(parts.netloc) ?? "" };
  } catch (e) {
    if (e instanceof URIError) return null;
    throw e;
  }
}

// ------------------------------------------------------------------ request -> signals
function page(pageUrl) {
  const parts = splitUrl(pySlice(pageUrl, 2048)) ?? { path: "/", query: "", host: "" }; // malformed: refused by /v1/decide before
  const query = {};
  for (const [k, v] of parseQsl(parts.query).slice(0, 64)) {
    const key = pySlice(k, 64);
    if (!Object.hasOwn(query, key)) query[key] = pySlice(v, 256);
  }
  const path = parts.path || "/";
  const out = {
    "page.url": pySlice(path + (parts.query ? "?" + parts.query : ""), 2048),
    "page.path": pySlice(path, 2048),
    "page.query": query,
  };
  for (const k of UTM) out[`utm.${k}`] = pySlice(Object.hasOwn(query, `utm_${k}`) ? query[`utm_${k}`] : "", 128);
  return [out, parts.host, out["utm.medium"]];
}

function client(acceptLanguage, country, userAgent, chMobile, chPlatform) {
  const langs = languages(acceptLanguage);
  country = pyStrip(country).toUpperCase();
  if (!(pyLen(country) === 2 && /^[A-Za-z]{2}$/.test(country)) || country === "XX" || country === "T1") country = "";
  const [kind, os, browser] = device(userAgent, chMobile, chPlatform);
  return {
    "request.language": langs.length ? langs[0] : "",
    "request.languages": langs,
    "geo.country": country,
    "device.type": kind,
    "device.os": pySlice(os, 64),
    "device.browser": pySlice(browser, 64),
  };
}

const WEEKDAY = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** [hour, ISO weekday] of a minute in an IANA time zone. */
function localTime(minute, tz) {
  const t = new Date(minute * 60000);
  if (tz === "UTC") return [t.getUTCHours(), t.getUTCDay() || 7];
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", hour: "numeric", weekday: "short" }).formatToParts(t);
  const get = (type) => parts.find((p) => p.type === type).value;
  return [Number(get("hour")), WEEKDAY[get("weekday")]];
}

/** Derives the signals of requests; like signals.py's RequestContext, caches them per combination
 * of URL, referrer, headers and minute (only time.epoch is per request). */
export class RequestContext {
  static MAX_CACHED = 4096;

  constructor(countryHeader = "CF-IPCountry", tz = "UTC") {
    this.countryHeader = countryHeader.toLowerCase();
    this.tz = tz;
    new Intl.DateTimeFormat("en-US", { timeZone: tz }); // an unknown zone fails here, at start
    this.cache = new Map();
  }

  /** The signals of one request, a fresh object. `get(name)`: a request header (lower-case name) or null. */
  signals(pageUrl, get, referrer, now) {
    const h = (name, n) => pySlice(get(name) ?? "", n);
    const minute = Math.floor(now / 60);
    const key = [pySlice(pageUrl, 2048), pySlice(referrer ?? "", 2048), h("host", 256), h("accept-language", 512),
      h(this.countryHeader, 8), h("user-agent", 512), h("sec-ch-ua-mobile", 8), h("sec-ch-ua-platform", 32), minute];
    const ck = key.join("\u0000");
    let cached = this.cache.get(ck);
    if (cached === undefined) {
      if (this.cache.size >= RequestContext.MAX_CACHED) this.cache.clear();
      cached = this.derive(...key);
      this.cache.set(ck, cached);
    }
    return { ...cached, "time.epoch": Math.floor(now) };
  }

  derive(pageUrl, referrer, hostHeader, acceptLanguage, country, userAgent, chMobile, chPlatform, minute) {
    const [pageSignals, host, utmMedium] = page(pageUrl);
    const refParts = referrer ? splitUrl(pySlice(referrer, 2048)) : null; // a malformed referrer counts as absent
    const refHost = refParts ? pySlice(refParts.host, 253) : "";
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

export class ClientSignalError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

/** (signals.py's client_signals) the `signals` object of a decide request, validated against the bundle's table. */
export function clientSignals(body, prepared, limit) {
  if (body === null || body === undefined) return {};
  if (!isObject(body)) throw new ClientSignalError("signals", "signals must be an object of signal name -> value");
  const names = Object.keys(body);
  if (names.length > limit) throw new ClientSignalError("signals", `at most ${limit} client signals per request, got ${names.length}`);
  const out = {};
  for (const name of names) {
    const src = prepared.signalSources.get(name);
    if (src === undefined) throw new ClientSignalError(name, `unknown signal ${pyStr(name)}: the rule set does not declare it`);
    if (src !== "client") throw new ClientSignalError(name, `signal ${pyStr(name)} is derived by the server (${src}) and cannot be sent by the client`);
    const i = prepared.signalIndex.get(name);
    if (typeof prepared.converters[i](body[name]) === "symbol") {
      throw new ClientSignalError(name, `signal ${pyStr(name)} must be a ${prepared.signalTypes.get(name)} within its declared bounds`);
    }
    out[name] = body[name];
  }
  return out;
}
