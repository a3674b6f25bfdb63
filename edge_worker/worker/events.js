// POST /v1/events: goal conversions, counted in aggregate (docs/measurement.md), as
// edge_server/events.py: application/json bodies only (415), browsers only from this site or an
// allowed origin (403), a goal value finite, non-negative and within the limit (422), a conversion
// counted once per visit and goal (the cookie and the ConversionLedger of dedup.js).

import { isObject, readJson } from "./body.js";
import { normaliseOrigin } from "./config.js";
import { ApiError, json, pyStr } from "./errors.js";
import { countConversion } from "./model_counts.js";
import { ALL } from "./measure.js";
import { parseCookies, pyStrip } from "./session.js";

const DEFAULT_PORTS = { http: 80, https: 443 };

/** (events.py's check_media_type) 415 unless the body is declared application/json. */
export function checkMediaType(headers) {
  const ctype = headers.get("content-type") ?? "";
  if (pyStrip(ctype.split(";", 1)[0]).toLowerCase() !== "application/json") {
    throw new ApiError(415, "unsupported_media_type", "POST /v1/events takes Content-Type: application/json");
  }
}

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
  throw new ApiError(403, "forbidden_origin", `POST /v1/events from origin ${pyStr(origin.slice(0, 100))}: not this site; allow another origin with --events-origin or STRATA_EVENTS_ORIGINS`);
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

/** (events.py's EventsEndpoint.fields) [goal, value] of an events body, or 422 naming the field;
 * `limit`: the largest goal value accepted (STRATA_MAX_GOAL_VALUE). */
export function eventFields(body, goals, limit) {
  if (!isObject(body) || Object.keys(body).some((k) => k !== "goal" && k !== "value")) throw new ApiError(422, "invalid_request", "body must be {goal, value?}", "body");
  const goal = body.goal;
  if (typeof goal !== "string" || !goals.includes(goal)) {
    throw new ApiError(422, "unknown_goal", `goal must be one of ${goals.join(", ") || "(none declared)"}`, "goal");
  }
  let value = Object.hasOwn(body, "value") ? body.value : 0; // null is a value (refused), as events.py's body.get reads it
  if (typeof value === "bigint") value = Number(value); // an exact integer beyond 2^53 (body.js): events.py takes float(value)
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new ApiError(422, "invalid_request", "value must be a finite, non-negative number", "value");
  }
  if (value > limit) {
    throw new ApiError(422, "value_too_large", `value ${pyG(value)} is over this server's limit ${pyG(limit)} (--max-goal-value / STRATA_MAX_GOAL_VALUE)`, "value");
  }
  return [goal, value];
}

/** POST /v1/events on the worker `srv` (server.js's StrataWorker): events.py's EventsEndpoint.handle. */
export async function eventsEndpoint(srv, request, ctx) {
  checkMediaType(request.headers);
  checkBrowserOrigin(request.headers, srv.eventsOrigins, new URL(request.url).host);
  const prepared = await srv.prepared(ctx);
  const body = await readJson(request, srv.config.maxBodyBytes);
  const [goal, value] = eventFields(body, prepared.goals, srv.config.maxGoalValue);
  const cookies = parseCookies(request.headers.get("cookie"));
  const consent = srv.consent(request.headers, cookies);
  const overall = [ALL, ALL, ""];
  const headers = { "cache-control": "no-store" };
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
  let population;
  if (session === null || !session.shown.length) {
    population = "unattributed"; // no decision in this visit yet: nothing to attribute to
    srv.measure.conversion(goal, overall, population, value, true);
  } else {
    const held = prepared.holdoutBp > 0 && srv.runtime.bucket(prepared.holdoutSeed, session.sid) < prepared.holdoutBp;
    population = held ? "holdout" : "personalized";
    if (session.firstConversion(goal) && srv.ledger.first(session.visitNonce, goal, now)) {
      for (const key of session.shown) srv.measure.conversion(goal, key.split("|"), population, value, true);
      srv.measure.conversion(goal, overall, population, value, true);
      for (const [exp, variant, period] of session.exposedThisVisit()) srv.measure.cohort(exp, variant, period, "converted", goal, value);
      countConversion(srv.measure, prepared, session, goal);
    }
  }
  if (session !== null) {
    if (goal === "purchase") session.purchased = true;
    const cookie = await srv.setCookie(cookies, session, consent);
    if (cookie !== null) headers["set-cookie"] = cookie;
  }
  return json({ accepted: true, population }, 202, headers);
}
