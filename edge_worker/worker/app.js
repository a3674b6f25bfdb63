// The worker's HTTP contract, the same as edge_server's for what a worker does (docs/server.md,
// docs/edge-worker.md): POST /v1/decide, POST /v1/events, GET /v1/client.js, GET /v1/stats,
// /healthz, /readyz, /metrics, and page mode for every other GET when STRATA_ORIGIN is set. Bad
// input gets a 4xx with {"error": {"code", "message", "field"?}}; nothing a client sends gives a 500.
// No IP, cookie or signal value is logged.

import { CLIENT_JS } from "./client_js.js";
import { configFrom } from "./config.js";
import { BundleSource } from "./bundle.js";
import { CookieCodec, Session, importCookieKeys, parseCookies, pyLen, pyStrip } from "./cookie.js";
import { ALL, Measurement, POPULATIONS, armOf, periodsOf } from "./counters.js";
import { countConversion, countDecide } from "./models.js";
import { ConversionLedger } from "./dedup.js";
import { MAX_PAGE_BYTES, fillPage, overlay, readPage } from "./page.js";
import { render } from "./render.js";
import { RequestContext, splitUrl, unquote } from "./signals.js";

export const VARY = "Cookie, Sec-GPC, DNT, Accept-Language, User-Agent, Sec-CH-UA-Mobile, Sec-CH-UA-Platform";
const MAX_SLOTS = 64;
const MAX_URL = 2048;
/** Longest page path served (as long as a page URL in a decide body may be): 400 invalid_path above (app.py's MAX_PATH). */
const MAX_PATH = 2048;
const CONTROL = /[\x00-\x1f\x7f]/;
const DEFAULT_PORTS = { http: 80, https: 443 };
const FIELDS = new Set(["page", "slots", "signals", "page_view", "html"]);
const NO = new Set(["0", "no", "false", "deny", "denied", "reject", "rejected", "off"]);
const SIGNALS_COOKIE = "strata_signals";
const API = { "/v1/decide": ["POST"], "/v1/events": ["POST"], "/v1/client.js": ["GET", "HEAD"], "/v1/stats": ["GET", "HEAD"],
  "/healthz": ["GET", "HEAD"], "/readyz": ["GET", "HEAD"], "/metrics": ["GET", "HEAD"] };
const HOP = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers", "transfer-encoding", "upgrade",
  "content-length", "content-encoding", "host"]);

class ApiError extends Error {
  constructor(status, code, message, field = null) {
    super(message);
    Object.assign(this, { status, code, field });
  }
}

function json(body, status = 200, headers = {}) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

function errorResponse(e) {
  const body = { code: e.code, message: e.message };
  if (e.field !== null) body.field = e.field;
  return json({ error: body }, e.status, { "cache-control": "no-store" });
}

