// Page mode, as edge_server/pages.py: fetch a page from the origin (STRATA_ORIGIN), decide every
// slot it marks with data-strata-slot and rewrite it (rewrite.js), so pages arrive personalised
// with no flicker (docs/server.md); the debug overlay; and GET /v1/client.js for pages that fill
// their slots in the browser instead.

import * as py from "../runtime/python.js";
import { CLIENT_JS } from "./client_js.js";
import { allowInlineStyle } from "./csp.js";
import { HOP_HEADERS, MAX_PATH, OVERLAY_CSS, SIGNALS_COOKIE, VARY, error } from "./contract.js";
import { ApiError } from "./errors.js";
import { jsonValue } from "./json_syntax.js";
import { headerPairs, hopByHop, pageHeaders, toHeaders } from "./origin_headers.js";
import { escapeHtml } from "./render.js";
import { MAX_PAGE_BYTES, fillPage, readPage } from "./rewrite.js";
import { parseCookies } from "./session.js";
import { clientSignals } from "./signals.js";

const CONTROL = /[\x00-\x1f\x7f]/;
const UTF8 = new TextEncoder();
const PAGE_TEXT = new TextDecoder(); // a page's bytes as text (U+FFFD for what is not UTF-8; a BOM dropped)
/** Request headers not forwarded to the origin: hop-by-hop ones, and Host (the origin's own). */
const NOT_FORWARDED = new Set([...HOP_HEADERS, "host"]);

/** GET /v1/client.js (pages.py's client_js). */
export const clientJs = () => new Response(CLIENT_JS, { headers: { "content-type": "application/javascript", "cache-control": "public, max-age=300" } });

/** (pages.py's _check_page_path) 400 invalid_path for a path no page can have: over MAX_PATH
 * characters, or with a control character (a decoded %00, %0A...). */
export function checkPagePath(path) {
  const n = py.len(path);
  if (n > MAX_PATH) throw error("path_too_long", { length: n, max_path: MAX_PATH });
  if (CONTROL.test(path)) throw error("path_control");
}

/** A page (GET or HEAD of any path outside the API) on the worker `srv` (server.js's StrataWorker): pages.py's page_endpoint. */
export async function pageEndpoint(srv, request, url, ctx) {
  checkPagePath(py.unquote(url.pathname)); // the path percent-decoded, as the Python server's (ASGI) path is
  let prepared = srv.prepared(ctx);
  if (prepared instanceof Promise) prepared = await prepared; // only before the first bundle is loaded: no promise turn after
  const cookies = parseCookies(request.headers.get("cookie"));
  const fetched = await originPage(srv, request, url, cookies);
  if (fetched.passthrough) return fetched.passthrough;
  const doc = await readPage(fetched.html, fetched.bytes);
  if (doc.mode === "client") return passthrough(fetched.response, fetched.bytes, fetched.credentialed); // the page fills its own slots: the origin's bytes
  const client = cookieSignals(cookies, prepared, srv.config.maxClientSignals);
  const pageUrl = py.unquote(url.pathname) + url.search; // the path percent-decoded, as the Python server's (ASGI) path is
  const explain = srv.config.debug;
  let decided;
  try {
    // a slot the bundle lacks keeps the page's own markup (the page may be deployed ahead of its bundle), as pages.py's _known_slots
    const slots = doc.slots.filter((s) => prepared.slotTable.has(s));
    decided = srv.decide(request, cookies, prepared, pageUrl, request.headers.get("referer"), doc.category, slots, client, true, explain);
    if (decided instanceof Promise) decided = await decided; // a cookie to open; none: no turn
  } catch (e) {
    if (e instanceof URIError) throw new ApiError(400, "invalid_path", `the page path is not a URL path: ${e.message}`);
    throw e;
  }
  const { outcome, session, consent } = decided;
  let cookie = srv.setCookie(cookies, session, consent);
  if (cookie instanceof Promise) cookie = await cookie; // a session to seal; none without consent: no turn
  let headers = pageHeaders(headerPairs(fetched.response.headers), { personalised: true, credentialed: fetched.credentialed, bodyChanged: true,
    contentType: "text/html; charset=utf-8", setCookie: cookie });
  let panel = null;
  if (explain) {
    const style = await allowInlineStyle(headers, OVERLAY_CSS);
    headers = style.headers;
    panel = (style.allowed ? overlayStyle(style.nonce) : "") + overlay(outcome);
  }
  const body = await fillPage(fetched.html, outcome.decisions, (d) => srv.htmlOf(d.content), panel);
  return new Response(request.method === "HEAD" ? null : body, { status: fetched.status, headers: toHeaders(headers) });
}

