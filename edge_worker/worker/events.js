// POST /v1/events: goal conversions, counted in aggregate (docs/measurement.md), as
// edge_server/events.py: application/json bodies only (415), browsers only from this site or an
// allowed origin (403), a goal value finite, non-negative and within the limit (422), a conversion
// counted once per visit and goal (the cookie and the VisitLedger of visit_ledger.js; with
// STRATA_FLEET_LEDGER, once per visit and goal across the fleet: fleet_ledger.js).

import * as py from "../runtime/python.js";
import { countExposures, exposuresOf, knownExposures, refusalOf, visitOf } from "./beacons.js";
import { isObject, readJson } from "./body.js";
import { normaliseOrigin } from "./config.js";
import { EVENTS_FIELDS, error } from "./contract.js";
import { ApiError, json } from "./errors.js";
import { DeferredCounts, claimKey } from "./fleet_ledger.js";
import { countConversion } from "./model_counts.js";
import { ALL } from "./measure.js";
import { parseCookies } from "./session.js";

const DEFAULT_PORTS = { http: 80, https: 443 };

/** (events.py's check_media_type) 415 unless the body is declared application/json. */
export function checkMediaType(headers) {
  const ctype = headers.get("content-type") ?? "";
  if (py.strip(ctype.split(";", 1)[0]).toLowerCase() !== "application/json") {
    throw new ApiError(415, "unsupported_media_type", "POST /v1/events takes Content-Type: application/json");
  }
}

/** (events.py's check_browser_origin) 403 for a browser request from another site: an Origin that
 * is neither this host (Host, or the first X-Forwarded-Host) nor allowed; or, without Origin,
 * Sec-Fetch-Site: cross-site. Requests with neither header (servers, scripts) pass. */
export function checkBrowserOrigin(headers, allowed, urlHost = "") {
  const origin = headers.get("origin");
  if (origin === null) {
    if (py.strip(headers.get("sec-fetch-site") ?? "").toLowerCase() === "cross-site") {
      throw new ApiError(403, "forbidden_origin", "POST /v1/events from another site (Sec-Fetch-Site: cross-site)");
    }
    return;
  }
  const o = normaliseOrigin(origin);
  if (allowed.has(o)) return;
  // the Host header (workerd passes it; where the platform does not, the request URL's host)
  const hosts = [headers.get("host") ?? urlHost, py.strip((headers.get("x-forwarded-host") ?? "").split(",")[0])];
  if (hosts.some((h) => h && sameHost(o, h))) return;
  throw new ApiError(403, "forbidden_origin", `POST /v1/events from origin ${py.repr(py.slice(origin, 100))}: not this site; allow another origin with --events-origin or STRATA_EVENTS_ORIGINS`);
}

/** (events.py's same_host) whether `origin` (scheme://host[:port]) names `host` (a Host header,
 * host[:port]), default ports counted by the origin's scheme; read as Python's urlsplit reads them. */
export function sameHost(origin, host) {
  try {
    const o = py.urlsplit(origin);
    const hh = py.urlsplit("//" + py.strip(host).toLowerCase()).netloc;
    const oh = py.hostname(o.netloc);
    if (!Object.hasOwn(DEFAULT_PORTS, o.scheme) || !oh || o.path || o.query || py.hasUserinfo(o.netloc)) return false;
    const d = DEFAULT_PORTS[o.scheme];
    return oh === py.hostname(hh) && (py.port(o.netloc) || d) === (py.port(hh) || d);
  } catch (e) {
    if (e instanceof URIError) return false; // a port that is not a number or out of range
    throw e;
  }
}

/** (events.py's EventsEndpoint.fields) [goal, value] of an events body, or 422 naming the field;
 * `limit`: the largest goal value accepted (STRATA_MAX_GOAL_VALUE). */
export function eventFields(body, goals, limit) {
  if (!isObject(body) || Object.keys(body).some((k) => !EVENTS_FIELDS.slice(0, 3).includes(k))) throw error("events_body"); // a conversion's: goal, value, visit
  const goal = py.get(body, "goal");
  if (typeof goal !== "string" || !goals.includes(goal)) throw error("unknown_goal", { goals: goals.join(", ") || "(none declared)" });
  // as Python's body.get("value", 0): an explicit null is refused. JSON has no NaN or Infinity; a
  // number too large for a double parses as Infinity
  let value = py.get(body, "value", 0);
  if (typeof value === "bigint") value = Number(value); // an exact integer beyond 2^53 (body.js): events.py takes float(value)
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) throw error("goal_value");
  if (value > limit) throw error("goal_value_too_large", { value: py.formatG(value), limit: py.formatG(limit) });
  return [goal, value];
}

