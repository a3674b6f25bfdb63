// IR -> closures, built once per bundle (no code from strings: workers refuse eval/new Function).
// The port of runtime/interp.py, CEL's error-as-value semantics included: every closure is
// `ev(a)` over an Activation and returns a value or an Err, so `false && error` is false and
// `true || error` is true (cel-go's evalAnd). Where the IR's overload id proves the argument
// types, a CALL uses an exact specialised function from functions.js (the cel-go planner's idea).

import { FUNCTIONS, SPECIALISED, arityError, makeMap } from './functions.js';
import { CelError, CelType, Err, kind } from './values.js';
import { Op } from './format.js';
import { GROWTH, allocUnits, charge, overMessage, weight } from './budget.js';
import { litFromRaw, uintFromRaw } from './raw.js';

/** Per-request evaluation state: signal values by index (undefined = absent), the segment memo,
 * and the comprehension variables (innermost last). */
export class Activation {
  constructor(signals, memo) {
    this.s = signals;
    this.m = memo;
    this.vs = [];
    this.order = null;
    this.sc = null; // model scores computed in this decision, by model index (plan.js scoreValue)
    // The evaluation budget's work units per condition id (budget.js charge): the condition
    // charged last in `cid`/`cw`, the others in the Map `w`, made when a second one charges.
    this.cid = -1;
    this.cw = 0;
    this.w = null;
  }

  /** The work units condition `cid` used so far. */
  count(cid) {
    if (cid === this.cid) return this.cw;
    return this.w !== null ? this.w.get(cid) ?? 0 : 0;
  }

  /** The most work units one condition used so far (Python's Outcome.work). */
  work() {
    let m = this.cw;
    if (this.w !== null) for (const v of this.w.values()) if (v > m) m = v;
    return m;
  }
}

function errOf(e) {
  if (e instanceof CelError) return new Err(e.message);
  if (e instanceof RangeError) return new Err('expression nested too deeply');
  return new Err(`${e && e.name}: ${e && e.message}`); // defensive: a value no check expected
}

function call1(f, a0) {
  return (a) => {
    const x = a0(a);
    if (x instanceof Err) return x;
    try {
      return f(x);
    } catch (e) {
      return errOf(e);
    }
  };
}

function call2(f, a0, a1) {
  return (a) => {
    const x = a0(a);
    const y = a1(a);
    if (x instanceof Err) return x;
    if (y instanceof Err) return y;
    try {
      return f(x, y);
    } catch (e) {
      return errOf(e);
    }
  };
}

function callN(f, args) {
  return (a) => {
    const vals = args.map((g) => g(a));
    for (const x of vals) if (x instanceof Err) return x;
    try {
      return f(...vals);
    } catch (e) {
      return errOf(e);
    }
  };
}

function spec2(f, a0, a1) {
  return (a) => {
    const x = a0(a);
    const y = a1(a);
    if (x instanceof Err) return x;
    if (y instanceof Err) return y;
    return f(x, y);
  };
}

const NO_CONST = Symbol('not constant');
// Numbers never grow (allocUnits charges them 0): `_+_` on them keeps the specialised path.
const NUMERIC_OVERLOAD = /^(int|uint|double)(,(int|uint|double))*$/;

function iterRange(r) {
  if (Array.isArray(r)) return r;
  if (r instanceof Map) return Array.from(r.keys());
  throw new CelError(`expression of type '${kind(r)}' cannot be the range of a comprehension`);
}

function iterPairs(r) {
  if (Array.isArray(r)) return r.map((v, i) => [BigInt(i), v]);
  if (r instanceof Map) return Array.from(r.entries());
  throw new CelError('expression cannot be the range of a two-variable comprehension');
}

/** Builds closures for one bundle. `segmentEval(i, a)` evaluates (and memoises) segment i,
 * `scoreEval(i, a)` the score of model i (a double, never an error). */
export class Builder {
  constructor(signalNames, segmentEval, scoreEval = null) {
    this.signalNames = signalNames;
    this.segmentEval = segmentEval;
    this.scoreEval = scoreEval;
    this.cid = 0;
  }

