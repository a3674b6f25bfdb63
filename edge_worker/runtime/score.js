// Model scores (docs/models.md, "Scores at decision time"): the port of runtime/score.py,
// bit-identical to it. A model's features turn the decision's signals into one level per feature
// (a byte), and its coefficient sets turn the levels into a score: sigmoid(bias + weights) for a
// plain model, sigmoid(treatment) - sigmoid(control) for an uplift model. Built once per bundle
// from the validated payload; scoring uses only + - * / and Math.floor, in Python's order.

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

/** One model of the bundle (payload.models[i]). */
export class Model {
  constructor(raw, signalTypes) {
    this.id = raw.id;
    this.goal = raw.goal;
    this.spec = raw.spec;
    this.fit = raw.fit;
    this.uplift = raw.uplift === null || raw.uplift === undefined ? null : { ...raw.uplift };
    if (this.uplift !== null && 'experiment' in this.uplift) this.uplift.experiment = num(this.uplift.experiment);
    this.features = Object.freeze(raw.features.map((f) => new Feature(f, signalTypes)));
    // sets[j] = [bias, Float64Array per feature]
    this.sets = raw.sets.map((s) => [dbl(s.bias), s.weights.map((ws) => Float64Array.from(ws, dbl))]);
    this.signals = Int32Array.from(this.features, (f) => f.signal);
  }

  /** One byte per feature: the level of each feature's signal in `s` (signal values by index,
   * undefined = absent, as an Activation holds them). */
  levels(s) {
    const fs = this.features;
    const out = new Uint8Array(fs.length);
    for (let j = 0; j < fs.length; j++) {
      const f = fs[j];
      const v = s[f.signal];
      out[j] = v === undefined ? f.absent : f.level(v);
    }
    return out;
  }

  /** z = bias + the weight of each feature's level, left to right. */
  static z(set, levels) {
    let z = set[0];
    const w = set[1];
    for (let j = 0; j < w.length; j++) z = z + w[j][levels[j]];
    return z;
  }

  /** The score of `levels`: sigmoid(z), or sigmoid(z_treatment) - sigmoid(z_control). */
  scoreOf(levels) {
    const sets = this.sets;
    if (sets.length === 1) return sigmoid(Model.z(sets[0], levels));
    return sigmoid(Model.z(sets[0], levels)) - sigmoid(Model.z(sets[1], levels));
  }

  /** The score of the signals `s`: scoreOf(levels(s)), summing as it goes for a plain model
   * (no level bytes built; the same additions in the same order). */
  score(s) {
    if (this.sets.length !== 1) return this.scoreOf(this.levels(s));
    const fs = this.features;
    let z = this.sets[0][0];
    const w = this.sets[0][1];
    for (let j = 0; j < fs.length; j++) {
      const f = fs[j];
      const v = s[f.signal];
      z = z + w[j][v === undefined ? f.absent : f.level(v)];
    }
    return sigmoid(z);
  }
}
