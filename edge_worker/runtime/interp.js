// IR -> closures, built once per bundle (no code from strings: workers refuse eval/new Function).
// The port of runtime/interp.py, CEL's error-as-value semantics included: every closure is
// `ev(a)` over an Activation and returns a value or an Err, so `false && error` is false and
// `true || error` is true (cel-go's evalAnd). Where the IR's overload id proves the argument
// types, a CALL uses an exact specialised function from functions.js (the cel-go planner's idea).

import { FUNCTIONS, SPECIALISED, arityError, makeMap } from './functions.js';
import { CelError, CelType, Err, kind } from './values.js';
import { Op } from './format.js';
import { litFromRaw, uintFromRaw } from './raw.js';

/** Per-request evaluation state: signal values by index (undefined = absent), the segment memo,
 * and the comprehension variables (innermost last). */
export class Activation {
  constructor(signals, memo) {
    this.s = signals;
    this.m = memo;
    this.vs = [];
    // NOTE(evaluation budget): the per-decision budget (comprehension iterations / allocated
    // size) being settled on another branch is charged here: `this.budget` decremented in
    // comprehension loops, an Err once exhausted. Not enforced yet.
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

/** Builds closures for one bundle. `segmentEval(i, a)` evaluates (and memoises) segment i. */
export class Builder {
  constructor(signalNames, segmentEval) {
    this.signalNames = signalNames;
    this.segmentEval = segmentEval;
  }

  build(node) {
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
        const missing = new Err(`no such attribute: signal '${this.signalNames[i]}' is absent`);
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
      case Op.VAR: {
        const d = node[1];
        return (a) => a.vs[a.vs.length - 1 - d];
      }
      case Op.SEL: return this.sel(node);
      case Op.HAS: return this.has(node);
      case Op.AND: return this.and(node);
      case Op.OR: return this.or(node);
      case Op.NOT: return call1(FUNCTIONS['!_'], this.build(node[1]));
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

  and(node) {
    const l = this.build(node[1]);
    const r = this.build(node[2]);
    return (a) => {
      const x = l(a);
      if (x === false) return false;
      const y = r(a);
      if (y === false) return false;
      if (x === true && y === true) return true;
      if (x instanceof Err) return x;
      if (y instanceof Err) return y;
      return new Err("no matching overload for '_&&_'");
    };
  }

  or(node) {
    const l = this.build(node[1]);
    const r = this.build(node[2]);
    return (a) => {
      const x = l(a);
      if (x === true) return true;
      const y = r(a);
      if (y === true) return true;
      if (x === false && y === false) return false;
      if (x instanceof Err) return x;
      if (y instanceof Err) return y;
      return new Err("no matching overload for '_||_'");
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
    const spec = overload !== null ? SPECIALISED[`${name}|${overload}`] : undefined;
    if (spec !== undefined && args.length === 2) return spec2(spec, args[0], args[1]);
    const f = FUNCTIONS[name];
    if (args.length === 1) return call1(f, args[0]);
    if (args.length === 2) return call2(f, args[0], args[1]);
    return callN(f, args);
  }

  list(node) {
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
    // Runs `body` (or `f`) with the item's variables pushed.
    const run = (a, f, it) => {
      const vs = a.vs;
      if (two) vs.push(it[0], it[1]);
      else vs.push(it);
      try {
        return f(a);
      } finally {
        vs.length -= n;
      }
    };
    return (a) => {
      const r = rng(a);
      if (r instanceof Err) return r;
      let items;
      try {
        items = two ? iterPairs(r) : iterRange(r);
      } catch (e) {
        return errOf(e);
      }
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
  }
}
