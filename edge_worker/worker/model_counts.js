// The visit side of the model training counters (docs/models.md "Counting"), as the Python
// server counts them: a consenting visit's feature levels and score bucket per model travel in its
// own cookie (Session.models: model id -> ModelEntry [spec, fit, levels, score bucket, frozen, arm, uplift row]); each
// decide counts what changed (`entered` on the new level, `left` on the old one), and the visit's
// first conversion of a model's goal counts `converted` on every level the visit holds and freezes
// the entry. Net visits of a level are entered - left. Nothing is counted without consent (there
// is no session then), and the server keeps only the sums (measure.js).
//
// The state a change counts from (model_counts.py's docstring has the reasons): the isolate's visit
// ledger (visit_ledger.js) keeps the model state it counted last with its random tag; the cookie's
// entries are the "from" state only when the isolate has none for the visit or the cookie's lineage
// descends from it (the tag is among its earlier ones), else the ledger's state is, and the response
// carries it. Session.entered says which models the visit entered: an entry the cookie's size shrink
// dropped is never entered again in the visit.

import { SCORE_BUCKETS } from "../runtime/format.js";
import { bucketName, scoreBucket, upliftBucket, upliftBucketName, upliftLabel } from "../runtime/score.js";
import { ALL, SCORE, UPLIFT } from "./contract.js";
import { ExposureEntry as X, LINEAGE_STATES, LINEAGE_TAG_BYTES, MAX_SESSION_MODELS, ModelEntry as M, packModels, unpackModels } from "./session.js";
import { RandomSource } from "./random_source.js";

/** A new lineage tag's random bytes (random_source.js; model_counts.py's _LINEAGE_TAG). */
const LINEAGE_TAG = new RandomSource(LINEAGE_TAG_BYTES);

/** The feature of the score bucket rows (their `spec` label is the model's fit), and the feature
 * and level of a model's visit rows (edge_server/edge_contract.json, "stats"). */
export { SCORE, UPLIFT };
export const VISIT = ALL;

// ------------------------------------------------------------------ the runtime's model API
// The JavaScript runtime's names for runtime/score.py's Model and Prepared methods, in one place.

/** The bundle's models, in declaration order ([] for a bundle without models). */
export const modelsOf = (prepared) => prepared?.models ?? [];
/** One Uint8Array of levels per model, from the signal values the decision's conditions read (Outcome.signals). */
const levelsOf = (prepared, signals) => prepared.levels(signals);
/** The model's log-odds for its levels, of set `arm` (0: plain or treatment, 1: control): what the buckets count. */
const zOf = (model, levels, arm) => model.zOf(levels, arm);
/** The model's score at `levels` (an uplift model: the calibrated uplift, treatment - control). */
const scoreOf = (model, levels) => model.scoreOf(levels);
/** Whether a rule's condition holds for the decision's signal values (holdout ignored), reusing its memo. */
const ruleHolds = (prepared, slot, rule, signals, memo) => prepared.ruleHolds(slot, rule, signals, memo);

/** The experiment id of an experiment-uplift model (the bundle names it by index). */
export function upliftExperiment(prepared, uplift) {
  const e = uplift.experiment;
  return typeof e === "string" ? e : prepared.experiments[Number(e)].id;
}

// ------------------------------------------------------------------ score buckets
// Buckets of the model's log-odds before calibration (the visit's arm's, for an uplift model):
// the runtime's scoreBucket and bucketName (runtime/score.py's score_bucket and bucket_name). A
// legacy index (a cookie from before the log-odds buckets) has no name: no row is left or converted.
export { scoreBucket, bucketName };

// ------------------------------------------------------------------ counting
/** The arm `model` counts under in this visit: "" for a plain model; for an uplift model
 * "treatment"/"control", or null while the visit is in neither arm. */
export function armOf(prepared, model, session, holdout, signals, memo = null) {
  const u = model.uplift;
  if (u === null || u === undefined) return "";
  if (u.experiment !== undefined && u.experiment !== null) {
    const e = session.exposures[upliftExperiment(prepared, u)];
    if (e === undefined || e[X.visit] !== session.visitCount) return null; // not exposed in this visit
    return e[X.variant] === u.treatment ? "treatment" : e[X.variant] === u.control ? "control" : null;
  }
  // the rule against the global holdout: a personalised visit shown the rule, a holdout visit it would have been shown to
  if (holdout) return ruleHolds(prepared, u.slot, u.rule, signals, memo) ? "control" : null;
  const prefix = `${u.slot}|${u.rule}|`; // the rule's exposure key, any layer
  return session.shown.some((key) => key.startsWith(prefix)) ? "treatment" : null;
}

/** An uplift model's uplift row for `levels`, as an entry stores it: calibration tag * 128 + the
 * bucket of its uplift score (the calibrated uplift a rule compares; model_counts.py's uplift_row). */
export const upliftRow = (model, levels) => model.calibrationTag * 128 + upliftBucket(scoreOf(model, levels));

