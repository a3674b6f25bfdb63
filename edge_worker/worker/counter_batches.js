// Aggregated mode of fleet counting (docs/deployment.md "Fleet counting"): every isolate pushes the
// deltas of its counters to `strata serve` replicas (POST /v1/counters at STRATA_COUNTERS_URL),
// which add them up and are scraped as usual, so the fleet's series grow with replicas, not
// isolates. The replica's side is edge_server/counter_batches.py; the batch format, the families
// and the signature are the same there.
//
// - A batch (`strata-counters/1`) carries an id (this isolate's id and a sequence number), its
//   creation time and, per family of FAMILIES, rows [[label values in the family's order], delta].
//   It is signed: X-Strata-Signature: v1=<hex HMAC-SHA256(STRATA_COUNTERS_SECRET, body)>.
// - Idempotent and retried until acknowledged: a batch is sent again, byte for byte, until a replica
//   answers 200 (the replica counts an id once). It goes to one replica for its whole life (the
//   isolate picks one of STRATA_COUNTERS_URL's comma-separated URLs by its id): that replica
//   remembers the ids it added.
// - Bounded memory: new batches are formed only when the previous ones are acknowledged; until
//   then the counts wait in the counters themselves (the baseline of what was batched stays put),
//   so memory is the counters, their baseline, the keys of the rows changed since the last batch
//   (measure.js's Changes: a batch reads only those rows) and one delta, whatever the endpoint does.
// - Drops are counted (strata_counter_dropped_rows_total{reason}): a batch refused for good (a 4xx
//   other than 408/429: wrong secret, invalid) or older than STRATA_COUNTERS_MAX_AGE (a replica no
//   longer tells it from a replay) is dropped. These counters travel in the next batches too.
// - A failing endpoint never delays a response: a push runs in ctx.waitUntil after the response,
//   one at a time, at most every STRATA_PUSH_INTERVAL seconds, with a backoff that doubles.

import { METRIC_FAMILIES, COUNTER_BATCH_FORMAT } from "./contract.js";

// The batch format and its families (labels in order, whether values are sums of goal values): the
// edge contract's (edge_server/edge_contract.json), the replica's too.
export { COUNTER_BATCH_FORMAT as FORMAT, METRIC_FAMILIES as FAMILIES };
/** Rows in one batch (a replica takes up to 20,000). */
export const BATCH_ROWS = 5000;
export const MAX_BACKOFF = 300_000;
export const PUSH_TIMEOUT = 10_000;

const utf8 = new TextEncoder();

