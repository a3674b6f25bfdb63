// Deciding, per request (the port of runtime/decide.py): Prepared is a bundle's plan (plan.js) with
// the decision procedure of docs/runtime.md (holdout, consent, candidates in precedence order,
// experiments, frequency caps, evaluation errors) and the explain trace. Decision order, reasons,
// trace entries, cap keys and exposures are the Python runtime's.

import { bucket } from './bucketing.js';
import { Decision, Outcome } from './decision.js';
import { Activation } from './interp.js';
import { Plan } from './plan.js';
import { INVALID } from './signals.js';
import { Err } from './values.js';

function capped(cap, state, now) {
  const [perSession, cooldown] = cap;
  if (!Array.isArray(state) || state.length < 2) return false; // unreadable: never shown
  const count = Number(state[0]);
  const last = Number(state[1]);
  if (!Number.isFinite(count) || Number.isNaN(last) || typeof state[0] === 'object' || typeof state[1] === 'object') return false;
  if (perSession && Math.trunc(count) >= perSession) return true;
  return Boolean(cooldown && now - last < cooldown);
}

/** A verified bundle ready to decide: what a decision reads never changes once built, and a slot is built once, on its first use (plan.js). */
export class Prepared extends Plan {
  /** The level bytes of each model (declaration order) for `signals`, prepared as decide()
   * prepares them (defaults merged, consent-stripped): what the worker counts. */
  modelLevels(signals, consent = true) {
    return this.levels(this.prepareSignals(signals, consent));
  }

  /** The level bytes of each model for signal values as conditions read them (Outcome.signals). */
  levels(s) {
    return this.models.map((m) => m.levels(s));
  }

  /** Does rule `rule` of slot `slot` have its condition true for `signals` (holdout, caps and
   * experiments ignored)? A holdout visit's "would have been shown", for counting
   * rule-vs-holdout uplift models. False for an unknown slot or rule, an evaluation error, or a
   * candidate needing consent without it. Python's Prepared.rule_matches. */
  ruleMatches(slot, rule, signals, { consent = true } = {}) {
    return this.ruleHolds(slot, rule, this.prepareSignals(signals, consent), null, { consent });
  }

  /** ruleMatches for signal values as conditions read them: a decision's Outcome.signals with its
   * Outcome.memo (its activation: segment results and scores), so nothing is converted or
   * evaluated twice. Python's Prepared.rule_holds. */
  ruleHolds(slot, rule, s, memo = null, { consent = true } = {}) {
    const sl = this.slot(slot);
    const c = sl === undefined ? undefined : sl.byId.get(rule);
    if (c === undefined || (!consent && c.consent)) return false;
    const a = memo ?? new Activation(s, []);
    return (c.segment >= 0 ? this.segmentValue(c.segment, a) : c.cond(a)) === true;
  }

  // ------------------------------------------------------------------ signals
  /** Signal values by index: defaults (or `base`, values this method prepared before) merged with
   * the provided signals that conform. */
  prepareSignals(signals, consent, base = this.defaults) {
    const s = base.slice();
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

  /** prepareSignals(signals, true) for a signals object that never changes (a server's derived
   * request signals, one object per request shape), made once per object: a request then prepares
   * only its own signals on top of it (prepareSignals's `base`). */
  preparedOf(signals) {
    const made = (this.preparedSignals ??= new WeakMap());
    let s = made.get(signals);
    if (s === undefined) made.set(signals, (s = this.prepareSignals(signals, true)));
    return s;
  }

  // ------------------------------------------------------------------ decide
  /**
   * Decide content for `slots` (all slots when null). Options: sessionId (random session id;
   * none without consent), caps ({"slot/rule": [count, lastShownUnix]} or a Map), consent
   * (default true), now (Unix seconds), explain, checked (accepted for API parity: values are
   * converted to CEL values either way), assignments ({experiment id: variant id} or a Map: the
   * variants recorded in the visitor's session; a recorded variant that the experiment still
   * has, whatever its weight, is shown instead of the hashed one), values (the signal values
   * prepareSignals made for `signals` with this consent, when the caller made them: `signals` is
   * then not read).
   */
  decide(signals, slots = null, { sessionId = null, caps = null, consent = true, now = null, explain = false, assignments = null, values = null } = {}) {
    const s = values ?? this.prepareSignals(signals, consent);
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
    out.signals = s;
    out.memo = a;
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
        const e = c.experiment;
        if (!e.inTraffic(sessionId)) {
          if (trace) trace.push({ candidate: c.id, kind: c.kind, layer: c.layer, result: 'not_in_traffic' });
          continue;
        }
        let i = assignments ? e.recorded(assignments) : -1; // a variant since removed: picked by hash again
        const sticky = i >= 0;
        if (!sticky) i = e.byHash(sessionId);
        const [vid, decision] = c.variants[i];
        out.exposures.push([e.id, vid]);
        if (c.cap !== null) out.capHits.push(c.key);
        if (trace === null) return decision;
        const entry = { candidate: c.id, kind: c.kind, layer: c.layer, result: 'matched', variant: vid };
        if (sticky) entry.sticky = true;
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
