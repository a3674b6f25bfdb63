// The control worker of workerd_bench.py: the I/O a Strata request needs and none of Strata's work,
// so that "route − control" in one workerd process is Strata's own CPU per request (issue #26).
// Written once, here; it runs beside the edge worker in the same workerd process, on its own socket
// (bundled by esbuild, as the worker is), and in node beside its fetch handler (request_cpu.js).
//
//   POST /v1/decide: read the JSON body, parse the page URL, open the session cookie (AES-GCM with
//     WebCrypto, the edge worker's `s1.<kid>.<base64url(nonce || ciphertext)>` format and associated
//     data, so it opens the real cookies the bench mints) and seal it again with a fresh nonce (a
//     first visit seals a session-sized plaintext), answer a decide-sized JSON body (CONTROL_BODY_BYTES,
//     set by the bench from the edge worker's own answers) with decide's headers and Set-Cookie;
//   POST /v1/events: the same, answering events' 202 body;
//   any other GET (page mode): fetch the page from the origin, open and seal the cookie, and pass the
//     page through HTMLRewriter untouched (a no-op handler on the elements page mode rewrites).
// A request with Sec-GPC: 1 carries no consent: no cookie is opened or sealed, as in the edge worker.

import { b64url, b64urlDecode } from "../worker/base64url.js"; // the cookie's encoding, as the edge worker's

const enc = new TextEncoder();
const PREFIX = "s1";
let state = null; // per isolate: {key, kid, aad, body}

async function setup(env) {
  const [kid, b64] = env.STRATA_COOKIE_KEYS.split(",")[0].split(":");
  const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  const n = Number(env.CONTROL_BODY_BYTES);
  const body = JSON.stringify({ bundle: { name: "trailblazer", version: 100 }, slots: {}, consent: true, pad: "" });
  return { key, kid, aad: enc.encode(`${PREFIX}|strata_session|${kid}`), body: body.replace('"pad":""', `"pad":"${"x".repeat(Math.max(0, n - body.length))}"`) };
}

/** The cookie opened and sealed again ("strata_session=..." for Set-Cookie), or null without consent. */
async function cookie(request) {
  if (request.headers.get("sec-gpc") === "1") return null;
  const header = request.headers.get("cookie") ?? "";
  const m = /(?:^|;\s*)strata_session=([^;]*)/.exec(header);
  let plain = new Uint8Array(240); // a first visit's session is about this size
  if (!m && new URL(request.url).pathname === "/v1/events") return null; // events seals no session it did not get
  if (m) {
    const parts = m[1].split(".");
    const blob = b64urlDecode(parts[2]);
    plain = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: blob.subarray(0, 12), additionalData: state.aad }, state.key, blob.subarray(12)));
  }
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: state.aad }, state.key, plain));
  const blob = new Uint8Array(12 + ct.length);
  blob.set(nonce, 0);
  blob.set(ct, 12);
  return `strata_session=${PREFIX}.${state.kid}.${b64url(blob)}; Path=/; Max-Age=15552000; HttpOnly; SameSite=Lax`;
}

export default {
  async fetch(request, env) {
    if (state === null) state = await setup(env);
    const url = new URL(request.url);
    if (request.method === "POST") {
      const body = JSON.parse(await request.text());
      new URL(body.page?.url ?? "/", url); // the page URL, parsed (the result is not needed)
      const headers = { "content-type": "application/json", "cache-control": url.pathname === "/v1/events" ? "no-store" : "private, no-store" };
      if (url.pathname === "/v1/decide") headers.vary = env.CONTROL_VARY; // edge_contract.json's VARY, from the bench
      const c = await cookie(request);
      if (c !== null) headers["set-cookie"] = c;
      if (url.pathname === "/v1/events") return new Response(`{"accepted":true,"population":"personalized"}`, { status: 202, headers });
      return new Response(state.body, { headers });
    }
    const origin = await fetch("http://origin" + url.pathname + url.search);
    const c = await cookie(request);
    const headers = new Headers(origin.headers);
    if (c !== null) headers.set("set-cookie", c);
    const response = new Response(origin.body, { status: origin.status, headers });
    return new HTMLRewriter().on("[data-strata-slot]", { element() {} }).transform(response); // the selector page mode rewrites
  },
};