  /** Build the closure of `node`; `cid` (when given) is the condition's id for the evaluation
   * budget, used by every charge site built inside it. */
  build(node, cid) {
    if (cid !== undefined) this.cid = cid;
    const op = node[0];
    switch (op) {
      case Op.LIT: {
        const v = litFromRaw(node[1]);
        return () => v;
      }
      case Op.ULIT: {
        const v = uintFromRaw(node[1]);
        return () => v;
      }
      case Op.TYPE: {
        const v = new CelType(node[1]);
        return () => v;
      }
      case Op.SIG: {
        const i = node[1];
        const missing = this.missing(i);
        return (a) => {
          const v = a.s[i];
          return v === undefined ? missing : v;
        };
      }
      case Op.SIGHAS: {
        const i = node[1];
        return (a) => a.s[i] !== undefined;
      }
      case Op.SEG: {
        const i = node[1];
        const seg = this.segmentEval;
        return (a) => seg(i, a);
      }
      case Op.SCORE: {
        const i = Number(node[1]);
        const score = this.scoreEval;
        if (score === null) return () => new Err('no models here');
        return (a) => score(i, a);
      }
      case Op.VAR: {
        const d = node[1];
        return (a) => a.vs[a.vs.length - 1 - d];
      }
      case Op.SEL: return this.sel(node);
      case Op.HAS: return this.has(node);
      case Op.AND: return this.and(node);
      case Op.OR: return this.or(node);
      case Op.NOT: {
        const e = this.build(node[1]);
        const notBool = FUNCTIONS['!_'];
        return (a) => {
          const x = e(a);
          if (x === true) return false;
          if (x === false) return true;
          return x instanceof Err ? x : call1(notBool, () => x)(a);
        };
      }
      case Op.COND: return this.cond(node);
      case Op.CALL: return this.call(node);
      case Op.LIST: return this.list(node);
      case Op.MAP: return this.map(node);
      case Op.COMP:
      case Op.COMP2: return this.comp(node);
    }
    throw new Error(`unknown opcode ${op}`); // unreachable: validate.js checked every node
  }

  sel(node) {
    const e = this.build(node[1]);
    const field = node[2];
    const missing = new Err(`no such key: ${field}`);
    if (node[1][0] === Op.VAR) {
      // A field of a comprehension variable (`i.category`), read without the variable's closure.
      const d = node[1][1];
      return (a) => {
        const vs = a.vs;
        const c = vs[vs.length - 1 - d];
        if (c instanceof Map) {
          const v = c.get(field);
          return v !== undefined ? v : c.has(field) ? v : missing;
        }
        if (c instanceof Err) return c;
        return new Err(`type '${kind(c)}' does not support field selection`);
      };
    }
    return (a) => {
      const c = e(a);
      if (c instanceof Map) {
        const v = c.get(field);
        return v !== undefined ? v : c.has(field) ? v : missing;
      }
      if (c instanceof Err) return c;
      return new Err(`type '${kind(c)}' does not support field selection`);
    };
  }

  has(node) {
    const e = this.build(node[1]);
    const field = node[2];
    return (a) => {
      const c = e(a);
      if (c instanceof Map) return c.has(field);
      if (c instanceof Err) return c;
      return new Err(`invalid type for has(): ${kind(c)}`);
    };
  }

  /** The terms of a left-nested chain of `op` (`a && b && c` is [AND, [AND, a, b], c]). */
  chain(node, op) {
    const terms = [];
    let n = node;
    while (n[0] === op) {
      terms.push(n[2]);
      n = n[1];
    }
    terms.push(n);
    return terms.reverse().map((t) => this.build(t));
  }

  and(node) {
    // One loop over the chain, combining left to right exactly as nested binary && nodes do:
    // false wins at once; otherwise the left error, else the right one, else no overload.
    const terms = this.chain(node, Op.AND);
    const n = terms.length;
    return (a) => {
      let x = terms[0](a);
      for (let i = 1; i < n; i++) {
        if (x === false) return false;
        const y = terms[i](a);
        if (y === false) return false;
        if (x === true && y === true) continue;
        if (!(x instanceof Err)) x = y instanceof Err ? y : new Err("no matching overload for '_&&_'");
      }
      return x;
    };
  }

  or(node) {
    const terms = this.chain(node, Op.OR);
    const n = terms.length;
    return (a) => {
      let x = terms[0](a);
      for (let i = 1; i < n; i++) {
        if (x === true) return true;
        const y = terms[i](a);
        if (y === true) return true;
        if (x === false && y === false) continue;
        if (!(x instanceof Err)) x = y instanceof Err ? y : new Err("no matching overload for '_||_'");
      }
      return x;
    };
  }

