// Aggregate measurement of one isolate, as edge_server/measure.py keeps it: exposures and
// conversions per slot × arm × layer × population, model training counters (worker/model_counts.js) and
// experiment cohorts (per allocation period), nothing per visitor. GET /v1/stats answers the
// same `strata-stats/1` snapshot `strata report` reads; each isolate is one `instance` (report sums
// instances, taking each one's latest snapshot). For a fleet, STRATA_REMOTE_WRITE pushes the
// counters to Prometheus (remote_write.js), or STRATA_COUNTERS_URL to replicas (counter_batches.js);
// either reads only the rows changed since its last push (Changes: every increment marks its row,
// at most one key per row is held). With STRATA_COLLECTOR set, the worker also POSTs
// its snapshot there (ctx.waitUntil, at most every STRATA_COLLECT_INTERVAL seconds), since
// isolates come and go and cannot be scraped one by one.

import { ALL, MODEL_EVENTS, POPULATIONS, STATS_FORMAT } from "./contract.js";
import { modelSpecs } from "./model_counts.js";

export { ALL, MODEL_EVENTS, POPULATIONS }; // the snapshot's names (edge_server/edge_contract.json, "stats")
const SEP = "\u0000";

/** [arm, layer] of a decision (measure.py's arm_of). */
export function armOf(d) {
  if (d.variant) return [`${d.experiment}/${d.variant}`, d.layer || ""];
  return [d.rule || "default", d.layer || ""];
}

function bump(map, key, by) {
  map.set(key, (map.get(key) ?? 0) + by);
}

/** Row keys: the parts joined by SEP, made once per combination. A request counts some ten rows
 * (its decisions, exposures and model levels) whose parts are the bundle's and the contract's
 * strings; looking them up in a tree of Maps reads those strings' cached hashes, where joining
 * them would allocate an array and a new string and hash it for every increment. The tree holds a
 * key per row the counters hold (rows are never dropped), so it grows with them and no further. */
class RowKeys {
  constructor() {
    this.tree = new Map();
  }

  // one method per number of parts: no argument list built per call, the key joined on a miss only
  of3(a, b, c) {
    const m = below(below(this.tree, a), b);
    let k = m.get(c);
    if (k === undefined) m.set(c, (k = [a, b, c].join(SEP)));
    return k;
  }

  of4(a, b, c, d) {
    const m = below(below(below(this.tree, a), b), c);
    let k = m.get(d);
    if (k === undefined) m.set(d, (k = [a, b, c, d].join(SEP)));
    return k;
  }

  of5(a, b, c, d, e) {
    const m = below(below(below(below(this.tree, a), b), c), d);
    let k = m.get(e);
    if (k === undefined) m.set(e, (k = [a, b, c, d, e].join(SEP)));
    return k;
  }
}

/** The Map under `k` in `m`, made on first use. */
function below(m, k) {
  let next = m.get(k);
  if (next === undefined) m.set(k, (next = new Map()));
  return next;
}

/** The counter rows changed since a reader (remote_write.js, counter_batches.js) last took them:
 * one Set of row keys per counter map (`conversions` covers the conversion values too). A push reads
 * these rows, not every row: its cost follows what changed, not the bundle's size. */
export class Changes {
  constructor() {
    this.clear();
  }

  clear() {
    this.exposures = new Set();
    this.conversions = new Set();
    this.decisions = new Set();
    this.models = new Set();
    this.cohorts = new Set();
  }

  /** The rows changed so far (an object of the same Sets), and a fresh start. */
  take() {
    const { exposures, conversions, decisions, models, cohorts } = this;
    this.clear();
    return { exposures, conversions, decisions, models, cohorts };
  }

  /** How many rows changed. */
  get size() {
    return this.exposures.size + this.conversions.size + this.decisions.size + this.models.size + this.cohorts.size;
  }
}

export class Measurement {
  constructor() {
    const rnd = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
    this.instance = `${rnd}-worker`;
    this.started = Date.now() / 1000;
    this.exposures = new Map(); // slot, arm, layer, population
    this.conversions = new Map(); // goal, slot, arm, layer, population
    this.values = new Map();
    this.decisions = new Map(); // slot, reason, layer (strata_decisions)
    this.models = new Map(); // model, spec (fit for @logit), arm, feature, level -> [entered, left, converted]
    this.cohorts = new Map(); // experiment, variant, period, event, goal -> [count, value]
    this.flushedAt = 0;
    this.trackers = []; // Changes of the readers that push these counters (track())
    this.keys = { exposures: new RowKeys(), conversions: new RowKeys(), decisions: new RowKeys(), models: new RowKeys(), cohorts: new RowKeys() };
  }

