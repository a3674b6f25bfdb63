// Conversions already counted by this isolate: (visit nonce, goal) pairs, forgotten after the visit
// timeout — edge_server/dedup.py's ConversionLedger. The cookie remembers the goals its visit
// converted, but a client can replay an older copy of its cookie as often as it likes; each visit
// carries a random nonce (worker/session.js), and this ledger counts each (nonce, goal) once.
// Forgetting after the visit timeout is enough: /v1/events treats a cookie idle for longer as a new
// visit with a new nonce. Nothing personal is kept (the nonce is random, not the session id);
// memory is bounded by `capacity` (the oldest pair is forgotten early, counted in `evicted`).


import { LEDGER_CAPACITY } from "./contract.js";

export class ConversionLedger {
  constructor(ttl, capacity = LEDGER_CAPACITY) {
    if (capacity < 1) throw new Error("capacity must be at least 1");
    this.ttl = ttl;
    this.capacity = capacity;
    this.evicted = 0;
    this.seen = new Map(); // "nonce goal" -> when recorded; a Map iterates in insertion order: oldest first
  }

  get size() {
    return this.seen.size;
  }

  /** True when (nonce, goal) has not converted in the last `ttl` seconds (it is then recorded). */
  first(nonce, goal, now) {
    this.expire(now);
    const key = `${nonce} ${goal}`; // a nonce is base64url: it never contains a space
    if (this.seen.has(key)) return false;
    this.seen.set(key, now);
    if (this.seen.size > this.capacity) {
      this.seen.delete(this.seen.keys().next().value);
      this.evicted += 1;
    }
    return true;
  }

  expire(now) {
    const limit = now - this.ttl;
    for (const [key, t] of this.seen) {
      if (t >= limit) return;
      this.seen.delete(key);
    }
  }
}