/** Client signals a page keeps in the strata_signals cookie (URL-encoded JSON); ignored when invalid (pages.py's _cookie_signals). */
function cookieSignals(cookies, prepared, limit) {
  const raw = cookies.get(SIGNALS_COOKIE);
  if (!raw || raw.length > 4096) return {};
  try {
    return clientSignals(jsonValue(UTF8.encode(py.unquote(raw))), prepared, limit); // what orjson refuses is ignored here too
  } catch {
    return {};
  }
}

/** The page from the origin: {html, bytes, status, response, credentialed} (credentialed: the request
 * carried the visitor's Cookie or Authorization), or {passthrough: response} for anything not
 * rewritten (pages.py's _origin_page). `cookies`: the request's (parseCookies). */
async function originPage(srv, request, url, cookies) {
  const target = srv.config.origin.replace(/\/+$/, "") + url.pathname + url.search;
  const pairs = [...request.headers]; // one pass over the request's headers (names lower case, each once)
  const drop = hopByHop(pairs);
  const kept = pairs.filter(([k]) => !drop.has(k) && !NOT_FORWARDED.has(k) && k !== "cookie");
  const forwarded = [...cookies].filter(([k]) => k !== srv.config.cookieName).map(([k, v]) => `${k}=${v}`).join("; ");
  if (forwarded) kept.push(["cookie", forwarded]);
  const headers = new Headers(kept);
  const credentialed = headers.has("cookie") || headers.has("authorization");
  let r;
  try {
    r = await fetch(target, { headers, redirect: "manual" });
  } catch (e) {
    throw new ApiError(502, "origin_unreachable", `origin did not answer: ${e.name}`);
  }
  const ctype = r.headers.get("content-type") ?? "";
  const length = Number(r.headers.get("content-length") ?? 0);
  if (r.status !== 200 || !ctype.includes("text/html") || length > MAX_PAGE_BYTES) return { passthrough: passthrough(r, r.body, credentialed) };
  const bytes = new Uint8Array(await r.arrayBuffer());
  if (bytes.length > MAX_PAGE_BYTES) return { passthrough: passthrough(r, bytes, credentialed) };
  return { html: PAGE_TEXT.decode(bytes), bytes, status: r.status, response: r, credentialed };
}

/** The origin's response `r` with `body` as it sent it, its end-to-end headers, the cache directive
 * at least private when `credentialed` (pages.py's _passthrough). */
function passthrough(r, body, credentialed) {
  const headers = pageHeaders(headerPairs(r.headers), { personalised: false, credentialed, bodyChanged: false });
  return new Response(body, { status: r.status, headers: toHeaders(headers) });
}

/** The panel's <style> element, with the origin's CSP nonce when it needs one (pages.py's overlay_style). */
export const overlayStyle = (nonce) => `<style${nonce ? ` nonce="${esc(nonce)}"` : ""}>${OVERLAY_CSS}</style>`;

const esc = (s) => escapeHtml(String(s));

/** The debug panel (pages.py's _overlay): per slot, what was chosen and why, every value escaped; styled by OVERLAY_CSS. */
export function overlay(outcome) {
  const rows = [];
  for (const [slot, d] of Object.entries(outcome.decisions)) {
    const chosen = d.variant ? `${d.experiment}/${d.variant}` : d.rule || "default";
    const trace = (d.trace || []).map((t) => `<li>${esc(t.candidate)} <small>(${esc(t.layer)})</small>: ${esc(t.result)}${t.message ? " — " + esc(t.message) : ""}</li>`).join("");
    rows.push(`<tr><td>${esc(slot)}</td><td><b>${esc(chosen)}</b></td><td>${esc(d.layer || "")}</td><td>${esc(d.reason)}</td><td><ul>${trace}</ul></td></tr>`);
  }
  const segs = Object.entries(outcome.segments || {}).map(([k, v]) => `${esc(k)}=${v !== null && typeof v === "object" ? "error" : String(v).toLowerCase()}`).join(", ");
  const scores = Object.entries(outcome.scores || {}).map(([k, v]) => `${esc(k)}=${py.formatFixed(v, 3)}`).join(", ");
  return '<aside id="strata-debug"><b>Strata debug</b> — ' + esc(outcome.bundle) + ` v${outcome.version}` +
    "<table><tr><th align=left>slot</th><th align=left>chosen</th>" +
    "<th align=left>layer</th><th align=left>reason</th><th align=left>candidates</th></tr>" + rows.join("") +
    `</table><div>segments: ${segs || "—"}</div><div>scores: ${scores || "—"}</div></aside>`;
}
