// Conversions, exposures and cohort exposures once per visit across the fleet (docs/deployment.md,
// "Replays across a fleet"): the worker's side of edge_server/fleet_ledger.py (the reasons are
// there). With STRATA_FLEET_LEDGER set (the base URLs of the strata serve replicas that hold the
// fleet's claims, the same list on every server and worker), a conversion (goal:NAME), an exposure
// key (exposure:SLOT|ARM|LAYER) or a cohort exposure (cohort:EXPERIMENT=VARIANT) this isolate's
// visit ledger sees as new is claimed at the
// replica that owns the visit nonce (rendezvous hashing: ownerOf, pinned by
// tests/vectors/fleet_ledger.json) with a signed strata-ledger/1 body (POST /v1/ledger, signed with
// STRATA_COUNTERS_SECRET as a counter batch), after the response, in ctx.waitUntil. It is counted
// only when the owner answers that it is the fleet's first; an owner that does not answer after
// ATTEMPTS, or refuses the body, leaves it to the local ledger (counted, and counted in
// strata_fleet_ledger_fallbacks_total{reason}); at most MAX_PENDING claims wait in memory (beyond,
// reason full). An isolate evicted with claims in flight loses those conversions (at most the
// claims of its last responses).

import { FLEET_LEDGER_FALLBACKS, FLEET_LEDGER_FORMAT, FLEET_LEDGER_LIMITS, FLEET_LEDGER_PATH, FLEET_LEDGER_RESULTS } from "./contract.js";
import { hmacKey, sign } from "./counter_batches.js";

export const FORMAT = FLEET_LEDGER_FORMAT;
export const PATH = FLEET_LEDGER_PATH;
const { MAX_CLAIMS, MAX_KEY, MAX_PENDING, ATTEMPTS, TIMEOUT } = FLEET_LEDGER_LIMITS;
const [UNREACHABLE, REFUSED, FULL] = FLEET_LEDGER_FALLBACKS;
const [FIRST, REPEAT] = FLEET_LEDGER_RESULTS;
const utf8 = new TextEncoder();

/** (fleet_ledger.py's ledger_urls) The replicas of a fleet ledger setting: URLs separated by spaces or
 * commas, without a trailing slash; an Error naming one that is not an http(s) base URL. */