const pyStr = (v) => JSON.stringify(v).replace(/^"|"$/g, "'");
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** (decide.py's decide_fields) the parts of a decide body, or 422 naming the offending field. */
export function decideFields(body) {
  if (!isObject(body)) throw new ApiError(422, "invalid_request", "body must be a JSON object", "body");
  const unknown = Object.keys(body).filter((k) => !FIELDS.has(k)).sort();
  if (unknown.length) throw new ApiError(422, "invalid_request", `unknown field ${pyStr(unknown[0])} (fields: page, slots, signals, page_view, html)`, unknown[0]);
  const html = body.html ?? false;
  if (typeof html !== "boolean") throw new ApiError(422, "invalid_request", "html must be true or false", "html");
  const page = body.page ?? {};
  if (!isObject(page)) throw new ApiError(422, "invalid_request", "page must be an object {url, referrer?, category?}", "page");
  const url = page.url ?? "/";
  if (typeof url !== "string" || pyLen(url) > MAX_URL) throw new ApiError(422, "invalid_request", `page.url must be a string of at most ${MAX_URL} characters`, "page.url");
  if (splitUrl(url) === null) {
    throw new ApiError(422, "invalid_url", "page.url is not a valid URL: send location.pathname + location.search, or an absolute http(s) URL", "page.url");
  }
  const ref = page.referrer ?? null;
  if (ref !== null && (typeof ref !== "string" || pyLen(ref) > MAX_URL)) throw new ApiError(422, "invalid_request", "page.referrer must be a string", "page.referrer");
  const cat = page.category ?? "";
  if (typeof cat !== "string" || pyLen(cat) > 64) throw new ApiError(422, "invalid_request", "page.category must be a string of at most 64 characters", "page.category");
  const slots = body.slots ?? null;
  if (slots !== null && (!Array.isArray(slots) || slots.length > MAX_SLOTS || !slots.every((s) => typeof s === "string" && pyLen(s) <= 64))) {
    throw new ApiError(422, "invalid_request", `slots must be a list of at most ${MAX_SLOTS} slot names`, "slots");
  }
  const pv = body.page_view ?? true;
  if (typeof pv !== "boolean") throw new ApiError(422, "invalid_request", "page_view must be true or false", "page_view");
  return { url, ref, cat, slots, signals: body.signals ?? null, pageView: pv, html };
}

/** (decide.py's check_slots) 422 unknown_slot naming the requested slots the bundle does not have, and the ones it has. */
export function checkSlots(slots, prepared) {
  if (slots === null) return;
  const unknown = [...new Set(slots)].filter((s) => !prepared.slotTable.has(s));
  if (unknown.length) {
    const known = prepared.slotIds.join(", ") || "(none)";
    throw new ApiError(422, "unknown_slot", `unknown slot(s) ${unknown.map(pyStr).join(", ")}; bundle ${pyStr(prepared.name)} has: ${known}`, "slots");
  }
}

/** (app.py's _check_page_path) 400 invalid_path for a path no page can have: over MAX_PATH
 * characters, or with a control character (a decoded %00, %0A...). */
export function checkPagePath(path) {
  const n = pyLen(path);
  if (n > MAX_PATH) throw new ApiError(400, "invalid_path", `the path is ${n} characters long; pages have at most ${MAX_PATH}`);
  if (CONTROL.test(path)) throw new ApiError(400, "invalid_path", "the path contains a control character (e.g. %00 or %0A)");
}

/** (events.py's check_media_type) 415 unless the body is declared application/json. */
export function checkMediaType(headers) {
  const ctype = headers.get("content-type") ?? "";
  if (pyStrip(ctype.split(";", 1)[0]).toLowerCase() !== "application/json") {
    throw new ApiError(415, "unsupported_media_type", "POST /v1/events takes Content-Type: application/json");
  }
}

/** An origin as compared with a request's Origin header: lower case, no trailing slash (config.py's normalise_origin). */
export const normaliseOrigin = (origin) => pyStrip(origin).toLowerCase().replace(/\/+$/, "");

/** (events.py's check_browser_origin) 403 for a browser request from another site: an Origin that
 * is neither this host (Host, or the first X-Forwarded-Host) nor allowed; or, without Origin,
 * Sec-Fetch-Site: cross-site. Requests with neither header (servers, scripts) pass. */
export function checkBrowserOrigin(headers, allowed, urlHost = "") {
  const origin = headers.get("origin");
  if (origin === null) {
    if (pyStrip(headers.get("sec-fetch-site") ?? "").toLowerCase() === "cross-site") {
      throw new ApiError(403, "forbidden_origin", "POST /v1/events from another site (Sec-Fetch-Site: cross-site)");
    }
    return;
  }
  const o = normaliseOrigin(origin);
  if (allowed.has(o)) return;
  // the Host header (workerd passes it; where the platform does not, the request URL's host)
  const hosts = [headers.get("host") ?? urlHost, pyStrip((headers.get("x-forwarded-host") ?? "").split(",")[0])];
  if (hosts.some((h) => h && sameHost(o, h))) return;
  throw new ApiError(403, "forbidden_origin", `POST /v1/events from origin ${pyStr(origin.slice(0, 100))}: not this site; allow another origin with STRATA_EVENTS_ORIGINS`);
}

/** host and port of `host[:port]` as urlsplit's hostname and port read them; null when the port is invalid (Python's ValueError). */
function hostPort(info) {
  let host;
  let port;
  const br = info.indexOf("[");
  if (br >= 0) {
    const rest = info.slice(br + 1);
    const close = rest.indexOf("]");
    host = close >= 0 ? rest.slice(0, close) : rest;
    const after = close >= 0 ? rest.slice(close + 1) : "";
    const c = after.indexOf(":");
    port = c >= 0 ? after.slice(c + 1) : "";
  } else {
    const c = info.indexOf(":");
    host = c >= 0 ? info.slice(0, c) : info;
    port = c >= 0 ? info.slice(c + 1) : "";
  }
  if (port && !/^[0-9]+$/.test(port)) return null;
  const n = port ? Number(port) : null;
  if (n !== null && n > 65535) return null;
  return { host: host.toLowerCase(), port: n };
}

/** (events.py's same_host) whether `origin` (scheme://host[:port]) names `host` (a Host header), default ports by the origin's scheme. */
export function sameHost(origin, host) {
  const m = /^(https?):\/\/([^/?#]*)$/.exec(origin);
  if (!m || m[2].includes("@")) return false;
  const o = hostPort(m[2]);
  const h = hostPort(pyStrip(host).toLowerCase());
  if (o === null || h === null || !o.host) return false;
  const d = DEFAULT_PORTS[m[1]];
  return o.host === h.host && (o.port || d) === (h.port || d);
}

/** Python's format(x, "g"). */
function pyG(x) {
  let [m, e] = x.toPrecision(6).split("e");
  if (m.includes(".")) m = m.replace(/0+$/, "").replace(/\.$/, "");
  if (e === undefined) return m;
  const n = Number(e);
  return `${m}e${n < 0 ? "-" : "+"}${String(Math.abs(n)).padStart(2, "0")}`;
}

class ClientSignalError extends Error {
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

/** The JSON body of a request under a size limit ({} when empty); 400 / 413 as body.py. */
async function readJson(request, limit) {
  const cl = request.headers.get("content-length");
  if (cl !== null) {
    if (!/^[0-9]+$/.test(cl)) throw new ApiError(400, "bad_request", "Content-Length is not a number");
    if (Number(cl) > limit) throw new ApiError(413, "too_large", `request body over ${limit} bytes`);
  }
  if (cl !== null) return parseJson(new Uint8Array(await request.arrayBuffer())); // announced and within the limit: one native read
  const chunks = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        reader.cancel();
        throw new ApiError(413, "too_large", `request body over ${limit} bytes`);
      }
      chunks.push(value);
    }
  }
  const raw = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    raw.set(c, at);
    at += c.length;
  }
  return parseJson(raw);
}

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

