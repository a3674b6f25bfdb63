// Planning, once per bundle (the port of runtime/plan.py): a verified payload turned into a signal
// table with converters and defaults, closures built from the IR (each on first use), candidate
// lists per slot in precedence order, every decision the bundle can make, and experiment tables.
// Deciding from a plan is decide.js.

import { bucket, holdoutSeed, trafficSeed, variantSeed } from './bucketing.js';
import { Decision } from './decision.js';
import { LAYERS, Op } from './format.js';
import { Builder } from './interp.js';
import { celFromRaw, plainFromRaw } from './raw.js';
import { Model } from './score.js';
import { makeConverter } from './signals.js';
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

    // Closures are built from the (validated) IR once per bundle, each on first use: a slot's
    // candidates when the slot is first decided, a segment when first evaluated. A page asks for a
    // few slots of a large bundle; warm() builds everything up front.
    const types = p.signals.map((s) => s.type);
    this.models = Object.freeze(has(p, 'models') ? p.models.map((m) => new Model(m, types)) : []);
    this.modelIndex = new Map(this.models.map((m, i) => [m.id, i]));
    this.builder = new Builder(this.signalNames, (i, a) => this.segmentValue(i, a), (i, a) => this.scoreValue(i, a));
    this.rawSegments = p.segments;
    this.segmentEvals = new Array(p.segments.length).fill(null);
    this.nextCid = p.segments.length; // budget ids: segment i is condition i, candidates follow
    this.slotTable = new Map();
    for (const raw of p.slots) this.slotTable.set(raw.id, { id: raw.id, raw, candidates: null, default: null, fallback: null });
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
    const builder = this.builder;
    slot.candidates = raw.candidates.map((c) => {
      const w = c.when;
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
        cond: segment >= 0 ? null : builder.build(w, this.nextCid++),
        experiment,
        cap: has(c, 'cap') && c.cap.length ? [num(c.cap[0]), num(c.cap[1])] : null,
        decision: new Decision(slotId, content, 'rule', c.id, null, null, layer, segId),
        variants: experiment ? experiment.variants.map(([, vid, vc]) => [vid, new Decision(slotId, vc, 'experiment', c.id, experiment.id, vid, layer, segId)]) : NO_VARIANTS,
      };
    });
    slot.default = this.content[num(raw.default)];
    slot.fallback = {};
    for (const r of FALLBACKS) slot.fallback[r] = new Decision(slotId, slot.default, r);
  }

  /** Build every closure now (otherwise each is built on first use). */
  warm() {
    for (const sid of this.slotIds) this.slot(sid);
    for (let i = 0; i < this.segmentEvals.length; i++) this.segmentEval(i);
    return this;
  }

  segmentEval(i) {
    let f = this.segmentEvals[i];
    if (f === null) f = this.segmentEvals[i] = this.builder.build(this.rawSegments[i].when, i);
    return f;
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