export function ledgerUrls(spec) {
  const out = [];
  for (let u of spec.replace(/,/g, " ").split(/\s+/).filter(Boolean)) {
    u = u.replace(/\/+$/, "");
    if (!/^https?:\/\/[^/?#\s@]+(\/[^?#]*)?$/i.test(u)) {
      throw new Error(`${JSON.stringify(u.slice(0, 100))} is not a replica's base URL: write http(s)://host[:port] (claims go to ${PATH} under it)`);
    }
    if (!out.includes(u)) out.push(u);
  }
  return out;
}

/** (fleet_ledger.py's _weight) FNV-1a (32 bits) of the UTF-8 of url, a NUL and the nonce, then murmur3's finaliser. */
function weight(url, nonce) {
  let h = 0x811c9dc5;
  for (const b of utf8.encode(`${url}\u0000${nonce}`)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Whether the UTF-8 of `a` sorts before that of `b` (Python's bytes order). */
function utf8Before(a, b) {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] < y[i];
  return x.length < y.length;
}

/** (fleet_ledger.py's owner_of) The replica of `urls` that owns `nonce`: the highest weight, on a tie
 * the URL whose UTF-8 is smaller. */
export function ownerOf(nonce, urls) {
  if (!urls.length) throw new Error("a fleet ledger needs at least one replica URL");
  let best = urls[0];
  let bw = weight(best, nonce);
  for (const u of urls.slice(1)) {
    const w = weight(u, nonce);
    if (w > bw || (w === bw && utf8Before(u, best))) [best, bw] = [u, w];
  }
  return best;
}

/** (fleet_ledger.py's claim_key) "kind:name". */
export const claimKey = (kind, name) => `${kind}:${name}`;

/** What one claim would count, held until it is answered: the calls on measure.js's Measurement
 * (conversion, exposure, cohort, modelEvent — the model rows of model_counts.js's countConversion)
 * and any other counter's (later: a cohort's strata_variant_exposures_total). */
export class DeferredCounts {
  constructor() {
    this.calls = [];
  }

  /** Call `fn()` when the claim counts. */
  later(fn) {
    this.calls.push([fn, null]);
    return this;
  }

  exposure(...args) {
    this.calls.push(["exposure", args]);
    return this;
  }

  conversion(...args) {
    this.calls.push(["conversion", args]);
  }

  cohort(...args) {
    this.calls.push(["cohort", args]);
    return this;
  }

  modelEvent(...args) {
    this.calls.push(["modelEvent", args]);
  }

  apply(measure) {
    for (const [method, args] of this.calls) {
      if (args === null) method();
      else measure[method](...args);
    }
  }
}

export class FleetLedger {
  /** `config`: config.js's fleetLedger (the replicas) and countersSecret; `measure`: where answered
   * conversions count. */
  constructor(config, measure) {
    this.urls = config.fleetLedger;
    this.key = hmacKey(config.countersSecret);
    this.measure = measure;
    this.pending = []; // [nonce, key, DeferredCounts], oldest first
    this.inflight = 0; // claims sent and not yet answered
    this.scheduled = false; // a send is scheduled and has not taken the pending claims yet
    this.fallbacks = new Map(); // reason -> conversions counted from the local ledger alone
    this.claims = new Map(); // first | repeat -> claims answered by an owner
  }

  /** Count `counts` once the owner of `nonce` answers that (nonce, key) is the fleet's first. */
  claim(nonce, key, counts) {
    if (key.length > MAX_KEY) return this.fallback([counts], REFUSED); // the owner would refuse the whole batch
    if (this.pending.length + this.inflight >= MAX_PENDING) return this.fallback([counts], FULL);
    this.pending.push([nonce, key, counts]);
  }

  fallback(counts, reason) {
    for (const c of counts) c.apply(this.measure);
    this.fallbacks.set(reason, (this.fallbacks.get(reason) ?? 0) + counts.length);
  }

  /** strata_fleet_ledger_fallbacks_total and strata_fleet_ledger_claims_total (metrics.js; `ledger` null: no rows). */
  static families(ledger) {
    return [
      { name: "strata_fleet_ledger_fallbacks_total", type: "counter",
        help: "Conversions, exposures and cohort exposures counted from this process's visit ledger alone because the fleet ledger's owner could not be asked, by reason (unreachable, refused, full)",
        rows: ledger ? [...ledger.fallbacks].map(([reason, n]) => [{ reason }, n]) : [] },
      { name: "strata_fleet_ledger_claims_total", type: "counter",
        help: "Conversions, exposures and cohort exposures claimed at their visit's owner in the fleet ledger, by the owner's answer (first: counted; repeat: counted elsewhere already)",
        rows: ledger ? [...ledger.claims].map(([result, n]) => [{ result }, n]) : [] },
    ];
  }

  /** After a response: a promise for ctx.waitUntil that sends the pending claims (batched per owner,
   * each batch on its own: a slow owner delays no other's answers), or null when none wait or a send
   * is already scheduled (it takes them). */
  maybeSend() {
    if (this.scheduled || this.pending.length === 0) return null;
    this.scheduled = true;
    return (async () => {
      await null; // the response goes first, and the claims of requests answered meanwhile join
      this.scheduled = false;
      const batch = this.pending.splice(0);
      const byOwner = new Map();
      for (const c of batch) {
        const owner = ownerOf(c[0], this.urls);
        if (!byOwner.has(owner)) byOwner.set(owner, []);
        byOwner.get(owner).push(c);
      }
      const sends = [];
      for (const [owner, claims] of byOwner) for (let i = 0; i < claims.length; i += MAX_CLAIMS) sends.push(this.send(owner, claims.slice(i, i + MAX_CLAIMS)));
      await Promise.all(sends);
    })();
  }

  async send(owner, claims) {
    this.inflight += claims.length;
    try {
      await this.attempts(owner, claims);
    } catch (e) { // a claim is never lost: it counts from the local ledger
      console.warn(`strata: fleet ledger claims to ${owner} failed: ${e.message}`);
      this.fallback(claims.map(([, , c]) => c), UNREACHABLE);
    } finally {
      this.inflight -= claims.length;
    }
  }

  async attempts(owner, claims) {
    const key = await this.key;
    let reason = UNREACHABLE;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (attempt) await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      const body = JSON.stringify({ format: FORMAT, created: Date.now(), claims: claims.map(([n, k]) => [n, k]) });
      let r;
      try {
        r = await fetch(owner + PATH, { method: "POST", body, signal: AbortSignal.timeout(TIMEOUT * 1000),
          headers: { "content-type": "application/json", "x-strata-signature": await sign(key, body), "user-agent": "strata-edge-worker" } });
      } catch (e) {
        console.warn(`strata: fleet ledger ${owner} did not answer ${claims.length} claims (attempt ${attempt + 1} of ${ATTEMPTS}): ${e.message}`);
        continue;
      }
      const answer = await r.json().catch(() => null);
      if (r.status === 200) {
        const first = answer?.first;
        if (Array.isArray(first) && first.length === claims.length && first.every((f) => typeof f === "boolean")) {
          claims.forEach(([, , counts], i) => {
            const result = first[i] ? FIRST : REPEAT;
            this.claims.set(result, (this.claims.get(result) ?? 0) + 1);
            if (first[i]) counts.apply(this.measure);
          });
          return;
        }
      } else if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) {
        console.warn(`strata: fleet ledger ${owner} refused ${claims.length} claims with ${r.status} ${answer?.error?.code ?? ""} (check STRATA_COUNTERS_SECRET and the clocks)`);
        reason = REFUSED;
        break;
      }
    }
    this.fallback(claims.map(([, , c]) => c), reason);
  }
}
