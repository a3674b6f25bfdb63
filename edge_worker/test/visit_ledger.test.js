// The worker's visit ledger against a model of what it promises (edge_server/visit_ledger.py's
// test_visit_ledger_bounded_forgets_the_least_recently_served_first, with time): a visit is
// remembered until `ttl` after its last request here, and when full the least recently served visit
// is forgotten first. Generated sequences of visits and clock steps, seeded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { VisitLedger } from "../worker/visit_ledger.js";

function rng(seed) {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s % n;
  };
}

test("visit_ledger_forgets_the_least_recently_served_first_and_after_its_ttl", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = rng(seed);
    const capacity = 1 + r(8);
    const ttl = 1 + r(20);
    const ledger = new VisitLedger(ttl, capacity);
    let recent = []; // the model: [nonce, last request], least recently served first
    let evicted = 0;
    let now = 0;
    for (let step = 0; step < 120; step++) {
      now += r(4) === 0 ? r(ttl + 2) : 0;
      const nonce = `n${r(16)}`;
      recent = recent.filter(([, seen]) => seen >= now - ttl);
      const known = recent.some(([n]) => n === nonce);
      assert.equal(ledger.firstConversion(nonce, "purchase", now), !known, `seed ${seed} step ${step}`);
      if (!known && recent.length === capacity) {
        recent.shift();
        evicted += 1;
      }
      recent = [...recent.filter(([n]) => n !== nonce), [nonce, now]];
      assert.equal(ledger.size, recent.length, `seed ${seed} step ${step}`);
      assert.equal(ledger.evicted, evicted, `seed ${seed} step ${step}`);
    }
  }
});
