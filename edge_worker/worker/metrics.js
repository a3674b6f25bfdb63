// The Prometheus metrics of one isolate, as edge_server/metrics.py keeps them: request-path
// counters in plain maps, turned into the text exposition at scrape time (GET /metrics,
// operations.js). Nothing here is per visitor: labels are slots, rules, reasons, layers,
// experiments, variants, goals, routes and error codes, all bounded by the bundle.

import { METRIC_LABELS, MODEL_EVENTS } from "./contract.js";
import { FleetLedger } from "./fleet_ledger.js";

/** The business families (edge_server/metrics.py's BUSINESS): what visitors were shown and did per
 * arm, and the experiments' weights. GET /metrics serves them only to the stats token's bearer;
 * without a stats token, the operational families alone (docs/security.md). */
export const BUSINESS = new Set([
  "strata_variant_exposures", "strata_slot_exposures", "strata_conversions", "strata_conversion_value", "strata_model_visits",
  "strata_experiment_cohort", "strata_experiment_cohort_value", "strata_experiment_variant_weight",
]);

/** Add one to `key` of a counter map. */
export function bump(map, key) {
  map.set(key, (map.get(key) ?? 0) + 1);
}

export class Metrics {
  constructor() {
    this.consent = [0, 0]; // [with consent, without]
    this.evalErrors = 0;
    this.budgetExceeded = 0;
    this.variantExposures = new Map(); // "experiment\0variant" -> count
    this.requests = new Map(); // "route\0status" -> count
    this.rejected = new Map(); // error code -> count
    this.clientRefusals = new Map(); // reason -> bundles refused by visitors' browsers ({refused} on POST /v1/events)
    this.remoteWrite = null; // remote_write.js's RemoteWrite when STRATA_REMOTE_WRITE is set: its own counters join these
    this.counterBatches = null; // counter_batches.js's CounterBatches when STRATA_COUNTERS_URL is set: likewise
    this.visitLedger = null; // visit_ledger.js's VisitLedger: its evictions are exported
    this.fleetLedger = null; // fleet_ledger.js's FleetLedger when STRATA_FLEET_LEDGER is set: its fallbacks are exported
    this.rowLabels = new Map(); // family -> measurement row key -> its labels (changedRows: made once, the same object every push)
  }

  /** The label objects of `family`'s measurement rows by row key (changedRows: made once each). */
  labelsOf(family) {
    let byKey = this.rowLabels.get(family);
    if (byKey === undefined) this.rowLabels.set(family, (byKey = new Map()));
    return byKey;
  }

  /** The measurement families' rows of the keys in `changed` (measure.js's Changes.take()), each
   * label object in the same key order as the snapshot's rows make it (the same series), made once
   * per row and the same object at every push (remote_write.js and counter_batches.js find a row's
   * state by it). */
  changedRows(measure, changed) {
    const round = (v) => Math.round(v * 1e6) / 1e6; // as the snapshot rounds sums of values
    const rows = { decisions: [], exposures: [], conversions: [], values: [], models: [], cohorts: [], cohortValues: [] };
    const labels = (family, keys, make, each) => {
      const byKey = this.labelsOf(family);
      for (const k of keys) {
        let l = byKey.get(k);
        if (l === undefined) byKey.set(k, (l = make(k.split("\u0000"))));
        each(l, k);
      }
    };
    const [a, b, c] = METRIC_LABELS.strata_decisions_total;
    labels("strata_decisions_total", changed.decisions, (p) => ({ [a]: p[0], [b]: p[1], [c]: p[2] }), (l, k) => rows.decisions.push([l, measure.decisions.get(k)]));
    labels("strata_slot_exposures_total", changed.exposures, ([slot, arm, layer, population]) => ({ slot, arm, layer, population }),
      (l, k) => rows.exposures.push([l, measure.exposures.get(k)]));
    const conversion = ([goal, slot, arm, layer, population]) => ({ goal, slot, arm, layer, population });
    labels("strata_conversions_total", changed.conversions, conversion, (l, k) => rows.conversions.push([l, measure.conversions.get(k) ?? 0]));
    labels("strata_conversion_value_total", changed.conversions, conversion, (l, k) => rows.values.push([l, round(measure.values.get(k))]));
    MODEL_EVENTS.forEach((event, i) => labels(`strata_model_visits_total/${event}`, changed.models,
      ([model, spec, arm, feature, level]) => ({ model, spec, arm, feature, level, event }), (l, k) => {
        const n = measure.models.get(k)[i];
        if (n > 0) rows.models.push([l, n]);
      }));
    labels("strata_experiment_cohort_total", changed.cohorts, ([experiment, variant, period, event, goal]) => ({ experiment, variant, period, event, goal }),
      (l, k) => rows.cohorts.push([l, measure.cohorts.get(k)[0]]));
    labels("strata_experiment_cohort_value_total", changed.cohorts, ([experiment, variant, period, event, goal]) => (event === "converted" ? { experiment, variant, period, goal } : null),
      (l, k) => { if (l !== null) rows.cohortValues.push([l, round(measure.cohorts.get(k)[1])]); });
    return rows;
  }

