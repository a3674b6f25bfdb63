// The worker after the hardening of issue #12, as the Python server (edge_server/events.py,
// visit_ledger.py, decide.py, app.py): what /v1/events accepts and how often a conversion counts,
// /metrics behind the stats token, unknown slots and malformed URLs refused, page paths checked.
// Page mode itself needs HTMLRewriter (tests/edge_worker/test_workerd.py); the path check comes first.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as runtime from "../runtime/index.js";
import { BUNDLE_URL, VECTORS_PUB, rng, serveBundleOffline } from "./vectors.js";
import { sameHost } from "../worker/events.js";
import { StrataWorker } from "../worker/server.js";
import { CookieCodec, importCookieKeys } from "../worker/session.js";
import { VisitLedger } from "../worker/visit_ledger.js";

const KEYS = "k1:" + Buffer.alloc(32, 7).toString("base64");
const ENV = { STRATA_BUNDLE: BUNDLE_URL, STRATA_PUB: VECTORS_PUB, STRATA_COOKIE_KEYS: KEYS, STRATA_STATS_TOKEN: "tok",
  STRATA_EVENTS_ORIGINS: "https://www.shop.example", STRATA_MAX_GOAL_VALUE: "5000" };

serveBundleOffline();

const ctx = { waitUntil() {} };
const client = (env = ENV) => {
  const worker = new StrataWorker(runtime, env);
  const post = (path, body, headers = {}) => worker.fetch(new Request(`https://shop.example${path}`, {
    method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": "application/json", ...headers } }), ctx);
  const get = (path, headers = {}) => worker.fetch(new Request(`https://shop.example${path}`, { headers }), ctx);
  return { worker, post, get };
};
const cookieOf = (r) => (r.headers.get("set-cookie") ?? "").split(";")[0];
const errorOf = async (r) => (await r.json()).error;

/** The overall conversion count of `goal` for consenting visitors in a stats snapshot. */
async function conversions(get, goal) {
  const snap = await (await get("/v1/stats", { authorization: "Bearer tok" })).json();
  return snap.conversions.filter((c) => c.goal === goal && c.arm === "*" && ["personalized", "holdout"].includes(c.population))
    .reduce((n, c) => n + c.count, 0);
}

test("worker_events_conversion_counts_once_per_visit_even_when_the_cookie_is_replayed", async () => {
  const { post, get } = client();
  const cookie = cookieOf(await post("/v1/decide", {}));
  assert.equal(await conversions(get, "purchase"), 0);
  const first = await post("/v1/events", { goal: "purchase", value: 10 }, { cookie });
  assert.equal(first.status, 202);
  assert.equal(await conversions(get, "purchase"), 1);
  for (let i = 0; i < 3; i++) assert.equal((await post("/v1/events", { goal: "purchase", value: 10 }, { cookie })).status, 202); // the older cookie, replayed
  assert.equal(await conversions(get, "purchase"), 1);
  assert.equal((await post("/v1/events", { goal: "purchase", value: 10 }, { cookie: cookieOf(first) })).status, 202); // the newer one knows
  assert.equal(await conversions(get, "purchase"), 1);
});

test("worker_events_visit_without_exposure_counts_unattributed", async () => {
  const { post } = client();
  const cookie = cookieOf(await post("/v1/decide", { slots: [] }));
  const r = await post("/v1/events", { goal: "purchase" }, { cookie });
  assert.equal((await r.json()).population, "unattributed");
  assert.equal((await (await post("/v1/events", { goal: "purchase" })).json()).population, "unattributed"); // no cookie
});

test("worker_events_refuses_other_media_types_other_sites_and_bad_values", async () => {
  const { post } = client();
  const cases = [
    [{ "content-type": "text/plain" }, { goal: "purchase" }, 415, "unsupported_media_type"],
    [{ "content-type": "application/x-www-form-urlencoded" }, { goal: "purchase" }, 415, "unsupported_media_type"],
    [{ origin: "https://evil.example" }, { goal: "purchase" }, 403, "forbidden_origin"],
    [{ origin: "http://shop.example:8080" }, { goal: "purchase" }, 403, "forbidden_origin"],
    [{ "sec-fetch-site": "cross-site" }, { goal: "purchase" }, 403, "forbidden_origin"],
    [{}, { goal: "purchase", value: -1 }, 422, "invalid_request"],
    [{}, { goal: "purchase", value: 1e309 }, 400, "invalid_json"], // out of the double range: not JSON on both runtimes (worker/json_syntax.js)
    [{}, { goal: "purchase", value: 5000.5 }, 422, "value_too_large"],
  ];
  for (const [headers, body, status, code] of cases) {
    const r = await post("/v1/events", typeof body.value === "number" && !Number.isFinite(body.value) ? '{"goal":"purchase","value":1e309}' : body, headers);
    assert.equal(r.status, status, JSON.stringify([headers, body]));
    assert.equal((await errorOf(r)).code, code);
  }
  const accepted = [{ origin: "https://shop.example" }, { origin: "http://shop.example:443".replace(":443", "") }, { origin: "https://WWW.shop.example/" },
    { origin: "https://shop.example", "content-type": "application/json; charset=utf-8" }, { "sec-fetch-site": "same-origin" }, {}];
  for (const headers of accepted) assert.equal((await post("/v1/events", { goal: "purchase", value: 5000 }, headers)).status, 202, JSON.stringify(headers));
});

test("worker_events_without_consent_expire_the_cookie_and_count_no_consent", async () => {
  const { post } = client();
  const cookie = cookieOf(await post("/v1/decide", {}));
  for (const headers of [{ "sec-gpc": "1" }, { dnt: "1" }, { cookie: `${cookie}; strata_consent=no` }]) {
    const r = await post("/v1/events", { goal: "purchase" }, { cookie, ...headers });
    assert.equal((await r.json()).population, "no_consent");
    assert.equal(r.headers.get("set-cookie"), "strata_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure");
  }
});

test("worker_events_fuzz_generated_headers_and_bodies_never_500_and_only_json_from_this_site_is_accepted", async () => {
  const { post } = client();
  const r = rng(12);
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const origins = [null, "https://shop.example", "https://evil.example", "null", "https://shop.example:443", "http://shop.example:80", "https://[::1",
    "https://shop.example:99999", "https://user@shop.example", "https://www.shop.example", "HTTPS://SHOP.EXAMPLE/", ""];
  const ctypes = ["application/json", "text/plain", "application/json;charset=utf-8", "", "multipart/form-data", " APPLICATION/JSON "];
  const values = [0, 1, 4999.99, 5000, 5001, -0.5, "1", null, true, [], 1e300];
  for (let i = 0; i < 300; i++) {
    const headers = { "content-type": pick(ctypes) };
    const origin = pick(origins);
    if (origin !== null) headers.origin = origin;
    if (r() < 0.3) headers["sec-fetch-site"] = pick(["cross-site", "same-site", "same-origin", "none"]);
    const body = { goal: pick(["purchase", "signup", "nope"]), value: pick(values) };
    const res = await post("/v1/events", body, headers);
    assert.ok([202, 400, 403, 413, 415, 422].includes(res.status), `${res.status} for ${JSON.stringify([headers, body])}`);
    if (res.status === 202) {
      assert.equal(headers["content-type"].split(";")[0].trim().toLowerCase(), "application/json");
      assert.ok(origin === null ? headers["sec-fetch-site"] !== "cross-site" : ["https://shop.example", "https://shop.example:443", "http://shop.example:80", "https://www.shop.example", "HTTPS://SHOP.EXAMPLE/"].includes(origin), origin);
    }
  }
});

test("worker_same_host_compares_host_and_port_by_scheme_as_events_py", () => {
  assert.equal(sameHost("https://shop.example", "shop.example:443"), true);
  assert.equal(sameHost("http://a:8080", "a:8081"), false);
  assert.equal(sameHost("http://a", "A:80"), true);
  assert.equal(sameHost("https://[::1]:8443", "[::1]:8443"), true);
  assert.equal(sameHost("https://a:99999", "a"), false);
  assert.equal(sameHost("ftp://a", "a"), false);
  assert.equal(sameHost("https://a/x", "a"), false);
});

test("worker_visit_ledger_counts_once_forgets_after_its_ttl_since_the_last_request_and_is_bounded", () => {
  const l = new VisitLedger(10, 3);
  assert.equal(l.firstConversion("n1", "purchase", 100), true);
  assert.equal(l.firstConversion("n1", "purchase", 105), false);
  assert.equal(l.firstConversion("n1", "signup", 105), true);
  assert.equal(l.firstConversion("n1", "purchase", 114), false); // touched at 105: remembered until 115
  assert.equal(l.firstConversion("n1", "purchase", 125), true); // 114 + 10 < 125: forgotten
  const r = l.record("n2", 125);
  assert.deepEqual(["k", "k", "j"].map((k) => r.firstExposure(k)), [true, false, true]);
  assert.deepEqual(["a", "a", "b", "a"].map((v) => r.firstCohortExposure("e", v)), [true, false, true, true]);
  for (const n of ["a", "b", "c", "d"]) l.firstConversion(n, "g", 126);
  assert.equal(l.size, 3);
  assert.equal(l.evicted, 3); // n1, n2 and a, the least recently served
  assert.equal(l.firstConversion("b", "g", 126), false);
});

test("worker_metrics_need_the_stats_token_when_one_is_set", async () => {
  const { get } = client();
  const r = await get("/metrics");
  assert.equal(r.status, 401);
  assert.equal(r.headers.get("www-authenticate"), 'Bearer realm="strata"');
  assert.equal((await get("/metrics", { authorization: "Bearer nope" })).status, 401);
  const ok = await get("/metrics", { authorization: "Bearer tok" });
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /strata_requests_total/);
  const { STRATA_STATS_TOKEN, ...open } = ENV;
  assert.equal((await client(open).get("/metrics")).status, 200); // no token configured: open, as the Python server
});

test("worker_decide_unknown_slot_names_unknown_and_known_slots", async () => {
  const { post } = client();
  const r = await post("/v1/decide", { slots: ["hero", "nope", "nope", "zz"] });
  assert.equal(r.status, 422);
  const e = await errorOf(r);
  assert.equal(e.code, "unknown_slot");
  assert.equal(e.field, "slots");
  assert.match(e.message, /unknown slot\(s\) 'nope', 'zz'; bundle 'trailblazer' has: .*hero/);
});

test("worker_decide_malformed_page_url_is_422_invalid_url_and_a_double_slash_path_is_a_path", async () => {
  const { post } = client();
  for (const url of ["http://[broken/", "https://[zz]/", "http://[::1/x"]) {
    const r = await post("/v1/decide", { page: { url } });
    assert.equal(r.status, 422, url);
    assert.deepEqual(await errorOf(r), (await errorOf(await post("/v1/decide", { page: { url } }))));
    assert.equal((await errorOf(await post("/v1/decide", { page: { url } }))).code, "invalid_url");
  }
  assert.equal((await post("/v1/decide", { page: { url: "//cdn.example/x" } })).status, 200);
});

test("worker_page_path_too_long_or_with_control_characters_is_400_invalid_path", async () => {
  const { get } = client({ ...ENV, STRATA_ORIGIN: "https://origin.example" });
  for (const path of ["/a%00b", "/x%0Ay", "/%7F", "/" + "a".repeat(2048)]) {
    const r = await get(path);
    assert.equal(r.status, 400, path.slice(0, 20));
    assert.equal((await errorOf(r)).code, "invalid_path");
  }
});

test("worker_cookie_written_before_visit_nonces_gets_a_nonce_and_keeps_its_counters", async () => {
  const { post } = client();
  const codec = new CookieCodec(await importCookieKeys(KEYS), "strata_session");
  const s = await codec.decode(cookieOf(await post("/v1/decide", {})).split("=")[1]);
  assert.match(s.visitNonce, /^[A-Za-z0-9_-]{16}$/);
  const { encode } = await import("@msgpack/msgpack");
  const old = encode([s.sid, 1, 2, 2, s.firstSeen, Math.floor(Date.now() / 1000), [], "", false, {}, {}, ["hero|x|"], []]); // 13 fields
  const value = await codec.seal(old);
  const back = await codec.decode(value);
  assert.equal(back.visitNonce, "");
  const next = await codec.decode(cookieOf(await post("/v1/decide", {}, { cookie: `strata_session=${value}` })).split("=")[1]);
  assert.equal(next.sid, s.sid);
  assert.equal(next.pageViews, 3);
  assert.match(next.visitNonce, /^[A-Za-z0-9_-]{16}$/);
});
