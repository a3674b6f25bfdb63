// POST /v1/decide (docs/server.md), as edge_server/decide.py: the body's fields checked (422 naming
// the offending field), the decision path of server.js, the response with every slot's decision.

import * as py from "../runtime/python.js";
import { compareStrings } from "../runtime/values.js";
import { isObject, parseJson, readBody } from "./body.js";
import { DECIDE_FIELDS, MAX_NAME, MAX_SLOTS, MAX_URL, VARY, error } from "./contract.js";
import { ApiError } from "./errors.js";
import { parseCookies } from "./session.js";
import { ClientSignalError, clientSignals, splitUrl } from "./signals.js";

const FIELDS = new Set(DECIDE_FIELDS);

/** (decide.py's decide_fields) the parts of a decide body, or 422 naming the offending field. */
export function decideFields(body) {
  if (!isObject(body)) throw error("body_not_object");
  const keys = Object.keys(body);
  for (let i = 0; i < keys.length; i++) {
    if (!FIELDS.has(keys[i])) {
      const unknown = keys.filter((k) => !FIELDS.has(k)).sort(compareStrings); // by code point, as Python's sorted()
      throw error("unknown_field", { name: py.repr(unknown[0]), fields: DECIDE_FIELDS.join(", "), field: unknown[0] });
    }
  }
  const html = py.get(body, "html", false); // as Python's body.get: an explicit null is refused, not the default
  if (typeof html !== "boolean") throw error("html_not_bool");
  const page = py.get(body, "page", {});
  if (!isObject(page)) throw error("page_not_object");
  const url = py.get(page, "url", "/");
  if (typeof url !== "string" || py.longer(url, MAX_URL)) throw error("page_url_type", { max_url: MAX_URL });
  if (splitUrl(url) === null) throw error("page_url_invalid");
  const ref = py.get(page, "referrer");
  if (ref !== null && (typeof ref !== "string" || py.longer(ref, MAX_URL))) throw error("page_referrer_type");
  const cat = py.get(page, "category", "");
  if (typeof cat !== "string" || py.longer(cat, MAX_NAME)) throw error("page_category_type", { max_name: MAX_NAME });
  const slots = py.get(body, "slots");
  if (slots !== null && (!Array.isArray(slots) || slots.length > MAX_SLOTS || !slots.every((s) => typeof s === "string" && !py.longer(s, MAX_NAME)))) {
    throw error("slots_type", { max_slots: MAX_SLOTS });
  }
  const pv = py.get(body, "page_view", true);
  if (typeof pv !== "boolean") throw error("page_view_not_bool");
  return { url, ref, cat, slots, signals: py.get(body, "signals"), pageView: pv, html };
}

/** (decide.py's check_slots) 422 unknown_slot naming the requested slots the bundle does not have, and the ones it has. */
export function checkSlots(slots, prepared) {
  if (slots === null) return;
  const unknown = [...new Set(slots)].filter((s) => !prepared.slotTable.has(s));
  if (unknown.length) {
    const known = prepared.slotIds.join(", ") || "(none)";
    throw error("unknown_slot", { slots: unknown.map((s) => py.repr(s)).join(", "), bundle: py.repr(prepared.name), known });
  }
}

