// The cuts of issue #26 change no byte (docs/edge-worker.md, "What was cut"): base64url.js against
// Python's urlsafe_b64encode/urlsafe_b64decode semantics and the previous implementation, and
// decide's response text, joined from cached per-decision fragments, against JSON.stringify of the
// response object, over generated requests (seeded) with and without html, explained or not.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as runtime from "../runtime/index.js";
import { b64url, b64urlDecode } from "../worker/base64url.js";
import { render } from "../worker/render.js";
import { StrataWorker } from "../worker/server.js";
import { BUNDLE_URL, VECTORS_PUB, rng, serveBundleOffline } from "./vectors.js";

/** The definition the table-driven codec replaced: Python's urlsafe_b64decode(body + padding). */
function reference(body) {
  const clean = body.replaceAll("-", "+").replaceAll("_", "/").replace(/[^A-Za-z0-9+/]/g, "");
  if (clean.length % 4 === 1) return null;
  return Uint8Array.from(atob(clean + "=".repeat((4 - (clean.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

test("base64url: encodes as Python's urlsafe_b64encode without padding, decodes as urlsafe_b64decode, for every length and junk", () => {
  const r = rng(26);
  const JUNK = ["=", "==", " ", "\n", ".", "é", "\u{1F600}", "+", "/", "*"];
  for (let i = 0; i < 2000; i++) {
    // short ones, and some longer than a cookie (past the encoder's first buffer, then short again)
    const bytes = Uint8Array.from({ length: Math.floor(r() * (i % 10 === 0 ? 1200 : 70)) }, () => Math.floor(r() * 256));
    const text = b64url(bytes);
    assert.equal(text, Buffer.from(bytes).toString("base64url"));
    assert.deepEqual(b64urlDecode(text), bytes);
    // characters outside the alphabet anywhere, '+' and '/' for '-' and '_', and cut at every length
    let noisy = "";
    for (const c of text) noisy += (r() < 0.1 ? JUNK[Math.floor(r() * JUNK.length)] : "") + (c === "-" && r() < 0.5 ? "+" : c === "_" && r() < 0.5 ? "/" : c);
    const cut = noisy.slice(0, Math.floor(r() * (noisy.length + 1)));
    assert.deepEqual(b64urlDecode(cut), reference(cut), JSON.stringify(cut));
  }
});

serveBundleOffline();
const KEYS = "k1:" + Buffer.alloc(32, 9).toString("base64");
const ctx = { waitUntil() {} };

test("decide body: the cached fragments give JSON.stringify's text of the response, html or not, explained or not", async () => {
  for (const debug of ["0", "1"]) {
    const worker = new StrataWorker(runtime, { STRATA_BUNDLE: BUNDLE_URL, STRATA_PUB: VECTORS_PUB, STRATA_COOKIE_KEYS: KEYS, STRATA_DEBUG: debug });
    const prepared = await worker.prepared(ctx);
    const r = rng(debug === "1" ? 7 : 3);
    const pick = (xs) => xs[Math.floor(r() * xs.length)];
    let cookie = null;
    for (let i = 0; i < 150; i++) {
      const html = r() < 0.5;
      const slots = r() < 0.3 ? null : prepared.slotIds.filter(() => r() < 0.6);
      const url = pick(["/", "/tents.html", "/?utm_source=newsletter&utm_medium=email", "/cart.html?x=%C3%A9"]);
      const body = { page: { url, category: pick(["", "tents", "stoves"]) }, html, ...(slots === null ? {} : { slots }) };
      const headers = { "content-type": "application/json", ...(cookie && r() < 0.7 ? { cookie } : {}), ...(r() < 0.1 ? { "sec-gpc": "1" } : {}) };
      const explain = debug === "1" && r() < 0.5 ? "?explain=1" : "";
      const res = await worker.fetch(new Request(`https://shop.example/v1/decide${explain}`, { method: "POST", headers, body: JSON.stringify(body) }), ctx);
      assert.equal(res.status, 200);
      cookie = (res.headers.get("set-cookie") ?? "").split(";")[0] || cookie;
      const text = await res.text();
      const parsed = JSON.parse(text);
      // the object the endpoint answered before the cut, from the same decisions
      const expected = { bundle: { name: prepared.name, version: prepared.version }, slots: {} };
      for (const [slot, d] of Object.entries(parsed.slots)) {
        if (html) assert.equal(d.html, render(d.content), `the html of ${slot}'s own content`);
        else assert.equal("html" in d, false);
        expected.slots[slot] = { ...d };
      }
      if (parsed.segments !== undefined) {
        expected.segments = parsed.segments;
        expected.scores = parsed.scores;
      }
      expected.consent = parsed.consent;
      assert.equal(text, JSON.stringify(expected), `request ${i}`);
      assert.deepEqual(Object.keys(parsed), ["bundle", "slots", ...(explain ? ["segments", "scores"] : []), "consent"]);
      for (const d of Object.values(parsed.slots)) {
        assert.deepEqual(Object.keys(d), ["rule", "variant", "experiment", "layer", "segment", "reason", "content", ...(explain ? ["trace"] : []), ...(html ? ["html"] : [])]);
      }
    }
  }
});
