// Preparation (once per bundle) and decision (per request): the port of runtime/plan.py and runtime/decide.py.
// Decision order, reasons, trace entries, cap keys and exposures are the Python runtime's.

import { bucket, holdoutSeed, trafficSeed, variantSeed } from './bucketing.js';
import { LAYERS, Op } from './format.js';
import { Activation, Builder } from './interp.js';
import { celFromRaw, plainFromRaw } from './raw.js';
import { Model } from './score.js';
import { INVALID, makeConverter } from './signals.js';
import { Err } from './values.js';

const num = (v) => (typeof v === 'bigint' ? Number(v) : v);
const has = (d, k) => Object.prototype.hasOwnProperty.call(d, k) && d[k] !== null;

/** One slot's decision; `toJSON()` equals Python's Decision.to_dict(). */
export class Decision {
  constructor(slot, content, reason, rule = null, experiment = null, variant = null, layer = null, segment = null, trace = null) {
    this.slot = slot;
    this.content = content;
    this.reason = reason;
    this.rule = rule;
    this.experiment = experiment;
    this.variant = variant;
    this.layer = layer;
    this.segment = segment;
    this.trace = trace;
  }

  withTrace(trace) {
    return new Decision(this.slot, this.content, this.reason, this.rule, this.experiment, this.variant, this.layer, this.segment, trace);
  }

  toJSON() {
    const d = {
      rule: this.rule,
      variant: this.variant,
      experiment: this.experiment,
      layer: this.layer,
      segment: this.segment,
      reason: this.reason,
      content: this.content,
    };
    if (this.trace !== null) d.trace = this.trace;
    return d;
  }
}

/** Decisions for the slots asked for, and what the caller must write back to the session. */
export class Outcome {
  constructor(bundle, version) {
    this.bundle = bundle;
    this.version = version;
    this.decisions = {};
    this.capHits = [];
    this.exposures = [];
    this.errors = 0;
    this.budgetExceeded = 0; // errors that were the evaluation budget running out (budget.js)
    this.work = 0; // the most budget units one condition used in this decision
    this.segments = null;
    this.scores = null; // {model id: score} of the scores computed in this decision (null: a bundle without models)
    this.holdout = false;
  }

  /** Python's Outcome.to_dict(). */
  toJSON() {
    const slots = {};
    for (const [k, d] of Object.entries(this.decisions)) slots[k] = d.toJSON();
    const out = { bundle: { name: this.bundle, version: this.version }, slots };
    if (this.segments !== null) {
      out.segments = this.segments;
      if (this.scores !== null) out.scores = this.scores; // a bundle with models (bundles without keep their JSON)
    }
    return out;
  }
}

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

  /** The index of this session's variant, or -1 when outside the traffic range. */
  pick(sessionId) {
    const b = bucket(this.trafficSeed, sessionId);
    if (!(this.start <= b && b < this.end)) return -1;
    const v = bucket(this.variantSeed, sessionId);
    for (let i = 0; i < this.variants.length; i++) if (v < this.variants[i][0]) return i;
    return -1; // unreachable: weights sum to 10000 (validated)
  }
}

function capped(cap, state, now) {
  const [perSession, cooldown] = cap;
  if (!Array.isArray(state) || state.length < 2) return false; // unreadable: never shown
  const count = Number(state[0]);
  const last = Number(state[1]);
  if (!Number.isFinite(count) || Number.isNaN(last) || typeof state[0] === 'object' || typeof state[1] === 'object') return false;
  if (perSession && Math.trunc(count) >= perSession) return true;
  return Boolean(cooldown && now - last < cooldown);
}

const FALLBACKS = ['default', 'holdout', 'no_consent', 'capped', 'error'];
const NO_VARIANTS = Object.freeze([]);

/** A verified bundle ready to decide. Immutable after construction. */
export class Prepared {
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

  /** The level bytes of each model (declaration order) for `signals`, prepared as decide()
   * prepares them (defaults merged, consent-stripped): what the worker counts. */
  modelLevels(signals, consent = true) {
    const s = this.prepareSignals(signals, consent);
    return this.models.map((m) => m.levels(s));
  }

  /** Does rule `rule` of slot `slot` have its condition true for `signals` (holdout, caps and
   * experiments ignored)? A holdout visit's "would have been shown", for counting
   * rule-vs-holdout uplift models. False for an unknown slot or rule, an evaluation error, or a
   * candidate needing consent without it. Python's Prepared.rule_matches. */
  ruleMatches(slot, rule, signals, { consent = true } = {}) {
    const sl = this.slot(slot);
    if (sl === undefined) return false;
    const c = sl.candidates.find((x) => x.id === rule);
    if (c === undefined || (!consent && c.consent)) return false;
    const a = new Activation(this.prepareSignals(signals, consent), []);
    return (c.segment >= 0 ? this.segmentValue(c.segment, a) : c.cond(a)) === true;
  }

  // ------------------------------------------------------------------ signals
  /** Signal values by index: defaults merged with the provided signals that conform. */
  prepareSignals(signals, consent) {
    const s = this.defaults.slice();
    const index = this.signalIndex;
    const conv = this.converters;
    if (signals instanceof Map) {
      for (const [k, v] of signals) {
        const i = index.get(k);
        if (i === undefined) continue;
        const x = conv[i](v);
        if (x !== INVALID) s[i] = x;
      }
    } else {
      for (const k in signals) {
        const i = index.get(k);
        if (i === undefined) continue;
        const x = conv[i](signals[k]);
        if (x !== INVALID) s[i] = x;
      }
    }
    if (!consent) for (const i of this.consentSignals) s[i] = undefined;
    return s;
  }

