// Planning (the port of runtime/plan.py): a verified payload turned into a signal table with
// converters and defaults, closures built from the IR, candidate lists per slot in precedence
// order, every decision the bundle can make, and experiment tables. The tables are built at load;
// a slot's candidates, decisions and closures on its first use, once (docs/runtime.md,
// "Preparation": the same plan as Python's). Deciding from a plan is decide.js.

import { bucket, holdoutSeed, trafficSeed, variantSeed } from './bucketing.js';
import { Decision } from './decision.js';
import { LAYERS, Op } from './format.js';
import { Builder } from './interp.js';
import { celFromRaw, plainFromRaw } from './raw.js';
import { Model } from './score.js';
import { makeConverter } from './signals.js';
import { PrepareFailed } from './errors.js';
import { Err } from './values.js';

const num = (v) => (typeof v === 'bigint' ? Number(v) : v);
const has = (d, k) => Object.prototype.hasOwnProperty.call(d, k) && d[k] !== null;

class Experiment {
  constructor(e, content) {
    this.id = e.id;
    this.start = num(e.start);
    this.end = num(e.end);
    this.trafficSeed = trafficSeed(has(e, 'group') && e.group !== '' ? e.group : e.salt);
    this.variantSeed = variantSeed(e.salt);
    let upper = 0;
    this.variantIds = e.variants.map((v) => v[0]);
    this.weights = e.variants.map((v) => num(v[1]));
    this.variants = e.variants.map(([vid, weight, ci]) => {
      upper += num(weight);
      return [upper, vid, content[num(ci)]];
    });
  }

  /** The index of the variant `assignments` (experiment id -> variant id, an object or a Map)
   * records for this experiment, when the experiment still has it (any weight); else -1. */
  recorded(assignments) {
    const v = assignments instanceof Map ? assignments.get(this.id) : Object.prototype.hasOwnProperty.call(assignments, this.id) ? assignments[this.id] : undefined;
    if (typeof v !== 'string') return -1;
    return this.variantIds.indexOf(v);
  }

  /** The allocation period: the variants' weights in basis points joined by '/' ("5000/5000"). */
  get period() {
    return this.weights.join('/');
  }

  /** Whether this session is inside the experiment's traffic range. */
  inTraffic(sessionId) {
    const b = bucket(this.trafficSeed, sessionId);
    return this.start <= b && b < this.end;
  }

  /** The index of this session's variant under the current weights. */
  byHash(sessionId) {
    const v = bucket(this.variantSeed, sessionId);
    for (let i = 0; i < this.variants.length; i++) if (v < this.variants[i][0]) return i;
    return this.variants.length - 1; // unreachable: weights sum to 10000 (validated)
  }

  /** The index of this session's variant, or -1 when outside the traffic range. */
  pick(sessionId) {
    return this.inTraffic(sessionId) ? this.byHash(sessionId) : -1;
  }
}

const FALLBACKS = ['default', 'holdout', 'no_consent', 'capped', 'error'];

/** Add to `out` the segments condition `ir` reads directly (its SEG nodes); plan.py's segments_read. */
export function segmentsRead(ir, out) {
  const op = ir[0];
  if (op === Op.SEG) out.add(num(ir[1]));
  else if (op !== Op.LIT) { // a literal's value is data, not IR
    for (let k = 1; k < ir.length; k++) if (Array.isArray(ir[k])) segmentsRead(ir[k], out);
  }
  return out;
}
const NO_VARIANTS = Object.freeze([]);

/** A verified bundle planned for deciding (decide.js's Prepared decides from it). Immutable after construction. */
export class Plan {
  constructor(verified) {
    const p = verified.payload;
    this.keyId = verified.keyId;
    this.size = verified.size;
    this.name = p.name;
    this.version = num(p.version);
    this.created = num(p.created);
    this.notBefore = num(p.not_before);
    this.expires = num(p.expires);
    this.goals = has(p, 'goals') ? p.goals.slice() : [];
    const records = p.types;
    this.signalNames = p.signals.map((s) => s.name);
    this.signalIndex = new Map(this.signalNames.map((n, i) => [n, i]));
    this.signalSources = new Map(p.signals.map((s) => [s.name, has(s, 'source') ? s.source : 'client'])); // the worker refuses client values for server-derived signals
    this.signalTypes = new Map(p.signals.map((s) => [s.name, s.type]));
    this.converters = p.signals.map((s) => makeConverter(s.type, records, has(s, 'max_items') ? num(s.max_items) : null, has(s, 'max_length') ? num(s.max_length) : null));
    const nsig = this.signalNames.length;
    this.defaults = new Array(nsig).fill(undefined);
    p.signals.forEach((s, i) => {
      if (has(s, 'default')) this.defaults[i] = this.converters[i](celFromRaw(s.default, true));
    });
    const needs = new Set(p.consent.requires);
    this.defaultsWithoutConsent = p.consent.without === 'defaults';
    this.consentSignals = p.signals.map((s, i) => (needs.has(s.category) ? i : -1)).filter((i) => i >= 0);
    this.content = p.content.map(plainFromRaw);
    const h = has(p, 'holdout') ? p.holdout : null;
    this.holdoutBp = h ? num(h.bp) : 0;
    this.holdoutSeed = h ? holdoutSeed(h.salt) : '';
    this.segmentIds = p.segments.map((s) => s.id);
    this.experiments = p.experiments.map((e) => new Experiment(e, this.content));
    /** experiment id -> its allocation period (the weights in basis points joined by '/') */
    this.periods = Object.fromEntries(this.experiments.map((e) => [e.id, e.period]));

    // Closures are built from the (validated) IR on first use: a slot's candidates, and the segments
    // they read, when the slot is first used; a segment evaluated on its own when first evaluated.
    // A page asks for a few slots of a large bundle; warm() builds everything up front.
    const types = p.signals.map((s) => s.type);
    this.models = Object.freeze(has(p, 'models') ? p.models.map((m) => new Model(m, types)) : []);
    this.modelIndex = new Map(this.models.map((m, i) => [m.id, i]));
    this.builder = new Builder(this.signalNames, (i, a) => this.segmentValue(i, a), (i, a) => this.scoreValue(i, a));
    this.rawSegments = p.segments;
    this.segmentEvals = new Array(p.segments.length).fill(null);
    /** conditions whose preparation failed: each evaluates as an error (docs/runtime.md, "Preparation") */
    this.prepareFailures = [];
    // Condition ids (the evaluation budget's keys, budget.js) are fixed here, whatever order slots
    // are first used in: segment i is condition i, then each candidate whose condition is not a
    // bare segment reference, in bundle order.
    this.slotTable = new Map();
    let cid = p.segments.length;
    for (const raw of p.slots) {
      this.slotTable.set(raw.id, { id: raw.id, raw, cid, candidates: null, default: null, fallback: null, byId: null }); // a slot id given twice: the last (as ever)
      for (const c of raw.candidates) if (c.when[0] !== Op.SEG) cid++;
    }
    this.slotIds = Array.from(this.slotTable.keys());
    this.slots = this.slotIds; // slot names (API)
  }

