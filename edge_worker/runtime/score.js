// Model scores (docs/models.md, "Scores at decision time"): the port of runtime/score.py,
// bit-identical to it. A model's features turn the decision's signals into one level per feature
// (a byte), and its coefficient sets turn the levels into a score: sigmoid(bias + weights) for a
// plain model, sigmoid(treatment) - sigmoid(control) for an uplift model. Built once per bundle
// from the validated payload; scoring uses only + - * / and Math.floor, in Python's order.

import { SCORE_BUCKETS, UPLIFT_BUCKETS } from './format.js';
import { Float } from './signals.js';
import { CelUint } from './values.js';

const num = (v) => (typeof v === 'bigint' ? Number(v) : v);
const dbl = (v) => (v instanceof Float ? v.v : Number(v));

// C[n] = 1/n!, each by one division from the previous one (the same doubles as Python's loop).
const C = [1.0];
for (let n = 1, c = 1.0; n <= 13; n++) {
  c = c / n;
  C.push(c);
}

/** The logistic function with + - * / and floor only, so that every runtime agrees bit for bit:
 * e^x = 2^k e^r with r reduced by a two-part ln 2, e^r by its degree-13 Taylor polynomial
 * (Horner), 2^k by k exact doublings or halvings. z is clamped to [-36, 36]. */
export function sigmoid(z) {
  z = Math.min(Math.max(z, -36.0), 36.0);
  const x = -z;
  const k = Math.floor(x * 1.4426950408889634 + 0.5);
  const r = (x - k * 0.6931471803691238) - k * 1.9082149292705877e-10;
  let p = C[13];
  for (let n = 12; n >= 0; n--) p = p * r + C[n];
  for (let i = 0; i < k; i++) p = p * 2.0;
  for (let i = 0; i < -k; i++) p = p * 0.5;
  return 1.0 / (1.0 + p);
}

const { low: B_LOW, per_unit: B_PER_UNIT, buckets: B_COUNT, first: B_FIRST } = SCORE_BUCKETS;

/** The counting bucket of a log-odds z as a cookie stores it: first + floor((z - low) * per_unit),
 * clamped to the buckets (runtime/score.py's score_bucket, the same IEEE operations). */
export function scoreBucket(z) {
  const i = Math.floor((z - B_LOW) * B_PER_UNIT);
  return B_FIRST + (i < 0 ? 0 : i >= B_COUNT ? B_COUNT - 1 : i);
}

/** The level name of a stored bucket: its lower bound in log-odds with three decimals, null for a
 * legacy index (an old 0.05-wide bucket of the score, counted nowhere any more) or one out of range. */
export function bucketName(b) {
  const i = b - B_FIRST;
  if (!(i >= 0 && i < B_COUNT)) return null;
  return (B_LOW + i / B_PER_UNIT).toFixed(3);
}

const { low: U_LOW, per_unit: U_PER_UNIT, buckets: U_COUNT, first: U_FIRST } = UPLIFT_BUCKETS;

/** The counting bucket of an uplift score u (the calibrated uplift Model.scoreOf returns) as a
 * cookie stores it: first + floor((u - low) * per_unit), clamped to the buckets (runtime/score.py's
 * uplift_bucket, the same IEEE operations). */
export function upliftBucket(u) {
  const i = Math.floor((u - U_LOW) * U_PER_UNIT);
  return U_FIRST + (i < 0 ? 0 : i >= U_COUNT ? U_COUNT - 1 : i);
}

/** The level name of a stored uplift bucket: its lower bound with two decimals, null for 0 (none)
 * or an index out of range (runtime/score.py's uplift_bucket_name). */
export function upliftBucketName(b) {
  const i = b - U_FIRST;
  if (!(i >= 0 && i < U_COUNT)) return null;
  return (U_LOW + i / U_PER_UNIT).toFixed(2);
}

/** A 16-bit tag of a model's calibrations (one knot list or null per set), 0 when no set is
 * calibrated (runtime/score.py's calibration_tag: FNV-1a over a byte per set and its knots as
 * little-endian doubles, folded to 16 bits, 1 if that is 0). */
export function calibrationTag(calibrations) {
  if (!calibrations.some((k) => k && k.length)) return 0;
  let h = 0x811c9dc5;
  const mix = (byte) => { h = Math.imul(h ^ byte, 0x01000193) >>> 0; };
  const view = new DataView(new ArrayBuffer(8));
  for (const knots of calibrations) {
    if (!knots || !knots.length) { mix(0); continue; }
    mix(1);
    for (const k of knots) {
      for (const x of [k[0], k[1]]) {
        view.setFloat64(0, dbl(x), true);
        for (let i = 0; i < 8; i++) mix(view.getUint8(i));
      }
    }
  }
  return ((h >>> 16) ^ (h & 0xffff)) || 1;
}

/** The spec label of an uplift model's @uplift rows: its fit, and the calibration tag when calibrated (runtime/score.py's uplift_label). */
export const upliftLabel = (fit, tag) => (tag ? `${fit}~${tag.toString(16).padStart(4, "0")}` : fit);

