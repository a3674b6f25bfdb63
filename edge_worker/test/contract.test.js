// The edge's contract (edge_server/edge_contract.json) is defined once: worker/contract.js exports
// exactly its tables, every consumer answers its errors with the table's texts, and no worker source
// keeps a copy (tests/edge_server/test_contract.py checks the Python server the same way).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import * as contract from "../worker/contract.js";
import { checkSlots, decideFields } from "../worker/decide.js";
import { ApiError } from "../worker/errors.js";
import { eventFields } from "../worker/events.js";
import { checkPagePath } from "../worker/pages.js";
import * as session from "../worker/session.js";
import { ROOT, copies } from "./contract_scan.js";

const TABLE = JSON.parse(readFileSync(ROOT + "edge_server/edge_contract.json", "utf8"));
/** The modules that check the contract's limits: a limit written there as a number is a copy. */
const CHECKERS = ["edge_worker/worker/decide.js", "edge_worker/worker/events.js", "edge_worker/worker/pages.js", "edge_worker/worker/signals.js",
  "edge_worker/worker/session.js"];

test("contract.js exports the tables", () => {
  const s = TABLE.signals;
  const h = TABLE.http;
  assert.deepEqual([contract.WEBMAIL, contract.SEARCH, contract.SOCIAL], ["webmail", "search", "social"].map((k) => s.referrer_hosts[k]));
  assert.deepEqual(contract.UTM, s.utm.values);
  assert.deepEqual([...contract.UNKNOWN_COUNTRIES], s.unknown_countries.values);
  for (const k of ["bot", "tablet", "mobile"]) {
    const re = contract[k.toUpperCase()];
    assert.equal(re.source, s.device_patterns[k]);
    assert.equal(re.flags, "i");
  }
  assert.deepEqual({ ...contract.LENGTHS }, Object.fromEntries(Object.entries(s.lengths).filter(([k]) => k !== "doc")));
  for (const k of ["VARY", "MAX_URL", "MAX_PATH", "MAX_SLOTS", "MAX_NAME"]) assert.equal(contract[k], h[k].value, k);
  assert.deepEqual(contract.DECIDE_FIELDS, h.decide_fields.values);
  assert.deepEqual(contract.EVENTS_FIELDS, h.events_fields.values);
  assert.deepEqual([...contract.CONSENT_REFUSALS], h.consent_refusals.values);
  assert.deepEqual([...contract.HOP_HEADERS], h.hop_headers.values);
  for (const section of ["http", "stats"]) {
    for (const [k, v] of Object.entries(TABLE[section])) if (/^[A-Z_]+$/.test(k)) assert.equal(contract[k], v.value, k);
  }
  assert.deepEqual([contract.POPULATIONS, contract.MODEL_EVENTS], [TABLE.stats.populations.values, TABLE.stats.model_events.values]);
  for (const [k, v] of Object.entries(TABLE.session)) if (k !== "doc") assert.equal(session[k], v.value, k);
});

function refusal(f) {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    return [e.status, e.code, e.message, e.field];
  }
  assert.fail("not refused");
}

function expected(key, values = {}) {
  const { message, field } = contract.message(key, values);
  return [TABLE.errors[key].status, TABLE.errors[key].code, message, field];
}

// the same bodies as tests/edge_server/test_contract.py's DECIDE_REFUSALS
const DECIDE_REFUSALS = [
  [[1], "body_not_object", {}],
  [{ page: {}, zz: 1, "extra\u00a0": 2 }, "unknown_field", { name: "'extra\\xa0'", fields: "page, slots, signals, page_view, html", field: "extra\u00a0" }],
  [{ html: 1 }, "html_not_bool", {}],
  [{ page: [] }, "page_not_object", {}],
  [{ page: { url: "/".repeat(2049) } }, "page_url_type", { max_url: 2048 }],
  [{ page: { url: "http://[::1/x" } }, "page_url_invalid", {}],
  [{ page: { referrer: 3 } }, "page_referrer_type", {}],
  [{ page: { category: "c".repeat(65) } }, "page_category_type", { max_name: 64 }],
  [{ slots: Array(65).fill("s") }, "slots_type", { max_slots: 64 }],
  [{ page_view: "yes" }, "page_view_not_bool", {}],
];

test("decide refuses with the contract's text", () => {
  for (const [body, key, values] of DECIDE_REFUSALS) assert.deepEqual(refusal(() => decideFields(body)), expected(key, values), key);
});

test("events and page paths are refused with the contract's text", () => {
  assert.deepEqual(refusal(() => eventFields({ goal: "x", other: 1 }, ["x"], 10)), expected("events_body"));
  assert.deepEqual(refusal(() => eventFields({ goal: "y" }, ["x", "z"], 10)), expected("unknown_goal", { goals: "x, z" }));
  assert.deepEqual(refusal(() => eventFields({ goal: "x", value: null }, ["x"], 10)), expected("goal_value")); // as Python: null is no number
  assert.deepEqual(refusal(() => eventFields({ goal: "x", value: 1234567 }, ["x"], 1e6)), expected("goal_value_too_large", { value: "1.23457e+06", limit: "1e+06" }));
  assert.deepEqual(refusal(() => checkPagePath("/" + "p".repeat(2048))), expected("path_too_long", { length: 2049, max_path: 2048 }));
  assert.deepEqual(refusal(() => checkPagePath("/a\u0000")), expected("path_control"));
});

/** [status, code, message, field] of the ApiError `f()` throws, or null when it accepts. */
function answer(f) {
  try {
    f();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    return [e.status, e.code, e.message, e.field];
  }
  return null;
}

test("decide, slot and events refusals answer what the Python server answers (tests/vectors/refusals_http.json)", () => {
  const V = JSON.parse(readFileSync(ROOT + "tests/vectors/refusals_http.json", "utf8"));
  for (const c of V.decide) assert.deepEqual(answer(() => decideFields(c.body)), c.expect, JSON.stringify(c.body).slice(0, 200));
  for (const c of V.slots) {
    const prepared = { name: c.bundle, slotTable: new Map(c.known.map((k) => [k, {}])), slotIds: c.known };
    assert.deepEqual(answer(() => checkSlots(c.slots, prepared)), c.expect, JSON.stringify(c));
  }
  for (const c of V.events) assert.deepEqual(answer(() => eventFields(c.body, c.goals, c.limit)), c.expect, JSON.stringify(c));
  assert.ok(V.decide.length > 100 && V.events.some((c) => c.expect?.[1] === "value_too_large"));
});

test("no worker source keeps a copy of the edge contract", () => {
  const found = copies(TABLE, ["edge_worker/worker/contract.js"], CHECKERS);
  assert.deepEqual(found, [], `read these from worker/contract.js:\n${found.join("\n")}`);
});

test("the contract scan reports a message written out, and a limit", () => {
  const files = {
    "x.py": 'raise ApiError(422, "invalid_request", "page.referrer must be a string", "page.referrer")\n',
    "y.js": "throw new ApiError(422, 'x', `slots must be a list of at most ${n} slot names`);\n",
    "z.py": "_MAX_WARNED = 2048\n@lru_cache(maxsize=2048)\nx = u[:2048]\n",
  };
  assert.deepEqual(copies(TABLE, [], ["z.py"], files), [
    "x.py:1: the message 'page.referrer must be a string'... written out",
    "y.js:1: the message 'slots must be a list of at most '... written out",
    "z.py:3: 2048 (MAX_URL/MAX_PATH) written as a literal",
  ]);
});