  /** The prepared slot `sid` (built on first use), or undefined. */
  slot(sid) {
    const slot = this.slotTable.get(sid);
    if (slot !== undefined && slot.candidates === null) this.buildSlot(slot);
    return slot;
  }

  buildSlot(slot) {
    const raw = slot.raw;
    const slotId = raw.id;
    let cid = slot.cid;
    const read = new Set();
    const candidates = raw.candidates.map((c) => {
      const w = c.when;
      segmentsRead(w, read);
      const isExp = has(c, 'experiment');
      const segment = w[0] === Op.SEG ? num(w[1]) : -1;
      const layer = LAYERS[num(c.layer)];
      const content = has(c, 'content') ? this.content[num(c.content)] : null;
      const experiment = isExp ? this.experiments[num(c.experiment)] : null;
      const segId = segment >= 0 ? this.segmentIds[segment] : null;
      return {
        kind: isExp ? 'experiment' : 'rule',
        id: c.id,
        key: `${slotId}/${c.id}`,
        layer,
        consent: c.consent,
        segment,
        cond: segment >= 0 ? null : this.build(w, cid++, `rule ${slotId}/${c.id}`),
        experiment,
        cap: has(c, 'cap') && c.cap.length ? [num(c.cap[0]), num(c.cap[1])] : null,
        decision: new Decision(slotId, content, 'rule', c.id, null, null, layer, segId),
        variants: experiment ? experiment.variants.map(([, vid, vc]) => [vid, new Decision(slotId, vc, 'experiment', c.id, experiment.id, vid, layer, segId)]) : NO_VARIANTS,
      };
    });
    for (const i of read) this.segmentEval(i); // and, as they are built, the segments they read
    slot.default = this.content[num(raw.default)];
    slot.fallback = {};
    for (const r of FALLBACKS) slot.fallback[r] = new Decision(slotId, slot.default, r);
    slot.byId = new Map();
    for (const c of candidates) if (!slot.byId.has(c.id)) slot.byId.set(c.id, c);
    slot.candidates = candidates; // last: a slot with candidates is whole
  }

  /** Build every closure now (otherwise each is built on first use). */
  warm() {
    for (const sid of this.slotIds) this.slot(sid);
    for (let i = 0; i < this.segmentEvals.length; i++) this.segmentEval(i);
    return this;
  }

  /** Segment i's closure, built on first use with the segments it reads. */
  segmentEval(i) {
    let f = this.segmentEvals[i];
    if (f === null) {
      const ir = this.rawSegments[i].when;
      f = this.segmentEvals[i] = this.build(ir, i, `segment ${this.segmentIds[i]}`);
      for (const j of segmentsRead(ir, new Set())) this.segmentEval(j);
    }
    return f;
  }

  /** Condition `cid`'s closure. One whose building throws (an exception validation did not
   * foresee) evaluates as an error, reported in prepareFailures: never a crash. */
  build(ir, cid, where) {
    try {
      return this.builder.build(ir, cid);
    } catch (e) {
      const failure = new PrepareFailed(`preparing ${where} of bundle ${this.name} v${this.version} failed (${e && e.name}: ${String(e && e.message).slice(0, 200)}); it decides as an evaluation error; recompile the bundle with this version of strata`);
      this.prepareFailures.push(failure);
      const err = new Err(failure.message);
      return () => err;
    }
  }

  // ------------------------------------------------------------------ segments
  /** True, false or an Err for segment i, memoised in the activation (memo: i -> result, and
   * `order` lists segments in the order their evaluation completed, for explain). */
  segmentValue(i, a) {
    const m = a.m;
    let r = m[i];
    if (r === undefined) {
      r = this.segmentEval(i)(a);
      if (r !== true && r !== false && !(r instanceof Err)) r = new Err(`segment ${this.segmentIds[i]} did not yield a bool`);
      m[i] = r;
      if (a.order !== null) a.order.push(i);
    }
    return r;
  }

  // ------------------------------------------------------------------ scores
  /** The score of model i for this decision: computed on first read, then memoised in the
   * activation (once per decision, whichever conditions read it). Never an error. */
  scoreValue(i, a) {
    let sc = a.sc;
    if (sc === null) sc = a.sc = new Array(this.models.length).fill(undefined);
    let v = sc[i];
    if (v === undefined) v = sc[i] = this.models[i].score(a.s);
    return v;
  }
}