  /** A Changes that every later increment marks its row in (a pusher's; one per reader). */
  track() {
    const c = new Changes();
    this.trackers.push(c);
    return c;
  }

  exposure(slot, arm, layer, population) {
    const k = this.keys.exposures.of4(slot, arm, layer, population);
    bump(this.exposures, k, 1);
    for (const t of this.trackers) t.exposures.add(k);
  }

  decision(slot, reason, layer) {
    const k = this.keys.decisions.of3(slot, reason, layer);
    bump(this.decisions, k, 1);
    for (const t of this.trackers) t.decisions.add(k);
  }

  conversion(goal, [slot, arm, layer], population, value, first) {
    const k = this.keys.conversions.of5(goal, slot, arm, layer, population);
    if (first) bump(this.conversions, k, 1);
    bump(this.values, k, value);
    for (const t of this.trackers) t.conversions.add(k);
  }

  /** One visit entering, leaving or converting on a model's row (event: entered | left | converted). */
  modelEvent(model, spec, arm, feature, level, event) {
    const k = this.keys.models.of5(model, spec, arm, feature, level);
    let row = this.models.get(k);
    if (row === undefined) this.models.set(k, (row = [0, 0, 0]));
    row[MODEL_EVENTS.indexOf(event)] += 1;
    for (const t of this.trackers) t.models.add(k);
  }

  /** A cohort event (assigned | exposed | converted; goal "" except for converted) with its value. */
  cohort(experiment, variant, period, event, goal = "", value = 0) {
    const k = this.keys.cohorts.of5(experiment, variant, period, event, goal);
    let row = this.cohorts.get(k);
    if (row === undefined) this.cohorts.set(k, (row = [0, 0]));
    row[0] += 1;
    row[1] += value;
    for (const t of this.trackers) t.cohorts.add(k);
  }

  /** The snapshot's `experiments`: per experiment of the bundle, its slot and the weights served now. */
  experiments(prepared) {
    const experiments = {};
    for (const e of prepared?.experiments ?? []) {
      let slot = null;
      for (const sid of prepared.slotIds) {
        const s = prepared.slot(sid); // slots are built on first use: this builds them
        if (s.candidates.some((c) => c.experiment !== null && c.experiment.id === e.id)) {
          slot = s.id;
          break;
        }
      }
      let below = 0; // variants hold cumulative upper bounds: weights are the steps
      const variants = e.variants.map(([upper, vid]) => [vid, upper - below, (below = upper)].slice(0, 2));
      experiments[e.id] = { slot, variants, traffic_bp: e.end - e.start, period: prepared.periods[e.id] }; // the weights served now
    }
    return experiments;
  }

  snapshot(prepared) {
    const rows = (map) => [...map.entries()].map(([k, n]) => [k.split(SEP), n]).sort((a, b) => cmp(a[0], b[0]));
    return {
      format: STATS_FORMAT,
      instance: this.instance,
      started: this.started,
      generated: Date.now() / 1000,
      bundle: prepared ? { name: prepared.name, version: prepared.version } : null,
      holdout_bp: prepared ? prepared.holdoutBp : 0,
      experiments: this.experiments(prepared),
      exposures: rows(this.exposures).map(([[slot, arm, layer, population], count]) => ({ slot, arm, layer, population, count })),
      conversions: rows(this.values).map(([[goal, slot, arm, layer, population], value]) => ({
        goal, slot, arm, layer, population, count: this.conversions.get([goal, slot, arm, layer, population].join(SEP)) ?? 0,
        value: Math.round(value * 1e6) / 1e6,
      })),
      models: rows(this.models).map(([[model, spec, arm, feature, level], [entered, left, converted]]) => ({
        model, spec, arm, feature, level, entered, left, converted })),
      model_specs: modelSpecs(prepared),
      cohorts: rows(this.cohorts).map(([[experiment, variant, period, event, goal], [count, value]]) => ({
        experiment, variant, period, event, goal, count, value: Math.round(value * 1e6) / 1e6 })),
    };
  }

  /** POST the snapshot to the collector when the last push is older than `interval` seconds;
   * the promise is for ctx.waitUntil. */
  flush(url, token, prepared, interval, now = Date.now()) {
    if (!url || now - this.flushedAt < interval * 1000) return null;
    this.flushedAt = now;
    const headers = { "content-type": "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    return fetch(url, { method: "POST", headers, body: JSON.stringify(this.snapshot(prepared)) })
      .then((r) => r.body?.cancel())
      .catch((e) => console.warn(`strata: counters not pushed to the collector: ${e.message}`));
  }
}

function cmp(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}
