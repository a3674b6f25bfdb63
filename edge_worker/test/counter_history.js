// Generated counter histories for the push tests (remote_write.test.js, counter_batches.test.js):
// a real Measurement (measure.js) tracked by a Changes, the isolate's Metrics, and increments of
// every kind of counter row over a bounded set of label values.
import { Measurement, MODEL_EVENTS } from "../worker/measure.js";
import { Metrics } from "../worker/metrics.js";

/** The measurement's families (metrics.js), whose rows a Changes tracks. */
export const MEASURED = new Set(["strata_decisions_total", "strata_slot_exposures_total", "strata_conversions_total", "strata_conversion_value_total",
  "strata_model_visits_total", "strata_experiment_cohort_total", "strata_experiment_cohort_value_total"]);

/** A tracked measurement; `increment(kind, i)` counts on row i of a kind (0..4) and returns its row's id. */
export function counterHistory() {
  const measure = new Measurement();
  const changes = measure.track();
  const metrics = new Metrics();
  const kinds = [
    (i) => measure.exposure(`slot${i}`, `rule${i % 7}`, i % 2 ? "" : "hero", "personalized"),
    (i) => measure.decision(`slot${i}`, "rule", i % 2 ? "" : "hero"),
    (i) => measure.conversion("purchase", [`slot${i}`, `rule${i % 7}`, ""], i % 3 ? "personalized" : "holdout", i % 4 === 0 ? 0 : 2.5, i % 5 !== 0),
    (i) => measure.modelEvent("m", "spec1", i % 2 ? "" : "treatment", "device", `level${i}`, MODEL_EVENTS[i % 3]),
    (i) => measure.cohort("exp", `v${i % 2}`, i, ["assigned", "exposed", "converted"][i % 3], i % 3 === 2 ? "purchase" : "", i % 3 === 2 ? 10 : 0),
  ];
  return {
    measure, changes, metrics,
    increment: (kind, i) => { kinds[kind](i); return `${kind}/${i}`; },
    /** The families a pusher collects (StrataWorker.pushFamilies): `full`, or the rows changed since the last collect. */
    collect: (full = true) => {
      const changed = changes.take();
      return metrics.families(measure, null, full ? null : changed);
    },
    /** Every measured row's value now: family + sorted labels -> value. */
    values: () => {
      const out = new Map();
      for (const f of metrics.families(measure, null)) {
        if (!MEASURED.has(f.name)) continue;
        for (const [labels, v] of f.rows) out.set(rowId(f.name, labels), v);
      }
      return out;
    },
  };
}

/** A row's identity: its family and its labels, sorted. */
export const rowId = (name, labels) => JSON.stringify([name, Object.entries(labels).sort()]);