/** POST /v1/events on the worker `srv` (server.js's StrataWorker): events.py's EventsEndpoint.handle. */
export async function eventsEndpoint(srv, request, ctx) {
  checkMediaType(request.headers);
  checkBrowserOrigin(request.headers, srv.eventsOrigins, new URL(request.url).host);
  const prepared = await srv.prepared(ctx);
  const body = await readJson(request, srv.config.maxBodyBytes);
  const headers = { "cache-control": "no-store" };
  if (isObject(body) && Object.hasOwn(body, "refused")) { // a browser refused its bundle: nothing of the visitor is read
    const reason = refusalOf(body);
    srv.metrics.clientRefusals.set(reason, (srv.metrics.clientRefusals.get(reason) ?? 0) + 1);
    return json({ accepted: true }, 202, headers);
  }
  if (isObject(body) && Object.hasOwn(body, "exposures")) return browserExposures(srv, request, body, prepared, headers);
  const [goal, value] = eventFields(body, prepared.goals, srv.config.maxGoalValue);
  const cookies = parseCookies(request.headers.get("cookie"));
  const consent = srv.consent(request.headers, cookies);
  const overall = [ALL, ALL, ""];
  if (consent && Object.hasOwn(body, "visit")) { // a conversion of a visit the browser decided (beacons.js)
    const population = browserConversion(srv, visitOf(body.visit), goal, value);
    return json({ accepted: true, population }, 202, headers);
  }
  if (!consent) {
    const population = "no_consent";
    srv.measure.conversion(goal, overall, population, value, true);
    const cookie = await srv.setCookie(cookies, null, consent); // expires an existing session cookie
    if (cookie !== null) headers["set-cookie"] = cookie;
    return json({ accepted: true, population }, 202, headers);
  }
  const session = await (await srv.cookieCodec()).decode(cookies.get(srv.config.cookieName));
  const now = Date.now() / 1000;
  // a cookie idle for longer than the visit timeout starts a new visit (a new nonce, nothing shown
  // yet), so a visit's nonce is only ever presented while the ledger remembers its conversions
  if (session !== null) session.touch(Math.floor(now), srv.config.visitTimeout, "", "", false);
  const visit = session !== null ? srv.ledger.record(session.visitNonce, now) : null; // touched: it outlives every cookie this isolate wrote
  let population;
  if (session === null || !session.shown.length) {
    population = "unattributed"; // no decision in this visit yet: nothing to attribute to
    srv.measure.conversion(goal, overall, population, value, true);
  } else {
    const held = prepared.holdoutBp > 0 && srv.runtime.bucket(prepared.holdoutSeed, session.sid) < prepared.holdoutBp;
    population = held ? "holdout" : "personalized";
    if (session.firstConversion(goal) && visit.firstConversion(goal)) {
      const counts = new DeferredCounts();
      for (const key of session.shown) counts.conversion(goal, key.split("|"), population, value, true);
      counts.conversion(goal, overall, population, value, true);
      for (const [exp, variant, period] of session.exposedThisVisit()) counts.cohort(exp, variant, period, "converted", goal, value);
      countConversion(counts, prepared, session, goal, srv.ledger, now); // the model rows; the entries freeze now
      count(srv, session.visitNonce, goal, counts);
    }
  }
  if (session !== null) {
    if (goal === "purchase") session.purchased = true;
    const cookie = await srv.setCookie(cookies, session, consent);
    if (cookie !== null) headers["set-cookie"] = cookie;
  }
  return json({ accepted: true, population }, 202, headers);
}

const known = new WeakMap(); // prepared bundle -> its exposure keys (beacons.js)

/** A browser's {visit, exposures} (events.py's EventsEndpoint.exposures): each key counted once per
 * visit by this isolate's ledger (with a fleet ledger, once per visit across the fleet), in the population the visit's first counted exposure named;
 * nothing without consent. */
function browserExposures(srv, request, body, prepared, headers) {
  let keys = known.get(prepared);
  if (keys === undefined) known.set(prepared, (keys = knownExposures(prepared)));
  const [nonce, entries] = exposuresOf(body, keys, `${prepared.name} v${prepared.version}`);
  if (!srv.consent(request.headers, parseCookies(request.headers.get("cookie")))) {
    return json({ accepted: true, counted: 0, population: "no_consent" }, 202, headers);
  }
  const visit = srv.ledger.record(nonce, Date.now() / 1000);
  const fleet = srv.fleetLedger;
  const claim = fleet === null ? null // each new key counts once the visit's owner answers first (fleet_ledger.js)
    : (key, row) => fleet.claim(nonce, claimKey("exposure", key), new DeferredCounts().exposure(...row));
  const counted = countExposures(visit, entries, srv.measure, claim);
  return json({ accepted: true, counted, population: visit.population }, 202, headers);
}

/** A consenting browser's conversion (events.py's browser_conversion): attributed to the exposure
 * keys this isolate counted for the visit nonce, once per visit and goal. */
function browserConversion(srv, nonce, goal, value) {
  const visit = srv.ledger.record(nonce, Date.now() / 1000);
  if (visit.population === null || !visit.shown.length) {
    srv.measure.conversion(goal, [ALL, ALL, ""], "unattributed", value, true);
    return "unattributed";
  }
  if (visit.firstConversion(goal)) {
    const counts = new DeferredCounts();
    for (const key of visit.shown) counts.conversion(goal, key.split("|"), visit.population, value, true);
    counts.conversion(goal, [ALL, ALL, ""], visit.population, value, true);
    count(srv, nonce, goal, counts);
  }
  return visit.population;
}

/** (events.py's EventsEndpoint.count) A conversion new to this isolate's ledger: counted now, or, with a
 * fleet ledger, once the visit's owner answers that it is the fleet's first (fleet_ledger.js), after the response. */
function count(srv, nonce, goal, counts) {
  if (srv.fleetLedger === null) counts.apply(srv.measure);
  else srv.fleetLedger.claim(nonce, claimKey("goal", goal), counts);
}