/** The X-Strata-Signature value of `body` (a string) under `key` (hmacKey's CryptoKey). */
export async function sign(key, body) {
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8.encode(body)));
  return "v1=" + Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function hmacKey(secret) {
  return crypto.subtle.importKey("raw", utf8.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

/** The replica an isolate pushes to: one of the comma-separated URLs, by a hash of its id. */
export function replicaOf(urls, instance) {
  const list = urls.split(",").map((u) => u.trim()).filter(Boolean);
  let h = 2166136261;
  for (const c of instance) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return list[h % list.length];
}

export class CounterBatches {
  /** `config`: config.js's counters* and pushInterval fields; `instance`: this isolate's id. */
  constructor(config, instance) {
    this.url = replicaOf(config.countersUrl, instance);
    this.key = hmacKey(config.countersSecret);
    this.interval = config.pushInterval * 1000;
    this.maxAge = config.countersMaxAge * 1000;
    this.instance = instance;
    this.baseline = new Map(); // "family\u0000label values" -> {values: the label values, v: the value already put in batches}
    this.byLabels = new Map(); // family -> WeakMap(labels object -> its baseline entry): kept label objects (metrics.js's changedRows) skip the key
    this.pending = []; // batches not yet acknowledged, oldest first: {id, created, body, rows}
    this.full = true; // the first collect reads every row; later ones the rows changed since (measure.js's Changes)
    this.seq = 0;
    this.next = 0; // earliest time (ms) of the next attempt
    this.failures = 0;
    this.busy = false;
    this.pushes = new Map(); // result (ok | duplicate | retry | refused | expired) -> batches
    this.dropped = new Map(); // reason (refused | expired) -> rows
  }

  families() {
    const pending = this.pending.reduce((n, b) => n + b.rows, 0);
    return [
      { name: "strata_counter_pushes_total", help: "Counter batches sent to the replicas, by result (ok, duplicate, retry: sent again later, refused, expired)",
        type: "counter", rows: [...this.pushes].map(([result, n]) => [{ result }, n]) },
      { name: "strata_counter_dropped_rows_total", help: "Counter rows never added by a replica: their batch was refused for good or expired",
        type: "counter", rows: [...this.dropped].map(([reason, n]) => [{ reason }, n]) },
      { name: "strata_counter_pending_rows", help: "Counter rows in batches waiting for a replica's acknowledgement", type: "gauge", rows: [[{}, pending]] },
    ];
  }

  /** After a response: a promise for ctx.waitUntil when a push is due, else null (`collect(full)`:
   * metrics.js's Metrics.families, with `full` false at least the rows changed since the last
   * collect (StrataWorker.pushFamilies); called after the response was returned). */
  maybePush(collect, now = Date.now()) {
    if (this.busy || now < this.next) return null;
    this.busy = true;
    return (async () => {
      try {
        await null; // the response goes first
        if (this.pending.length === 0) {
          const families = collect(this.full);
          this.full = false;
          this.batch(families, now);
        }
        await this.send(now);
      } catch (e) {
        if (this.pending.length === 0) this.full = true; // the changed rows taken may not be batched: the next batch reads every row
        console.warn(`strata: counter push to ${this.url} failed: ${e.message}`);
      } finally {
        this.busy = false;
      }
    })();
  }

  /** New batches holding what the counters gained since the last batches (the baseline moves on):
   * an unchanged row, or one missing from `families`, adds nothing. */
  batch(families, now) {
    const rows = [];
    for (const f of families) {
      const spec = METRIC_FAMILIES[f.name];
      if (spec === undefined || f.type !== "counter") continue;
      const names = spec[0];
      let known = this.byLabels.get(f.name);
      if (known === undefined) this.byLabels.set(f.name, (known = new WeakMap()));
      for (const [labels, v] of f.rows) {
        let b = known.get(labels);
        if (b === undefined) {
          let key = f.name; // the row's key, built without intermediate arrays
          for (const l of names) key += `\u0000${labels[l] ?? ""}`;
          b = this.baseline.get(key);
          if (b === undefined) this.baseline.set(key, (b = { values: names.map((l) => String(labels[l] ?? "")), v: 0 }));
          known.set(labels, b);
        }
        if (!(v > b.v)) continue;
        rows.push([f.name, b.values, v - b.v]);
        b.v = v;
      }
    }
    for (let i = 0; i < rows.length; i += BATCH_ROWS) {
      const fams = {};
      for (const [name, values, delta] of rows.slice(i, i + BATCH_ROWS)) (fams[name] ??= []).push([values, delta]);
      const id = `${this.instance}-${this.seq++}`;
      const body = JSON.stringify({ format: COUNTER_BATCH_FORMAT, id, instance: this.instance, created: Math.floor(now), families: fams });
      this.pending.push({ id, created: now, body, rows: Math.min(BATCH_ROWS, rows.length - i) });
    }
  }

  count(map, key, n = 1) {
    map.set(key, (map.get(key) ?? 0) + n);
  }

  /** Send the pending batches in order; stop at the first that must be retried. */
  async send(now) {
    const key = await this.key;
    while (this.pending.length > 0) {
      const b = this.pending[0];
      if (now - b.created > this.maxAge) {
        this.drop("expired", b);
        continue;
      }
      let status = 0;
      let answer = null;
      try {
        const r = await fetch(this.url, { method: "POST", body: b.body, signal: AbortSignal.timeout(PUSH_TIMEOUT),
          headers: { "content-type": "application/json", "x-strata-signature": await sign(key, b.body), "user-agent": "strata-edge-worker" } });
        status = r.status;
        answer = await r.json().catch(() => null);
      } catch (e) {
        console.warn(`strata: counter push to ${this.url} failed (sent again later): ${e.message}`);
      }
      if (status >= 200 && status < 300) {
        this.count(this.pushes, answer?.duplicate ? "duplicate" : "ok");
        this.pending.shift();
        this.failures = 0;
      } else if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
        const code = answer?.error?.code;
        console.warn(`strata: ${this.url} refused counter batch ${b.id} with ${status} ${code ?? ""}: ${b.rows} rows dropped (check STRATA_COUNTERS_SECRET and the URL)`);
        this.drop(code === "batch_expired" ? "expired" : "refused", b);
      } else {
        this.count(this.pushes, "retry");
        this.failures += 1;
        this.next = now + Math.min(this.interval * 2 ** this.failures, MAX_BACKOFF);
        return false;
      }
    }
    this.next = now + this.interval;
    return true;
  }

  drop(reason, b) {
    this.pending.shift();
    this.count(this.pushes, reason === "expired" ? "expired" : "refused");
    this.count(this.dropped, reason, b.rows);
  }
}