function parseJson(raw) {
  let text;
  try {
    text = STRICT_UTF8.decode(raw);
  } catch {
    throw new ApiError(400, "invalid_json", "request body is not JSON (UTF-8): invalid UTF-8");
  }
  if (!text.replace(/^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g, "")) return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, "invalid_json", `request body is not JSON (UTF-8): ${e.message}`);
  }
}

/** One worker: created once per isolate from its bindings (`runtime`: the JS runtime module). */
export class StrataWorker {
  constructor(runtime, env) {
    this.runtime = runtime;
    this.env = env;
    this.config = configFrom(env);
    this.bundles = new BundleSource(runtime, this.config, env);
    this.context = new RequestContext(this.config.countryHeader, this.config.timezone);
    this.measure = new Measurement();
    this.codec = null; // CookieCodec, once its keys are imported
    const c = this.config;
    const secure = c.cookieSecure ? "; Secure" : "";
    this.cookieAttrs = `; Path=/; Max-Age=${c.cookieMaxAge}; HttpOnly; SameSite=Lax${secure}`;
    this.cookieExpired = `${c.cookieName}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure}`;
    // +2 s: visits are judged on whole-second timestamps (Session.touch)
    this.ledger = new ConversionLedger(this.config.visitTimeout + 2);
    this.eventsOrigins = new Set(this.config.eventsOrigins.map(normaliseOrigin));
    this.html = new WeakMap(); // content block -> rendered HTML (blocks are the bundle's immutable objects)
    this.metrics = { consent: [0, 0], evalErrors: 0, budgetExceeded: 0, variantExposures: new Map(), requests: new Map(), rejected: new Map() };
  }