/** POST /v1/decide on the worker `srv` (server.js's StrataWorker): decide.py's DecideEndpoint. */
export async function decideEndpoint(srv, request, url, ctx) {
  let prepared = srv.prepared(ctx);
  if (prepared instanceof Promise) prepared = await prepared; // only before the first bundle is loaded: no promise turn after
  const body = parseJson(await readBody(request, srv.config.maxBodyBytes)); // one turn: the platform's read
  const f = decideFields(body);
  checkSlots(f.slots, prepared);
  let client;
  try {
    client = clientSignals(f.signals, prepared, srv.config.maxClientSignals);
  } catch (e) {
    if (e instanceof ClientSignalError) throw error(e.key, e.values);
    throw e;
  }
  const explain = srv.config.debug && ["1", "true"].includes(url.searchParams.get("explain"));
  const cookies = parseCookies(request.headers.get("cookie"));
  let decided;
  try {
    decided = srv.decide(request, cookies, prepared, f.url, f.ref, f.cat, f.slots, client, f.pageView, explain);
    if (decided instanceof Promise) decided = await decided; // a cookie to open; none: no turn
  } catch (e) {
    if (e instanceof URIError) throw new ApiError(422, "invalid_url", `page.url is not a URL: ${e.message}`, "page.url");
    throw e;
  }
  const { outcome, session, consent } = decided;
  const headers = { "content-type": "application/json", "cache-control": "private, no-store", vary: VARY };
  let cookie = srv.setCookie(cookies, session, consent);
  if (cookie instanceof Promise) cookie = await cookie; // a session to seal; none without consent: no turn
  if (cookie !== null) headers["set-cookie"] = cookie;
  return new Response(decideBody(srv, prepared, outcome, consent, f.html), { status: 200, headers });
}

/** The JSON text of a decide response: {"bundle", "slots", "segments"?, "scores"?, "consent"} (decide.py's
 * body). Without an explanation it is a concatenation of cached fragments, byte for byte the text
 * JSON.stringify would write: each prebuilt decision's JSON (with or without its HTML) is made once
 * per decision object (decisions are the bundle's immutable objects), as the Python server caches them. */
export function decideBody(srv, prepared, outcome, consent, html) {
  if (outcome.segments !== null && outcome.segments !== undefined) {
    const slots = {};
    for (const [slot, d] of Object.entries(outcome.decisions)) {
      const j = d.toJSON();
      if (html) j.html = srv.htmlOf(d.content);
      slots[slot] = j;
    }
    // as edge_server/decide.py: scores always with segments when explained
    return JSON.stringify({ bundle: { name: prepared.name, version: prepared.version }, slots, segments: outcome.segments, scores: outcome.scores ?? {}, consent });
  }
  let out = bundleJson(prepared) + ',"slots":{';
  let first = true;
  for (const slot in outcome.decisions) {
    const d = outcome.decisions[slot];
    out += (first ? "" : ",") + (slot === d.slot && d.trace === null ? slotJson(srv, d, html) : JSON.stringify(slot) + ":" + decisionJson(srv, d, html));
    first = false;
  }
  return out + '},"consent":' + (consent ? "true}" : "false}");
}

/** '{"bundle":{"name":...,"version":...}' of a prepared bundle, made once per bundle. */
const bundleJsons = new WeakMap();
function bundleJson(prepared) {
  let s = bundleJsons.get(prepared);
  if (s === undefined) bundleJsons.set(prepared, (s = '{"bundle":' + JSON.stringify({ name: prepared.name, version: prepared.version })));
  return s;
}

/** '"<slot>":<decision's JSON>' ([without, with] its HTML) of an untraced decision under its own slot, made once per decision object. */
const slotJsons = new WeakMap();
function slotJson(srv, d, html) {
  let pair = slotJsons.get(d);
  if (pair === undefined) slotJsons.set(d, (pair = [null, null]));
  const i = html ? 1 : 0;
  return (pair[i] ??= JSON.stringify(d.slot) + ":" + decisionJson(srv, d, html));
}

/** A decision's JSON ([without, with] its HTML), made once per decision object; a traced decision is made per request. */
const decisionJsons = new WeakMap();
function decisionJson(srv, d, html) {
  if (d.trace !== null) return JSON.stringify(html ? { ...d.toJSON(), html: srv.htmlOf(d.content) } : d);
  let pair = decisionJsons.get(d);
  if (pair === undefined) decisionJsons.set(d, (pair = [JSON.stringify(d), null]));
  if (!html) return pair[0];
  if (pair[1] === null) pair[1] = pair[0].slice(0, -1) + ',"html":' + JSON.stringify(srv.htmlOf(d.content)) + "}";
  return pair[1];
}