  // ------------------------------------------------------------------ decide
  /**
   * Decide content for `slots` (all slots when null). Options: sessionId (random session id;
   * none without consent), caps ({"slot/rule": [count, lastShownUnix]} or a Map), consent
   * (default true), now (Unix seconds), explain, checked (accepted for API parity: values are
   * converted to CEL values either way), assignments ({experiment id: variant id} or a Map: the
   * variants recorded in the visitor's session; a recorded variant that the experiment still
   * has, whatever its weight, is shown instead of the hashed one).
   */
  decide(signals, slots = null, { sessionId = null, caps = null, consent = true, now = null, explain = false, assignments = null } = {}) {
    const s = this.prepareSignals(signals, consent);
    if (!consent) sessionId = null;
    const t = now === null ? Date.now() / 1000 : now;
    const out = new Outcome(this.name, this.version);
    const a = new Activation(s, []);
    a.order = explain ? [] : null; // segments in evaluation order, for explain
    const inHoldout = sessionId !== null && sessionId !== undefined && this.holdoutBp > 0 && bucket(this.holdoutSeed, sessionId) < this.holdoutBp;
    out.holdout = inHoldout;
    const decisions = out.decisions;
    for (const sid of slots === null ? this.slotIds : slots) {
      const slot = this.slot(sid);
      if (slot === undefined || Object.prototype.hasOwnProperty.call(decisions, sid)) continue; // a slot asked for twice is decided once
      if (inHoldout) {
        decisions[sid] = explain ? new Decision(sid, slot.default, 'holdout', null, null, null, null, null, []) : slot.fallback.holdout;
        continue;
      }
      if (!consent && this.defaultsWithoutConsent) {
        decisions[sid] = explain ? new Decision(sid, slot.default, 'no_consent', null, null, null, null, null, []) : slot.fallback.no_consent;
        continue;
      }
      decisions[sid] = this.decideSlot(slot, a, sessionId ?? null, caps, consent, t, explain, out, assignments);
    }
    out.work = a.work();
    if (explain) {
      out.segments = {};
      for (const i of a.order) {
        const v = a.m[i];
        out.segments[this.segmentIds[i]] = v === true || v === false ? v : { error: v.message };
      }
    }
    if (this.models.length) {
      out.scores = {};
      if (a.sc !== null) {
        a.sc.forEach((v, i) => {
          if (v !== undefined) out.scores[this.models[i].id] = v;
        });
      }
    }
    return out;
  }

  decideSlot(slot, a, sessionId, caps, consent, now, explain, out, assignments) {
    let fallback = 'default';
    const trace = explain ? [] : null;
    for (const c of slot.candidates) {
      if (!consent && (c.consent || c.experiment !== null)) {
        if (fallback === 'default') fallback = 'no_consent';
        if (trace) trace.push({ candidate: c.id, kind: c.kind, layer: c.layer, result: 'no_consent' });
        continue;
      }
      let r;
      if (c.segment >= 0) {
        r = a.m[c.segment];
        if (r === undefined) r = this.segmentValue(c.segment, a);
      } else {
        r = c.cond(a);
        if (r !== true && r !== false && !(r instanceof Err)) r = new Err('condition did not yield a bool');
      }
      if (r !== true) {
        if (r !== false) {
          out.errors += 1;
          if (r.budget) out.budgetExceeded += 1;
          if (fallback === 'default') fallback = 'error';
          if (trace) trace.push({ candidate: c.id, kind: c.kind, layer: c.layer, result: 'error', message: r.message });
        } else if (trace) {
          trace.push({ candidate: c.id, kind: c.kind, layer: c.layer, result: 'false' });
        }
        continue;
      }
      if (c.cap !== null && caps) {
        const state = caps instanceof Map ? caps.get(c.key) : caps[c.key];
        if (state && capped(c.cap, state, now)) {
          if (fallback === 'default') fallback = 'capped';
          if (trace) trace.push({ candidate: c.id, kind: c.kind, layer: c.layer, result: 'capped' });
          continue;
        }
      }
      if (c.experiment !== null) {
        if (sessionId === null) {
          if (fallback === 'default') fallback = 'no_consent';
          if (trace) trace.push({ candidate: c.id, kind: c.kind, layer: c.layer, result: 'no_session' });
          continue;
        }
        let i = c.experiment.pick(sessionId);
        if (i < 0) {
          if (trace) trace.push({ candidate: c.id, kind: c.kind, layer: c.layer, result: 'not_in_traffic' });
          continue;
        }
        const j = assignments ? c.experiment.recorded(assignments) : -1;
        if (j >= 0) i = j;
        const [vid, decision] = c.variants[i];
        out.exposures.push([c.experiment.id, vid]);
        if (c.cap !== null) out.capHits.push(c.key);
        if (trace === null) return decision;
        const entry = { candidate: c.id, kind: c.kind, layer: c.layer, result: 'matched', variant: vid };
        if (j >= 0) entry.sticky = true;
        trace.push(entry);
        return decision.withTrace(trace);
      }
      if (c.cap !== null) out.capHits.push(c.key);
      if (trace === null) return c.decision;
      trace.push({ candidate: c.id, kind: c.kind, layer: c.layer, result: 'matched' });
      return c.decision.withTrace(trace);
    }
    if (trace === null) return slot.fallback[fallback];
    return new Decision(slot.id, slot.default, fallback, null, null, null, null, null, trace);
  }
}
