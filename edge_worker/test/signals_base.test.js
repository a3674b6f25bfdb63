// A request's signals prepared in two parts (issue #26): the derived request signals once per
// request shape and bundle (Prepared.preparedOf), the request's own on top (prepareSignals's
// `base`), give the signal values and the decisions one merged object gives — for fuzzed request
// shapes, categories, session and client signals, with and without consent. The Python server's
// port of the same: tests/edge_server/test_signals_base.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { importKeys, prepareBundle } from "../runtime/index.js";
import { RequestContext } from "../worker/signals.js";
import { TRAILBLAZER_BUNDLE, VECTORS_PUB, rng } from "./vectors.js";

const NOW = 1793494800;
const URLS = ["/", "/tents.html", "/newsletter.html?utm_source=newsletter&utm_medium=email", "/product.html?utm_source=x&utm_campaign=y", "/cart.html"];
const UAS = ["Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0",
  "Mozilla/5.0 (compatible; Googlebot/2.1)", ""];

test("signals_base: derived signals prepared once and a request's own on top decide as one merged object", async () => {
  const prepared = await prepareBundle(new Uint8Array(TRAILBLAZER_BUNDLE), { keys: await importKeys([VECTORS_PUB]), now: NOW });
  const ctx = new RequestContext();
  const rand = rng(2026);
  const int = (n) => Math.floor(rand() * n);
  const pick = (xs) => xs[int(xs.length)];
  let derived = null;
  for (let n = 0; n < 600; n++) {
    const now = NOW + int(7200);
    const h = { "user-agent": pick(UAS), "accept-language": pick(["", "de-CH,de;q=0.9", "en"]), "cf-ipcountry": pick(["", "US", "DE"]) };
    const url = pick(URLS);
    const ref = pick([null, "https://www.google.com/", "https://l.facebook.com/x"]);
    const own = { "time.epoch": Math.floor(now) };
    if (rand() < 0.5) own["page.category"] = pick(["tents", "packs", "zelte"]);
    if (rand() < 0.8) {
      Object.assign(own, { "session.visit_count": 1 + int(8), "session.page_views": int(30), "session.total_page_views": int(90), "session.first_seen": NOW,
        "session.last_seen": now - int(3000), "session.recent_categories": ["tents", "packs", "stoves"].slice(int(3)), "session.utm_source": pick(["", "newsletter"]),
        "session.purchased": rand() < 0.2 });
    }
    if (rand() < 0.3) Object.assign(own, { "cart.value": pick([0, 49.5, 250]), "cart.items": [{ sku: "TB-1", category: "tents", price: 249.0, quantity: 1 }] });
    const consent = rand() < 0.8;
    derived = ctx.derived(url, (k) => h[k] ?? null, ref, now);
    const before = { ...derived };
    const merged = { ...derived, ...own };
    const values = prepared.prepareSignals(own, consent, prepared.preparedOf(derived));
    assert.deepEqual(values, prepared.prepareSignals(merged, consent), `request ${n}`);
    const sessionId = consent ? `session-${String(int(50)).padStart(4, "0")}` : null;
    const one = prepared.decide(merged, null, { sessionId, consent, now, checked: true });
    const two = prepared.decide(null, null, { sessionId, consent, now, checked: true, values });
    assert.deepEqual([two.decisions, two.scores, two.signals], [one.decisions, one.scores, one.signals], `request ${n}`);
    assert.deepEqual(derived, before, `request ${n}: the shared object is untouched`);
  }
  assert.equal(prepared.preparedOf(derived), prepared.preparedOf(derived)); // made once per object
});
