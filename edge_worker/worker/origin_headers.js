// The headers of a page the worker serves from its origin (STRATA_ORIGIN): every end-to-end header
// the origin sent, except the few Strata must own, and a cache directive never less restrictive
// than the origin's. The port of edge_server/origin_headers.py (same names, camelCase); its
// docstring states the rules, docs/security.md the guarantee.

import { HOP_HEADERS, SHARED_CACHE_DIRECTIVES, VALIDATORS, VARY } from "./contract.js";

// Never forwarded by a proxy, identifying the origin's exact bytes, letting a shared cache store a
// response: the edge contract's tables (edge_server/edge_contract.json), read by the server's port too.
export const HOP_BY_HOP = HOP_HEADERS;
const SHARED = SHARED_CACHE_DIRECTIVES;
export { VALIDATORS };

/** A Headers object as [name, value] pairs, every Set-Cookie its own pair (names lower case). */
export function headerPairs(headers) {
  const out = [];
  for (const [k, v] of headers) if (k.toLowerCase() !== "set-cookie") out.push([k.toLowerCase(), v]);
  for (const c of headers.getSetCookie ? headers.getSetCookie() : []) out.push(["set-cookie", c]);
  return out;
}

/** The names never forwarded: HOP_BY_HOP and every name the Connection header lists. */
export function hopByHop(pairs) {
  const out = new Set(HOP_BY_HOP);
  for (const [k, v] of pairs) if (k.toLowerCase() === "connection") for (const t of v.split(",")) if (t.trim()) out.add(t.trim().toLowerCase());
  return out;
}

/** Cache-Control as a Map name -> argument (null without one), names lower case; the first of a repeated name wins. */
export function directives(value) {
  const out = new Map();
  for (const part of value.split(",")) {
    const at = part.indexOf("=");
    const name = (at < 0 ? part : part.slice(0, at)).trim().toLowerCase();
    if (name && !out.has(name)) out.set(name, at < 0 ? null : part.slice(at + 1).trim().replace(/^"|"$/g, ""));
  }
  return out;
}

/** The Cache-Control Strata sends (origin_headers.py's restrictive_cache_control): never less
 * restrictive than `origin` (null when the origin sent none). */
export function restrictiveCacheControl(origin, { personalised, credentialed }) {
  if (personalised) return "private, no-store";
  if (!credentialed) return origin;
  if (directives(origin ?? "").has("no-store")) return "private, no-store";
  const kept = (origin ?? "").split(",").map((p) => p.trim()).filter((p) => p && [...directives(p).keys()].every((n) => !SHARED.has(n) && n !== "private"));
  return ["private", ...kept].join(", ");
}

/** The origin's Vary values and `extra`, each name once (`*` stays `*`); remembered per combination
 * (an origin sends the same few Vary values on every page). */
export function mergeVary(origin, extra) {
  const key = origin.length ? `${origin.join("\n")}\u0000${extra}` : extra;
  let out = merged.get(key);
  if (out === undefined) {
    if (merged.size >= 256) merged.clear();
    merged.set(key, (out = merge(origin, extra)));
  }
  return out;
}

const merged = new Map(); // Vary values and extra -> mergeVary's answer, at most 256 (a key is at most the headers' size)

function merge(origin, extra) {
  const names = new Map();
  for (const value of [...origin, extra]) for (let t of value.split(",")) if ((t = t.trim()) && !names.has(t.toLowerCase())) names.set(t.toLowerCase(), t);
  return names.has("*") ? "*" : [...names.values()].join(", ");
}

/** A strong ETag made weak; a weak one unchanged. */
export const weak = (etag) => (etag.trim().startsWith("W/") ? etag.trim() : "W/" + etag.trim());

/** The response headers for a page built from the origin's headers `origin` ([name, value] pairs),
 * as origin_headers.py's page_headers: pairs, Strata's Set-Cookie appended. */
export function pageHeaders(origin, { personalised, credentialed, bodyChanged, contentType = null, setCookie = null }) {
  const drop = hopByHop(origin);
  drop.add("cache-control");
  drop.add("vary");
  if (contentType !== null) drop.add("content-type");
  if (personalised) for (const v of VALIDATORS) drop.add(v);
  const encoded = origin.some(([k]) => k.toLowerCase() === "content-encoding");
  const out = [];
  for (const [k, v] of origin) {
    const name = k.toLowerCase();
    if (drop.has(name)) continue;
    out.push([name, name === "etag" && (bodyChanged || encoded) ? weak(v) : v]);
  }
  if (contentType !== null) out.push(["content-type", contentType]);
  const cc = origin.filter(([k]) => k.toLowerCase() === "cache-control").map(([, v]) => v);
  const cache = restrictiveCacheControl(cc.length ? cc.join(", ") : null, { personalised, credentialed });
  if (cache !== null) out.push(["cache-control", cache]);
  const vary = origin.filter(([k]) => k.toLowerCase() === "vary").map(([, v]) => v);
  if (personalised) out.push(["vary", mergeVary(vary, VARY)]);
  else if (vary.length) out.push(["vary", mergeVary(vary, "")]);
  if (setCookie !== null) out.push(["set-cookie", setCookie]);
  return out;
}

/** Pairs as a Headers object (repeated names appended: the constructor appends each pair, in one call). */
export function toHeaders(pairs) {
  return new Headers(pairs);
}