/** `event` on an entry's uplift row (none: 0, an entry written before the uplift buckets). */
function upliftEvent(measure, model, fit, arm, u, event) {
  if (u) measure.modelEvent(model.id, upliftLabel(fit, Math.floor(u / 128)), arm, UPLIFT, upliftBucketName(u & 127), event);
}

function rows(measure, model, spec, arm, levels, bucket, fit, u, event) {
  measure.modelEvent(model.id, spec, arm, VISIT, VISIT, event);
  model.features.forEach((f, j) => measure.modelEvent(model.id, spec, arm, f.id, f.levels[levels[j]], event));
  const name = bucketName(bucket);
  if (name !== null) measure.modelEvent(model.id, fit, arm, SCORE, name, event); // none for a legacy bucket
  upliftEvent(measure, model, fit, arm, u, event);
}

/** Whether an entry of this model's spec fits it (one level index per feature, in range; a bucket
 * of the model's kind; the arm of its kind), as model_counts.py's _valid: a cookie written for
 * another bundle might not. */
function fits(entry, model) {
  const levels = entry[M.levels];
  const features = model.features;
  if (levels.length !== features.length) return false;
  for (let j = 0; j < levels.length; j++) if (levels[j] >= features[j].levels.length) return false;
  const uplift = Boolean(model.uplift);
  const u = entry[M.uplift];
  return (entry[M.arm] === "") !== uplift && (entry[M.bucket] < SCORE_BUCKETS.legacy || bucketName(entry[M.bucket]) !== null)
    && (u === 0 || (uplift && upliftBucketName(u & 127) !== null));
}

// ------------------------------------------------------------------ the state counted from

/** Whether a cookie's `lineage` descends from the state tagged last in `own` (model_counts.py's _descends). */
function descends(lineage, own) {
  const t = LINEAGE_TAG_BYTES;
  const tag = own.subarray(own.length - t);
  for (let i = 0; i + t < lineage.length; i += t) if (tag.every((b, j) => lineage[i + j] === b)) return true;
  return false;
}

/** Make `session`'s model fields the state to count from (model_counts.py's _from_state), given the
 * visit's ledger record (null without a ledger): [that record, whether the cookie's state is a later
 * one than this isolate's]. */
function fromState(visit, session) {
  if (visit === null) return [null, false];
  const own = visit.models;
  if (own === null) return [visit, false];
  if (descends(session.lineage, own.lineage)) return [visit, true];
  const t = LINEAGE_TAG_BYTES;
  const sameTag = session.lineage.length >= t && own.lineage.subarray(own.lineage.length - t).every((b, j) => session.lineage[session.lineage.length - t + j] === b);
  if (!sameTag || Object.keys(session.models).length !== own.entryCount) session.models = unpackModels(own.entries); // not this isolate's latest state, whole
  session.entered = own.entered;
  session.lineage = own.lineage;
  return [visit, false];
}

/** After counting: a state that changed gets a new random tag, and the ledger keeps a copy; so does a
 * later state taken from the cookie (model_counts.py's _counted). */
function counted([visit, later], session, changed) {
  if (changed) {
    const t = LINEAGE_TAG_BYTES;
    const next = new Uint8Array(session.lineage.length + t);
    next.set(session.lineage, 0);
    next.set(LINEAGE_TAG.take(), session.lineage.length); // the new tag
    const keep = LINEAGE_STATES * t;
    session.lineage = next.length > keep ? next.slice(next.length - keep) : next; // the last LINEAGE_STATES tags
  } else if (!later) {
    return;
  }
  if (visit !== null) {
    visit.models = { lineage: session.lineage, entries: packModels(session.models), entryCount: Object.keys(session.models).length, entered: session.entered };
  }
}

/** After a consenting decide with decisions (its exposures and shown keys recorded in `session`):
 * count each of the bundle's first MAX_SESSION_MODELS models that this visit is in, and keep their
 * entries in the cookie (model_counts.py's ModelCounter.decided, entry for entry and in the same
 * key order, so that both servers write the same cookie). `signals`, `holdout`, `memo`: the
 * Outcome's (Outcome.signals: the values its conditions read, so nothing is converted again).
 * `visit`: the visit's record in the isolate's visit ledger, which the caller has just touched for
 * this request (null: the cookie's entries are the state counted from). */
export function countDecide(measure, prepared, session, signals, holdout, memo = null, visit = null) {
  const from = fromState(visit, session);
  counted(from, session, decideChanges(measure, prepared, session, signals, holdout, memo));
}

/** [the models a cookie holds entries of (the bundle's first MAX_SESSION_MODELS), their ids], once
 * per bundle's list of models (the bundle's immutable array). */
const sessionModelsOf = new WeakMap();
const NO_MODELS = [[], new Set()];
function sessionModels(prepared) {
  const all = modelsOf(prepared);
  if (!all.length) return NO_MODELS;
  let out = sessionModelsOf.get(all);
  if (out === undefined) {
    const models = all.slice(0, MAX_SESSION_MODELS);
    sessionModelsOf.set(all, (out = [models, new Set(models.map((m) => m.id))]));
  }
  return out;
}

