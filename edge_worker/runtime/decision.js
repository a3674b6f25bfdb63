// What decide returns: one Decision per slot, plus the session state to persist (the port of
// runtime/decision.py).

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
    this.signals = null; // the signal values the conditions read, by signal index (defaults merged, consent-stripped): what model counting reads
    this.memo = null; // the decision's activation (segment results, scores), for Prepared.ruleHolds
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
