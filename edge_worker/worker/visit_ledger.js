// What this isolate counted for each visit it served: one record per visit nonce, forgotten after
// the visit timeout — edge_server/visit_ledger.py's VisitLedger (the reasons are there). Per nonce:
// the goals converted, the exposure keys counted, per experiment the variant whose exposure counted,
// and the visit's model state this isolate last counted ({lineage, entries, entered}), which
// model_counts.js counts changes from unless the cookie descends from it. So on one isolate any
// sequence of replayed or altered cookies counts a visit once. Nothing personal is kept (the nonce
// is random, not the session id); memory is bounded by `capacity` visits (the least recently served
// is forgotten first, counted in `evicted`: strata_visit_ledger_evictions_total).

import { VISIT_LEDGER_CAPACITY } from "./contract.js";

/** The empty list every record starts with (frozen: a record writes only into its own). */
const NONE = Object.freeze([]);

export class VisitRecord {
  constructor(seen) {
    this.seen = seen; // the last request of the visit here
    // arrays rather than Sets and Maps (as visit_ledger.py's tuples): a visit converts a few goals
    // and is shown a few keys, and an empty Set alone takes more than a short array; until the
    // first of each, the one frozen empty array (most visits convert nothing; a first request
    // makes its record before it counts anything)
    this.goals = NONE; // goals converted
    this.shown = NONE; // exposure keys counted
    this.experiments = NONE; // [experiment, the variant whose exposure counted]
    this.population = null; // a browser's visit (beacons.js): the population its first counted exposure named
    this.nonce = null; // the visit's nonce, and its neighbours in the ledger's order (VisitLedger)
    this.older = null;
    this.newer = null;
    this.models = null; // {lineage: Uint8Array, entries: the model entries packed as the cookie packs them (Uint8Array), entryCount, entered: bitmask}
  }

  /** True once per goal (it is then remembered). */
  firstConversion(goal) {
    if (this.goals.includes(goal)) return false;
    if (this.goals === NONE) this.goals = [];
    this.goals.push(goal);
    return true;
  }

  /** True once per exposure key (it is then remembered). */
  firstExposure(key) {
    if (this.shown.includes(key)) return false;
    if (this.shown === NONE) this.shown = [];
    this.shown.push(key);
    return true;
  }

  /** True once per experiment and variant in a row (a reassignment to another variant counts). */
  firstCohortExposure(experiment, variant) {
    const i = this.experiments.findIndex(([e]) => e === experiment);
    if (i >= 0 && this.experiments[i][1] === variant) return false;
    if (this.experiments === NONE) this.experiments = [];
    if (i >= 0) this.experiments.splice(i, 1);
    this.experiments.push([experiment, variant]);
    return true;
  }
}

export class VisitLedger {
  constructor(ttl, capacity = VISIT_LEDGER_CAPACITY) {
    if (capacity < 1) throw new Error("capacity must be at least 1");
    this.ttl = ttl;
    this.capacity = capacity;
    this.evicted = 0; // visits forgotten before their time because the ledger was full
    this.visits = new Map(); // nonce -> VisitRecord
    // The records in a ring, least recently touched first (after `head`). Moving a record there is two
    // pointer swaps; deleting and re-setting a Map key to move it (the Map's insertion order) costs V8
    // 4 µs per touch at 20,000 visits and 12 µs near capacity (edge_worker/bench/decide_path.js).
    this.head = { older: null, newer: null };
    this.head.older = this.head.newer = this.head;
  }

  get size() {
    return this.visits.size;
  }

  /** The record of `nonce`, touched at `now` (new when this isolate has none). */
  record(nonce, now) {
    this.expire(now);
    let rec = this.visits.get(nonce);
    if (rec === undefined) {
      rec = new VisitRecord(now);
      rec.nonce = nonce;
      this.visits.set(nonce, rec);
      if (this.visits.size > this.capacity) {
        this.#forget(this.head.newer);
        this.evicted += 1;
      }
    } else {
      rec.seen = now;
      this.#unlink(rec);
    }
    this.#link(rec); // the most recently touched
    return rec;
  }

  #link(rec) {
    const last = this.head.older;
    rec.older = last;
    rec.newer = this.head;
    last.newer = rec;
    this.head.older = rec;
  }

  #unlink(rec) {
    rec.older.newer = rec.newer;
    rec.newer.older = rec.older;
  }

  #forget(rec) {
    this.#unlink(rec);
    this.visits.delete(rec.nonce);
  }

  /** True when (nonce, goal) has not converted here within the visit (it is then remembered). */
  firstConversion(nonce, goal, now) {
    return this.record(nonce, now).firstConversion(goal);
  }

  expire(now) {
    const limit = now - this.ttl;
    for (let rec = this.head.newer; rec !== this.head && rec.seen < limit; rec = this.head.newer) this.#forget(rec);
  }
}