  /** Every metric family of this isolate, as [{name, help, type, rows: [[labels, value]]}] (`measure`:
   * measure.js's Measurement; `current`: the bundle served): what GET /metrics renders as text and
   * remote_write.js pushes. With `changed` (measure.js's Changes.take()), the measurement's families
   * hold only the rows changed since (changedRows: what a push reads); the others are whole. */
  families(measure, current, changed = null) {
    const out = [];
    const family = (name, help, rows, type = "counter") => out.push({ name, help, type, rows });
    const split = (map, names) => [...map.entries()].map(([k, v]) => [Object.fromEntries(k.split("\u0000").map((x, i) => [names[i], x])), v]);
    let rows, experiments;
    if (changed === null) {
      const snap = measure.snapshot(current);
      experiments = snap.experiments;
      rows = {
        decisions: split(measure.decisions, METRIC_LABELS.strata_decisions_total),
        exposures: snap.exposures.map(({ count, ...l }) => [l, count]),
        conversions: snap.conversions.map(({ count, value, ...l }) => [l, count]),
        values: snap.conversions.map(({ count, value, ...l }) => [l, value]),
        models: snap.models.flatMap(({ entered, left, converted, ...l }) => [["entered", entered], ["left", left], ["converted", converted]]
          .filter(([, n]) => n > 0).map(([event, n]) => [{ ...l, event }, n])),
        cohorts: snap.cohorts.map(({ count, value, ...l }) => [l, count]),
        cohortValues: snap.cohorts.filter((c) => c.event === "converted").map(({ count, value, event, ...l }) => [l, value]),
      };
    } else {
      rows = this.changedRows(measure, changed);
      experiments = measure.experiments(current);
    }
    family("strata_decisions_total", "Slot decisions", rows.decisions);
    family("strata_slot_exposures_total", "Exposures (once per visit with consent; per page view without)", rows.exposures);
    family("strata_conversions_total", "Goal conversions (once per visit and goal)", rows.conversions);
    family("strata_conversion_value_total", "Sum of goal values", rows.values);
    family("strata_variant_exposures_total", "Experiment variant exposures (once per visit)", split(this.variantExposures, METRIC_LABELS.strata_variant_exposures_total));
    family("strata_model_visits_total", "Model training counters: visits entering, leaving and converting on a feature level (feature @logit: the log-odds bucket, spec = fit; @uplift: the uplift-score bucket)",
      rows.models);
    family("strata_experiment_cohort_total", "Experiment visitors per allocation period (cohort): assigned, exposed, converted", rows.cohorts);
    family("strata_experiment_cohort_value_total", "Sum of goal values of converting visits per experiment cohort", rows.cohortValues);
    family("strata_evaluation_errors_total", "Conditions that ended in a CEL evaluation error", [[{}, this.evalErrors]]);
    family("strata_eval_budget_exceeded_total", "Conditions stopped by the evaluation budget (also counted as evaluation errors)",
      [[{}, this.budgetExceeded]]);
    family("strata_requests_total", "HTTP requests", split(this.requests, METRIC_LABELS.strata_requests_total));
    family("strata_client_bundle_refused_total", "Bundles refused by visitors' browsers, by reason (reported with {refused} on POST /v1/events)",
      split(this.clientRefusals, METRIC_LABELS.strata_client_bundle_refused_total));
    family("strata_rejected_requests_total", "Requests refused with a 4xx", split(this.rejected, METRIC_LABELS.strata_rejected_requests_total));
    const [consentLabel] = METRIC_LABELS.strata_decide_requests_by_consent_total;
    family("strata_decide_requests_by_consent_total", "Decide and page requests by consent",
      [["yes", this.consent[0]], ["no", this.consent[1]]].filter(([, n]) => n > 0).map(([v, n]) => [{ [consentLabel]: v }, n]));
    family("strata_visit_ledger_evictions_total", "Visits the visit ledger forgot before the visit timeout because it was full "
      + "(each lets a replay of that visit count once more)", [[{}, this.visitLedger?.evicted ?? 0]]);
    out.push(...FleetLedger.families(this.fleetLedger));
    if (this.remoteWrite !== null) out.push(...this.remoteWrite.families());
    if (this.counterBatches !== null) out.push(...this.counterBatches.families());
    const weights = [];
    for (const [id, e] of Object.entries(experiments)) e.variants.forEach(([variant, bp], i) => weights.push([{ experiment: id, variant, slot: e.slot ?? "", index: String(i) }, bp]));
    family("strata_bundle_info", "Loaded bundle (value 1)", current ? [[{ name: current.name, version: String(current.version), key_id: current.keyId ?? "" }, 1]] : [], "gauge");
    family("strata_experiment_variant_weight", "Configured variant weight in basis points (for sample-ratio checks); index: the variant's position in the experiment, 0 = the control",
      weights, "gauge");
    return out;
  }

  /** The Prometheus text of families(measure, current); `business` false: the operational families
   * only (not those in BUSINESS). */
  prometheus(measure, current, business = true) {
    const lines = [];
    const esc = (x) => String(x).replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : "\\" + c));
    for (const { name, help, type, rows } of this.families(measure, current)) {
      if (!business && BUSINESS.has(name.replace(/_total$/, ""))) continue;
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of rows) {
        const keys = Object.keys(labels);
        lines.push(keys.length === 0 ? `${name} ${v}` : `${name}{${keys.map((k) => `${k}="${esc(labels[k])}"`).join(",")}} ${v}`);
      }
    }
    return lines.join("\n") + "\n";
  }
}
