// The visit side of the model training counters (docs/models.md "Counting"), as the Python
// server counts them: a consenting visit's feature levels and score bucket per model travel in its
// own cookie (Session.models: model id -> [spec, fit, levels, score bucket, frozen, arm]); each
// decide counts what changed (`entered` on the new level, `left` on the old one), and the visit's
// first conversion of a model's goal counts `converted` on every level the visit holds and freezes
// the entry. Net visits of a level are entered - left. Nothing is counted without consent (there
// is no session then), and the server keeps only the sums (counters.js).

import { MAX_MODELS } from "./cookie.js";

/** The feature name of the score bucket rows (their `spec` label is the model's fit). */
export const SCORE = "@score";
/** Row name of a model's visit totals (feature and level). */
export const TOTAL = "*";

// ------------------------------------------------------------------ the runtime's model API
// The JavaScript runtime's names for runtime/score.py's Model and Prepared methods, in one place.

/** The bundle's models, in declaration order ([] for a bundle without models). */
export const modelsOf = (prepared) => prepared?.models ?? [];
/** One Uint8Array of levels per model, from the signals the server passes to decide (with consent). */
const levelsOf = (prepared, signals) => prepared.modelLevels(signals, true);
/** The model's score for its levels (a double; uplift: in [-1, 1]). */
const scoreOf = (model, levels) => model.scoreOf(levels);
/** Whether a rule's condition holds for these signals (holdout ignored). */
const ruleMatches = (prepared, slot, rule, signals) => prepared.ruleMatches(slot, rule, signals);

/** The experiment id of an experiment-uplift model (the bundle names it by index). */
export function upliftExperiment(prepared, uplift) {
  const e = uplift.experiment;
  return typeof e === "string" ? e : prepared.experiments[Number(e)].id;
}

// ------------------------------------------------------------------ score buckets
/** Bucket index of a score: 20 of width 0.05 over [0, 1) (1.0 in the last), or for an uplift
 * model 40 over [-1, 1) (an uplift of 1.0 in the last). */
export function scoreBucket(score, uplift) {
  const i = uplift ? Math.floor((score + 1) * 20) : Math.floor(score * 20);
  return Math.min(Math.max(i, 0), uplift ? 39 : 19);
}

/** The level name of bucket `i`: its lower bound with two decimals ("0.00".."0.95", "-1.00".."0.95"),
 * from integer hundredths so that no float formatting is involved. */
export function bucketName(i, uplift) {
  const h = (uplift ? -100 : 0) + 5 * i;
  const a = Math.abs(h);
  return `${h < 0 ? "-" : ""}${Math.floor(a / 100)}.${String(a % 100).padStart(2, "0")}`;
}

// ------------------------------------------------------------------ counting
/** The arm `model` counts under in this visit: "" for a plain model; for an uplift model
 * "treatment"/"control", or null while the visit is in neither arm. */
export function armOf(prepared, model, session, holdout, signals) {
  const u = model.uplift;
  if (u === null || u === undefined) return "";
  if (u.experiment !== undefined && u.experiment !== null) {
    const e = session.exposures[upliftExperiment(prepared, u)];
    if (e === undefined || e[1] !== session.visitCount) return null; // not exposed in this visit
    return e[0] === u.treatment ? "treatment" : e[0] === u.control ? "control" : null;
  }
  // the rule against the global holdout: a personalised visit shown the rule, a holdout visit it would have been shown to
  if (holdout) return ruleMatches(prepared, u.slot, u.rule, signals) ? "control" : null;
  return session.shown.some((key) => {
    const [slot, arm] = key.split("|");
    return slot === u.slot && arm === u.rule;
  }) ? "treatment" : null;
}

function rows(measure, model, spec, arm, levels, bucket, fit, event) {
  const up = Boolean(model.uplift);
  measure.modelEvent(model.id, spec, arm, TOTAL, TOTAL, event);
  model.features.forEach((f, j) => measure.modelEvent(model.id, spec, arm, f.id, f.levels[levels[j]], event));
  measure.modelEvent(model.id, fit, arm, SCORE, bucketName(bucket, up), event);
}

/** After a consenting decide (its exposures recorded in `session`): count each of the bundle's
 * first MAX_MODELS models that this visit is in, and keep their entries in the cookie. Entries of
 * models the bundle no longer has are dropped. */
export function countDecide(measure, prepared, session, signals, holdout) {
  const models = modelsOf(prepared).slice(0, MAX_MODELS);
  const kept = {};
  let levels = null;
  models.forEach((m, i) => {
    const prev = session.models[m.id];
    const same = prev !== undefined && prev[0] === m.spec && prev[2].length === m.features.length;
    const arm = same ? prev[5] : armOf(prepared, m, session, holdout, signals);
    if (arm === null) return;
    if (same && prev[4]) {
      kept[m.id] = prev; // frozen: converted in this visit, nothing more is counted
      return;
    }
    levels ??= levelsOf(prepared, signals);
    const lv = Uint8Array.from(levels[i]);
    const b = scoreBucket(scoreOf(m, lv), Boolean(m.uplift));
    if (!same) {
      rows(measure, m, m.spec, arm, lv, b, m.fit, "entered"); // new in this visit, or fitted for other features
    } else {
      const old = prev[2];
      m.features.forEach((f, j) => {
        if (old[j] === lv[j]) return;
        measure.modelEvent(m.id, m.spec, arm, f.id, f.levels[old[j]], "left");
        measure.modelEvent(m.id, m.spec, arm, f.id, f.levels[lv[j]], "entered");
      });
      if (prev[3] !== b || prev[1] !== m.fit) {
        measure.modelEvent(m.id, prev[1], arm, SCORE, bucketName(prev[3], Boolean(m.uplift)), "left");
        measure.modelEvent(m.id, m.fit, arm, SCORE, bucketName(b, Boolean(m.uplift)), "entered");
      }
    }
    kept[m.id] = [m.spec, m.fit, lv, b, false, arm];
  });
  session.models = kept;
}

/** The visit's first conversion of `goal` (after the same dedup as the arms' conversions): every
 * unfrozen entry of a model with that goal counts `converted` on its levels, and is frozen. */
export function countConversion(measure, prepared, session, goal) {
  for (const m of modelsOf(prepared)) {
    const e = session.models[m.id];
    if (e === undefined || e[4] || m.goal !== goal || e[0] !== m.spec || e[2].length !== m.features.length) continue;
    rows(measure, m, e[0], e[5], e[2], e[3], e[1], "converted");
    e[4] = true;
  }
}

/** `model_specs` of the stats snapshot: what each row's model, spec and level names mean. */
export function modelSpecs(prepared) {
  const out = {};
  for (const m of modelsOf(prepared)) {
    let uplift = null;
    if (m.uplift) uplift = m.uplift.experiment !== undefined && m.uplift.experiment !== null
      ? { experiment: upliftExperiment(prepared, m.uplift), treatment: m.uplift.treatment, control: m.uplift.control }
      : { slot: m.uplift.slot, rule: m.uplift.rule };
    out[m.id] = { spec: m.spec, fit: m.fit, goal: m.goal, uplift, features: Object.fromEntries(m.features.map((f) => [f.id, [...f.levels]])) };
  }
  return out;
}
