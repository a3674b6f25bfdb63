// CEL values in JavaScript, and the CEL error types (the counterpart of runtime/values.py).
//
// Mapping: int -> BigInt (64-bit range checked on every operation), uint -> CelUint (wraps a
// BigInt), double -> number, string -> string, bool -> boolean, null -> null, bytes -> Uint8Array,
// list -> Array, map -> Map (keys: string, boolean, BigInt, CelUint), type -> CelType.
// Records (declared object types) are Maps at run time, as in Python they are dicts.
// Strings count code points (not UTF-16 units) wherever CEL exposes an index or a length.

import { compare, len } from './python.js';

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
export const UINT64_MAX = 2n ** 64n - 1n;

/** A CEL uint: distinct from int (1u is not an int), equal to it under CEL equality. */
export class CelUint {
  constructor(v) {
    this.v = v; // BigInt in 0 .. 2^64-1
  }

  /** As runtime/values.py's UInt: `1u` (python.js's repr calls it). */
  __repr__() {
    return `${this.v}u`;
  }
}

/** A CEL type value, e.g. the result of type(1) (int). */
export class CelType {
  constructor(name) {
    this.name = name;
  }

  /** As runtime/values.py's CelType: `type(int)`. */
  __repr__() {
    return `type(${this.name})`;
  }
}

/** Thrown by function implementations (not an Error: no stack trace to capture on a hot path). */
export class CelError {
  constructor(message) {
    this.message = message;
  }
}

/** A CEL error as a value: the closures return it so that `false && error` is false. */
export class Err {
  /** `budget`: the evaluation budget ran out (budget.js), counted in Outcome.budgetExceeded. */
  constructor(message, budget = false) {
    this.message = message;
    this.budget = budget;
  }
}

/** Type names CEL exposes as identifiers that evaluate to type values. */
export const TYPE_NAMES = ['int', 'uint', 'double', 'string', 'bool', 'bytes', 'list', 'map', 'null_type', 'type'];

/** The CEL type name of a run-time value; throws CelError for a non-CEL value. */
export function typeName(v) {
  if (v === null) return 'null_type';
  switch (typeof v) {
    case 'boolean': return 'bool';
    case 'bigint': return 'int';
    case 'number': return 'double';
    case 'string': return 'string';
    case 'object':
      if (v instanceof CelUint) return 'uint';
      if (Array.isArray(v)) return 'list';
      if (v instanceof Map) return 'map';
      if (v instanceof Uint8Array) return 'bytes';
      if (v instanceof CelType) return 'type';
      break;
  }
  throw new CelError(`unsupported value of JavaScript type ${typeof v}`);
}

/** The CEL type name, or a JavaScript type name for a non-CEL value (for messages). */
export function kind(v) {
  try {
    return typeName(v);
  } catch {
    return typeof v;
  }
}

export function checkInt(v) {
  if (v < INT64_MIN || v > INT64_MAX) throw new CelError('integer overflow');
  return v;
}

export function checkUint(v) {
  if (v < 0n || v > UINT64_MAX) throw new CelError('unsigned integer overflow');
  return new CelUint(v);
}

// ------------------------------------------------------------------ strings by code point
const SURROGATE = /[\uD800-\uDFFF]/;

/** True when every character is one UTF-16 unit (then unit indexes are code point indexes). */
export function isBmp(s) {
  return !SURROGATE.test(s);
}

/** Length in code points: CEL's size() of a string is Python's len() (python.js, the one definition;
 * the budget and the session read it too). */
export const cpLength = len;

/** UTF-16 offset of code point index `i` (i <= cpLength(s)). */
export function cpToUnit(s, i) {
  let u = 0;
  for (let k = 0; k < i && u < s.length; k++) {
    const c = s.charCodeAt(u);
    u += c >= 0xd800 && c <= 0xdbff && u + 1 < s.length ? 2 : 1;
  }
  return u;
}

/** Code point index of UTF-16 offset `u`. */
export function unitToCp(s, u) {
  let n = 0;
  for (let i = 0; i < u; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) n++;
  }
  return n;
}

/** Compare strings by code point, as Python orders them (python.js: the one definition). */
export const compareStrings = compare;