  async fetch(request, ctx) {
    const url = new URL(request.url);
    const route = Object.hasOwn(API, url.pathname) ? url.pathname : "page";
    let response;
    try {
      response = await this.route(request, url, ctx);
    } catch (e) {
      if (!(e instanceof ApiError)) {
        console.error(`strata: internal error on ${url.pathname}: ${e.stack || e}`);
        e = new ApiError(500, "internal", "internal error; it has been logged");
      } else {
        bump(this.metrics.rejected, e.code);
      }
      response = errorResponse(e);
    }
    bump(this.metrics.requests, `${route}\u0000${response.status}`);
    const flush = this.measure.flush(this.config.collector, this.config.statsToken, this.bundles.current, this.config.collectInterval);
    if (flush && ctx && typeof ctx.waitUntil === "function") ctx.waitUntil(flush);
    return response;
  }

  async route(request, url, ctx) {
    const path = url.pathname;
    const methods = API[path];
    if (methods !== undefined && !methods.includes(request.method)) {
      throw new ApiError(405, "method_not_allowed", this.config.origin ? `${path} accepts ${methods.join(" and ")}` : "Method Not Allowed");
    }
    switch (path) {
      case "/v1/decide": return this.decideEndpoint(request, url, ctx);
      case "/v1/events": return this.events(request, ctx);
      case "/v1/client.js": return new Response(CLIENT_JS, { headers: { "content-type": "application/javascript", "cache-control": "public, max-age=300" } });
      case "/v1/stats": return this.stats(request);
      case "/healthz": return json({ status: "ok" });
      case "/readyz": return this.readyz(ctx);
      case "/metrics": return this.authorized(request, "GET /metrics") ?? this.prometheus();
      default:
        if (!this.config.origin) throw new ApiError(404, "not_found", "Not Found");
        if (request.method !== "GET" && request.method !== "HEAD") throw new ApiError(405, "method_not_allowed", "pages accept GET and HEAD");
        return this.page(request, url, ctx);
    }
  }

  // ------------------------------------------------------------------ helpers
  async prepared(ctx) {
    const p = await this.bundles.get(ctx);
    if (p === null) throw new ApiError(503, "not_ready", "no verified bundle is loaded yet; see /readyz and the worker log");
    return p;
  }

  async cookieCodec() {
    if (this.codec === null) this.codec = new CookieCodec(await importCookieKeys(this.config.cookieKeys), this.config.cookieName);
    return this.codec;
  }

  consent(headers, cookies) {
    if (this.config.honourGpc && pyStrip(headers.get("sec-gpc") ?? "") === "1") return false;
    if (this.config.honourDnt && pyStrip(headers.get("dnt") ?? "") === "1") return false;
    const v = cookies.get(this.config.consentCookie);
    return !(v !== undefined && NO.has(pyStrip(v).toLowerCase()));
  }

  htmlOf(content) {
    if (content === null || typeof content !== "object") return render(content);
    let out = this.html.get(content);
    if (out === undefined) {
      out = render(content);
      this.html.set(content, out);
    }
    return out;
  }