/** Count the decision; whether the visit's model state changed. */
function decideChanges(measure, prepared, session, signals, holdout, memo) {
  const [models, countedIds] = sessionModels(prepared);
  const entries = session.models;
  let changed = false;
  let stale = null;
  for (const id in entries) if (!countedIds.has(id)) (stale ??= []).push(id);
  if (stale !== null) { // models the bundle no longer counts: `entered` was written for another bundle's models
    for (const id of stale) delete entries[id];
    const entered = models.reduce((bits, m, i) => (Object.hasOwn(entries, m.id) ? bits | (1 << i) : bits), 0);
    changed = true;
    session.entered = entered;
  }
  let levels = null;
  models.forEach((m, i) => {
    let entry = entries[m.id];
    if (entry !== undefined && (entry[M.spec] !== m.spec || !fits(entry, m))) {
      delete entries[m.id]; // the features changed: a new entry
      entry = undefined;
      changed = true;
    } else if (entry === undefined && (session.entered >> i) & 1) {
      return; // entered in this visit, its entry dropped by the cookie's size shrink: not entered again
    }
    if (entry !== undefined && entry[M.frozen]) return; // frozen: the visit converted
    let arm = armOf(prepared, m, session, holdout, signals, memo);
    if (arm === null) {
      if (entry === undefined) return; // not counted in this visit (yet)
      arm = entry[M.arm]; // counted since earlier in the visit: keep following it
    }
    if (entry === undefined && session.converted.includes(m.goal)) return; // converted before being counted: it would count as a visit that did not
    levels ??= levelsOf(prepared, signals);
    const lv = new Uint8Array(levels[i]); // a copy: the cookie keeps it
    const b = scoreBucket(zOf(m, lv, arm === "control" ? 1 : 0)); // the log-odds of the visit's arm
    const u = m.uplift ? upliftRow(m, lv) : 0; // its uplift score (the same in both arms)
    if (entry === undefined) {
      rows(measure, m, m.spec, arm, lv, b, m.fit, u, "entered");
      entries[m.id] = [m.spec, m.fit, lv, b, false, arm, u];
      session.entered |= 1 << i;
      changed = true;
    } else if (entry[M.arm] !== arm) { // another variant within the visit: it leaves the old arm
      rows(measure, m, entry[M.spec], entry[M.arm], entry[M.levels], entry[M.bucket], entry[M.fit], entry[M.uplift], "left");
      rows(measure, m, m.spec, arm, lv, b, m.fit, u, "entered");
      entries[m.id] = [m.spec, m.fit, lv, b, false, arm, u];
      changed = true;
    } else {
      const old = entry[M.levels];
      for (let j = 0; j < lv.length; j++) {
        if (old[j] === lv[j]) continue;
        const f = m.features[j];
        measure.modelEvent(m.id, m.spec, arm, f.id, f.levels[old[j]], "left");
        measure.modelEvent(m.id, m.spec, arm, f.id, f.levels[lv[j]], "entered");
        changed = true;
      }
      entry[M.levels] = lv;
      if (entry[M.bucket] !== b || entry[M.fit] !== m.fit) {
        changed = true;
        const was = bucketName(entry[M.bucket]);
        if (was !== null) measure.modelEvent(m.id, entry[M.fit], arm, SCORE, was, "left"); // a legacy bucket left nowhere
        measure.modelEvent(m.id, m.fit, arm, SCORE, bucketName(b), "entered");
      }
      if (entry[M.uplift] !== u || entry[M.fit] !== m.fit) {
        changed = true;
        upliftEvent(measure, m, entry[M.fit], arm, entry[M.uplift], "left"); // none in an entry written before the uplift buckets
        upliftEvent(measure, m, m.fit, arm, u, "entered");
        entry[M.uplift] = u;
      }
      entry[M.fit] = m.fit;
      entry[M.bucket] = b;
    }
  });
  return changed;
}

/** The visit's first conversion of `goal` (after the same dedup as the arms' conversions): every
 * unfrozen entry of a model with that goal counts `converted` on its levels, and is frozen. */
export function countConversion(measure, prepared, session, goal, ledger = null, now = Date.now() / 1000) {
  const from = fromState(ledger === null ? null : ledger.record(session.visitNonce, now), session);
  const byId = new Map(modelsOf(prepared).slice(0, MAX_SESSION_MODELS).map((m) => [m.id, m]));
  let changed = false;
  for (const [id, e] of Object.entries(session.models)) {
    const m = byId.get(id);
    if (m === undefined || e[M.frozen] || m.goal !== goal) continue;
    e[M.frozen] = true;
    changed = true;
    if (e[M.spec] === m.spec && fits(e, m)) rows(measure, m, e[M.spec], e[M.arm], e[M.levels], e[M.bucket], e[M.fit], e[M.uplift], "converted");
  }
  counted(from, session, changed);
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
