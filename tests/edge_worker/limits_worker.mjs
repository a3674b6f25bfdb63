// The worker's half of tests/edge_server/test_limits.py: for each case on stdin (a signed bundle at
// one of the compiler's limits, the requests of a visit, a cookie written by the Python server), run
// the visit through the real StrataWorker (node, the module workerd runs) and report the cookie each
// request set, the session the worker reads back from it, and the Python cookie as the worker reads it.
//
// stdin: {"pub": PEM, "keys": "k1:BASE64", "cases": [{"bundle": base64, "requests": [decide body...],
//          "python_cookies": [value...], "start_cookie": value|null (the visit's first cookie, optional)}]}
// stdout (last line): [{"cookies": [value...], "sessions": [session...], "python_sessions": [session|null...]}]
import { readFileSync } from "node:fs";

import * as runtime from "../../edge_worker/runtime/index.js";
import { StrataWorker } from "../../edge_worker/worker/server.js";
import { CookieCodec, importCookieKeys } from "../../edge_worker/worker/session.js";

const input = JSON.parse(readFileSync(0, "utf8"));
const BUNDLE_URL = "https://bundles.example/limits.strata";
const ctx = { waitUntil() {} };

/** A session as plain JSON, in session.py's field order (bytes as arrays). */
function plain(s) {
  if (s === null) return null;
  const models = Object.fromEntries(Object.entries(s.models).map(([k, e]) => [k, [e[0], e[1], [...e[2]], e[3], e[4], e[5], e[6]]]));
  return [s.sid, s.visitCount, s.pageViews, s.totalPageViews, s.firstSeen, s.lastSeen, s.recentCategories, s.utmSource, s.purchased,
    s.caps, s.exposures, s.shown, s.converted, s.visitNonce, models];
}

const codec = new CookieCodec(await importCookieKeys(input.keys), "strata_session");
const out = [];
for (const c of input.cases) {
  const bundle = Buffer.from(c.bundle, "base64");
  globalThis.fetch = async (url) => {
    if (String(url) === BUNDLE_URL) return new Response(bundle, { headers: { etag: '"limits"' } });
    throw new TypeError(`no network in tests: ${url}`);
  };
  const worker = new StrataWorker(runtime, { STRATA_BUNDLE: BUNDLE_URL, STRATA_PUB: input.pub, STRATA_COOKIE_KEYS: input.keys });
  let cookie = c.start_cookie ?? null; // a cookie holding older state, if the case gives one
  const cookies = [];
  const sessions = [];
  for (const body of c.requests) {
    const headers = { "content-type": "application/json", ...(cookie ? { cookie: `strata_session=${cookie}` } : {}) };
    const r = await worker.fetch(new Request("https://shop.example/v1/decide", { method: "POST", body: JSON.stringify(body), headers }), ctx);
    if (r.status !== 200) throw new Error(`decide answered ${r.status}: ${await r.text()}`);
    const set = r.headers.get("set-cookie") ?? "";
    cookie = set.split(";")[0].split("=").slice(1).join("=");
    cookies.push(cookie);
    sessions.push(plain(await codec.decode(cookie)));
  }
  const python = [];
  for (const value of c.python_cookies) python.push(plain(await codec.decode(value)));
  out.push({ cookies, sessions, python_sessions: python });
}
console.log(JSON.stringify(out));