  /** server.py's Server.decide: request -> signals -> runtime -> session and counters. */
  async decide(request, cookies, prepared, pageUrl, referrer, category, slots, client, pageView, explain) {
    const now = Date.now() / 1000;
    const headers = request.headers;
    const consent = this.consent(headers, cookies);
    const signals = this.context.signals(pageUrl, (n) => headers.get(n), referrer, now);
    if (category) signals["page.category"] = category;
    let session = null;
    if (consent) {
      const codec = await this.cookieCodec();
      session = (await codec.decode(cookies.get(this.config.cookieName))) ?? Session.fresh();
      const previous = session.lastSeen;
      session.touch(Math.floor(now), this.config.visitTimeout, signals["utm.source"], category, pageView);
      session.addSignals(signals, previous);
    }
    Object.assign(signals, client);
    // a variant recorded in the cookie stays the visitor's while it exists (adaptive allocation changes weights, not arms)
    const outcome = prepared.decide(signals, slots, { sessionId: session ? session.sid : null, caps: session ? session.caps : null,
      assignments: session ? session.assignments() : null, consent, now, explain, checked: true });
    this.count(prepared, outcome, session, consent, signals, Math.floor(now));
    return { outcome, session, consent };
  }

  count(prepared, outcome, session, consent, signals, now) {
    const m = this.metrics;
    m.consent[consent ? 0 : 1] += 1;
    m.evalErrors += outcome.errors;
    m.budgetExceeded += outcome.budgetExceeded ?? 0;
    if (session !== null && (outcome.capHits.length || outcome.exposures.length)) {
      for (const [exp, variant, period, assigned] of session.record(outcome.capHits, outcome.exposures, now, periodsOf(prepared))) {
        bump(m.variantExposures, `${exp}\u0000${variant}`);
        if (assigned) this.measure.cohort(exp, variant, period, "assigned");
        this.measure.cohort(exp, variant, period, "exposed");
      }
    }
    const population = POPULATIONS[!consent ? 2 : outcome.holdout ? 1 : 0];
    for (const d of Object.values(outcome.decisions)) {
      const [arm, layer] = armOf(d);
      this.measure.decision(d.slot, d.reason, layer);
      if (session === null || session.firstExposure(`${d.slot}|${arm}|${layer}`)) this.measure.exposure(d.slot, arm, layer, population);
    }
    // consent only (no session, nothing counted); decisions mean shown keys to attribute to, as server.py
    if (session !== null && Object.keys(outcome.decisions).length) countDecide(this.measure, prepared, session, signals, outcome.holdout);
  }

  async setCookie(cookies, session, consent) {
    if (session !== null) return `${this.config.cookieName}=${await (await this.cookieCodec()).encode(session)}${this.cookieAttrs}`;
    if (!consent && cookies.has(this.config.cookieName)) return this.cookieExpired;
    return null;
  }

  // ------------------------------------------------------------------ endpoints
  async decideEndpoint(request, url, ctx) {
    const prepared = await this.prepared(ctx);
    const body = await readJson(request, this.config.maxBodyBytes);
    const f = decideFields(body);
    checkSlots(f.slots, prepared);
    let client;
    try {
      client = clientSignals(f.signals, prepared, this.config.maxClientSignals);
    } catch (e) {
      if (e instanceof ClientSignalError) throw new ApiError(422, "invalid_signal", e.message, e.field);
      throw e;
    }
    const explain = this.config.debug && ["1", "true"].includes(url.searchParams.get("explain"));
    const cookies = parseCookies(request.headers.get("cookie"));
    let decided;
    try {
      decided = await this.decide(request, cookies, prepared, f.url, f.ref, f.cat, f.slots, client, f.pageView, explain);
    } catch (e) {
      if (e instanceof URIError) throw new ApiError(422, "invalid_url", `page.url is not a URL: ${e.message}`, "page.url");
      throw e;
    }
    const { outcome, session, consent } = decided;
    const slots = {};
    for (const [slot, d] of Object.entries(outcome.decisions)) {
      const j = d.toJSON();
      if (f.html) j.html = this.htmlOf(d.content);
      slots[slot] = j;
    }
    const out = { bundle: { name: prepared.name, version: prepared.version }, slots };
    if (outcome.segments !== null && outcome.segments !== undefined) {
      out.segments = outcome.segments;
      out.scores = outcome.scores ?? {}; // as edge_server/decide.py: always with segments when explained
    }
    out.consent = consent;
    const headers = { "cache-control": "private, no-store", vary: VARY };
    const cookie = await this.setCookie(cookies, session, consent);
    if (cookie !== null) headers["set-cookie"] = cookie;
    return json(out, 200, headers);
  }

