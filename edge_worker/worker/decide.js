// POST /v1/decide (docs/server.md), as edge_server/decide.py: the body's fields checked (422 naming
// the offending field), the decision path of server.js, the response with every slot's decision.

import { isObject, readJson } from "./body.js";
import { ApiError, json, pyStr } from "./errors.js";
import { parseCookies, pyLen } from "./session.js";
import { ClientSignalError, clientSignals, splitUrl } from "./signals.js";

/** Request headers a personalised response depends on; shared caches must key on all of them. */
export const VARY = "Cookie, Sec-GPC, DNT, Accept-Language, User-Agent, Sec-CH-UA-Mobile, Sec-CH-UA-Platform";
const MAX_SLOTS = 64;
const MAX_URL = 2048;
const FIELDS = new Set(["page", "slots", "signals", "page_view", "html"]);

/** `obj[key]` when the body has the key, else `fallback`: Python's dict.get, so an explicit null is a
 * value (refused where the field must be a string, a bool or an object), as decide.py reads it. */
const given = (obj, key, fallback) => (Object.hasOwn(obj, key) ? obj[key] : fallback);

/** (decide.py's decide_fields) the parts of a decide body, or 422 naming the offending field. */
export function decideFields(body) {
  if (!isObject(body)) throw new ApiError(422, "invalid_request", "body must be a JSON object", "body");
  const unknown = Object.keys(body).filter((k) => !FIELDS.has(k)).sort();
  if (unknown.length) throw new ApiError(422, "invalid_request", `unknown field ${pyStr(unknown[0])} (fields: page, slots, signals, page_view, html)`, unknown[0]);
  const html = given(body, "html", false);
  if (typeof html !== "boolean") throw new ApiError(422, "invalid_request", "html must be true or false", "html");
  const page = given(body, "page", {});
  if (!isObject(page)) throw new ApiError(422, "invalid_request", "page must be an object {url, referrer?, category?}", "page");
  const url = given(page, "url", "/");
  if (typeof url !== "string" || pyLen(url) > MAX_URL) throw new ApiError(422, "invalid_request", `page.url must be a string of at most ${MAX_URL} characters`, "page.url");
  if (splitUrl(url) === null) {
    throw new ApiError(422, "invalid_url", "page.url is not a valid URL: send location.pathname + location.search, or an absolute http(s) URL", "page.url");
  }
  const ref = page.referrer ?? null;
  if (ref !== null && (typeof ref !== "string" || pyLen(ref) > MAX_URL)) throw new ApiError(422, "invalid_request", "page.referrer must be a string", "page.referrer");
  const cat = given(page, "category", "");
  if (typeof cat !== "string" || pyLen(cat) > 64) throw new ApiError(422, "invalid_request", "page.category must be a string of at most 64 characters", "page.category");
  const slots = body.slots ?? null;
  if (slots !== null && (!Array.isArray(slots) || slots.length > MAX_SLOTS || !slots.every((s) => typeof s === "string" && pyLen(s) <= 64))) {
    throw new ApiError(422, "invalid_request", `slots must be a list of at most ${MAX_SLOTS} slot names`, "slots");
  }
  const pv = given(body, "page_view", true);
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

/** POST /v1/decide on the worker `srv` (server.js's StrataWorker): decide.py's DecideEndpoint. */
export async function decideEndpoint(srv, request, url, ctx) {
  const prepared = await srv.prepared(ctx);
  const body = await readJson(request, srv.config.maxBodyBytes);
  const f = decideFields(body);
  checkSlots(f.slots, prepared);
  let client;
  try {
    client = clientSignals(f.signals, prepared, srv.config.maxClientSignals);
  } catch (e) {
    if (e instanceof ClientSignalError) throw new ApiError(422, "invalid_signal", e.message, e.field);
    throw e;
  }
  const explain = srv.config.debug && ["1", "true"].includes(url.searchParams.get("explain"));
  const cookies = parseCookies(request.headers.get("cookie"));
  let decided;
  try {
    decided = await srv.decide(request, cookies, prepared, f.url, f.ref, f.cat, f.slots, client, f.pageView, explain);
  } catch (e) {
    if (e instanceof URIError) throw new ApiError(422, "invalid_url", `page.url is not a URL: ${e.message}`, "page.url");
    throw e;
  }
  const { outcome, session, consent } = decided;
  const slots = {};
  for (const [slot, d] of Object.entries(outcome.decisions)) {
    const j = d.toJSON();
    if (f.html) j.html = srv.htmlOf(d.content);
    slots[slot] = j;
  }
  const out = { bundle: { name: prepared.name, version: prepared.version }, slots };
  if (outcome.segments !== null && outcome.segments !== undefined) {
    out.segments = outcome.segments;
    out.scores = outcome.scores ?? {}; // as edge_server/decide.py: always with segments when explained
  }
  out.consent = consent;
  const headers = { "cache-control": "private, no-store", vary: VARY };
  const cookie = await srv.setCookie(cookies, session, consent);
  if (cookie !== null) headers["set-cookie"] = cookie;
  return json(out, 200, headers);
}