/** The calibration map of validated knots [[z, l], ...] (runtime/score.py's calibration): the
 * calibrated log-odds l interpolated linearly in z between knots, the first or last l beyond them;
 * the slopes divided once, here; per score a binary search, one subtraction, multiplication and
 * addition and a min, the same operations as Python's. */
export function calibration(knots) {
  const n = knots.length;
  const zs = Float64Array.from(knots, (k) => dbl(k[0]));
  const ps = Float64Array.from(knots, (k) => dbl(k[1]));
  const slopes = new Float64Array(Math.max(n - 1, 0));
  for (let j = 0; j < n - 1; j++) slopes[j] = (ps[j + 1] - ps[j]) / (zs[j + 1] - zs[j]);
  const zLo = zs[0], zHi = zs[n - 1], pLo = ps[0], pHi = ps[n - 1];
  return (z) => {
    if (z <= zLo) return pLo;
    if (z >= zHi) return pHi;
    let lo = 0, hi = n - 1; // zs[lo] <= z < zs[hi]: the last knot at or below z (Python's bisect_right - 1)
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (zs[mid] <= z) lo = mid;
      else hi = mid;
    }
    const p = ps[lo] + (z - zs[lo]) * slopes[lo];
    const q = ps[lo + 1];
    return p < q ? p : q;
  };
}

/** The CEL value of a feature's literal argument for a value of CEL type `t` ('uint' makes a
 * CelUint; ints are BigInt, doubles numbers). */
function literal(raw, t) {
  if (raw instanceof Float) return raw.v;
  if (typeof raw === 'number' || typeof raw === 'bigint') return t === 'uint' ? new CelUint(BigInt(raw)) : BigInt(raw);
  return raw;
}

/** Equal and of the same CEL type (bool is not int; int, uint and double differ). */
function sameTyped(a, b) {
  if (a instanceof CelUint) return b instanceof CelUint && a.v === b.v;
  if (a instanceof Uint8Array) return b instanceof Uint8Array && a.length === b.length && a.every((x, i) => x === b[i]);
  return typeof a === typeof b && a === b;
}

/** The element type of a 'list(T)' type string, or of the key of 'map(K, V)'. */
function innerType(t) {
  t = t.trim();
  if (t.startsWith('list(')) return t.slice(5, -1).trim();
  if (t.startsWith('map(')) {
    let depth = 0;
    const inner = t.slice(4, -1);
    for (let i = 0; i < inner.length; i++) {
      const ch = inner[i];
      if (ch === '(') depth++;
      else if (ch === ')') depth--;
      else if (ch === ',' && depth === 0) return inner.slice(0, i).trim();
    }
  }
  return 'dyn';
}

/** One feature: a signal index and a function from the signal's value to a level index. */
export class Feature {
  constructor(raw, signalTypes) {
    this.id = raw.id;
    this.signal = num(raw.signal);
    this.kind = raw.kind;
    this.levels = Object.freeze(raw.levels.slice());
    const absent = this.levels.length - 1;
    this.absent = absent;
    const t = String(signalTypes[this.signal]).trim();
    if (this.kind === 'values') {
      const args = raw.args.map((a) => literal(a, t));
      this.args = args;
      const other = args.length;
      // A Map by primitive key per CEL type: strings and bools as themselves, int and uint by
      // their BigInt under distinct maps; a value of another type is (other).
      const byPrim = new Map();
      const byUint = new Map();
      args.forEach((a, i) => {
        const m = a instanceof CelUint ? byUint : byPrim;
        const key = a instanceof CelUint ? a.v : a;
        if (!m.has(key)) m.set(key, i);
      });
      this.level = (v) => {
        let i;
        if (v instanceof CelUint) i = byUint.get(v.v);
        else if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'bigint') i = byPrim.get(v);
        return i === undefined ? other : i;
      };
    } else if (this.kind === 'edges') {
      // Exact comparison of int (BigInt), uint and double values with int or double edges, as
      // Python compares int with float; NaN is below every edge.
      const edges = raw.args.map((a) => (a instanceof Float ? a.v : BigInt(a)));
      this.args = edges;
      const n = edges.length;
      this.level = (v) => {
        const x = v instanceof CelUint ? v.v : v;
        if (typeof x !== 'bigint' && typeof x !== 'number') return 0; // not a number
        let i = 0;
        while (i < n && edges[i] <= x) i++;
        return i;
      };
    } else {
      const x = literal(raw.args[0], innerType(t));
      this.args = [x];
      this.level = (v) => {
        if (Array.isArray(v)) {
          for (const e of v) if (sameTyped(e, x)) return 1;
          return 0;
        }
        if (v instanceof Map) {
          // Map keys are strings, bools, ints (BigInt, compared by value) or CelUint objects.
          if (x instanceof CelUint) {
            for (const k of v.keys()) if (k instanceof CelUint && k.v === x.v) return 1;
            return 0;
          }
          return v.has(x) ? 1 : 0;
        }
        return 0;
      };
    }
  }
}

/** A cross (docs/models.md, "Crosses"): its level is the mixed-radix number of its parts' levels,
 * the first part most significant (runtime/score.py's cross_feature). Parts precede it. */