  async events(request, ctx) {
    checkMediaType(request.headers);
    checkBrowserOrigin(request.headers, this.eventsOrigins, new URL(request.url).host);
    const prepared = await this.prepared(ctx);
    const body = await readJson(request, this.config.maxBodyBytes);
    const [goal, value] = this.eventFields(body, prepared.goals);
    const cookies = parseCookies(request.headers.get("cookie"));
    const consent = this.consent(request.headers, cookies);
    const overall = [ALL, ALL, ""];
    const headers = { "cache-control": "no-store" };
    if (!consent) {
      const population = "no_consent";
      this.measure.conversion(goal, overall, population, value, true);
      const cookie = await this.setCookie(cookies, null, consent); // expires an existing session cookie
      if (cookie !== null) headers["set-cookie"] = cookie;
      return json({ accepted: true, population }, 202, headers);
    }
    const session = await (await this.cookieCodec()).decode(cookies.get(this.config.cookieName));
    const now = Date.now() / 1000;
    // a cookie idle for longer than the visit timeout starts a new visit (a new nonce, nothing shown
    // yet), so a visit's nonce is only ever presented while the ledger remembers its conversions
    if (session !== null) session.touch(Math.floor(now), this.config.visitTimeout, "", "", false);
    let population;
    if (session === null || !session.shown.length) {
      population = "unattributed"; // no decision in this visit yet: nothing to attribute to
      this.measure.conversion(goal, overall, population, value, true);
    } else {
      const held = prepared.holdoutBp > 0 && this.runtime.bucket(prepared.holdoutSeed, session.sid) < prepared.holdoutBp;
      population = held ? "holdout" : "personalized";
      if (session.firstConversion(goal) && this.ledger.first(session.visitNonce, goal, now)) {
        for (const key of session.shown) this.measure.conversion(goal, key.split("|"), population, value, true);
        this.measure.conversion(goal, overall, population, value, true);
        for (const [exp, variant, period] of session.exposedThisVisit()) this.measure.cohort(exp, variant, period, "converted", goal, value);
        countConversion(this.measure, prepared, session, goal);
      }
    }
    if (session !== null) {
      if (goal === "purchase") session.purchased = true;
      const cookie = await this.setCookie(cookies, session, consent);
      if (cookie !== null) headers["set-cookie"] = cookie;
    }
    return json({ accepted: true, population }, 202, headers);
  }