  cond(node) {
    const c = this.build(node[1]);
    const t = this.build(node[2]);
    const f = this.build(node[3]);
    return (a) => {
      const x = c(a);
      if (x === true) return t(a);
      if (x === false) return f(a);
      if (x instanceof Err) return x;
      return new Err("no matching overload for '_?_:_'");
    };
  }

  call(node) {
    const name = node[1];
    const overload = node[2];
    const args = node.slice(3).map((n) => this.build(n));
    const bad = arityError(name, args.length);
    if (bad !== null) {
      // Python evaluates the arguments, returns the first error among them, then fails the call.
      const err = new Err(bad);
      return callN(() => {
        throw new CelError(err.message);
      }, args);
    }
    if (GROWTH.has(name) && !(overload !== null && NUMERIC_OVERLOAD.test(overload))) return this.grow(name, FUNCTIONS[name], args);
    const spec = overload !== null ? SPECIALISED[`${name}|${overload}`] : undefined;
    if (spec !== undefined && args.length === 2) return this.fused(spec, node[3], node[4], args[0], args[1]);
    const f = FUNCTIONS[name];
    if (args.length === 1) return call1(f, args[0]);
    if (args.length === 2) return call2(f, args[0], args[1]);
    return callN(f, args);
  }

  /** A growth call: its result's size is charged to the condition before it is built. */
  grow(name, f, args) {
    const cid = this.cid;
    if (args.length === 2) {
      const [a0, a1] = args;
      return (a) => {
        const x = a0(a);
        const y = a1(a);
        if (x instanceof Err) return x;
        if (y instanceof Err) return y;
        const units = allocUnits(name, [x, y]);
        if (units) {
          const over = charge(a, cid, units);
          if (over !== null) return new Err(overMessage(over), true);
        }
        try {
          return f(x, y);
        } catch (e) {
          return errOf(e);
        }
      };
    }
    return (a) => {
      const vals = args.map((g) => g(a));
      for (const x of vals) if (x instanceof Err) return x;
      const units = allocUnits(name, vals);
      if (units) {
        const over = charge(a, cid, units);
        if (over !== null) return new Err(overMessage(over), true);
      }
      try {
        return f(...vals);
      } catch (e) {
        return errOf(e);
      }
    };
  }

  /** The value of a node made only of literals (list and map literals included), else NO_CONST.
   * CEL values are immutable, so one shared value serves every evaluation. */
  constant(node) {
    switch (node[0]) {
      case Op.LIT: return litFromRaw(node[1]);
      case Op.ULIT: return uintFromRaw(node[1]);
      case Op.TYPE: return new CelType(node[1]);
      case Op.LIST: {
        const out = [];
        for (const n of node.slice(1)) {
          const v = this.constant(n);
          if (v === NO_CONST) return NO_CONST;
          out.push(v);
        }
        return out;
      }
    }
    return NO_CONST;
  }

  /** A specialised binary call with its common operand shapes fused into one closure: a signal
   * or any expression against a constant (`score > 10`, `tier == "gold"`, `"x" in tags`). */
  fused(f, n0, n1, a0, a1) {
    const k0 = this.constant(n0);
    const k1 = this.constant(n1);
    if (k1 !== NO_CONST && n0[0] === Op.SIG) {
      const i = n0[1];
      const missing = this.missing(i);
      return (a) => {
        const x = a.s[i];
        return x === undefined ? missing : f(x, k1);
      };
    }
    if (k0 !== NO_CONST && n1[0] === Op.SIG) {
      const i = n1[1];
      const missing = this.missing(i);
      return (a) => {
        const y = a.s[i];
        return y === undefined ? missing : f(k0, y);
      };
    }
    if (k1 !== NO_CONST) {
      return (a) => {
        const x = a0(a);
        return x instanceof Err ? x : f(x, k1);
      };
    }
    if (k0 !== NO_CONST) {
      return (a) => {
        const y = a1(a);
        return y instanceof Err ? y : f(k0, y);
      };
    }
    return spec2(f, a0, a1);
  }

  /** The error of reading absent signal i (one shared value per signal). */
  missing(i) {
    this.missingErrs ??= new Map();
    let e = this.missingErrs.get(i);
    if (e === undefined) {
      e = new Err(`no such attribute: signal '${this.signalNames[i]}' is absent`);
      this.missingErrs.set(i, e);
    }
    return e;
  }