export class CrossFeature {
  constructor(raw, earlier) {
    this.id = raw.id;
    this.kind = 'cross';
    this.signal = -1;
    this.levels = Object.freeze(raw.levels.slice());
    this.args = raw.args.map(num);
    const strides = [];
    let m = 1;
    for (let j = this.args.length - 1; j >= 0; j--) {
      strides.unshift(m);
      m *= earlier[this.args[j]].levels.length;
    }
    this.strides = strides;
  }

  /** The level from the levels of the features before it (`out`, indexed like the features). */
  combine(out) {
    let i = 0;
    for (let j = 0; j < this.args.length; j++) i += out[this.args[j]] * this.strides[j];
    return i;
  }
}

/** One model of the bundle (payload.models[i]). */
export class Model {
  constructor(raw, signalTypes) {
    this.id = raw.id;
    this.goal = raw.goal;
    this.spec = raw.spec;
    this.fit = raw.fit;
    this.uplift = raw.uplift === null || raw.uplift === undefined ? null : { ...raw.uplift };
    if (this.uplift !== null && 'experiment' in this.uplift) this.uplift.experiment = num(this.uplift.experiment);
    const features = [];
    for (const f of raw.features) features.push(f.kind === 'cross' ? new CrossFeature(f, features) : new Feature(f, signalTypes));
    this.features = Object.freeze(features);
    // the indexes of the cross features: their weights are added after the calibration
    this.crosses = Int32Array.from(features.flatMap((f, i) => (f.kind === 'cross' ? [i] : [])));
    this.crossed = this.crosses.length > 0;
    // sets[j] = [bias, Float64Array per feature]
    this.sets = raw.sets.map((s) => [dbl(s.bias), s.weights.map((ws) => Float64Array.from(ws, dbl))]);
    // per set, its calibration (the log-odds without the crosses -> a calibrated log-odds), else null
    this.calibrations = raw.sets.map((s) => (s.calibration ? calibration(s.calibration) : null));
    this.signals = Int32Array.from(this.features, (f) => f.signal);
    // the tag of the calibrations (0: none), labelling the uplift rows (calibrationTag)
    this.calibrationTag = calibrationTag(raw.sets.map((s) => s.calibration ?? null));
  }

  /** One byte per feature: the level of each feature's signal in `s` (signal values by index,
   * undefined = absent, as an Activation holds them). */
  levels(s) {
    const fs = this.features;
    const out = new Uint8Array(fs.length);
    for (let j = 0; j < fs.length; j++) {
      const f = fs[j];
      if (f.kind === 'cross') {
        out[j] = f.combine(out);
        continue;
      }
      const v = s[f.signal];
      out[j] = v === undefined ? f.absent : f.level(v);
    }
    return out;
  }

  /** The log-odds of set `arm` (0: the plain model or the treatment, 1: the control) at `levels`
   * without the crosses: bias + the other features' weights, left to right. What the score
   * buckets count and a calibration maps (runtime/score.py's z_of). */
  zOf(levels, arm = 0) {
    const [bias, w] = this.sets[arm];
    let z = bias;
    if (!this.crossed) {
      for (let j = 0; j < w.length; j++) z = z + w[j][levels[j]];
      return z;
    }
    const fs = this.features;
    for (let j = 0; j < w.length; j++) if (fs[j].kind !== 'cross') z = z + w[j][levels[j]];
    return z;
  }

  /** The crosses' weights of set `arm` at `levels`, left to right from 0.0 (cross_of). */
  crossOf(levels, arm = 0) {
    const w = this.sets[arm][1];
    let c = 0.0;
    for (const i of this.crosses) c = c + w[i][levels[i]];
    return c;
  }

  /** Set `arm`'s probability: sigmoid(l + c), l the calibration of zOf (or zOf itself), c the
   * crosses' weights, added only when the model has crosses (p_of). */
  pOf(levels, arm = 0) {
    const cal = this.calibrations[arm];
    let z = this.zOf(levels, arm);
    if (cal !== null) z = cal(z);
    if (this.crossed) z = z + this.crossOf(levels, arm);
    return sigmoid(z);
  }

  /** The score of `levels`: the set's probability, or the treatment's minus the control's. */
  scoreOf(levels) {
    if (this.sets.length === 1) return this.pOf(levels, 0);
    return this.pOf(levels, 0) - this.pOf(levels, 1);
  }

  /** The score of the signals `s`: scoreOf(levels(s)), summing as it goes for a plain model
   * without crosses (no level bytes built; the same additions in the same order). */
  score(s) {
    if (this.sets.length !== 1 || this.crossed) return this.scoreOf(this.levels(s));
    const fs = this.features;
    let z = this.sets[0][0];
    const w = this.sets[0][1];
    for (let j = 0; j < fs.length; j++) {
      const f = fs[j];
      const v = s[f.signal];
      z = z + w[j][v === undefined ? f.absent : f.level(v)];
    }
    const cal = this.calibrations[0];
    return sigmoid(cal === null ? z : cal(z));
  }
}
