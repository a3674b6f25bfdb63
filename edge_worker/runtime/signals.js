// Signal values: check a provided value against its declared type and convert it to a CEL value
// (values.js) in one pass; the port of runtime/signals.py make_checker.
//
// Accepted JavaScript inputs: numbers (an integral number is an int where the declared type says
// int, a double where it says double; under `dyn` an integral number is an int, as JSON "1" is in
// Python), BigInt (int), CelUint, strings, booleans, null, Uint8Array (bytes), arrays, Maps and
// plain objects (maps and records, string keys). Lengths count code points, as Python's len().

import { DEFAULT_MAX_ITEMS, DEFAULT_MAX_LENGTH } from './format.js';
import { CelUint, INT64_MAX, INT64_MIN, UINT64_MAX, cpLength } from './values.js';

// Bounds of a signal that declares none (runtime/format.json).
export { DEFAULT_MAX_ITEMS, DEFAULT_MAX_LENGTH };

/** Returned by a converter for a value that does not conform (the signal is dropped). */
export const INVALID = Symbol('invalid');

/** A double read from msgpack (msgpack.js marks floats so that 1.0 stays a double). */
export class Float {
  constructor(v) {
    this.v = v;
  }
}

export function splitArgs(inner) {
  const out = [];
  let depth = 0;
  let cur = '';
  for (const ch of inner) {
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    cur += ch;
  }
  out.push(cur.trim());
  return out;
}

function isPlainObject(v) {
  if (v === null || typeof v !== 'object') return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

/** Entries of a map-like input, or null if it is not one. */
function entries(v) {
  if (v instanceof Map) return Array.from(v.entries());
  if (isPlainObject(v)) return Object.entries(v);
  return null;
}

// An integral number beyond 2^53 is taken at its exact double value (JSON.parse already rounded
// it); pass a BigInt for exact large ints.
const TWO63 = 2 ** 63;

function toInt(v) {
  if (typeof v === 'bigint') return v >= INT64_MIN && v <= INT64_MAX ? v : INVALID;
  if (typeof v === 'number' && Number.isInteger(v) && v >= -TWO63 && v < TWO63) return BigInt(v);
  return INVALID;
}

/** A converter `conv(value) -> CEL value | INVALID` for a declared type (throws on an unknown type). */
export function makeConverter(typeStr, records, maxItems, maxLength) {
  const items = maxItems ?? DEFAULT_MAX_ITEMS;
  const length = maxLength ?? DEFAULT_MAX_LENGTH;
  const t = typeStr.trim();
  switch (t) {
    case 'bool': return (v) => (v === true || v === false ? v : INVALID);
    case 'int': return toInt;
    case 'uint':
      return (v) => {
        if (v instanceof CelUint) return v;
        if (typeof v === 'bigint') return v >= 0n && v <= UINT64_MAX ? new CelUint(v) : INVALID;
        if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 64) return new CelUint(BigInt(v));
        return INVALID;
      };
    case 'double':
      return (v) => (typeof v === 'number' ? v : v instanceof Float ? v.v : INVALID);
    case 'string':
      return (v) => (typeof v === 'string' && (v.length <= length || cpLength(v) <= length) ? v : INVALID);
    case 'bytes':
      return (v) => (v instanceof Uint8Array && v.length <= length ? v : INVALID);
    case 'dyn':
      return (v) => plain(v, 0);
  }
  if (t.startsWith('list(') && t.endsWith(')')) {
    const elem = makeConverter(t.slice(5, -1), records, null, length);
    return (v) => {
      if (!Array.isArray(v) || v.length > items) return INVALID;
      let out = v;
      for (let i = 0; i < v.length; i++) {
        const x = elem(v[i]);
        if (x === INVALID) return INVALID;
        if (x !== v[i]) {
          if (out === v) out = v.slice();
          out[i] = x;
        }
      }
      return out;
    };
  }
  if (t.startsWith('map(') && t.endsWith(')')) {
    const [k, val] = splitArgs(t.slice(4, -1));
    const kc = makeConverter(k, records, null, length);
    const vc = makeConverter(val, records, null, length);
    return (v) => {
      const es = entries(v);
      if (es === null || es.length > items) return INVALID;
      const out = new Map();
      for (const [a, b] of es) {
        const ka = kc(a);
        const vb = vc(b);
        if (ka === INVALID || vb === INVALID) return INVALID;
        out.set(ka, vb);
      }
      return out;
    };
  }
  if (Object.prototype.hasOwnProperty.call(records, t)) {
    const fields = new Map(Object.entries(records[t]).map(([f, ft]) => [f, makeConverter(ft, records, null, length)]));
    const field = (out, f, x) => {
      const c = fields.get(f);
      if (c === undefined) return false;
      const y = c(x);
      if (y === INVALID) return false;
      out.set(f, y);
      return true;
    };
    return (v) => {
      const out = new Map();
      if (isPlainObject(v)) {
        for (const f in v) if (!field(out, f, v[f])) return INVALID;
        return out;
      }
      if (!(v instanceof Map)) return INVALID;
      for (const [f, x] of v) if (!field(out, f, x)) return INVALID;
      return out;
    };
  }
  throw new TypeError(`unknown type ${JSON.stringify(typeStr)}`);
}

/** A value made only of CEL's JSON-like types, bounded in depth (Python's _plain). */
function plain(v, depth) {
  if (depth > 16) return INVALID;
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? toInt(v) : v;
  if (typeof v === 'bigint') return toInt(v);
  if (v instanceof Float) return v.v;
  if (v instanceof CelUint || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) {
    if (v.length > DEFAULT_MAX_ITEMS) return INVALID;
    const out = [];
    for (const x of v) {
      const y = plain(x, depth + 1);
      if (y === INVALID) return INVALID;
      out.push(y);
    }
    return out;
  }
  const es = entries(v);
  if (es === null || es.length > DEFAULT_MAX_ITEMS) return INVALID;
  const out = new Map();
  for (const [k, x] of es) {
    let key = k;
    if (typeof k === 'number' || typeof k === 'bigint') key = toInt(k);
    else if (!(typeof k === 'string' || typeof k === 'boolean' || k instanceof CelUint)) return INVALID;
    const y = plain(x, depth + 1);
    if (key === INVALID || y === INVALID) return INVALID;
    out.set(key, y);
  }
  return out;
}