  /** (events.py's EventsEndpoint.fields) [goal, value] of an events body, or 422 naming the field. */
  eventFields(body, goals) {
    if (!isObject(body) || Object.keys(body).some((k) => k !== "goal" && k !== "value")) throw new ApiError(422, "invalid_request", "body must be {goal, value?}", "body");
    const goal = body.goal;
    if (typeof goal !== "string" || !goals.includes(goal)) {
      throw new ApiError(422, "unknown_goal", `goal must be one of ${goals.join(", ") || "(none declared)"}`, "goal");
    }
    const value = body.value ?? 0; // JSON has no NaN or Infinity; a number too large for a double parses as Infinity
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new ApiError(422, "invalid_request", "value must be a finite, non-negative number", "value");
    }
    const limit = this.config.maxGoalValue;
    if (value > limit) {
      throw new ApiError(422, "value_too_large", `value ${pyG(value)} is over this server's limit ${pyG(limit)} (--max-goal-value / STRATA_MAX_GOAL_VALUE)`, "value");
    }
    return [goal, value];
  }

  /** null when the request carries the stats token (or none is configured), else the 401 response. */
  authorized(request, what) {
    const token = this.config.statsToken;
    if (!token) return null;
    const auth = request.headers.get("authorization") ?? "";
    if (auth.startsWith("Bearer ") && timingSafeEqual(pyStrip(auth.slice(7)), token)) return null;
    bump(this.metrics.rejected, "unauthorized");
    const r = errorResponse(new ApiError(401, "unauthorized", `${what} needs 'Authorization: Bearer <STRATA_STATS_TOKEN>'`));
    r.headers.set("www-authenticate", 'Bearer realm="strata"');
    return r;
  }

  stats(request) {
    const token = this.config.statsToken;
    if (!token) throw new ApiError(404, "stats_disabled", "statistics are disabled: set STRATA_STATS_TOKEN to enable GET /v1/stats");
    return this.authorized(request, "GET /v1/stats") ?? json(this.measure.snapshot(this.bundles.current), 200, { "cache-control": "no-store" });
  }

  async readyz(ctx) {
    const cur = await this.bundles.get(ctx);
    const st = this.bundles.state;
    const body = { ready: cur !== null, reload_failures: st.failures, last_error: st.lastError };
    if (cur !== null) body.bundle = { name: cur.name, version: cur.version, key_id: cur.keyId, loaded_at: st.loadedAt };
    return json(body, cur !== null ? 200 : 503);
  }

  prometheus() {
    const lines = [];
    const family = (name, help, rows) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [labels, v] of rows) lines.push(Object.keys(labels).length === 0 ? `${name} ${v}` : `${name}{${Object.entries(labels).map(([k, x]) => `${k}="${String(x).replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : "\\" + c))}"`).join(",")}} ${v}`);
    };
    const split = (map, names) => [...map.entries()].map(([k, v]) => [Object.fromEntries(k.split("\u0000").map((x, i) => [names[i], x])), v]);
    const snap = this.measure.snapshot(this.bundles.current);
    family("strata_decisions_total", "Slot decisions", split(this.measure.decisions, ["slot", "reason", "layer"]));
    family("strata_slot_exposures_total", "Exposures (once per visit with consent; per page view without)",
      snap.exposures.map(({ count, ...l }) => [l, count]));
    family("strata_conversions_total", "Goal conversions (once per visit and goal)", snap.conversions.map(({ count, value, ...l }) => [l, count]));
    family("strata_conversion_value_total", "Sum of goal values", snap.conversions.map(({ count, value, ...l }) => [l, value]));
    family("strata_variant_exposures_total", "Experiment variant exposures (once per visit)", split(this.metrics.variantExposures, ["experiment", "variant"]));
    family("strata_model_visits_total", "Model training counters: visits entering, leaving and converting on a feature level (feature @score: the score bucket, spec = fit)",
      snap.models.flatMap(({ entered, left, converted, ...l }) => [["entered", entered], ["left", left], ["converted", converted]]
        .filter(([, n]) => n > 0).map(([event, n]) => [{ ...l, event }, n])));
    family("strata_experiment_cohort_total", "Experiment visitors per allocation period (cohort): assigned, exposed, converted",
      snap.cohorts.map(({ count, value, ...l }) => [l, count]));
    family("strata_experiment_cohort_value_total", "Sum of goal values of converting visits per experiment cohort",
      snap.cohorts.filter((c) => c.event === "converted").map(({ count, value, event, ...l }) => [l, value]));
    family("strata_evaluation_errors_total", "Conditions that ended in a CEL evaluation error", [[{}, this.metrics.evalErrors]]);
    family("strata_eval_budget_exceeded_total", "Conditions stopped by the evaluation budget (also counted as evaluation errors)",
      [[{}, this.metrics.budgetExceeded]]);
    family("strata_requests_total", "HTTP requests", split(this.metrics.requests, ["route", "status"]));
    family("strata_rejected_requests_total", "Requests refused with a 4xx", split(this.metrics.rejected, ["code"]));
    const weights = [];
    for (const [id, e] of Object.entries(snap.experiments)) for (const [variant, bp] of e.variants) weights.push([{ experiment: id, variant, slot: e.slot ?? "" }, bp]);
    lines.push("# HELP strata_experiment_variant_weight Configured variant weight in basis points (for sample-ratio checks)",
      "# TYPE strata_experiment_variant_weight gauge", ...weights.map(([l, v]) => `strata_experiment_variant_weight{experiment="${l.experiment}",variant="${l.variant}",slot="${l.slot}"} ${v}`));
    return new Response(lines.join("\n") + "\n", { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
  }

  async page(request, url, ctx) {
    checkPagePath(unquote(url.pathname)); // the path percent-decoded, as the Python server's (ASGI) path is
    const prepared = await this.prepared(ctx);
    const fetched = await this.originPage(request, url);
    if (fetched.passthrough) return fetched.passthrough;
    const doc = await readPage(fetched.html);
    if (doc.mode === "client") {
      return new Response(fetched.html, { status: fetched.status, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "public, max-age=60" } });
    }
    const cookies = parseCookies(request.headers.get("cookie"));
    const client = this.cookieSignals(cookies, prepared);
    const pageUrl = unquote(url.pathname) + url.search; // the path percent-decoded, as the Python server's (ASGI) path is
    const explain = this.config.debug;
    let decided;
    try {
      // a slot the bundle lacks keeps the page's own markup (the page may be deployed ahead of its bundle), as app.py's _known_slots
      const slots = doc.slots.filter((s) => prepared.slotTable.has(s));
      decided = await this.decide(request, cookies, prepared, pageUrl, request.headers.get("referer"), doc.category, slots, client, true, explain);
    } catch (e) {
      if (e instanceof URIError) throw new ApiError(400, "invalid_path", `the page path is not a URL path: ${e.message}`);
      throw e;
    }
    const { outcome, session, consent } = decided;
    const body = await fillPage(fetched.html, outcome.decisions, (d) => this.htmlOf(d.content), explain ? overlay(outcome) : null);
    const headers = { "content-type": "text/html; charset=utf-8", "cache-control": "private, no-store", vary: VARY };
    const cookie = await this.setCookie(cookies, session, consent);
    if (cookie !== null) headers["set-cookie"] = cookie;
    return new Response(request.method === "HEAD" ? null : body, { status: fetched.status, headers });
  }

  /** Client signals a page keeps in the strata_signals cookie (URL-encoded JSON); ignored when invalid. */
  cookieSignals(cookies, prepared) {
    const raw = cookies.get(SIGNALS_COOKIE);
    if (!raw || raw.length > 4096) return {};
    try {
      return clientSignals(JSON.parse(unquote(raw)), prepared, this.config.maxClientSignals);
    } catch {
      return {};
    }
  }

  async originPage(request, url) {
    const target = this.config.origin.replace(/\/+$/, "") + url.pathname + url.search;
    const headers = new Headers();
    for (const [k, v] of request.headers) if (!HOP.has(k) && k !== "cookie") headers.set(k, v);
    const forwarded = [...parseCookies(request.headers.get("cookie"))].filter(([k]) => k !== this.config.cookieName).map(([k, v]) => `${k}=${v}`).join("; ");
    if (forwarded) headers.set("cookie", forwarded);
    let r;
    try {
      r = await fetch(target, { headers, redirect: "manual" });
    } catch (e) {
      throw new ApiError(502, "origin_unreachable", `origin did not answer: ${e.name}`);
    }
    const ctype = r.headers.get("content-type") ?? "";
    const length = Number(r.headers.get("content-length") ?? 0);
    if (r.status !== 200 || !ctype.includes("text/html") || length > MAX_PAGE_BYTES) return { passthrough: passthrough(r) };
    const bytes = new Uint8Array(await r.arrayBuffer());
    if (bytes.length > MAX_PAGE_BYTES) return { passthrough: new Response(bytes, { status: r.status, headers: outHeaders(r) }) };
    return { html: new TextDecoder().decode(bytes), status: r.status };
  }
}

function outHeaders(r) {
  const h = new Headers();
  for (const [k, v] of r.headers) if (!HOP.has(k)) h.append(k, v);
  return h;
}

function passthrough(r) {
  return new Response(r.body, { status: r.status, headers: outHeaders(r) });
}

function bump(map, key) {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function timingSafeEqual(a, b) {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