  list(node) {
    const k = this.constant(node);
    if (k !== NO_CONST) return () => k;
    const items = node.slice(1).map((n) => this.build(n));
    return (a) => {
      const out = items.map((g) => g(a));
      for (const x of out) if (x instanceof Err) return x;
      return out;
    };
  }

  map(node) {
    const parts = node.slice(1).map((n) => this.build(n));
    return (a) => {
      const vals = parts.map((g) => g(a));
      for (const x of vals) if (x instanceof Err) return x;
      const pairs = [];
      for (let i = 0; i < vals.length; i += 2) pairs.push([vals[i], vals[i + 1]]);
      try {
        return makeMap(pairs);
      } catch (e) {
        return errOf(e);
      }
    };
  }

  comp(node) {
    const kind_ = node[1];
    const rng = this.build(node[2]);
    const body = this.build(node[3]);
    const filt = node.length > 4 ? this.build(node[4]) : null;
    const two = node[0] === Op.COMP2;
    const n = two ? 2 : 1;
    const w = weight(node);
    const cid = this.cid;
    // Runs `body` (or `f`) with the item's variables pushed.
    // Closures never throw (every call catches into an Err), so no try/finally is needed to pop.
    const run = two
      ? (a, f, it) => {
        const vs = a.vs;
        vs.push(it[0], it[1]);
        const r = f(a);
        vs.length -= n;
        return r;
      }
      : (a, f, it) => {
        const vs = a.vs;
        vs.push(it);
        const r = f(a);
        vs.length -= 1;
        return r;
      };
    const generic = (a, r) => {
      let items;
      try {
        items = two ? iterPairs(r) : iterRange(r);
      } catch (e) {
        return errOf(e);
      }
      const over = charge(a, cid, items.length * w);
      if (over !== null) return new Err(overMessage(over), true);
      if (kind_ === 'all' || kind_ === 'exists') {
        const want = kind_ === 'exists';
        let err = null;
        for (const it of items) {
          const x = run(a, body, it);
          if (x === want) return want;
          if (x !== !want) err = x instanceof Err ? x : new Err(`no matching overload for '${kind_}'`);
        }
        return err !== null ? err : !want;
      }
      if (kind_ === 'exists_one') {
        let count = 0;
        for (const it of items) {
          const x = run(a, body, it);
          if (x === true) count++;
          else if (x !== false) return x instanceof Err ? x : new Err("no matching overload for 'exists_one'");
        }
        return count === 1;
      }
      if (kind_ === 'filter') {
        const out = [];
        for (const it of items) {
          const x = run(a, body, it);
          if (x instanceof Err) return x;
          if (x === true) out.push(two ? it[1] : it);
          else if (x !== false) return new Err("no matching overload for 'filter'");
        }
        return out;
      }
      // map / transformList / transformMap (optionally with a filter)
      const res = [];
      const keys = [];
      for (const it of items) {
        if (filt !== null) {
          const c = run(a, filt, it);
          if (c instanceof Err) return c;
          if (c !== true) {
            if (c !== false) return new Err("no matching overload for 'map' filter");
            continue;
          }
        }
        const x = run(a, body, it);
        if (x instanceof Err) return x;
        res.push(x);
        keys.push(two ? it[0] : it);
      }
      if (kind_ === 'transformMap') {
        const m = new Map();
        keys.forEach((k, i) => m.set(k, res[i]));
        return m;
      }
      return res;
    };
    if (!two && (kind_ === 'exists' || kind_ === 'all')) {
      // The common case, one variable over a list, as a plain loop (same results as `generic`).
      const want = kind_ === 'exists';
      const noOverload = new Err(`no matching overload for '${kind_}'`);
      return (a) => {
        const r = rng(a);
        if (r instanceof Err) return r;
        if (!Array.isArray(r)) return generic(a, r);
        const over = charge(a, cid, r.length * w);
        if (over !== null) return new Err(overMessage(over), true);
        const vs = a.vs;
        let err = null;
        for (let i = 0; i < r.length; i++) {
          vs.push(r[i]);
          const x = body(a);
          vs.pop();
          if (x === want) return want;
          if (x !== !want) err = x instanceof Err ? x : noOverload;
        }
        return err !== null ? err : !want;
      };
    }
    return (a) => {
      const r = rng(a);
      if (r instanceof Err) return r;
      return generic(a, r);
    };
  }
}
